//! Cancelling a sync against a server that stalls (issue 14, Deliver 5; docs/adr/0021): the
//! server takes the push, its answer never comes, the app cancels. The store is as it was (the
//! note still pending, nothing half-applied), and the next sync completes it, once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fieldsync_core::model::ListFilter;
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncOnce};
use fieldsync_e2e::proxy::{forward, read_request, with_connection_close};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::{job, world};

/// Forwards each request to the server; while `stall` is set, a sync's answer is held forever
/// after the server has applied it (`stalled` is told).
struct StallingProxy {
    addr: SocketAddr,
    stall: Arc<AtomicBool>,
    stalled: Arc<Notify>,
}

impl StallingProxy {
    async fn start(upstream: SocketAddr) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stall, stalled) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        let (stall_flag, told) = (stall.clone(), stalled.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (stall, told) = (stall_flag.clone(), told.clone());
                tokio::spawn(async move {
                    let Ok(Some(request)) = read_request(&mut client).await else { return };
                    let Ok(response) = forward(upstream, &request).await else { return };
                    if stall.load(Ordering::SeqCst) && request.starts_with(b"POST /v1/sync") {
                        told.notify_one();
                        // The connection stays open, unanswered, until the client goes away.
                        let mut byte = [0u8; 1];
                        let _ = tokio::io::AsyncReadExt::read(&mut client, &mut byte).await;
                        return;
                    }
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut client, &with_connection_close(&response)).await;
                });
            }
        });
        StallingProxy { addr, stall, stalled }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_cancelled_while_the_server_stalls_leaves_the_store_consistent_and_the_next_completes_it() {
    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("stalled boiler", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    eli.client().accept(&id).expect("accept");
    eli.client().add_note(&id, "sent once").expect("note");

    let proxy = StallingProxy::start(w.server.addr).await;
    let through_proxy =
        SyncEngine::new(eli.client().clone(), SyncConfig::new(format!("http://{}", proxy.addr), w.tokens[0].clone()))
            .expect("engine");
    proxy.stall.store(true, Ordering::SeqCst);
    let sync = through_proxy.sync_now();
    tokio::select! {
        result = sync => panic!("the stalled sync finished: {result:?}"),
        // The server has applied the push; its answer is held. Leaving the select drops (cancels) the sync.
        _ = proxy.stalled.notified() => {}
    }
    let status = through_proxy.status();
    assert!(!status.syncing, "{status:?}");
    assert_eq!(status.pending_tickets, 1, "the device never heard back: still pending");
    eli.client().store().integrity_check().expect("the store is consistent");
    let row = &eli.client().list(&ListFilter::default()).expect("list")[0];
    assert!(row.pending, "{row:?}");
    assert_eq!(eli.client().get(&id).expect("get").notes.len(), 1);

    proxy.stall.store(false, Ordering::SeqCst);
    let outcome = through_proxy.sync_once(Duration::from_secs(20)).await;
    let SyncOnce::Synced(report) = outcome else { panic!("the next sync completes: {outcome:?}") };
    assert!(report.pushed.contains(&id), "the same changes went again: {report:?}");
    assert_eq!(through_proxy.status().pending_tickets, 0);
    let detail = w.dispatcher.detail(&id).await;
    let notes = detail["notes"].as_array().expect("notes");
    assert_eq!(notes.len(), 1, "the note the server took twice is there once: {notes:?}");
    assert_eq!(detail["status"], "accepted");
}
