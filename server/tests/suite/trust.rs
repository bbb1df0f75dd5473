//! Issue 13's attacks on actors and request cost, as a hostile device would make them: raw
//! Automerge changes in raw sync requests against a real server. Each test asserts the
//! refusal and that every honest party lost nothing.

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT, ReadDoc};
use fieldsync_core::protocol::{self, Push, SyncRequest, SyncResponse};
use fieldsync_core::{Role, Status};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use crate::common::{Server, apply, open_client, push_all};

/// The server actor of a device's REST actions, derived as the server derives it (written out
/// here so this test also runs against a server that does not export the derivation).
fn server_actor(device_id: &str) -> ActorId {
    let digest = Sha256::digest(format!("fieldsync-server-actor/{device_id}").as_bytes());
    ActorId::from(&digest[..16])
}

/// The server's whole document of a ticket, as a device starting from nothing receives it.
async fn fetch(server: &Server, token: &str, id: &str) -> Automerge {
    let (answer, _) = server.sync(token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    let update = answer.updates.iter().find(|u| u.ticket_id == id).expect("the ticket is sent");
    Automerge::load(&update.data[0]).expect("a whole document")
}

/// One change to `doc` made by `actor`: its raw (uncompressed) chunk and the push of it.
fn change_by(
    doc: &Automerge,
    id: &str,
    actor: ActorId,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> (automerge::Change, Push) {
    let mut fork = doc.fork().with_actor(actor);
    let before = fork.get_heads();
    let mut tx = fork.transaction();
    edit(&mut tx);
    tx.commit();
    let change = fork.get_changes(&before).first().map(|c| (*c).clone()).expect("one change");
    let push = Push {
        ticket_id: id.to_owned(),
        changes: vec![ByteBuf::from(change.raw_bytes().to_vec())],
        heads: protocol::to_wire(&fork.get_heads()),
    };
    (change, push)
}

fn rejection<'a>(answer: &'a SyncResponse, id: &str) -> Option<&'a str> {
    answer.rejections.iter().find(|r| r.ticket_id == id).map(|r| r.reason.as_str())
}

fn stored(server: &Server, id: &str) -> Automerge {
    let ticket = server.state.storage().load_ticket(id).expect("load").expect("exists");
    Automerge::load(&ticket.bytes).expect("stored document loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_engineer_squats_admin_actor() {
    let server = Server::start().await;
    let ada = server.user("ada", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Squatted", Some("eli")).await;
    let doc = fetch(&server, &eli.token, &id).await;

    // Eli's device pushes changes under the admin's, the dispatcher's and its own server actor
    // (all derivable from device ids), and under the compensation actor.
    let compensation = ActorId::from(&Sha256::digest(b"fieldsync-server/compensation")[..16]);
    for (who, actor, owner) in [
        ("admin", server_actor(&ada.device_id), Some(&ada.device_id)),
        ("dispatcher", server_actor(&dana.device_id), Some(&dana.device_id)),
        ("own server actor", server_actor(&eli.device_id), Some(&eli.device_id)),
        ("compensation", compensation, None),
    ] {
        let (_, push) = change_by(&doc, &id, actor.clone(), |tx| tx.put(ROOT, "squat", who).map(|_| ()).expect("put"));
        let (answer, _) = server.sync(&eli.token, &SyncRequest { cursor: 0, pushes: vec![push] }).await;
        let reason = rejection(&answer, &id).unwrap_or_default();
        assert!(reason.contains("actor"), "{who}: refused as a foreign or reserved actor, got {answer:?}");
        let bound = server.state.storage().actors(&[actor.to_hex_string()]).expect("actors");
        let bound: Vec<&String> = bound.iter().map(|a| &a.device_id).collect();
        assert_eq!(bound, owner.into_iter().collect::<Vec<_>>(), "{who}: bound to its own device only");
    }
    assert!(stored(&server, &id).get(ROOT, "squat").expect("read").is_none(), "nothing of the squats is stored");

    // The admin's and the dispatcher's REST actions work.
    let created = server.create_ticket(&ada.token, "By the admin", Some("eli")).await;
    for (token, ticket) in [(&ada.token, &created), (&dana.token, &id), (&ada.token, &id)] {
        let (status, body) =
            server.act(token, ticket, serde_json::json!({"action": "add_note", "text": "still works"})).await;
        assert_eq!(status, 200, "{body}");
    }
    // Eli's honest device still syncs.
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    apply(&phone, &first);
    phone.accept(&id).expect("accept");
    let (answer, _) =
        server.sync(&eli.token, &SyncRequest { cursor: first.cursor, pushes: vec![push_all(&phone, &id)] }).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    assert_eq!(server.state.storage().ticket_row(&id).expect("row").expect("exists").status, Status::Accepted);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_actor_squatted_before_the_fix_is_bound_back_at_startup() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let actor = server_actor(&dana.device_id).to_hex_string();
    let server = server
        .restart_after(|dir| {
            // What a squat left in a database written before actors were bound at creation.
            let db = rusqlite::Connection::open(dir.join("server.sqlite")).expect("open");
            let changed = db
                .execute("UPDATE actors SET device_id = ?1 WHERE actor_hex = ?2", [&eli.device_id, &actor])
                .expect("squat");
            assert_eq!(changed, 1);
        })
        .await;
    let bound = server.state.storage().actors(&[actor]).expect("actors");
    assert_eq!(bound[0].device_id, dana.device_id, "bound back to its device");
    server.create_ticket(&dana.token, "Works again", Some("eli")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_compressed_change_bomb() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let bombed = server.create_ticket(&dana.token, "Bombed", Some("eli")).await;
    let honest = server.create_ticket(&dana.token, "Honest", Some("eli")).await;
    let doc = fetch(&server, &eli.token, &bombed).await;

    // A 4 MiB note deflates to a few KB; automerge would inflate it whatever its size.
    let (mut change, _) = change_by(&doc, &bombed, ActorId::random(), |tx| {
        tx.put(ROOT, "note", "x".repeat(4 * 1024 * 1024)).map(|_| ()).expect("put")
    });
    let compressed = change.bytes().to_vec();
    assert_eq!(compressed[8], 2, "a compressed change chunk");
    assert!(compressed.len() < 16 * 1024, "{} bytes on the wire", compressed.len());
    let bomb = Push {
        ticket_id: bombed.clone(),
        changes: vec![ByteBuf::from(compressed)],
        heads: protocol::to_wire(&[change.hash()]),
    };
    // In the same request, the honest device's change to its other ticket.
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let (first, _) = server.sync(&eli.token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    apply(&phone, &first);
    phone.accept(&honest).expect("accept");
    let request = SyncRequest { cursor: first.cursor, pushes: vec![bomb, push_all(&phone, &honest)] };
    let (answer, _) = server.sync(&eli.token, &request).await;

    let reason = rejection(&answer, &bombed).unwrap_or_default();
    assert!(reason.contains("compressed"), "the bomb is refused with a clear reason: {answer:?}");
    assert!(stored(&server, &bombed).get(ROOT, "note").expect("read").is_none(), "no 4 MiB note stored");
    assert_eq!(rejection(&answer, &honest), None, "the other ticket of the request synced");
    assert_eq!(server.state.storage().ticket_row(&honest).expect("row").expect("exists").status, Status::Accepted);
    assert!(answer.updates.iter().any(|u| u.ticket_id == honest), "and was acknowledged");

    // The same change sent uncompressed is above the sync body cap: 413 before any decoding.
    let raw = Push {
        ticket_id: bombed.clone(),
        changes: vec![ByteBuf::from(change.raw_bytes().to_vec())],
        heads: protocol::to_wire(&[change.hash()]),
    };
    let request = SyncRequest { cursor: 0, pushes: vec![raw] };
    let status = server.refused_sync_status(&eli.token, request.encode()).await;
    assert!(matches!(status, Some(413) | None), "refused unread: {status:?}");
    // Within the body cap but above the per-change cap (384 KiB) it is refused too; within
    // that, it is an ordinary change.
    let (change, _) = change_by(&doc, &bombed, ActorId::random(), |tx| {
        tx.put(ROOT, "note", "x".repeat(500 * 1024)).map(|_| ()).expect("put")
    });
    let raw = Push {
        ticket_id: bombed.clone(),
        changes: vec![ByteBuf::from(change.raw_bytes().to_vec())],
        heads: protocol::to_wire(&[change.hash()]),
    };
    let (answer, _) = server.sync(&eli.token, &SyncRequest { cursor: 0, pushes: vec![raw] }).await;
    assert!(rejection(&answer, &bombed).unwrap_or_default().contains("above the limit"), "{answer:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_millions_of_empty_items_is_refused_before_decoding() {
    let server = Server::start().await;
    let eli = server.user("eli", Role::Engineer);
    // 1.9 MB (under the 2 MiB body cap) of one-byte empty byte strings: ~50 MB once decoded
    // into buffers.
    let items = 1_900_000;
    let mut body = b"FSYN\x01\x00\x01".to_vec();
    body.extend([0xa2, 0x66]);
    body.extend(b"cursor");
    body.push(0x00);
    body.push(0x66);
    body.extend(b"pushes");
    body.push(0x81);
    body.extend([0xa3, 0x69]);
    body.extend(b"ticket_id");
    body.extend([0x61, b't', 0x67]);
    body.extend(b"changes");
    body.push(0x9a);
    body.extend((items as u32).to_be_bytes());
    body.extend(std::iter::repeat_n(0x40, items));
    body.push(0x65);
    body.extend(b"heads");
    body.push(0x80);
    let response = server.sync_raw(&eli.token, body).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.expect("body");
    assert!(text.contains("items"), "{text}");
    // The device is fine afterwards.
    let (answer, _) = server.sync(&eli.token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    assert!(answer.rejections.is_empty());
    server.stop().await;
}
