//! `fieldsync check` on a real server's SQLite database: it passes the tickets devices and
//! dispatchers made, and names the one a server before the push's checks (docs/adr/0034)
//! could have stored with a change no ticket is made of.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ROOT};
use common::{Server, fails, ok};
use fieldsync_server::storage::{SqliteStorage, Storage, TicketWrite};

#[test]
fn check_passes_honest_tickets_and_names_one_stored_with_a_forbidden_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let data_s = data.to_str().expect("path");
    let dana = ok(&["user", "add", "dana", "--role", "dispatcher", "--data", data_s]).trim().to_owned();
    ok(&["user", "add", "eli", "--role", "engineer", "--data", data_s]);
    let server = Server::start(&data);
    let create = |title: &str| {
        let args = ["dispatch", "--server", &server.url, "--token", &dana, "create", "--title", title];
        ok(&[&args[..], &["--customer", "ACME", "--assignee", "eli"]].concat()).trim().to_owned()
    };
    let (honest, poisoned) = (create("Boiler leaks"), create("Pump stalls"));
    server.stop();

    let passed = ok(&["check", "--data", data_s]);
    assert!(passed.contains("2 tickets") && passed.contains("every ticket's history passes"), "{passed}");

    // A change Automerge itself writes, but of a kind no ticket holds (text): the push's first
    // check refuses it today; stored, it is the kind of change that broke tickets before.
    let storage = SqliteStorage::open(&data.join("server.sqlite")).expect("open");
    let stored = storage.load_ticket(&poisoned).expect("load").expect("stored");
    let mut doc = Automerge::load(&stored.bytes).expect("doc").with_actor(ActorId::random());
    let mut tx = doc.transaction();
    tx.put_object(ROOT, "scribble", ObjType::Text).expect("text");
    tx.commit();
    let change = doc.get_last_local_change().expect("change");
    // Logged as a server before the checks logged every push: received from eli's device.
    let eli_device =
        storage.list_devices().expect("devices").into_iter().find(|d| d.user_id == "eli").expect("eli's").id;
    let received = fieldsync_server::storage::ChangeLogRow {
        change_hash: change.hash().to_string(),
        device_id: eli_device.clone(),
        received_at: 1_733_000_000_000,
    };
    let write = TicketWrite {
        ticket_id: poisoned.clone(),
        expected_version: Some(stored.version),
        changes: change.raw_bytes().to_vec(),
        snapshot: None,
        index: storage.ticket_row(&poisoned).expect("row").expect("row"),
        change_log: vec![received],
        heads: doc.get_heads().iter().map(|h| h.0).collect(),
        holder: None,
        index_unchanged: true,
        chunks: Some(stored.chunks()),
    };
    storage.save_ticket(&write).expect("save");
    drop(storage);

    let (success, stdout, stderr) = common::run(&["check", "--data", data_s]);
    assert!(!success, "a ticket with a forbidden change fails the check: {stdout}");
    assert!(stdout.contains(&format!("{poisoned}: change ")) && stdout.contains("kind 4"), "{stdout}");
    assert!(!stdout.contains(&honest), "the honest ticket is not named: {stdout}");
    // Who sent it, to look at (or revoke): the device, its user, when it arrived.
    assert!(
        stdout.contains(&format!("sent by device {eli_device} (user eli), received 2024-11-30T20:53:20")),
        "{stdout}"
    );
    assert!(stderr.contains("fieldsync user revoke DEVICE"), "{stderr}");
    assert!(stderr.contains("1 ticket holds changes a push would be refused for today"), "{stderr}");
    // Read only: the same finding again, nothing repaired or lost.
    assert!(fails(&["check", "--data", data_s]).contains("1 ticket holds"));

    // A mistyped directory is not an empty server that passes.
    let missing = dir.path().join("no-such-server");
    let refused = fails(&["check", "--data", missing.to_str().expect("path")]);
    assert!(refused.contains("no server database at"), "{refused}");
    assert!(!missing.exists(), "nothing is created");
}
