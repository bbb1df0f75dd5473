//! The device's side of a refusal (issue 13, "Identity"): whether a ticket is pending follows
//! the server's heads, never the refusal itself; and a store belongs to one user and device.

use std::path::Path;

use automerge::ChangeHash;
use serde_bytes::ByteBuf;

use super::*;
use crate::protocol::{self, Rejection, RequestBudget, SyncRequest, SyncResponse, Update};
use crate::workflow::Role;

/// One round of an [`Exchange`] at a time, as the tests below drive it.
trait OneRound {
    fn sync_request(&self) -> Result<SyncRequest, Error>;
    fn apply_sync_response(&self, response: &SyncResponse) -> Result<Applied, Error>;
}

impl OneRound for Client {
    fn sync_request(&self) -> Result<SyncRequest, Error> {
        Ok(self.exchange().next_request()?.expect("a new exchange always has a first request"))
    }

    fn apply_sync_response(&self, response: &SyncResponse) -> Result<Applied, Error> {
        self.exchange().receive(response)
    }
}

fn identity(user: &str, device: &str, role: Role) -> Identity {
    Identity { user_id: user.into(), device_id: device.into(), role }
}

fn heads_of(client: &Client, id: &str) -> Vec<ChangeHash> {
    let bytes = client.export(id).expect("export");
    Automerge::load(&bytes).expect("load").get_heads()
}

/// The server's answer carrying `server`'s whole copy of the ticket.
fn update_from(server: &Client, id: &str) -> Update {
    Update {
        ticket_id: id.into(),
        data: vec![ByteBuf::from(server.export(id).expect("export"))],
        heads: protocol::to_wire(&heads_of(server, id)),
    }
}

fn row(client: &Client, id: &str) -> crate::model::TicketSummary {
    client.list(&ListFilter::default()).expect("list").into_iter().find(|t| t.id == id).expect("row")
}

/// A dispatcher's store standing in for the server, and an engineer holding one ticket the
/// server has acknowledged, with one local change (accept) pending.
fn pending_accept(dir: &Path) -> (Client, Client, String) {
    let server = Client::open(dir.join("server.sqlite"), identity("disp", "console", Role::Dispatcher)).expect("open");
    let eng = Client::open(dir.join("eng.sqlite"), identity("eng-1", "phone", Role::Engineer)).expect("open");
    let new = NewTicket { title: "boiler".into(), assignee: Some("eng-1".into()), ..Default::default() };
    let id = server.create_ticket(&new).expect("create");
    let response = SyncResponse { cursor: 1, updates: vec![update_from(&server, &id)], ..Default::default() };
    eng.apply_sync_response(&response).expect("apply");
    assert!(!row(&eng, &id).pending);
    eng.accept(&id).expect("accept");
    (server, eng, id)
}

#[test]
fn a_push_refused_without_being_stored_stays_pending_and_goes_in_the_next_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, eng, id) = pending_accept(dir.path());
    let first = eng.sync_request().expect("request");
    assert_eq!(first.pushes.len(), 1);
    let refusal = SyncResponse {
        cursor: 2,
        rejections: vec![Rejection::not_stored(&id, "change from another device's actor")],
        ..Default::default()
    };
    let applied = eng.apply_sync_response(&refusal).expect("apply");
    assert_eq!(applied.retrying, vec![id.clone()]);
    let summary = row(&eng, &id);
    assert!(summary.pending, "still to be sent");
    assert_eq!(summary.rejected.as_deref(), Some("change from another device's actor"));
    assert_eq!(eng.sync_request().expect("request").pushes, first.pushes, "the same changes go again");
}

#[test]
fn a_refusal_beside_an_update_that_lacks_the_change_stays_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, eng, id) = pending_accept(dir.path());
    // The server refused the accept but has a note of its own to send.
    server.add_note(&id, "customer called").expect("note");
    let response = SyncResponse {
        cursor: 3,
        updates: vec![update_from(&server, &id)],
        rejections: vec![Rejection::not_stored(&id, "ticket is not assigned to you")],
        ..Default::default()
    };
    eng.apply_sync_response(&response).expect("apply");
    assert!(row(&eng, &id).pending);
    assert_eq!(eng.get(&id).expect("get").notes.len(), 1, "the server's note merged");
    let again = eng.sync_request().expect("request");
    assert_eq!(again.pushes.len(), 1);
    assert_eq!(again.pushes[0].changes.len(), 1, "only the refused change, not the server's own");
}

#[test]
fn a_push_stored_and_compensated_is_settled_by_the_servers_heads_even_from_an_old_server() {
    // `stored: false` is how a server older than the field says it: the heads decide.
    for stored in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, eng, id) = pending_accept(dir.path());
        let push = eng.sync_request().expect("request").pushes.remove(0);
        let bytes: Vec<u8> = push.changes.iter().flat_map(|c| c.iter().copied()).collect();
        server.merge_remote(&id, &bytes).expect("the server stores the push");
        server.add_note(&id, "compensation stand-in").expect("server change");
        let rejection = Rejection { ticket_id: id.clone(), reason: "a dispatcher field".into(), stored };
        let response = SyncResponse {
            cursor: 4,
            updates: vec![update_from(&server, &id)],
            rejections: vec![rejection],
            ..Default::default()
        };
        eng.apply_sync_response(&response).expect("apply");
        let summary = row(&eng, &id);
        assert!(!summary.pending, "final (stored: {stored})");
        assert_eq!(summary.rejected.as_deref(), Some("a dispatcher field"));
        assert!(eng.sync_request().expect("request").pushes.is_empty(), "not sent again (stored: {stored})");
    }
}

#[test]
fn a_store_belongs_to_one_device_of_its_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    drop(Client::open(&path, identity("eng-1", "phone", Role::Engineer)).expect("open"));
    let err = Client::open(&path, identity("eng-1", "tablet", Role::Engineer)).expect_err("another device");
    assert!(matches!(err, Error::Store(StoreError::WrongDevice)), "{err}");
    let err = Client::open(&path, identity("eng-2", "phone", Role::Engineer)).expect_err("another user");
    assert!(matches!(err, Error::Store(StoreError::WrongUser)), "{err}");
    Client::open(&path, identity("eng-1", "phone", Role::Engineer)).expect("its own device opens it");
}

#[test]
fn a_store_from_before_the_device_binding_takes_the_first_device_that_opens_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let client = Client::open(&path, identity("eng-1", "phone", Role::Engineer)).expect("open");
    client
        .store()
        .write(|tx| -> Result<(), Error> {
            tx.execute("DELETE FROM meta WHERE key = 'device_id'", [])?;
            Ok(())
        })
        .expect("as an older version left it");
    drop(client);
    Client::open(&path, identity("eng-1", "tablet", Role::Engineer)).expect("the upgrade records this device");
    let err = Client::open(&path, identity("eng-1", "phone", Role::Engineer)).expect_err("bound now");
    assert!(matches!(err, Error::Store(StoreError::WrongDevice)));
}

/// [`pending_accept`] with the accept pushed, stored by the server and acknowledged: the
/// server, the engineer, the ticket and the heads both hold.
fn acknowledged(dir: &Path) -> (Client, Client, String, Vec<ChangeHash>) {
    let (server, eng, id) = pending_accept(dir);
    let push = eng.sync_request().expect("request").pushes.remove(0);
    let bytes: Vec<u8> = push.changes.iter().flat_map(|c| c.iter().copied()).collect();
    server.merge_remote(&id, &bytes).expect("the server stores the push");
    eng.apply_sync_response(&SyncResponse {
        cursor: 2,
        updates: vec![update_from(&server, &id)],
        ..Default::default()
    })
    .expect("acknowledged");
    assert!(!row(&eng, &id).pending);
    let held = heads_of(&eng, &id);
    (server, eng, id, held)
}

#[test]
fn an_update_the_device_cannot_merge_makes_the_next_request_say_what_it_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, eng, id, held) = acknowledged(dir.path());

    // An update that does not merge: the cursor still moves (the other tickets synced), which
    // the server takes as proof the device holds it.
    server.add_note(&id, "lost on the way").expect("note");
    let mut update = update_from(&server, &id);
    update.data = vec![ByteBuf::from(vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3])];
    let applied = eng
        .apply_sync_response(&SyncResponse { cursor: 3, updates: vec![update], ..Default::default() })
        .expect("apply");
    assert_eq!(applied.failed.len(), 1);
    assert_eq!(heads_of(&eng, &id), held, "nothing merged");
    let mut believed = eng.store().read(tickets::pending_with_server_heads).expect("read");
    assert_eq!(believed.len(), 1, "pending until the server knows what the device holds");
    let (_, mut server_heads) = believed.remove(0);
    let mut held_sorted = held.clone();
    held_sorted.sort();
    server_heads.sort();
    assert_eq!(server_heads, held_sorted, "the device does not believe it has the server's note");
    let next = eng.sync_request().expect("request");
    assert_eq!(next.pushes.len(), 1);
    assert!(next.pushes[0].changes.is_empty(), "nothing to send but its heads");
    assert_eq!(protocol::from_wire(&next.pushes[0].heads), held);
}

/// Bytes Automerge panics on while applying them (a change one past a gap in its actor's
/// numbers, which a server without today's checks stored) fail that ticket, not the answer:
/// another ticket in the same answer merges, the bad one stays as the device held it, and the
/// device syncs on.
#[test]
fn an_update_automerge_panics_on_fails_its_ticket_and_not_the_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, eng, id, held) = acknowledged(dir.path());

    server.add_note(&id, "seen by nobody").expect("note");
    let note = Automerge::load(&server.export(&id).expect("export")).expect("load");
    let honest = note.get_changes(&held).pop().expect("the note's change");
    let mut expanded = honest.decode();
    expanded.seq += 2;
    let forged = automerge::Change::from(expanded);
    let poisoned = Update {
        ticket_id: id.clone(),
        data: vec![ByteBuf::from(forged.raw_bytes().to_vec())],
        heads: protocol::to_wire(&[forged.hash()]),
    };
    let other = server
        .create_ticket(&NewTicket { title: "Second visit".into(), ..Default::default() })
        .expect("another ticket");
    let applied = eng
        .apply_sync_response(&SyncResponse {
            cursor: 4,
            updates: vec![poisoned, update_from(&server, &other)],
            ..Default::default()
        })
        .expect("the answer applies");
    assert_eq!(applied.failed.len(), 1, "{:?}", applied.failed);
    assert_eq!(applied.failed[0].0, id);
    assert!(applied.failed[0].1.contains("Automerge failed"), "{:?}", applied.failed);
    assert_eq!(heads_of(&eng, &id), held, "the ticket stays as the device held it");
    assert_eq!(heads_of(&eng, &other), heads_of(&server, &other), "the other ticket merged");
    eng.sync_request().expect("the device syncs on");
    // Merged directly (an export, a test server), the same bytes are refused, and the device
    // goes on reading and merging every ticket.
    let err = eng.merge_remote(&id, forged.raw_bytes()).expect_err("refused");
    assert!(err.to_string().contains("Automerge failed"), "{err}");
    assert_eq!(heads_of(&eng, &id), held);
    server.add_note(&other, "parts ordered").expect("note");
    assert!(eng.merge_remote(&other, &server.export(&other).expect("export")).expect("merges"));
    assert_eq!(eng.list(&ListFilter::default()).expect("list").len(), 2);
}

#[test]
fn a_request_carries_at_most_its_budget_and_the_first_push_always_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let desk =
        Client::open(dir.path().join("desk.sqlite"), identity("disp", "laptop", Role::Dispatcher)).expect("open");
    for n in 0..5 {
        desk.create_ticket(&NewTicket { title: format!("job {n}"), ..Default::default() }).expect("create");
    }
    let budget = RequestBudget { pushes: 2, ..RequestBudget::DEVICE };
    let (request, held_back) = desk.build_request(&budget).expect("request");
    assert_eq!((request.pushes.len(), held_back), (2, true), "two tickets now, three for the next round");
    let (all, held_back) = desk.build_request(&RequestBudget::DEVICE).expect("request");
    assert_eq!((all.pushes.len(), held_back), (5, false));

    // A ticket larger than the whole byte budget still goes, alone.
    let tiny = RequestBudget { change_bytes: 10, ops: 1, ..RequestBudget::DEVICE };
    let (request, held_back) = desk.build_request(&tiny).expect("request");
    assert_eq!((request.pushes.len(), held_back), (1, true));
    assert!(request.pushes[0].changes.iter().map(|c| c.len()).sum::<usize>() > 10);

    // The exchange goes on while the budget held tickets back, even when the server says no
    // more is waiting.
    let mut exchange = desk.exchange_within(RequestBudget { pushes: 2, ..RequestBudget::DEVICE });
    let first = exchange.next_request().expect("request").expect("first");
    assert_eq!(first.pushes.len(), 2);
    exchange.receive(&SyncResponse { cursor: 0, ..Default::default() }).expect("receive");
    assert!(!exchange.is_done(), "three tickets still to send");
}

/// The answer that ends an exchange also says what then waits, read in its own write: what a
/// read after it says; an answer with more to come says nothing (the exchange goes on).
#[test]
fn the_last_answer_counts_what_waits_in_its_own_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, eng, id) = pending_accept(dir.path());
    let mut exchange = eng.exchange();
    exchange.next_request().expect("request").expect("first");
    let more = SyncResponse { cursor: 2, more: true, ..Default::default() };
    let (_, waiting) = exchange.receive_counting(&more).expect("apply");
    assert_eq!(waiting, None, "not the last answer");
    assert!(!exchange.is_done());
    exchange.next_request().expect("request").expect("second");
    // The server holds the accept now: its heads settle it, and nothing waits.
    let settled = SyncResponse { cursor: 3, updates: vec![update_from(&server, &id)], ..Default::default() };
    let mut stored = update_from(&eng, &id);
    stored.data.clear();
    let last = SyncResponse { updates: vec![stored], ..settled };
    let (_, waiting) = exchange.receive_counting(&last).expect("apply");
    assert!(exchange.is_done());
    let (pending, uploads) = waiting.expect("the last answer counts");
    assert_eq!((pending, uploads), eng.waiting().expect("a read after it"));
    assert_eq!(pending.tickets, 0, "the server's heads are the device's: nothing waits");
    assert!(!row(&eng, &id).pending);
}
