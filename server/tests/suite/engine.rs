//! The real device sync engine (`fieldsync_core::sync`) against the real server.

use crate::common::{Server, open_client};
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Location, Role, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_engine_and_the_server_agree() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Engine meets server", Some("eli")).await;

    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    let report = engine.sync_now().await.expect("first sync");
    assert_eq!(report.received, vec![id.clone()], "{report:?}");
    assert_eq!(report.round_trips, 1);

    phone.accept(&id).expect("accept");
    phone.check_in(&id, Location { lat: 52.37, lon: 4.9, accuracy_m: 8.0 }).expect("check in");
    let (status, body) =
        server.act(&dana.token, &id, serde_json::json!({"action": "add_note", "text": "ring twice"})).await;
    assert_eq!(status, 200, "{body}");
    // Both sides changed: one round trip moves both.
    let report = engine.sync_now().await.expect("second sync");
    assert_eq!(report.pushed, vec![id.clone()], "{report:?}");
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(report.round_trips, 1);
    assert_eq!(phone.get(&id).expect("ticket").notes.len(), 1);
    assert_eq!(phone.pending_count().expect("pending"), 0);
    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!(row.status, Status::OnSite);

    let report = engine.sync_now().await.expect("no-op sync");
    println!("engine no-op sync: {} bytes up, {} bytes down", report.bytes_sent, report.bytes_received);
    assert!(report.pushed.is_empty() && report.received.is_empty());
    assert!(report.bytes_sent + report.bytes_received < 512);
    server.stop().await;
}
