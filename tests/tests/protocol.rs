//! The sync protocol in one process, without HTTP: devices' sans-IO exchanges
//! (`Client::exchange`) driven against the server's own exchange function
//! (`AppState::sync_device`), real stores and real server storage in temporary folders. What
//! a network makes hard to arrange is plain here: an answer lost after the server applied the
//! request, an answer applied twice, a server that pages its answer. The HTTP end-to-end tests
//! (e2e.rs, faults.rs) run the same protocol through the sync engine and a real socket.

use automerge::{Automerge, ChangeHash};
use fieldsync_core::client::{Exchange, Exchanged};
use fieldsync_core::model::{Identity, ListFilter, NewTicket};
use fieldsync_core::protocol::{SyncRequest, SyncResponse};
use fieldsync_core::{Client, Role, Status};
use fieldsync_server::{AppError, AppState, ServerConfig};

/// A server's state (no socket) and a folder for it and the devices' stores.
struct World {
    dir: tempfile::TempDir,
    server: AppState,
}

/// A device: its store and its token.
struct Phone {
    client: Client,
    token: String,
}

fn world(config: ServerConfig) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = AppState::open(&data, config).expect("server state");
    World { dir, server }
}

impl World {
    fn phone(&self, name: &str, role: Role) -> Phone {
        let (user_id, device_id, token) = self.server.add_user(name, role).expect("user");
        let path = self.dir.path().join(format!("{name}.sqlite"));
        let client = Client::open(path, Identity { user_id, device_id, role }).expect("store");
        Phone { client, token }
    }

    /// One request through the server.
    fn serve(&self, phone: &Phone, request: &SyncRequest) -> SyncResponse {
        self.server.sync_device(&phone.token, request).expect("the server answers")
    }

    /// A whole exchange, every answer delivered.
    fn sync(&self, phone: &Phone) -> Exchanged {
        let mut exchange = phone.client.exchange();
        while let Some(request) = exchange.next_request().expect("request") {
            let response = self.serve(phone, &request);
            exchange.receive(&response).expect("apply");
        }
        exchange.finish()
    }
}

fn job(title: &str, engineer: &str) -> NewTicket {
    NewTicket { title: title.into(), assignee: Some(engineer.into()), ..Default::default() }
}

fn heads(phone: &Phone, id: &str) -> Vec<ChangeHash> {
    let mut heads = Automerge::load(&phone.client.export(id).expect("export")).expect("load").get_heads();
    heads.sort();
    heads
}

fn pending(phone: &Phone) -> u64 {
    phone.client.pending_count().expect("pending")
}

/// The first request of a new exchange, which always goes.
fn first_request(exchange: &mut Exchange) -> SyncRequest {
    exchange.next_request().expect("request").expect("a first request")
}

#[test]
fn a_ticket_made_on_a_dispatcher_device_reaches_its_engineer_and_both_sides_converge() {
    let w = world(ServerConfig::default());
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let id = dana.client.create_ticket(&job("boiler", "eli")).expect("create");

    let sent = w.sync(&dana);
    assert_eq!((sent.pushed.clone(), sent.rounds), (vec![id.clone()], 1));
    let got = w.sync(&eli);
    assert_eq!((got.applied.received.clone(), got.rounds), (vec![id.clone()], 1));

    // Both sides edit while apart.
    eli.client.accept(&id).expect("accept");
    eli.client.start_travel(&id).expect("travel");
    eli.client.add_note(&id, "parking at the back").expect("note");
    dana.client.add_note(&id, "customer will be late").expect("note");

    let eli_sync = w.sync(&eli);
    assert_eq!(eli_sync.pushed, vec![id.clone()]);
    assert_eq!(eli_sync.rounds, 1, "one round trip moves changes both ways");
    w.sync(&dana);
    w.sync(&eli);
    assert_eq!(heads(&eli, &id), heads(&dana, &id), "one history on both devices");
    let ticket = dana.client.get(&id).expect("get");
    assert_eq!(ticket.status, Status::Travelling);
    assert_eq!(ticket.notes.len(), 2);
    assert_eq!((pending(&eli), pending(&dana)), (0, 0));
    assert!(w.sync(&eli).pushed.is_empty(), "nothing left to send");
}

#[test]
fn an_answer_lost_after_the_server_applied_the_request_is_recovered_by_the_next_exchange() {
    let w = world(ServerConfig::default());
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let id = dana.client.create_ticket(&job("boiler", "eli")).expect("create");
    w.sync(&dana);
    w.sync(&eli);
    eli.client.accept(&id).expect("accept");

    // The server applies the push; its answer never arrives.
    let mut lost = eli.client.exchange();
    let request = first_request(&mut lost);
    assert_eq!(request.pushes.len(), 1);
    let _never_delivered = w.serve(&eli, &request);
    drop(lost);
    assert_eq!(pending(&eli), 1, "the device cannot know the server has it");

    // The next exchange sends the same changes again; the server already holds them.
    let again = w.sync(&eli);
    assert_eq!(again.pushed, vec![id.clone()]);
    assert!(again.applied.rejected.is_empty(), "{:?}", again.applied.rejected);
    assert_eq!(pending(&eli), 0, "acknowledged now");
    w.sync(&dana);
    let ticket = dana.client.get(&id).expect("get");
    assert_eq!(ticket.status, Status::Accepted);
    let accepts = ticket.events.iter().filter(|e| e.kind == "accepted").count();
    assert_eq!(accepts, 1, "the change sent twice is one change");
    assert_eq!(heads(&eli, &id), heads(&dana, &id));
}

#[test]
fn an_answer_applied_twice_changes_nothing_the_second_time() {
    let w = world(ServerConfig::default());
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let id = dana.client.create_ticket(&job("boiler", "eli")).expect("create");
    w.sync(&dana);

    let mut exchange = eli.client.exchange();
    let response = w.serve(&eli, &first_request(&mut exchange));
    let first = exchange.receive(&response).expect("apply");
    assert_eq!(first.received, vec![id.clone()]);
    let held = heads(&eli, &id);
    let second = eli.client.exchange().receive(&response).expect("apply again");
    assert!(second.received.is_empty(), "nothing new: {second:?}");
    assert_eq!(heads(&eli, &id), held);
    assert_eq!(eli.client.list(&ListFilter::default()).expect("list").len(), 1);
    assert_eq!(pending(&eli), 0);
}

#[test]
fn an_answer_paged_by_the_server_is_followed_until_the_server_has_no_more() {
    // A budget so small that each answer carries one ticket.
    let w = world(ServerConfig { sync_budget_bytes: 1, ..ServerConfig::default() });
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let mut ids: Vec<String> =
        (0..5).map(|n| dana.client.create_ticket(&job(&format!("job {n}"), "eli")).expect("create")).collect();
    w.sync(&dana);

    let got = w.sync(&eli);
    assert!(got.rounds > 1, "the server paged its answer: {} round(s)", got.rounds);
    let mut received = got.applied.received.clone();
    received.sort();
    ids.sort();
    assert_eq!(received, ids, "every ticket arrived, each once");
    assert_eq!(eli.client.list(&ListFilter::default()).expect("list").len(), 5);
    assert_eq!(w.sync(&eli).rounds, 1, "caught up: one round trip");
}

#[test]
fn a_revoked_device_is_refused_and_its_changes_stay_pending() {
    let w = world(ServerConfig::default());
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let id = dana.client.create_ticket(&job("boiler", "eli")).expect("create");
    w.sync(&dana);
    w.sync(&eli);
    eli.client.accept(&id).expect("accept");
    let device = eli.client.identity().device_id.clone();
    assert!(w.server.revoke_device(&device).expect("revoke"));

    let mut exchange = eli.client.exchange();
    let refused = w.server.sync_device(&eli.token, &first_request(&mut exchange));
    assert!(matches!(refused, Err(AppError::Unauthorized)), "{refused:?}");
    assert_eq!(pending(&eli), 1, "the accept waits for a valid token");
    w.sync(&dana);
    assert_eq!(dana.client.get(&id).expect("get").status, Status::Dispatched, "nothing of it reached the server");
}

/// The heads of what the server stores of a ticket.
fn server_heads(w: &World, id: &str) -> Vec<ChangeHash> {
    let stored = w.server.storage().load_ticket(id).expect("load").expect("stored");
    let mut heads = Automerge::load(&stored.bytes).expect("load").get_heads();
    heads.sort();
    heads
}

/// A device that holds nothing of a ticket is sent the server's stored bytes as they are
/// (docs/adr/0030): its newest snapshot and every change chunk written after it. The device
/// must end with exactly the server's heads, for a ticket stored as a snapshot and chunks and
/// for one stored as chunks only: bytes that are not the whole history (a stale snapshot
/// without the newest chunks, the first chunk alone) leave it behind.
#[test]
fn a_device_that_holds_nothing_gets_the_whole_stored_history() {
    let w = world(ServerConfig::default());
    let dana = w.phone("dana", Role::Dispatcher);
    let eli = w.phone("eli", Role::Engineer);
    let long = dana.client.create_ticket(&job("boiler", "eli")).expect("create");
    let short = dana.client.create_ticket(&job("radiator", "eli")).expect("create");
    w.sync(&dana);
    // One server write per sync: past the compaction threshold (64 chunks), then a few more.
    for n in 0..70 {
        dana.client.add_note(&long, &format!("note {n}")).expect("note");
        w.sync(&dana);
    }
    dana.client.add_note(&short, "bring a ladder").expect("note");
    w.sync(&dana);
    let stored = w.server.storage().load_ticket(&long).expect("load").expect("stored");
    assert!(
        (1..70).contains(&stored.chunks_since_snapshot),
        "a snapshot and chunks after it: {}",
        stored.chunks_since_snapshot
    );

    let got = w.sync(&eli);
    assert_eq!(got.applied.failed, Vec::<(String, String)>::new());
    for id in [&long, &short] {
        assert_eq!(heads(&eli, id), server_heads(&w, id), "the device holds the server's whole history");
    }
    assert_eq!(pending(&eli), 0, "nothing the device lacks");
    assert_eq!(eli.client.get(&long).expect("get").notes.len(), 70);
    // And it goes on from there: its own change reaches the server and comes back settled.
    eli.client.accept(&long).expect("accept");
    w.sync(&eli);
    assert_eq!(heads(&eli, &long), server_heads(&w, &long));
    assert_eq!(pending(&eli), 0);
}
