//! Identity and refusals (issue 13, attack 10): a store belongs to one user and device; a
//! change the server refused without storing it stays pending and goes again; only a change
//! the server stored (and compensated) is final.

use automerge::ChangeHash;
use fieldsync_core::model::{ListFilter, TicketSummary};
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncError};
use fieldsync_core::{Role, Status};
use fieldsync_e2e::{Device, Dispatcher, TestServer, sorted_heads};

use super::job;

/// A server with dispatcher dana (whose token the test keeps) and engineers eli and fay.
struct Office {
    dir: tempfile::TempDir,
    server: TestServer,
    dana: (String, String, String),
    dispatcher: Dispatcher,
    eli: Device,
    fay: Device,
}

async fn office() -> Office {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let dana = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Dispatcher::new(&server, &dana.2);
    let eli = Device::new(dir.path(), &server, &server.add_user("eli", Role::Engineer), Role::Engineer);
    let fay = Device::new(dir.path(), &server, &server.add_user("fay", Role::Engineer), Role::Engineer);
    Office { dir, server, dana, dispatcher, eli, fay }
}

/// Everything a sync could change in a device's store: the index rows, the meta rows (cursor,
/// last sync) and what the device believes the server holds.
type StoreRecord = (Vec<TicketSummary>, Vec<(String, String)>, Vec<(String, Vec<u8>)>);

fn store_record(device: &Device) -> StoreRecord {
    let list = device.client().list(&ListFilter::default()).expect("list");
    device
        .client()
        .store()
        .read(|tx| -> Result<StoreRecord, fieldsync_core::Error> {
            let mut meta = tx.prepare("SELECT key, value FROM meta ORDER BY key")?;
            let meta = meta.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            let mut heads = tx.prepare("SELECT ticket_id, server_heads FROM sync_state ORDER BY ticket_id")?;
            let heads = heads.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok((list, meta, heads))
        })
        .expect("read store")
}

/// What the device believes the server holds of a ticket.
fn believed_server_heads(device: &Device, id: &str) -> Vec<ChangeHash> {
    let bytes: Vec<u8> = device
        .client()
        .store()
        .read(|tx| -> Result<Vec<u8>, fieldsync_core::Error> {
            Ok(tx.query_row("SELECT server_heads FROM sync_state WHERE ticket_id = ?1", [id], |r| r.get(0))?)
        })
        .expect("server heads");
    let mut heads: Vec<ChangeHash> =
        bytes.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash)).collect();
    heads.sort();
    heads
}

fn summary(device: &Device, id: &str) -> TicketSummary {
    let list = device.client().list(&ListFilter::default()).expect("list");
    list.into_iter().find(|t| t.id == id).expect("ticket on the device")
}

/// Attack 10 as a new user meets it: eli's phone, synced once with the dispatcher's token (a
/// shared phone, a pasted token). The device refuses the token before sending anything; the
/// next sync with eli's own token delivers the waiting change without a new local action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_store_synced_with_another_users_token() {
    let o = office().await;
    let id = o.dispatcher.create(&job("boiler", "eli")).await;
    let fays = o.dispatcher.create(&job("pump", "fay")).await;
    o.eli.sync().await;
    o.eli.client().accept(&id).expect("accept");
    o.eli.sync().await;
    o.eli.client().start_travel(&id).expect("travel: the change waiting to go");
    let server_before = sorted_heads(&o.dispatcher.document(&id).await);
    let store_before = store_record(&o.eli);

    let pasted = SyncEngine::new(o.eli.client().clone(), SyncConfig::new(o.server.url(), o.dana.2.clone()))
        .expect("engine with the dispatcher's token");
    let refused = pasted.sync_now().await.expect_err("the device refuses dana's token for eli's store");
    assert!(
        matches!(&refused, SyncError::ForeignToken { token_user, store_user, .. } if token_user == "dana" && store_user == "eli"),
        "{refused}"
    );
    assert_eq!(pasted.status().last_error, Some(refused.to_string()), "the status bar says why");

    // Nothing was sent: the server's copy is as it was, dana's device never synced and has no
    // sync state; nothing in eli's store changed (no cursor, no rejection, no fay's ticket).
    assert_eq!(sorted_heads(&o.dispatcher.document(&id).await), server_before);
    let state = o.server.state();
    let devices = state.storage().list_devices().expect("devices");
    let dana_device = devices.iter().find(|d| d.id == o.dana.1).expect("dana's device");
    assert_eq!(dana_device.last_sync_at, None, "no request reached /v1/sync with dana's token");
    let states = state.storage().sync_states(&o.dana.1, &[id.clone(), fays.clone()]).expect("sync states");
    assert!(states.is_empty(), "the server keeps no sync state for dana's device: {states:?}");
    assert_eq!(store_record(&o.eli), store_before, "eli's store is unchanged");

    // eli's own token: the waiting change goes with this sync, no new local action needed.
    let report = o.eli.sync().await;
    assert!(report.pushed.contains(&id), "{report:?}");
    assert!(report.rejected.is_empty(), "{report:?}");
    assert!(!summary(&o.eli, &id).pending);
    assert_eq!(o.eli.heads(&id), sorted_heads(&o.dispatcher.document(&id).await));
    let board = o.dispatcher.list().await;
    let boiler = board.iter().find(|t| t.id == id).expect("on the board");
    assert_eq!(boiler.status, Status::Travelling, "the dispatcher sees the change");
    assert!(o.eli.client().get(&fays).is_err(), "fay's ticket never reached eli's phone");
    let _ = (&o.dir, &o.fay);
}

/// eli's tablet holds a change of eli's phone (handed over as a file) under its own: the
/// server refuses the push without storing anything (another device's actor). The tablet
/// keeps its change pending and does not believe the server has it; once the phone has
/// synced, the tablet's next sync delivers it with no new local action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_refused_without_being_stored_stays_pending_and_goes_again() {
    let o = office().await;
    let id = o.dispatcher.create(&job("boiler", "eli")).await;
    let tablet_user = o.server.add_device("eli");
    let tablet = Device::new(o.dir.path(), &o.server, &tablet_user, Role::Engineer);
    o.eli.sync().await;
    o.eli.client().accept(&id).expect("accept");
    o.eli.sync().await;
    tablet.sync().await;

    o.eli.client().add_note(&id, "from the phone").expect("phone note");
    let export = o.eli.client().export(&id).expect("export");
    tablet.client().merge_remote(&id, &export).expect("handed over");
    tablet.client().add_note(&id, "from the tablet").expect("tablet note");
    let tablet_heads = tablet.heads(&id);

    let refused = tablet.sync().await;
    let (_, reason) = refused.rejected.iter().find(|(t, _)| *t == id).expect("refused");
    assert!(reason.contains("another device"), "{reason}");
    assert_eq!(refused.retrying, vec![id.clone()], "the server stored nothing of it");
    let server = o.dispatcher.document(&id).await;
    assert!(tablet_heads.iter().all(|h| server.get_change_meta_by_hash(h).is_none()), "nothing stored");
    // Neither side claims the other holds what was refused.
    assert!(summary(&tablet, &id).pending, "the refused change waits on the tablet");
    assert_eq!(believed_server_heads(&tablet, &id), sorted_heads(&server));
    let state = o.server.state();
    for (_, st) in state.storage().sync_states(&tablet_user.1, std::slice::from_ref(&id)).expect("states") {
        let claimed = st.confirmed.iter().chain(st.pending.iter().flat_map(|(_, heads)| heads.iter()));
        for head in claimed {
            assert!(!tablet_heads.contains(&ChangeHash(*head)), "the server claims the tablet's refused head");
        }
    }

    o.eli.sync().await;
    let again = tablet.sync().await;
    assert!(again.pushed.contains(&id), "sent again without a new local action: {again:?}");
    assert!(again.rejected.is_empty(), "{again:?}");
    let detail = o.dispatcher.detail(&id).await;
    let notes: Vec<&str> =
        detail["notes"].as_array().expect("notes").iter().filter_map(|n| n["text"].as_str()).collect();
    assert!(notes.contains(&"from the phone") && notes.contains(&"from the tablet"), "{notes:?}");
    assert!(!summary(&tablet, &id).pending);
    assert_eq!(tablet.heads(&id), sorted_heads(&o.dispatcher.document(&id).await));
}

/// A push the server stored and undid (an engineer's app writing the title, a dispatcher
/// field) is final: the device holds the compensation, nothing is pending, and later syncs
/// neither send it again nor get it refused again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_stored_and_compensated_is_final_and_not_sent_again() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    let o = office().await;
    let id = o.dispatcher.create(&job("Original title", "eli")).await;
    o.eli.sync().await;
    o.eli.client().accept(&id).expect("accept");
    o.eli.sync().await;
    // A tampered app writes the title in eli's own change, which the store takes as pending.
    let mut doc = automerge::Automerge::load(&o.eli.client().export(&id).expect("export")).expect("load");
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "Free boiler").expect("title");
    tx.commit();
    for change in doc.get_changes(&before) {
        o.eli.client().merge_remote(&id, change.raw_bytes()).expect("merge");
    }
    o.eli
        .client()
        .store()
        .write(|tx| -> Result<(), fieldsync_core::Error> {
            tx.execute("UPDATE tickets SET pending = 1 WHERE id = ?1", [&id])?;
            Ok(())
        })
        .expect("mark pending");

    let report = o.eli.sync().await;
    let (_, reason) = report.rejected.iter().find(|(t, _)| *t == id).expect("refused");
    assert!(reason.contains("title"), "{reason}");
    assert!(report.retrying.is_empty(), "stored and undone, not to be sent again: {report:?}");
    let row = summary(&o.eli, &id);
    assert!(!row.pending, "final");
    assert_eq!(row.rejected.as_deref(), Some(reason.as_str()), "the device shows why");
    let server = o.dispatcher.document(&id).await;
    assert_eq!(o.eli.heads(&id), sorted_heads(&server));
    assert_eq!(believed_server_heads(&o.eli, &id), sorted_heads(&server));
    assert_eq!(o.eli.client().get(&id).expect("get").title, "Original title");
    let history = o.dispatcher.detail(&id).await["history"].as_array().map(Vec::len);

    for _ in 0..2 {
        let again = o.eli.sync().await;
        assert!(again.pushed.is_empty() && again.rejected.is_empty(), "{again:?}");
    }
    assert_eq!(o.dispatcher.detail(&id).await["history"].as_array().map(Vec::len), history, "no new compensation");
}
