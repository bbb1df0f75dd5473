//! End to end: a real server on port 0 with a temporary SQLite file, a dispatcher on the REST
//! API, and engineer devices with real stores and real sync engines.

use std::time::Duration;

use fieldsync_core::actions::Command;
use fieldsync_core::model::{Customer, ListFilter, Location, NewTicket, Site};
use fieldsync_core::{Role, Status};
use fieldsync_e2e::{Device, Dispatcher, TestServer, sorted_heads};

// Kept in a folder of its own so cargo does not build it as a test target by itself.
#[path = "e2e/customers.rs"]
mod customers;
#[path = "e2e/identity.rs"]
mod identity;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/observe.rs"]
mod observe;
#[path = "e2e/pool.rs"]
mod pool;
#[path = "e2e/report.rs"]
mod report;

struct World {
    dir: tempfile::TempDir,
    server: TestServer,
    dispatcher: Dispatcher,
    engineers: Vec<Device>,
    tokens: Vec<String>,
}

async fn world(engineers: &[&str]) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let (_, _, token) = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Dispatcher::new(&server, &token);
    let users: Vec<_> = engineers.iter().map(|name| server.add_user(name, Role::Engineer)).collect();
    let tokens = users.iter().map(|(_, _, token)| token.clone()).collect();
    let engineers = users.iter().map(|user| Device::new(dir.path(), &server, user, Role::Engineer)).collect();
    World { dir, server, dispatcher, engineers, tokens }
}

fn job(title: &str, engineer: &str) -> NewTicket {
    NewTicket {
        title: title.into(),
        customer: Customer { name: "ACME".into(), address: "1 Main St".into(), ..Default::default() },
        site: Some(Site { lat: 52.3702, lon: 4.8952, radius_m: 150.0 }),
        assignee: Some(engineer.into()),
        ..Default::default()
    }
}

fn here() -> Location {
    Location { lat: 52.3703, lon: 4.8953, accuracy_m: 5.0 }
}

fn ids(device: &Device) -> Vec<String> {
    let mut ids: Vec<String> =
        device.client().list(&ListFilter::default()).expect("list").into_iter().map(|t| t.id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_on_both_sides_converge_to_identical_heads() {
    let w = world(&["eli", "fay", "gus"]).await;
    let mut tickets = Vec::new();
    for (n, engineer) in ["eli", "fay", "gus"].iter().enumerate() {
        tickets.push(w.dispatcher.create(&job(&format!("job {n}"), engineer)).await);
    }
    for device in &w.engineers {
        let report = device.sync().await;
        assert_eq!(report.round_trips, 1);
        assert_eq!(ids(device).len(), 1, "each engineer holds only their own ticket");
    }
    // Offline on the phones, and the dispatcher edits meanwhile.
    for (device, id) in w.engineers.iter().zip(&tickets) {
        device.client().accept(id).expect("accept");
        device.client().start_travel(id).expect("travel");
        device.client().add_note(id, "parking at the back").expect("note");
    }
    w.dispatcher.act(&tickets[0], &Command::AddNote { text: "customer will be late".into() }).await.expect("note");
    // Reconnect: both sides changed, still one round trip each.
    for (device, id) in w.engineers.iter().zip(&tickets) {
        let report = device.sync().await;
        assert_eq!(report.round_trips, 1, "one round trip moves changes both ways");
        assert!(report.pushed.contains(id));
        let server = w.dispatcher.document(id).await;
        assert_eq!(device.heads(id), sorted_heads(&server), "device and server hold the same history");
        assert_eq!(device.client().get(id).expect("get").status, Status::Travelling);
        assert!(!device.client().list(&ListFilter::default()).expect("list")[0].pending, "acknowledged");
    }
    let eli = w.engineers[0].client().get(&tickets[0]).expect("get");
    assert_eq!(eli.notes.len(), 2, "the dispatcher's note reached the phone");
    let board = w.dispatcher.list().await;
    assert!(board.iter().all(|t| t.status == Status::Travelling), "{board:?}");

    // A no-op sync is one small round trip.
    let noop = w.engineers[0].sync().await;
    assert_eq!(noop.round_trips, 1);
    assert!(
        noop.bytes_sent + noop.bytes_received < 512,
        "no-op sync moved {} bytes",
        noop.bytes_sent + noop.bytes_received
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_versus_offline_completion_shows_as_a_conflict_on_server_and_device() {
    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("boiler", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    for step in [Command::Accept, Command::StartTravel { eta: None }, Command::CheckIn { location: here() }] {
        eli.client().run(&id, step).expect("step");
    }
    eli.sync().await;
    eli.client().complete(&id, "fixed").expect("complete offline");
    w.dispatcher.act(&id, &Command::Cancel { reason: "customer phoned".into() }).await.expect("cancel");
    eli.sync().await;
    let on_device = eli.client().get(&id).expect("get");
    let on_server = w.dispatcher.detail(&id).await;
    assert_eq!(on_device.conflicts.len(), 1, "{:?}", on_device.conflicts);
    assert_eq!(on_server["conflicts"].as_array().map(Vec::len), Some(1), "{on_server}");
    assert_eq!(on_server["status"].as_str(), Some(on_device.status.as_str()));
    assert_eq!(w.dispatcher.list().await[0].conflicts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignment_pushes_offline_work_first_then_moves_the_ticket() {
    let w = world(&["eli", "fay"]).await;
    let id = w.dispatcher.create(&job("lift", "eli")).await;
    let (eli, fay) = (&w.engineers[0], &w.engineers[1]);
    eli.sync().await;
    fay.sync().await;
    assert!(ids(fay).is_empty(), "fay cannot see eli's ticket");
    eli.client().accept(&id).expect("accept");
    eli.client().add_note(&id, "ordered a spare").expect("note");
    w.dispatcher.act(&id, &Command::Assign { engineer: "fay".into() }).await.expect("reassign");
    let report = eli.sync().await;
    assert!(report.pushed.contains(&id), "eli's offline work is pushed first");
    assert!(report.evicted.contains(&id), "then the ticket leaves eli's phone");
    assert!(ids(eli).is_empty());
    fay.sync().await;
    let on_fay = fay.client().get(&id).expect("fay has it");
    assert_eq!(on_fay.status, Status::Dispatched);
    assert_eq!(on_fay.assignee.as_deref(), Some("fay"));
    assert!(on_fay.notes.iter().any(|n| n.text == "ordered a spare"), "eli's note travelled with the ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_and_store_reopen_in_the_middle_lose_nothing() {
    let mut w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("pump", "eli")).await;
    w.engineers[0].sync().await;
    w.engineers[0].client().accept(&id).expect("accept");
    w.server.restart().await;
    w.engineers[0].reopen();
    w.engineers[0].client().start_travel(&id).expect("travel after reopen");
    let report = w.engineers[0].sync().await;
    assert!(report.pushed.contains(&id));
    let summary = w.dispatcher.list().await;
    assert_eq!(summary[0].status, Status::Travelling);
    assert_eq!(w.engineers[0].heads(&id), sorted_heads(&w.dispatcher.document(&id).await));
    let _ = &w.dir;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_push_changes_nothing_and_duplicates_nothing() {
    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("valve", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    eli.client().accept(&id).expect("accept");
    eli.client().add_note(&id, "once").expect("note");
    // The device sends, the answer is lost: the device still thinks it is pending and sends
    // the same changes again.
    let first = eli.sync().await;
    assert!(first.pushed.contains(&id));
    let before = w.dispatcher.detail(&id).await;
    eli.client()
        .store()
        .write(|tx| -> Result<(), fieldsync_core::Error> {
            tx.execute("UPDATE tickets SET pending = 1", [])?;
            tx.execute("DELETE FROM sync_state", [])?;
            tx.execute("UPDATE meta SET value = '0' WHERE key = 'sync_cursor'", [])?;
            Ok(())
        })
        .expect("forget the answer");
    let replay = eli.sync().await;
    assert!(replay.pushed.contains(&id), "the same changes went again");
    let after = w.dispatcher.detail(&id).await;
    assert_eq!(before["events"], after["events"], "no duplicate event");
    assert_eq!(before["notes"], after["notes"], "no duplicate note");
    assert_eq!(eli.client().get(&id).expect("get").notes.len(), 1);
    assert!(!eli.client().list(&ListFilter::default()).expect("list")[0].pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_syncs_a_local_action_once_online() {
    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("heater", "eli")).await;
    let eli = &w.engineers[0];
    let _running = eli.engine.start();
    let mut status = eli.engine.watch_status();
    eli.engine.set_online(true);
    // Wait (bounded) until the loop has pulled the ticket down.
    tokio::time::timeout(Duration::from_secs(20), async {
        while !ids(eli).contains(&id) {
            status.changed().await.expect("status");
        }
    })
    .await
    .expect("the loop synced after going online");
    eli.client().accept(&id).expect("accept");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = status.borrow_and_update().clone();
            if !s.syncing && s.pending_tickets == 0 && w.dispatcher.list().await[0].status == Status::Accepted {
                return;
            }
            status.changed().await.expect("status");
        }
    })
    .await
    .expect("the local action woke the loop and reached the server");
    assert!(eli.engine.status().last_success_at.is_some());
}

/// DESIGN §6: a change that breaks a rule is kept in history, undone by a compensating server
/// change, and the device is told why; device and server end on the same heads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_edit_is_kept_undone_and_reported_and_the_device_converges() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};

    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("Original title", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    eli.client().accept(&id).expect("accept");
    eli.sync().await;

    // A tampered app writes straight into the ticket document: a new title and a forged
    // `cancelled` event, in one change the store takes as if it came from elsewhere ...
    let mut doc = automerge::Automerge::load(&eli.client().export(&id).expect("export")).expect("load");
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "Free boiler for everyone").expect("title");
    let events = match tx.get(ROOT, "events") {
        Ok(Some((_, events))) => events,
        other => panic!("no events: {other:?}"),
    };
    let n = tx.length(&events);
    let event = tx.insert_object(&events, n, ObjType::Map).expect("event");
    for (key, value) in [("id", "forged"), ("kind", "cancelled"), ("by", "eli"), ("role", "engineer")] {
        tx.put(&event, key, value).expect("put");
    }
    tx.commit();
    for change in doc.get_changes(&before) {
        eli.client().merge_remote(&id, change.raw_bytes()).expect("merge");
    }
    // ... and marks it to be pushed.
    eli.client()
        .store()
        .write(|tx| -> Result<(), fieldsync_core::Error> {
            tx.execute("UPDATE tickets SET pending = 1 WHERE id = ?1", [&id])?;
            Ok(())
        })
        .expect("mark pending");
    let tampered = eli.client().get(&id).expect("get");
    assert_eq!(tampered.title, "Free boiler for everyone");
    assert_eq!(tampered.conflicts.len(), 1, "the forged event is refused locally, as a conflict");

    let report = eli.sync().await;
    assert!(report.pushed.contains(&id));
    assert_eq!(report.round_trips, 1, "merged, compensated and answered in one exchange");
    let (_, reason) = report.rejected.iter().find(|(t, _)| *t == id).expect("the device is told");
    assert!(reason.contains("title") && reason.contains("cancelled"), "{reason}");

    // The device shows the ticket rejected with the reason, holds the server's history and the
    // dispatcher's title again; the forged event is kept but void.
    let summary = eli.client().list(&ListFilter::default()).expect("list").remove(0);
    assert_eq!(summary.rejected.as_deref(), Some(reason.as_str()));
    assert!(!summary.pending, "nothing left to push");
    let server = w.dispatcher.document(&id).await;
    assert_eq!(eli.heads(&id), sorted_heads(&server), "device and server hold the same history");
    let ticket = eli.client().get(&id).expect("get");
    assert_eq!(ticket.title, "Original title");
    assert_eq!(ticket.status, Status::Accepted);
    assert!(ticket.conflicts.is_empty());
    let forged = ticket.events.iter().find(|e| e.id == "forged").expect("kept in history");
    assert!(forged.void.as_deref().is_some_and(|r| r.contains("cancelled")), "{forged:?}");

    // The audit shows the engineer's change and the server's compensation.
    let detail = w.dispatcher.detail(&id).await;
    let history = detail["history"].as_array().expect("history");
    let last = history.last().expect("entries");
    assert_eq!(last["server"], true, "{last}");
    assert!(last["message"].as_str().is_some_and(|m| m.starts_with("compensate: ")), "{last}");
    assert_eq!(history[history.len() - 2]["user_id"], "eli", "{history:?}");
    assert_eq!(detail["title"], "Original title");
    assert_eq!(detail["status"], "accepted");

    // Syncing again moves nothing and compensates nothing; the engineer carries on.
    let again = eli.sync().await;
    assert!(again.pushed.is_empty() && again.rejected.is_empty(), "{again:?}");
    assert_eq!(w.dispatcher.detail(&id).await["history"].as_array().map(Vec::len), Some(history.len()));
    eli.client().start_travel(&id).expect("travel from the real state");
    let next = eli.sync().await;
    assert!(next.rejected.is_empty(), "{next:?}");
    assert_eq!(w.dispatcher.list().await[0].status, Status::Travelling);
    assert_eq!(eli.heads(&id), sorted_heads(&w.dispatcher.document(&id).await));
}

/// A camera-like JPEG made in the test.
fn camera_jpeg(width: u16, height: u16) -> Vec<u8> {
    fieldsync_e2e::camera_jpeg(width, height, 0x9e37_79b9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_and_the_signature_upload_after_the_document_and_resume_where_they_stopped() {
    use fieldsync_core::media::StrokePoint;
    use fieldsync_core::model::{NewPhoto, PhotoInput};
    use fieldsync_core::sync::{SyncConfig, SyncEngine};

    let mut w = world(&["eli"]).await;
    let id = w.dispatcher.create(&NewTicket { signature_required: true, ..job("meter", "eli") }).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    eli.client().accept(&id).expect("accept");
    eli.client().check_in(&id, here()).expect("check in");
    let new_photo = NewPhoto {
        source: PhotoInput::Bytes(camera_jpeg(2400, 1800)),
        caption: "meter".into(),
        taken_at: None,
        location: None,
    };
    let photo = eli.client().add_photo(&id, new_photo).await.expect("photo");
    let stroke: Vec<StrokePoint> = (0..30).map(|n| StrokePoint { x: n as f32 / 30.0, y: 0.5, t: n * 10 }).collect();
    let signature = eli.client().capture_signature(&id, "Ms Jansen", &[stroke]).expect("signature");
    eli.client().complete(&id, "meter replaced").expect("complete");
    let jpeg = eli.client().blob(&photo.sha256).expect("blob").expect("stored");
    let queued: u64 = eli.client().uploads().expect("uploads").iter().map(|u| u.size).sum();
    assert!(jpeg.len() > 48 * 1024, "a photo big enough for several chunks: {} bytes", jpeg.len());

    // An earlier upload of the photo was cut off after its first 16 KiB reached the server.
    const CHUNK: usize = 16 * 1024;
    let status = w.dispatcher.patch_blob(&w.tokens[0], &photo.sha256, &id, 0, jpeg.len(), &jpeg[..CHUNK]).await;
    assert_eq!(status, 204);

    // The app restarts: a new process opens the same store.
    w.engineers[0].reopen();
    let engine = SyncEngine::new(
        w.engineers[0].client().clone(),
        SyncConfig { upload_chunk_bytes: CHUNK, ..SyncConfig::new(w.server.url(), w.tokens[0].clone()) },
    )
    .expect("engine");
    let status = engine.status();
    assert_eq!((status.pending_uploads, status.pending_upload_bytes), (3, queued), "photo, thumbnail, signature");
    let report = engine.sync_now().await.expect("sync");
    assert!(report.pushed.contains(&id), "the document goes first");
    assert!(report.uploads.interrupted.is_none() && report.uploads.refused.is_empty(), "{:?}", report.uploads);
    assert_eq!(report.uploads.uploaded.len(), 3, "{:?}", report.uploads);
    assert_eq!(report.uploads.bytes_sent, queued - CHUNK as u64, "resumed after the bytes the server had");
    assert_eq!((engine.status().pending_uploads, engine.status().pending_upload_bytes), (0, 0));

    // The dispatcher sees the completed ticket with the photo and the signature image, whole.
    let detail = w.dispatcher.detail(&id).await;
    assert_eq!(detail["status"], "completed");
    assert_eq!(detail["photos"][0]["sha256"], photo.sha256.as_str());
    assert_eq!(detail["signature"]["png_sha256"], signature.png_sha256.as_str());
    assert_eq!(w.dispatcher.blob(&photo.sha256).await, jpeg, "the server has the exact bytes");
    assert!(w.dispatcher.blob(&signature.png_sha256).await.starts_with(b"\x89PNG"));

    // Nothing left to send the next time.
    let again = engine.sync_now().await.expect("no-op");
    assert!(again.uploads.uploaded.is_empty() && again.uploads.bytes_sent == 0, "{:?}", again.uploads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_the_server_refuses_is_set_aside_and_the_others_still_upload() {
    use fieldsync_core::model::{NewPhoto, PhotoInput};

    let w = world(&["eli"]).await;
    let id = w.dispatcher.create(&job("meter", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;
    eli.client().accept(&id).expect("accept");
    let photo = NewPhoto {
        source: PhotoInput::Bytes(camera_jpeg(900, 600)),
        caption: "x".into(),
        taken_at: None,
        location: None,
    };
    let meta = eli.client().add_photo(&id, photo).await.expect("photo");
    // The thumbnail's bytes on the device no longer match their hash (a damaged store).
    eli.client()
        .store()
        .write(|tx| -> Result<(), fieldsync_core::Error> {
            tx.execute("UPDATE blobs SET bytes = x'00112233' WHERE sha256 = ?1", [&meta.thumbnail_sha256])?;
            Ok(())
        })
        .expect("damage");
    let report = eli.sync().await;
    assert_eq!(report.uploads.uploaded, vec![meta.sha256.clone()], "{:?}", report.uploads);
    assert_eq!(report.uploads.refused.len(), 1, "{:?}", report.uploads);
    assert!(report.uploads.refused[0].1.contains("hash"), "{:?}", report.uploads.refused);
    let uploads = eli.client().uploads().expect("uploads");
    let thumb = uploads.iter().find(|u| u.sha256 == meta.thumbnail_sha256).expect("thumbnail upload");
    assert_eq!(thumb.state, "failed");
    assert!(thumb.reason.as_deref().is_some_and(|r| r.contains("hash")), "{thumb:?}");
    assert_eq!(eli.engine.status().pending_uploads, 0, "set aside, not retried forever");
    assert_eq!(w.dispatcher.detail(&id).await["status"], "accepted", "the document synced regardless");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_more_pending_than_one_request_carries_goes_in_rounds_and_sends_everything() {
    // A device's request is bounded (RequestBudget::DEVICE: 64 tickets) so that no request
    // costs the server more than a few MiB; the rest goes in the next round of the same sync.
    let w = world(&["eli"]).await;
    let mut tickets = Vec::new();
    for n in 0..70 {
        tickets.push(w.dispatcher.create(&job(&format!("pump {n}"), "eli")).await);
    }
    let eli = &w.engineers[0];
    eli.sync().await;
    for id in &tickets {
        eli.client().accept(id).expect("accept");
    }
    let report = eli.sync().await;
    assert!(report.round_trips >= 2, "one request cannot carry 70 tickets: {report:?}");
    assert_eq!(report.pushed.len(), 70, "{report:?}");
    assert!(report.rejected.is_empty() && report.retrying.is_empty(), "{report:?}");
    let rows = eli.client().list(&ListFilter::default()).expect("list");
    assert!(rows.iter().all(|t| !t.pending), "nothing left pending");
    let on_server = w.dispatcher.list().await;
    assert_eq!(on_server.iter().filter(|t| t.status == Status::Accepted).count(), 70);
}
