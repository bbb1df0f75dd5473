//! `POST /v1/sync` against a real server: devices are `fieldsync_core::Client` stores whose
//! requests are built by hand.

use crate::common::{Server, apply, document, open_client, push_all, push_since, title};
use automerge::{ObjType, ROOT, transaction::Transactable};
use fieldsync_core::protocol::{SyncRequest, SyncResponse};
use fieldsync_core::{Location, Role, Status};
use fieldsync_server::ServerConfig;

const SITE: Location = Location { lat: 52.37, lon: 4.9, accuracy_m: 8.0 };

fn noop(cursor: u64) -> SyncRequest {
    SyncRequest { cursor, pushes: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_by_rest_received_by_engineer_pushed_back_and_audited() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Boiler leaks", Some("eli")).await;

    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    assert_eq!(first.updates.len(), 1, "{first:?}");
    assert_eq!(first.updates[0].ticket_id, id);
    assert!(!first.more && first.evictions.is_empty() && first.rejections.is_empty());
    apply(&phone, &first);
    assert_eq!(phone.get(&id).expect("ticket on phone").status, Status::Dispatched);

    phone.accept(&id).expect("accept");
    phone.check_in(&id, SITE).expect("check in");
    let request = SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] };
    let (answer, _) = server.sync(&eli.token, &request).await;
    assert!(answer.rejections.is_empty(), "{:?}", answer.rejections);
    assert_eq!(answer.updates.len(), 1, "a pushed ticket is always acknowledged");
    assert!(answer.updates[0].data.is_empty(), "the phone lacks nothing: {:?}", answer.updates[0].data.len());
    assert_eq!(answer.updates[0].heads, request.pushes[0].heads, "the server's heads are the phone's");
    assert!(answer.cursor > first.cursor);

    let (status, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "on_site");
    assert_eq!(detail["assignee"], "eli");
    let history = detail["history"].as_array().expect("history");
    assert_eq!(history.len(), 3, "create, accept, check in: {history:?}");
    let by_eli: Vec<_> = history.iter().filter(|h| h["user_id"] == "eli").collect();
    assert_eq!(by_eli.len(), 2);
    for entry in by_eli {
        assert_eq!(entry["device_id"], eli.device_id.as_str());
        assert!(entry["server_received_at"].as_i64().is_some(), "{entry}");
        assert!(entry["device_time"].as_i64().is_some());
    }
    let messages: Vec<_> = history.iter().map(|h| h["message"].as_str().unwrap_or_default()).collect();
    assert!(messages.contains(&"accept") && messages.contains(&"check in"), "{messages:?}");
    assert_eq!(history[0]["user_id"], "dana");

    // The dispatcher's REST edits reach the phone on its next sync.
    let (status, body) =
        server.act(&dana.token, &id, serde_json::json!({"action": "add_note", "text": "gate code 4711"})).await;
    assert_eq!(status, 200, "{body}");
    let (next, _) = server.sync(&eli.token, &noop(answer.cursor)).await;
    assert_eq!(next.updates.len(), 1);
    assert_eq!(next.updates[0].data.len(), 1, "exactly the one change the phone lacks");
    apply(&phone, &next);
    assert_eq!(phone.get(&id).expect("ticket").notes.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_changes_nothing_and_duplicates_nothing() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Replay", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    phone.start_travel(&id).expect("travel");
    let request = SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] };

    let (once, _) = server.sync(&eli.token, &request).await;
    let log_once = server.state.storage().change_log(&id).expect("log");
    let seq_once = server.state.storage().current_seq().expect("seq");
    // The response was lost: the device sends the very same request again.
    let (twice, _) = server.sync(&eli.token, &request).await;
    assert_eq!(once, twice, "same answer");
    assert_eq!(server.state.storage().change_log(&id).expect("log"), log_once, "no duplicate change_log rows");
    assert_eq!(server.state.storage().current_seq().expect("seq"), seq_once, "no sequence bump");
    assert_eq!(log_once.len(), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_sync_is_tiny_with_a_thousand_tickets() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    for n in 0..1000 {
        let assignee = if n % 2 == 0 { Some("eli") } else { None };
        server.create_ticket(&dana.token, &format!("Ticket {n}"), assignee).await;
    }
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    assert_eq!(first.updates.len(), 500);
    assert!(!first.more);
    let (again, bytes) = server.sync(&eli.token, &noop(first.cursor)).await;
    let request_bytes = noop(first.cursor).encode().len();
    println!("no-op sync with 1,000 tickets on the server: request {request_bytes} bytes, response {bytes} bytes");
    assert_eq!(again, SyncResponse { cursor: first.cursor, ..Default::default() });
    assert!(bytes < 512, "{bytes}");
    let (dispatcher, _) = server.sync(&dana.token, &noop(0)).await;
    assert_eq!(dispatcher.updates.len(), 1000, "dispatchers hold every ticket");
    let (dispatcher_again, bytes) = server.sync(&dana.token, &noop(dispatcher.cursor)).await;
    assert!(dispatcher_again.updates.is_empty() && bytes < 512);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_neither_receives_nor_pushes_another_engineers_ticket() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Eli's job", Some("eli")).await;

    let (fays, _) = server.sync(&fay.token, &noop(0)).await;
    assert!(fays.updates.is_empty() && fays.evictions.is_empty(), "{fays:?}");
    let (elis, _) = server.sync(&eli.token, &noop(0)).await;
    assert_eq!(elis.updates.len(), 1, "the assignee does get it");

    // Fay got hold of the document some other way and pushes an edit to it.
    let (status, _) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200);
    let bytes = server
        .http
        .get(server.url(&format!("/v1/tickets/{id}/document")))
        .bearer_auth(&dana.token)
        .send()
        .await
        .expect("document")
        .bytes()
        .await
        .expect("bytes");
    let mut doc = automerge::Automerge::load(&bytes).expect("load");
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    let notes = match automerge::ReadDoc::get(&tx, ROOT, "notes") {
        Ok(Some((_, notes))) => notes,
        other => panic!("no notes list: {other:?}"),
    };
    let note = tx.insert_object(&notes, 0, ObjType::Map).expect("insert");
    tx.put(&note, "by", "fay").expect("put");
    tx.put(&note, "text", "mine now").expect("put");
    tx.commit();
    let request = SyncRequest { cursor: fays.cursor, pushes: vec![push_since(&doc, &before, &id)] };
    let (answer, _) = server.sync(&fay.token, &request).await;
    assert_eq!(answer.rejections.len(), 1);
    assert_eq!(answer.rejections[0].reason, "ticket is not assigned to you");
    assert!(answer.updates.is_empty(), "nothing of eli's ticket reaches fay: {answer:?}");
    assert_eq!(server.state.storage().change_log(&id).expect("log").len(), 1, "nothing merged");

    // An engineer cannot create tickets by pushing.
    let unknown = SyncRequest {
        cursor: answer.cursor,
        pushes: vec![fieldsync_core::protocol::Push { ticket_id: "nope".into(), changes: vec![], heads: vec![] }],
    };
    let (answer, _) = server.sync(&fay.token, &unknown).await;
    assert_eq!(answer.rejections[0].reason, "unknown ticket");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_another_devices_actor_are_refused() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (tablet_device, tablet_token) = server.state.add_device("eli").expect("second device");
    let id = server.create_ticket(&dana.token, "Two devices", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    let (answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    assert!(answer.rejections.is_empty());

    // The phone's next change, sent with the tablet's token.
    let before = document(&phone, &id).get_heads();
    phone.start_travel(&id).expect("travel");
    let forged = push_since(&document(&phone, &id), &before, &id);
    let (refused, _) = server.sync(&tablet_token, &SyncRequest { cursor: 0, pushes: vec![forged.clone()] }).await;
    assert_eq!(refused.rejections.len(), 1, "{refused:?}");
    assert_eq!(refused.rejections[0].reason, "change from another device's actor");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").status, Status::Accepted);
    // The same change from its own device is fine.
    let (accepted, _) = server.sync(&eli.token, &SyncRequest { cursor: answer.cursor, pushes: vec![forged] }).await;
    assert!(accepted.rejections.is_empty(), "{accepted:?}");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").status, Status::Travelling);
    // The binding refused above came from what this server had seen; one that has not seen it
    // since it started reads it from storage, and refuses the same.
    let server = server.restart().await;
    let before = document(&phone, &id).get_heads();
    phone.check_in(&id, Location { lat: 52.0, lon: 4.0, accuracy_m: 10.0 }).expect("check in");
    let forged = push_since(&document(&phone, &id), &before, &id);
    let (refused, _) = server.sync(&tablet_token, &SyncRequest { cursor: 0, pushes: vec![forged] }).await;
    assert_eq!(refused.rejections.len(), 1, "{refused:?}");
    assert_eq!(refused.rejections[0].reason, "change from another device's actor");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").status, Status::Travelling);
    let _ = tablet_device;
    server.stop().await;
}

/// Pushes what `edit` does to the phone's copy of the ticket; the phone stores the change
/// too (as a merge, so the store's own checks do not stand in the way).
async fn push_edit(
    server: &Server,
    token: &str,
    phone: &fieldsync_core::Client,
    id: &str,
    cursor: u64,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> (SyncRequest, SyncResponse) {
    let mut doc = document(phone, id);
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit();
    let request = SyncRequest { cursor, pushes: vec![push_since(&doc, &before, id)] };
    for change in &request.pushes[0].changes {
        phone.merge_remote(id, change).expect("the phone keeps its own change");
    }
    let (answer, _) = server.sync(token, &request).await;
    (request, answer)
}

/// After applying `answer`, the phone holds exactly the server's history.
fn converged(phone: &fieldsync_core::Client, id: &str, answer: &SyncResponse) {
    apply(phone, answer);
    let update = answer.updates.iter().find(|u| u.ticket_id == id).expect("an update for the pushed ticket");
    let mut server_heads = fieldsync_core::protocol::from_wire(&update.heads);
    server_heads.sort();
    let mut phone_heads = document(phone, id).get_heads();
    phone_heads.sort();
    assert_eq!(phone_heads, server_heads, "the phone holds the server's history, compensation included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_editing_dispatcher_fields_is_kept_in_history_undone_and_told() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Original title", Some("eli")).await;
    // The SLA policy gave it deadlines (docs/adr/0014): the attack moves one.
    let (_, created) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    let resolve_by = created["sla"]["resolve_by"].clone();
    assert!(resolve_by.as_i64().is_some(), "{created}");
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);

    let (request, answer) = push_edit(&server, &eli.token, &phone, &id, first.cursor, |tx| {
        tx.put(ROOT, "title", "Free boiler for everyone").expect("put");
        tx.put(ROOT, "priority", "urgent").expect("put");
        tx.delete(ROOT, "description").expect("delete");
        let customer = match automerge::ReadDoc::get(tx, ROOT, "customer") {
            Ok(Some((_, customer))) => customer,
            other => panic!("no customer: {other:?}"),
        };
        tx.put(&customer, "name", "Eli's friend").expect("put");
        tx.put(&customer, "vip", true).expect("put");
        let sla = tx.put_object(ROOT, "sla", ObjType::Map).expect("new sla");
        tx.put(&sla, "resolve_by", 1_i64).expect("put");
    })
    .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    let reason = &answer.rejections[0].reason;
    for field in ["title", "priority", "description", "customer", "sla"] {
        assert!(reason.contains(field), "{field} in {reason}");
    }
    assert_eq!(answer.updates.len(), 1, "the compensation comes back at once");
    assert_eq!(answer.updates[0].data.len(), 1, "exactly the one compensating change");

    // Kept: the engineer's change is in the history, then the server's compensation.
    let log = server.state.storage().change_log(&id).expect("log");
    assert_eq!(log.len(), 3, "create, the engineer's edit, the compensation: {log:?}");
    let (status, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    let history = detail["history"].as_array().expect("history");
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[1]["user_id"], "eli");
    assert_eq!(history[1]["server"], false);
    let compensation = &history[2];
    assert_eq!(compensation["server"], true, "{compensation}");
    assert!(compensation["user_id"].is_null() && compensation["device_id"].is_null(), "{compensation}");
    let message = compensation["message"].as_str().expect("message");
    assert!(message.starts_with("compensate: ") && message.contains("title"), "{message}");
    assert!(compensation["server_received_at"].as_i64().is_some());
    // Undone: every dispatcher field is as it was.
    assert_eq!(detail["title"], "Original title");
    assert_eq!(detail["priority"], "normal");
    assert_eq!(detail["description"], "");
    assert_eq!(detail["customer"]["name"], "");
    assert_eq!(detail["sla"]["resolve_by"], resolve_by);
    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!(row.title, "Original title");

    // The device converges on the server's heads and shows the dispatcher's title again.
    converged(&phone, &id, &answer);
    let on_phone = document(&phone, &id);
    assert_eq!(title(&on_phone), "Original title");
    let customer = match automerge::ReadDoc::get(&on_phone, ROOT, "customer") {
        Ok(Some((_, customer))) => customer,
        other => panic!("no customer: {other:?}"),
    };
    assert!(automerge::ReadDoc::get(&on_phone, &customer, "vip").expect("read").is_none(), "an added key goes");
    let ticket = phone.get(&id).expect("ticket");
    assert_eq!(ticket.priority, fieldsync_core::model::Priority::Normal);

    // The response was lost: the same push again makes no second compensation.
    let seq = server.state.storage().current_seq().expect("seq");
    let (again, _) = server.sync(&eli.token, &request).await;
    assert!(again.rejections.is_empty(), "nothing new was pushed: {again:?}");
    assert_eq!(server.state.storage().change_log(&id).expect("log").len(), 3, "no second compensation");
    assert_eq!(server.state.storage().current_seq().expect("seq"), seq, "no sequence bump");
    converged(&phone, &id, &again);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_event_is_voided_not_applied_and_the_device_is_told() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Forgery", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    let device = eli.device_id.clone();

    // A dispatcher kind, an event by another user, and a legitimate accept in one push.
    let (_, answer) = push_edit(&server, &eli.token, &phone, &id, first.cursor, |tx| {
        let events = match automerge::ReadDoc::get(tx, ROOT, "events") {
            Ok(Some((_, events))) => events,
            other => panic!("no events: {other:?}"),
        };
        let forged = [
            [("id", "x-cancel"), ("kind", "cancelled"), ("by", "eli"), ("role", "engineer"), ("device", &device)],
            [("id", "x-dana"), ("kind", "accepted"), ("by", "dana"), ("role", "engineer"), ("device", &device)],
            [("id", "ok"), ("kind", "accepted"), ("by", "eli"), ("role", "engineer"), ("device", &device)],
        ];
        for fields in forged {
            let n = automerge::ReadDoc::length(tx, &events);
            let event = tx.insert_object(&events, n, ObjType::Map).expect("insert");
            for (key, value) in fields {
                tx.put(&event, key, value).expect("put");
            }
        }
    })
    .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    let reason = &answer.rejections[0].reason;
    assert!(reason.contains("cancelled") && reason.contains("another user"), "{reason}");

    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(detail["status"], "accepted", "the real accept counts, the forgeries do not: {detail}");
    assert_eq!(detail["conflicts"].as_array().map(Vec::len), Some(0), "voided events are not conflicts");
    let events = detail["events"].as_array().expect("events");
    assert_eq!(events.len(), 5, "every event stays in the history");
    let void = |event_id: &str| events.iter().find(|e| e["id"] == event_id).expect("event")["void"].clone();
    assert!(void("x-cancel").as_str().is_some_and(|r| r.contains("cancelled")), "{:?}", void("x-cancel"));
    assert!(void("x-dana").as_str().is_some_and(|r| r.contains("another user")), "{:?}", void("x-dana"));
    assert!(void("ok").is_null());

    converged(&phone, &id, &answer);
    let ticket = phone.get(&id).expect("ticket");
    assert_eq!(ticket.status, Status::Accepted);
    assert!(ticket.conflicts.is_empty());
    assert_eq!(ticket.events.iter().filter(|e| e.void.is_some()).count(), 2);
    // The phone carries on from the real state.
    phone.start_travel(&id).expect("travel");
    let (next, _) =
        server.sync(&eli.token, &SyncRequest { cursor: answer.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    assert!(next.rejections.is_empty(), "{next:?}");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").status, Status::Travelling);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_history_is_put_back_and_only_the_server_writes_void() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "History", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    phone.add_note(&id, "kept").expect("note");
    let (answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    assert!(answer.rejections.is_empty());
    apply(&phone, &answer);
    let before = phone.get(&id).expect("ticket");

    // The engineer deletes the `dispatched` event and their own note, and voids `created`.
    let (_, answer) = push_edit(&server, &eli.token, &phone, &id, answer.cursor, |tx| {
        let events = match automerge::ReadDoc::get(tx, ROOT, "events") {
            Ok(Some((_, events))) => events,
            other => panic!("no events: {other:?}"),
        };
        let created = match automerge::ReadDoc::get(tx, &events, 0) {
            Ok(Some((_, created))) => created,
            other => panic!("no created: {other:?}"),
        };
        tx.put(&created, "void", "I say so").expect("void");
        tx.delete(&events, 1).expect("delete dispatched");
        let notes = match automerge::ReadDoc::get(tx, ROOT, "notes") {
            Ok(Some((_, notes))) => notes,
            other => panic!("no notes: {other:?}"),
        };
        tx.delete(&notes, 0).expect("delete note");
    })
    .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    let reason = &answer.rejections[0].reason;
    assert!(reason.contains("remove existing entries of events") && reason.contains("only the server"), "{reason}");
    converged(&phone, &id, &answer);
    let after = phone.get(&id).expect("ticket");
    assert_eq!(after.events, before.events, "the deleted event is back where it was, nobody's void stands");
    assert_eq!(after.notes, before.notes);
    assert_eq!(after.status, Status::Accepted);
    assert_eq!(after.assignee.as_deref(), Some("eli"));

    // A dispatcher's device may edit the ticket, but not write void either.
    let console = open_client(server.dir.path(), &dana, Role::Dispatcher);
    let (all, _) = server.sync(&dana.token, &noop(0)).await;
    apply(&console, &all);
    let (_, answer) = push_edit(&server, &dana.token, &console, &id, all.cursor, |tx| {
        tx.put(ROOT, "title", "Renamed by dana").expect("title");
        let notes = match automerge::ReadDoc::get(tx, ROOT, "notes") {
            Ok(Some((_, notes))) => notes,
            other => panic!("no notes: {other:?}"),
        };
        let note = tx.insert_object(&notes, 1, ObjType::Map).expect("insert");
        for (key, value) in [("id", "n2"), ("text", "hidden"), ("by", "dana"), ("device", "c"), ("void", "")] {
            tx.put(&note, key, value).expect("put");
        }
    })
    .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert_eq!(answer.rejections[0].reason, "only the server may void a record");
    converged(&console, &id, &answer);
    let ticket = console.get(&id).expect("ticket");
    assert_eq!(ticket.title, "Renamed by dana", "dispatchers may edit dispatcher fields");
    assert_eq!(ticket.notes[1].void.as_deref(), Some("only the server may void a record"));

    // And no device may write with the server's own actor.
    let server_doc = document(&console, &id);
    let compensation = server_doc.get_changes(&[]).into_iter().last().expect("the compensation").actor_id().clone();
    let mut forged = server_doc.fork().with_actor(compensation);
    let heads = forged.get_heads();
    let mut tx = forged.transaction();
    tx.put(ROOT, "title", "Server says so").expect("put");
    tx.commit();
    let (refused, _) = server
        .sync(&dana.token, &SyncRequest { cursor: answer.cursor, pushes: vec![push_since(&forged, &heads, &id)] })
        .await;
    assert_eq!(refused.rejections.len(), 1, "{refused:?}");
    assert_eq!(refused.rejections[0].reason, "change from the server's actor");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").title, "Renamed by dana");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassigned_away_gets_an_eviction_without_the_document_once() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Moving on", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);

    let (status, body) = server.act(&dana.token, &id, serde_json::json!({"action": "assign", "engineer": "fay"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assignee"], "fay");
    let (answer, _) = server.sync(&eli.token, &noop(first.cursor)).await;
    assert_eq!(answer.evictions, vec![id.clone()]);
    assert!(answer.updates.is_empty(), "reads follow access: no part of the ticket comes with the eviction");

    // The lost-response case: the same cursor again gets the eviction again.
    let (replayed, _) = server.sync(&eli.token, &noop(first.cursor)).await;
    assert_eq!(replayed.evictions, vec![id.clone()]);
    // Applied: never again.
    let (after, _) = server.sync(&eli.token, &noop(answer.cursor)).await;
    assert!(after.evictions.is_empty() && after.updates.is_empty(), "{after:?}");
    let (status, _) = server.act(&dana.token, &id, serde_json::json!({"action": "add_note", "text": "fyi"})).await;
    assert_eq!(status, 200);
    let (after, _) = server.sync(&eli.token, &noop(after.cursor)).await;
    assert!(after.evictions.is_empty() && after.updates.is_empty(), "not eli's business any more: {after:?}");

    let (fays, _) = server.sync(&fay.token, &noop(0)).await;
    assert_eq!(fays.updates.len(), 1);

    // Assigned back: sent again, whole.
    let (status, _) = server.act(&dana.token, &id, serde_json::json!({"action": "assign", "engineer": "eli"})).await;
    assert_eq!(status, 200);
    let (back, _) = server.sync(&eli.token, &noop(after.cursor)).await;
    assert_eq!(back.updates.len(), 1);
    assert!(back.evictions.is_empty());
    let fresh = open_client(&server.dir.path().join("fresh"), &eli, Role::Engineer);
    apply(&fresh, &back);
    assert_eq!(fresh.get(&id).expect("whole ticket").assignee.as_deref(), Some("eli"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_ticket_is_evicted_after_the_push() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Not for me", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.reject(&id, "no ladder").expect("reject");
    let (answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    assert_eq!(answer.evictions, vec![id.clone()]);
    assert_eq!(answer.updates.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_tickets_are_evicted_after_the_retention_period() {
    let config = ServerConfig { completed_retention: std::time::Duration::ZERO, ..Default::default() };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Quick job", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    phone.check_in(&id, SITE).expect("check in");
    phone.complete(&id, "fixed").expect("complete");
    let (mut answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    // Retention zero: evicted as soon as the server's clock has moved past the completion.
    for _ in 0..1000 {
        if !answer.evictions.is_empty() {
            break;
        }
        answer = server.sync(&eli.token, &noop(answer.cursor)).await.0;
    }
    assert_eq!(answer.evictions, vec![id.clone()]);
    let (after, _) = server.sync(&eli.token, &noop(answer.cursor)).await;
    assert!(after.evictions.is_empty() && after.updates.is_empty(), "{after:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_budget_splits_a_large_answer_and_loses_nothing() {
    let config = ServerConfig { sync_budget_bytes: 2_000, ..Default::default() };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(server.create_ticket(&dana.token, &format!("Job {n}"), Some("eli")).await);
    }
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let mut cursor = 0;
    let mut rounds = 0;
    loop {
        let (answer, bytes) = server.sync(&eli.token, &noop(cursor)).await;
        rounds += 1;
        assert!(bytes < 4_000, "a cut answer stays near the budget: {bytes}");
        apply(&phone, &answer);
        cursor = answer.cursor;
        if !answer.more {
            break;
        }
        assert!(rounds < 20);
    }
    assert!(rounds > 1, "the budget cut the answer");
    for id in &ids {
        assert!(phone.get(id).is_ok(), "{id} arrived");
    }
    let (nothing, _) = server.sync(&eli.token, &noop(cursor)).await;
    assert!(nothing.updates.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_device_creates_tickets_by_pushing() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let console = open_client(server.dir.path(), &dana, Role::Dispatcher);
    let id = console
        .create_ticket(&fieldsync_core::NewTicket {
            title: "From a device".into(),
            assignee: Some("eli".into()),
            ..Default::default()
        })
        .expect("create");
    let (answer, _) = server.sync(&dana.token, &SyncRequest { cursor: 0, pushes: vec![push_all(&console, &id)] }).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let (elis, _) = server.sync(&eli.token, &noop(0)).await;
    assert_eq!(elis.updates.len(), 1);
    assert_eq!(elis.updates[0].ticket_id, id);
    // A push whose document is another ticket is refused.
    let other = console
        .create_ticket(&fieldsync_core::NewTicket { title: "Other".into(), ..Default::default() })
        .expect("create");
    let mut wrong = push_all(&console, &other);
    wrong.ticket_id = "not-that-id".into();
    let (answer, _) = server.sync(&dana.token, &SyncRequest { cursor: answer.cursor, pushes: vec![wrong] }).await;
    assert_eq!(answer.rejections.len(), 1);
    assert_eq!(answer.rejections[0].reason, "changes are not this ticket's history");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_instances_on_one_database_never_serve_or_write_a_stale_cached_document() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Two instances", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);

    // A second instance over the same database writes the ticket behind the first one's cache.
    let other = fieldsync_server::AppState::open(server.dir.path(), ServerConfig::default()).expect("second");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other_base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(fieldsync_server::serve(listener, other, async move {
        let _ = stopped.await;
    }));
    let note = |text: &str| {
        server
            .http
            .post(format!("{other_base}/v1/tickets/{id}/actions"))
            .bearer_auth(&dana.token)
            .header("content-type", "application/json")
            .body(serde_json::json!({"action": "add_note", "text": text}).to_string())
            .send()
    };
    assert_eq!(note("from the other instance").await.expect("note").status(), 200);

    // A push through the first instance merges with the other instance's write.
    phone.accept(&id).expect("accept");
    let request = SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] };
    let (answer, _) = server.sync(&eli.token, &request).await;
    assert!(answer.rejections.is_empty(), "{:?}", answer.rejections);
    apply(&phone, &answer);
    assert_eq!(phone.get(&id).expect("ticket").notes.len(), 1, "the other instance's note arrived");
    assert_eq!(phone.get(&id).expect("ticket").status, Status::Accepted);

    // A no-op sync through the first instance sends what the other one wrote since.
    assert_eq!(note("and another").await.expect("note").status(), 200);
    let (next, _) = server.sync(&eli.token, &noop(answer.cursor)).await;
    assert_eq!(next.updates.len(), 1, "{next:?}");
    apply(&phone, &next);
    assert_eq!(phone.get(&id).expect("ticket").notes.len(), 2);
    let stored = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!(stored.status, Status::Accepted);

    let _ = stop.send(());
    task.await.expect("task").expect("io");
    server.stop().await;
}

/// A push that adds only notes, photos, checklist ticks or a signature keeps the index the
/// server knew (docs/adr/0026): the stored row must still be the document's own index after
/// such a push, and after one change that adds a note and a part together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_row_stays_the_documents_after_a_note_and_after_a_note_with_a_part() {
    use fieldsync_core::model::{Identity, TicketIndex, doc};
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Boiler leaks", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    let identity = Identity { user_id: eli.user_id.clone(), device_id: eli.device_id.clone(), role: Role::Engineer };
    let stamp = |n: i64| doc::Stamp { id: format!("rec-{n}"), at: fieldsync_core::time::now_ms(), identity: &identity };
    let row_is_the_documents = |answer: &SyncResponse| {
        apply(&phone, answer);
        let document = document(&phone, &id);
        let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
        assert_eq!(row.index, TicketIndex::of(&document, &doc::derive(&document)));
        row
    };

    let (_, accepted) = push_edit(&server, &eli.token, &phone, &id, first.cursor, |tx| {
        doc::append_event(tx, &doc::EventDraft::of(fieldsync_core::workflow::EventKind::Accepted), &stamp(1))
            .expect("accept");
    })
    .await;
    assert!(accepted.rejections.is_empty(), "{accepted:?}");
    assert_eq!(row_is_the_documents(&accepted).status, Status::Accepted);
    let (_, noted) = push_edit(&server, &eli.token, &phone, &id, accepted.cursor, |tx| {
        doc::append_note(tx, "Seal replaced", false, &stamp(2)).expect("note");
    })
    .await;
    assert!(noted.rejections.is_empty(), "{noted:?}");
    assert_eq!(row_is_the_documents(&noted).status, Status::Accepted, "a note changes no listed field");
    let (_, both) = push_edit(&server, &eli.token, &phone, &id, noted.cursor, |tx| {
        doc::append_note(tx, "Valve swapped too", false, &stamp(3)).expect("note");
        doc::append_part(tx, "VALVE-22", 3, &stamp(4)).expect("part");
    })
    .await;
    assert!(both.rejections.is_empty(), "{both:?}");
    let row = row_is_the_documents(&both);
    assert_eq!((row.parts_lines, row.parts_quantity), (1, 3), "the part beside the note is listed");
    server.stop().await;
}

/// A device that pushed exactly what the server has holds it all: the ticket's write stores
/// that (docs/adr/0026) and the answer writes no state of its own. The next answer, after a
/// dispatcher's note, carries that note alone: not the device's own changes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_pushed_what_the_server_has_is_sent_only_what_others_add_next() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Held", Some("eli")).await;
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &noop(0)).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    phone.add_note(&id, "Seal replaced").expect("note");
    let pushed = push_all(&phone, &id);
    let (answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![pushed.clone()] }).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    assert_eq!(answer.updates.len(), 1);
    assert!(answer.updates[0].data.is_empty(), "nothing the device lacks");
    let mut heads = fieldsync_core::protocol::from_wire(&pushed.heads);
    heads.sort();
    let mut held = fieldsync_core::protocol::from_wire(&answer.updates[0].heads);
    held.sort();
    assert_eq!(held, heads, "the server has exactly what the device pushed");
    let states = server.state.storage().sync_states(&eli.device_id, std::slice::from_ref(&id)).expect("states");
    let [(_, state)] = states.as_slice() else { panic!("one state: {states:?}") };
    let mut confirmed: Vec<automerge::ChangeHash> = state.confirmed.iter().map(|h| automerge::ChangeHash(*h)).collect();
    confirmed.sort();
    assert_eq!((confirmed, &state.pending, state.evicted_at), (heads, &None, None), "held, nothing pending");

    let (status, _) =
        server.act(&dana.token, &id, serde_json::json!({"action": "add_note", "text": "Customer called"})).await;
    assert_eq!(status, 200);
    let (next, _) = server.sync(&eli.token, &noop(answer.cursor)).await;
    let update = next.updates.iter().find(|u| u.ticket_id == id).expect("the dispatcher's note comes");
    assert_eq!(update.data.len(), 1, "one change: the dispatcher's note, not the device's own again");
    apply(&phone, &next);
    assert_eq!(phone.get(&id).expect("ticket").notes.len(), 2);
    server.stop().await;
}
