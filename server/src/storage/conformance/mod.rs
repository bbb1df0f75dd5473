//! The conformance suite every [`Storage`] implementation must pass.
//!
//! Call [`run`] from a test with a constructor that returns a fresh, empty storage each time:
//!
//! ```text
//! fieldsync_server::storage::conformance::run(&|| {
//!     Box::new(SqliteStorage::open(&dir.path().join(unique_name())).expect("open"))
//! });
//! ```
//!
//! It panics with a message naming the failed check.

mod check;
mod customers;
mod manager;
mod report_facts;
pub(crate) mod statistics;
mod sync_reads;
mod tracking;
mod uploads;
mod webhooks;

use fieldsync_core::model::TicketIndex;
use fieldsync_core::workflow::{Role, Status};

use super::{
    ChangeLogRow, DeviceRecord, IndexRow, Scope, SessionRecord, Storage, StorageError, SyncState, TicketFilter,
    TicketWrite, UserRecord,
};

/// Runs every check, each on a fresh storage from `make`.
pub fn run(make: &dyn Fn() -> Box<dyn Storage>) {
    users_and_devices(make().as_ref());
    actors(make().as_ref());
    ticket_writes(make().as_ref());
    a_write_that_keeps_the_index_moves_the_row_on(make().as_ref());
    snapshots_replace_chunks(make().as_ref());
    writers_of_one_ticket_take_turns(make());
    stored_heads_and_batched_loads(make().as_ref());
    chunks_known_to_the_writer(make().as_ref());
    changed_since_and_scopes(make().as_ref());
    list_filters(make().as_ref());
    sync_states(make().as_ref());
    retention(make().as_ref());
    sync_reads::run(make().as_ref());
    blob_links(make().as_ref());
    listings_and_sessions(make().as_ref());
    webhooks::run(make);
    uploads::run(make);
    tracking::run(make);
    manager::run(make);
    customers::run(make);
    customer_index(make);
    statistics::run(make);
    report_facts::run(make);
    check::run(make().as_ref());
}

fn user(id: &str, role: Role) -> UserRecord {
    UserRecord { id: id.into(), name: format!("{id} name"), role }
}

fn device(id: &str, user_id: &str, token: u8) -> DeviceRecord {
    DeviceRecord { id: id.into(), user_id: user_id.into(), token_sha256: [token; 32] }
}

/// An index row for tests.
pub(super) fn row(id: &str, status: Status, assignee: Option<&str>) -> IndexRow {
    IndexRow {
        id: id.into(),
        index: TicketIndex {
            title: format!("Title of {id}"),
            status,
            assignee: assignee.map(str::to_owned),
            customer_name: format!("Customer {id}"),
            customer_address: "1 Main St".into(),
            ..Default::default()
        },
        updated_at: 1_000,
        changed_seq: 0,
    }
}

/// The customer columns of the index round-trip, and a customer's tickets list newest created
/// first, per site when asked.
fn customer_index(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    let at = |id: &str, site: &str, created: i64| {
        row(id, Status::Accepted, Some("eli")).with(|t| {
            t.customer_id = "c1".into();
            t.site_id = site.into();
            t.created_at = Some(created);
            t.responded_at = Some(created + 60_000);
            t.arrived_at = Some(created + 120_000);
        })
    };
    for (id, site, created) in [("k1", "s1", 1_000), ("k2", "s2", 2_000), ("k3", "s1", 3_000)] {
        s.save_ticket(&write(id, None, b"c", at(id, site, created), &[])).expect("save");
    }
    s.save_ticket(&write("other", None, b"c", row("other", Status::New, None), &[])).expect("save");
    let ids = |rows: Vec<IndexRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.customer_tickets("c1", None, 10).expect("all")), ["k3", "k2", "k1"]);
    assert_eq!(ids(s.customer_tickets("c1", Some("s1"), 10).expect("site")), ["k3", "k1"]);
    assert_eq!(ids(s.customer_tickets("c1", None, 1).expect("limit")), ["k3"]);
    let read = s.ticket_row("k2").expect("row").expect("there");
    assert_eq!(
        (read.customer_id.as_str(), read.site_id.as_str(), read.created_at, read.responded_at, read.arrived_at),
        ("c1", "s2", Some(2_000), Some(62_000), Some(122_000))
    );
}

pub(super) fn write(id: &str, expected: Option<i64>, changes: &[u8], index: IndexRow, log: &[&str]) -> TicketWrite {
    TicketWrite {
        ticket_id: id.into(),
        expected_version: expected,
        changes: changes.to_vec(),
        snapshot: None,
        index,
        change_log: log
            .iter()
            .map(|h| ChangeLogRow { change_hash: (*h).into(), device_id: "d1".into(), received_at: 5 })
            .collect(),
        heads: Vec::new(),
        holder: None,
        index_unchanged: false,
        chunks: None,
    }
}

fn users_and_devices(s: &dyn Storage) {
    s.create_user(&user("eli", Role::Engineer)).expect("create user");
    assert!(
        matches!(s.create_user(&user("eli", Role::Admin)), Err(StorageError::Duplicate(_))),
        "a duplicate user id is refused"
    );
    assert_eq!(s.user("eli").expect("user"), Some(user("eli", Role::Engineer)));
    assert_eq!(s.user("nobody").expect("user"), None);
    assert!(
        matches!(s.create_device(&device("d0", "nobody", 9)), Err(StorageError::NotFound(_))),
        "a device of an unknown user is refused"
    );
    s.create_device(&device("d1", "eli", 1)).expect("create device");
    assert!(matches!(s.create_device(&device("d1", "eli", 2)), Err(StorageError::Duplicate(_))), "duplicate device");
    assert!(matches!(s.create_device(&device("d2", "eli", 1)), Err(StorageError::Duplicate(_))), "duplicate token");
    let who = s.authenticate(&[1; 32]).expect("authenticate").expect("known token");
    assert_eq!((who.user_id.as_str(), who.device_id.as_str(), who.role), ("eli", "d1", Role::Engineer));
    assert_eq!(who.last_sync_at, None);
    s.record_sync("d1", 77).expect("record sync");
    assert_eq!(s.authenticate(&[1; 32]).expect("auth").and_then(|p| p.last_sync_at), Some(77));
    assert_eq!(s.authenticate(&[3; 32]).expect("authenticate"), None, "unknown token");
    assert!(s.revoke_device("d1").expect("revoke"));
    assert!(!s.revoke_device("nope").expect("revoke unknown"));
    assert_eq!(s.authenticate(&[1; 32]).expect("authenticate"), None, "revoked token");
}

fn actors(s: &dyn Storage) {
    s.create_user(&user("eli", Role::Engineer)).expect("user");
    s.create_device(&device("d1", "eli", 1)).expect("device");
    s.create_device(&device("d2", "eli", 2)).expect("device");
    assert_eq!(s.register_actor("aa", "d1").expect("register"), "d1");
    assert_eq!(s.register_actor("aa", "d1").expect("register again"), "d1", "idempotent");
    assert_eq!(s.register_actor("aa", "d2").expect("register elsewhere"), "d1", "first binding wins");
    let found = s.actors(&["aa".into(), "bb".into()]).expect("actors");
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].actor.as_str(), found[0].device_id.as_str(), found[0].user_id.as_str()), ("aa", "d1", "eli"));
    // A device's server actor is bound with the device: nobody can claim it first.
    let reserved = crate::actors::server_actor_hex("d2");
    let bound = s.actors(std::slice::from_ref(&reserved)).expect("actors");
    assert_eq!(bound.iter().map(|a| a.device_id.as_str()).collect::<Vec<_>>(), ["d2"], "bound at creation");
    assert_eq!(s.register_actor(&reserved, "d1").expect("claim"), "d2", "a device's server actor cannot be claimed");
}

fn ticket_writes(s: &dyn Storage) {
    assert_eq!(s.current_seq().expect("seq"), 0);
    assert_eq!(s.load_ticket("t1").expect("load"), None);
    let first = s.save_ticket(&write("t1", None, b"abc", row("t1", Status::New, None), &["h1"])).expect("create");
    assert_eq!(first.seq, 1);
    assert!(
        matches!(
            s.save_ticket(&write("t1", None, b"x", row("t1", Status::New, None), &[])),
            Err(StorageError::VersionConflict(_))
        ),
        "creating an existing ticket is a conflict"
    );
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!(loaded.bytes, b"abc");
    assert!(
        matches!(
            s.save_ticket(&write("t1", Some(loaded.version + 1), b"x", row("t1", Status::New, None), &[])),
            Err(StorageError::VersionConflict(_))
        ),
        "a stale version is a conflict"
    );
    assert!(
        matches!(
            s.save_ticket(&write("t2", Some(1), b"x", row("t2", Status::New, None), &["h9"])),
            Err(StorageError::VersionConflict(_))
        ),
        "a version of a ticket that does not exist is a conflict"
    );
    // A refused write leaves nothing: no chunk, no change log entry, no sequence number, no row.
    assert_eq!(s.load_ticket("t1").expect("load").expect("exists").bytes, b"abc");
    assert_eq!(s.change_log("t1").expect("log").len(), 1, "only the first write's change");
    assert_eq!(s.current_seq().expect("seq"), 1);
    assert_eq!(s.load_ticket("t2").expect("load"), None);
    let second = s
        .save_ticket(&write(
            "t1",
            Some(loaded.version),
            b"def",
            row("t1", Status::Dispatched, Some("eli")),
            &["h1", "h2"],
        ))
        .expect("update");
    assert!(second.seq > first.seq && second.version > loaded.version);
    assert_eq!(second.chunks_since_snapshot, 2);
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!(loaded.bytes, b"abcdef", "chunks concatenate in order");
    assert_eq!(loaded.chunks_since_snapshot, 2);
    assert_eq!(loaded.version, second.version);
    assert_eq!(loaded.seq, second.seq, "a loaded document carries its changed_seq");
    let index = s.ticket_row("t1").expect("row").expect("exists");
    assert_eq!(
        (index.status, index.assignee.as_deref(), index.changed_seq),
        (Status::Dispatched, Some("eli"), second.seq)
    );
    let log = s.change_log("t1").expect("log");
    assert_eq!(log.len(), 2, "a hash already logged is not logged twice: {log:?}");
    assert_eq!(s.current_seq().expect("seq"), second.seq);
    s.save_ticket(&write("t2", None, b"zz", row("t2", Status::New, None), &["h1"])).expect("other ticket");
    assert_eq!(s.change_log("t2").expect("log").len(), 1, "the change log is per ticket");
    assert_eq!(s.ticket_row("t3").expect("row"), None);
}

/// A write whose caller promises the index is the stored one (a note) still moves the row's
/// own columns on: its sequence number (so every device's "changed since" finds it, by
/// status, by assignee, by id), its time, version and heads; a ticket not stored yet gets its
/// whole row.
fn a_write_that_keeps_the_index_moves_the_row_on(s: &dyn Storage) {
    let assigned = row("t1", Status::Accepted, Some("eli"));
    let first = s.save_ticket(&write("t1", None, b"abc", assigned.clone(), &[])).expect("create");
    s.save_ticket(&write("t2", None, b"zz", row("t2", Status::Pooled, None), &[])).expect("other ticket");
    let note = TicketWrite {
        heads: vec![[2; 32]],
        index_unchanged: true,
        ..write("t1", Some(first.version), b"def", IndexRow { updated_at: 9_000, ..assigned.clone() }, &["h1"])
    };
    let saved = s.save_ticket(&note).expect("a note");
    assert!(saved.seq > first.seq + 1 && saved.version == first.version + 1);
    let read = s.ticket_row("t1").expect("row").expect("exists");
    assert_eq!(read, IndexRow { updated_at: 9_000, changed_seq: saved.seq, ..assigned });
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!((loaded.bytes.as_slice(), loaded.version, loaded.seq), (&b"abcdef"[..], saved.version, saved.seq));
    assert_eq!(loaded.heads, Some(vec![[2; 32]]));
    let after_t2 = saved.seq - 1;
    let ids = |rows: Vec<IndexRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.changed_since(after_t2, &Scope::All).expect("all")), ["t1"]);
    let eli = Scope::Engineer { user_id: "eli".into(), device_id: "d1".into() };
    assert_eq!(ids(s.changed_since(after_t2, &eli).expect("eli's")), ["t1"]);
    s.put_sync_states("d9", &[("t1".into(), SyncState::default())]).expect("held by another device");
    let holder = Scope::Engineer { user_id: "ann".into(), device_id: "d9".into() };
    assert_eq!(ids(s.changed_since(after_t2, &holder).expect("held")), ["t1"]);
    let fresh = TicketWrite { index_unchanged: true, ..write("t3", None, b"x", row("t3", Status::New, None), &[]) };
    let created = s.save_ticket(&fresh).expect("a new ticket");
    assert_eq!(
        s.ticket_row("t3").expect("row"),
        Some(IndexRow { changed_seq: created.seq, ..row("t3", Status::New, None) })
    );
}

/// Writers of one ticket on several connections at once, one of them compacting now and then
/// (on PostgreSQL a push and a compaction take the ticket's lock in two ways): each write
/// either lands whole on the version it read or is a [`StorageError::VersionConflict`]; none is
/// lost, none lands twice, and a conflict leaves nothing held (the others finish).
fn writers_of_one_ticket_take_turns(s: Box<dyn Storage>) {
    const WRITERS: u8 = 4;
    const WRITES_EACH: u8 = 15;
    let s: std::sync::Arc<dyn Storage> = s.into();
    s.save_ticket(&write("busy", None, b"", row("busy", Status::New, None), &[])).expect("create");
    let (done, finished) = std::sync::mpsc::channel();
    for writer in 0..WRITERS {
        let (s, done) = (std::sync::Arc::clone(&s), done.clone());
        std::thread::spawn(move || {
            let mut conflicts = 0u32;
            for n in 0..WRITES_EACH {
                loop {
                    let loaded = s.load_ticket("busy").expect("load").expect("exists");
                    let chunk = [b'a' + writer, b'0' + n];
                    let hash = format!("h-{writer}-{n}");
                    let mut next =
                        write("busy", Some(loaded.version), &chunk, row("busy", Status::New, None), &[&hash]);
                    if writer == 1 && n % 3 == 1 {
                        // A write without a change chunk (nothing numbered to collide on).
                        next.changes.clear();
                    }
                    if writer == 0 && n % 4 == 3 {
                        // A compaction: everything so far and this write's chunk, as one snapshot.
                        next.snapshot = Some([loaded.bytes.as_slice(), &chunk].concat());
                        next.changes.clear();
                    }
                    match s.save_ticket(&next) {
                        Ok(_) => break,
                        Err(StorageError::VersionConflict(_)) => conflicts += 1,
                        Err(e) => panic!("writer {writer}: {e}"),
                    }
                }
            }
            let _ = done.send(conflicts);
        });
    }
    // Only the writers hold a sender now: one that panics is seen at once, not at the bound.
    drop(done);
    for _ in 0..WRITERS {
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("every writer finishes (none waits for a lock a conflict left held)");
    }
    let loaded = s.load_ticket("busy").expect("load").expect("exists");
    let total = usize::from(WRITERS) * usize::from(WRITES_EACH);
    let without_chunk = (0..WRITES_EACH).filter(|n| n % 3 == 1).count();
    assert_eq!(loaded.bytes.len(), 2 * (total - without_chunk), "every write's chunk, once");
    let mut chunks: Vec<&[u8]> = loaded.bytes.chunks(2).collect();
    chunks.sort();
    chunks.dedup();
    assert_eq!(chunks.len(), total - without_chunk, "no chunk twice");
    // Each write went from the version it read to the next: none wrote over another.
    assert_eq!(loaded.version, i64::try_from(total).expect("small") + 1, "no write lost");
    assert_eq!(s.change_log("busy").expect("log").len(), total);
    let writes = i64::try_from(total).expect("small") + 1;
    assert_eq!(s.current_seq().expect("seq"), u64::try_from(writes).expect("positive"), "one sequence number a write");
    assert_eq!(s.ticket_row("busy").expect("row").expect("exists").changed_seq, s.current_seq().expect("seq"));
}

fn snapshots_replace_chunks(s: &dyn Storage) {
    let saved = s.save_ticket(&write("t1", None, b"abc", row("t1", Status::New, None), &[])).expect("create");
    let saved =
        s.save_ticket(&write("t1", Some(saved.version), b"def", row("t1", Status::New, None), &[])).expect("more");
    let mut compact = write("t1", Some(saved.version), b"", row("t1", Status::New, None), &[]);
    compact.snapshot = Some(b"SNAP".to_vec());
    let saved = s.save_ticket(&compact).expect("snapshot");
    assert_eq!(saved.chunks_since_snapshot, 0);
    assert_eq!(s.load_ticket("t1").expect("load").expect("exists").bytes, b"SNAP");
    s.save_ticket(&write("t1", Some(saved.version), b"ghi", row("t1", Status::New, None), &[])).expect("after");
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!((loaded.bytes.as_slice(), loaded.chunks_since_snapshot), (&b"SNAPghi"[..], 1));
}

/// The heads a write records come back with its bytes, from one load or many (docs/adr/0030);
/// a batched load is the single loads', in the order asked, without the missing ones.
fn stored_heads_and_batched_loads(s: &dyn Storage) {
    let saved = s.save_ticket(&write("t1", None, b"abc", row("t1", Status::New, None), &[])).expect("no heads");
    assert_eq!(s.load_ticket("t1").expect("load").expect("exists").heads, None, "a write without heads");
    let with_heads = TicketWrite {
        heads: vec![[1; 32], [2; 32]],
        ..write("t1", Some(saved.version), b"def", row("t1", Status::New, None), &[])
    };
    let saved = s.save_ticket(&with_heads).expect("heads");
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!((loaded.bytes.as_slice(), loaded.heads), (&b"abcdef"[..], Some(vec![[1; 32], [2; 32]])));
    let mut compact = TicketWrite {
        heads: vec![[3; 32]],
        ..write("t1", Some(saved.version), b"", row("t1", Status::New, None), &[])
    };
    compact.snapshot = Some(b"SNAP".to_vec());
    let saved = s.save_ticket(&compact).expect("snapshot");
    let after = TicketWrite {
        heads: vec![[4; 32]],
        ..write("t1", Some(saved.version), b"ghi", row("t1", Status::New, None), &[])
    };
    s.save_ticket(&after).expect("after the snapshot");
    s.save_ticket(&TicketWrite { heads: vec![[5; 32]], ..write("t2", None, b"zz", row("t2", Status::New, None), &[]) })
        .expect("t2");
    let ids: Vec<String> = ["t2", "gone", "t1"].iter().map(|id| (*id).to_owned()).collect();
    let batch = s.load_tickets(&ids).expect("batch");
    let single: Vec<(String, super::StoredTicket)> =
        ["t2", "t1"].iter().map(|id| ((*id).to_owned(), s.load_ticket(id).expect("load").expect("exists"))).collect();
    assert_eq!(batch, single, "a batched load is the single loads, in order, the missing left out");
    let t1 = &batch[1].1;
    assert_eq!(
        (t1.bytes.as_slice(), t1.chunks_since_snapshot, t1.heads.clone()),
        (&b"SNAPghi"[..], 1, Some(vec![[4; 32]])),
        "the newest snapshot, the chunks after it, the newest heads"
    );
    assert_eq!(s.load_tickets(&[]).expect("none"), Vec::new());
}

/// A writer that says what chunks it read (`TicketWrite::chunks`) writes what one that does not
/// writes; a number already taken fails as a conflict and writes nothing (docs/adr/0036).
fn chunks_known_to_the_writer(s: &dyn Storage) {
    let known = |last, since_snapshot| Some(super::ChunkState { last, since_snapshot });
    let new = TicketWrite { chunks: known(0, 0), ..write("t1", None, b"abc", row("t1", Status::New, None), &[]) };
    let first = s.save_ticket(&new).expect("new");
    assert_eq!((first.last_chunk, first.chunks_since_snapshot), (1, 1));
    let unknown = s.save_ticket(&write("t1", Some(first.version), b"def", row("t1", Status::New, None), &[]));
    let second = unknown.expect("not known to the writer");
    assert_eq!((second.last_chunk, second.chunks_since_snapshot), (2, 2), "read by the backend");
    let stale = TicketWrite {
        chunks: known(1, 1),
        ..write("t1", Some(second.version), b"ghi", row("t1", Status::New, None), &["h1"])
    };
    assert!(matches!(s.save_ticket(&stale), Err(StorageError::VersionConflict(_))), "chunk 2 is taken");
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!(
        (loaded.bytes.as_slice(), loaded.version, loaded.last_chunk, loaded.chunks_since_snapshot),
        (&b"abcdef"[..], second.version, 2, 2),
        "the conflict wrote nothing"
    );
    assert!(s.change_log("t1").expect("log").is_empty(), "nor its change log");
    // A stale version, its chunk number free: the version check fails it, a compaction too
    // (its snapshot and the removal of what it covers with it).
    let stale_version = TicketWrite {
        chunks: known(loaded.last_chunk, loaded.chunks_since_snapshot),
        ..write("t1", Some(first.version), b"xyz", row("t1", Status::New, None), &["h2"])
    };
    assert!(matches!(s.save_ticket(&stale_version), Err(StorageError::VersionConflict(_))), "stale version");
    let mut stale_compact = TicketWrite { snapshot: Some(b"BAD".to_vec()), ..stale_version.clone() };
    stale_compact.changes.clear();
    assert!(matches!(s.save_ticket(&stale_compact), Err(StorageError::VersionConflict(_))), "stale compaction");
    assert_eq!(s.load_ticket("t1").expect("load").expect("exists"), loaded, "neither wrote anything");
    assert!(s.change_log("t1").expect("log").is_empty(), "nor logged");
    let third = TicketWrite {
        chunks: known(loaded.last_chunk, loaded.chunks_since_snapshot),
        ..write("t1", Some(loaded.version), b"ghi", row("t1", Status::New, None), &[])
    };
    let third = s.save_ticket(&third).expect("third");
    assert_eq!((third.last_chunk, third.chunks_since_snapshot), (3, 3));
    let mut compact = TicketWrite {
        chunks: known(third.last_chunk, third.chunks_since_snapshot),
        ..write("t1", Some(third.version), b"", row("t1", Status::New, None), &[])
    };
    compact.snapshot = Some(b"SNAP".to_vec());
    let compacted = s.save_ticket(&compact).expect("snapshot");
    assert_eq!((compacted.last_chunk, compacted.chunks_since_snapshot), (4, 0));
    let after = TicketWrite {
        chunks: known(compacted.last_chunk, 0),
        ..write("t1", Some(compacted.version), b"jkl", row("t1", Status::New, None), &[])
    };
    let after = s.save_ticket(&after).expect("after the snapshot");
    let loaded = s.load_ticket("t1").expect("load").expect("exists");
    assert_eq!(
        (loaded.bytes.as_slice(), loaded.last_chunk, loaded.chunks_since_snapshot, after.last_chunk),
        (&b"SNAPjkl"[..], 5, 1, 5)
    );
    let batch = s.load_tickets(&["t1".to_owned()]).expect("batch");
    assert_eq!(batch, [("t1".to_owned(), loaded)], "a batched load says the same");
}

fn changed_since_and_scopes(s: &dyn Storage) {
    s.create_user(&user("eli", Role::Engineer)).expect("user");
    s.create_device(&device("d1", "eli", 1)).expect("device");
    let a = s.save_ticket(&write("a", None, b"1", row("a", Status::Dispatched, Some("eli")), &[])).expect("a");
    let b = s.save_ticket(&write("b", None, b"1", row("b", Status::Dispatched, Some("fay")), &[])).expect("b");
    let c = s.save_ticket(&write("c", None, b"1", row("c", Status::New, None), &[])).expect("c");
    let ids = |rows: Vec<IndexRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.changed_since(0, &Scope::All).expect("all")), ["a", "b", "c"]);
    assert_eq!(ids(s.changed_since(a.seq, &Scope::All).expect("all")), ["b", "c"]);
    assert_eq!(ids(s.changed_since(c.seq, &Scope::All).expect("all")), Vec::<String>::new());
    let eli = Scope::Engineer { user_id: "eli".into(), device_id: "d1".into() };
    assert_eq!(ids(s.changed_since(0, &eli).expect("eli")), ["a"]);
    // A ticket the device was sent stays in scope (to be evicted) after it is reassigned away.
    s.put_sync_states("d1", &[("b".into(), SyncState::default())]).expect("state");
    assert_eq!(ids(s.changed_since(0, &eli).expect("eli")), ["a", "b"]);
    let b2 = s.save_ticket(&write("b", Some(b.version), b"2", row("b", Status::Dispatched, Some("fay")), &[]));
    let b2 = b2.expect("b again");
    assert_eq!(ids(s.changed_since(c.seq, &Scope::All).expect("all")), ["b"]);
    assert!(b2.seq > c.seq);
    // A pooled ticket is every engineer's to see (docs/adr/0023).
    s.save_ticket(&write("p", None, b"1", row("p", Status::Pooled, None), &[])).expect("p");
    assert_eq!(ids(s.changed_since(b2.seq, &eli).expect("eli")), ["p"]);
}

fn list_filters(s: &dyn Storage) {
    let mut breach = row("a", Status::Dispatched, Some("eli"));
    breach.sla_due_at = Some(100);
    breach.title = "Boiler 50% leak".into();
    breach.ticket_type = "on_site_repair".into();
    breach.escalated = true;
    breach.priority = fieldsync_core::model::Priority::Urgent;
    s.save_ticket(&write("a", None, b"1", breach, &[])).expect("a");
    s.save_ticket(&write("b", None, b"1", row("b", Status::Accepted, Some("fay")), &[])).expect("b");
    let mut cancelled = row("c", Status::Cancelled, None);
    cancelled.customer_name = "ACME Boilers".into();
    s.save_ticket(&write("c", None, b"1", cancelled, &[])).expect("c");
    let ids = |f: TicketFilter| {
        let mut ids: Vec<String> = s.list_tickets(&f).expect("list").into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(TicketFilter::default()), ["a", "b", "c"]);
    assert_eq!(
        ids(TicketFilter { statuses: vec![Status::Accepted, Status::Cancelled], ..Default::default() }),
        ["b", "c"]
    );
    assert_eq!(ids(TicketFilter { assignee: Some("eli".into()), ..Default::default() }), ["a"]);
    assert_eq!(ids(TicketFilter { sla_due_before: Some(101), ..Default::default() }), ["a"]);
    assert_eq!(ids(TicketFilter { sla_due_before: Some(100), ..Default::default() }), Vec::<String>::new());
    assert_eq!(ids(TicketFilter { text: Some("boiler".into()), ..Default::default() }), ["a", "c"]);
    assert_eq!(ids(TicketFilter { text: Some("50%".into()), ..Default::default() }), ["a"]);
    assert_eq!(ids(TicketFilter { text: Some("0%".into()), ..Default::default() }), ["a"]);
    assert_eq!(ids(TicketFilter { text: Some("5_".into()), ..Default::default() }), Vec::<String>::new());
    let typed = TicketFilter { ticket_type: Some("on_site_repair".into()), ..Default::default() };
    assert_eq!(ids(typed), ["a"]);
    // A priority, a limit (the most recently changed first) and a count that ignores the limit:
    // what the board's final columns read (the newest few of many).
    let priority = |p: &str| TicketFilter { priority: Some(p.into()), ..Default::default() };
    let all_of = |p: &str| s.list_tickets(&priority(p)).expect("list").len() as u64;
    assert_eq!(ids(priority("urgent")), ["a"]);
    assert_eq!(s.count_tickets(&priority("urgent")).expect("count"), 1);
    assert_eq!(s.count_tickets(&priority("normal")).expect("count"), all_of("normal"));
    assert_eq!(all_of("normal"), 2, "b and c");
    assert_eq!(ids(priority("no such priority")), Vec::<String>::new());
    let newest = TicketFilter { limit: Some(2), ..Default::default() };
    let listed: Vec<String> = s.list_tickets(&newest).expect("list").into_iter().map(|r| r.id).collect();
    assert_eq!(listed, ["c", "b"], "the two most recently changed, newest first");
    assert_eq!(s.count_tickets(&newest).expect("count"), 3, "the count ignores the limit");
    let cancelled_only = TicketFilter { statuses: vec![Status::Cancelled], ..Default::default() };
    assert_eq!(s.count_tickets(&cancelled_only).expect("count"), 1);
    assert_eq!(s.count_tickets(&TicketFilter { text: Some("boiler".into()), ..Default::default() }).expect("n"), 2);
    let a = s.ticket_row("a").expect("row").expect("a");
    assert_eq!((a.ticket_type.as_str(), a.escalated), ("on_site_repair", true), "type and flag round-trip");

    // The revisit work (docs/adr/0019): due, and revisited with its verdict and rating.
    let mut due = row("d", Status::Completed, Some("eli"));
    due.revisit_due_at = Some(5_000);
    due.customer_rating = Some(4);
    s.save_ticket(&write("d", None, b"1", due.clone(), &[])).expect("d");
    let mut revisited = row("e", Status::Completed, Some("fay"));
    (revisited.revisited_at, revisited.first_time_fix) = (Some(6_000), Some(true));
    s.save_ticket(&write("e", None, b"1", revisited.clone(), &[])).expect("e");
    let mut reopened = row("f", Status::Dispatched, Some("fay"));
    reopened.first_time_fix = Some(false);
    s.save_ticket(&write("f", None, b"1", reopened, &[])).expect("f");
    assert_eq!(ids(TicketFilter { revisit_due: true, ..Default::default() }), ["d"]);
    assert_eq!(ids(TicketFilter { revisited: true, ..Default::default() }), ["e", "f"]);
    let d = s.ticket_row("d").expect("row").expect("d");
    assert_eq!((d.revisit_due_at, d.customer_rating, d.first_time_fix), (Some(5_000), Some(4), None));
    let e = s.ticket_row("e").expect("row").expect("e");
    assert_eq!((e.revisited_at, e.first_time_fix, e.revisit_due_at), (Some(6_000), Some(true), None));
}

fn sync_states(s: &dyn Storage) {
    assert!(s.sync_states("d1", &["t".into()]).expect("states").is_empty());
    let state = SyncState { confirmed: vec![[1; 32], [2; 32]], pending: Some((9, vec![[3; 32]])), evicted_at: Some(4) };
    s.put_sync_states("d1", &[("t".into(), state.clone()), ("u".into(), SyncState::default())]).expect("put");
    let got = s.sync_states("d1", &["t".into(), "u".into(), "v".into()]).expect("states");
    assert_eq!(got, vec![("t".into(), state.clone()), ("u".into(), SyncState::default())]);
    assert!(s.sync_states("d2", &["t".into()]).expect("states").is_empty(), "per device");
    let cleared = SyncState { confirmed: vec![[5; 32]], pending: None, evicted_at: None };
    s.put_sync_states("d1", &[("t".into(), cleared.clone())]).expect("overwrite");
    assert_eq!(s.sync_states("d1", &["t".into()]).expect("states"), vec![("t".into(), cleared)]);

    // A pushing device that holds what its push wrote: its state comes with the ticket's
    // write, replacing what was pending or evicted; other devices' states stay.
    s.put_sync_states("d1", &[("t".into(), state.clone())]).expect("pending again");
    s.put_sync_states("d2", &[("t".into(), state.clone())]).expect("another device's");
    let held = TicketWrite {
        heads: vec![[7; 32], [8; 32]],
        holder: Some("d1".into()),
        ..write("t", None, b"abc", row("t", Status::New, None), &["h1"])
    };
    s.save_ticket(&held).expect("write with its holder");
    let holds = SyncState { confirmed: vec![[7; 32], [8; 32]], pending: None, evicted_at: None };
    assert_eq!(s.sync_states("d1", &["t".into()]).expect("states"), vec![("t".into(), holds.clone())]);
    assert_eq!(s.sync_states("d2", &["t".into()]).expect("states"), vec![("t".into(), state)]);
    // A device holding nothing of it yet (no earlier state) is written too.
    let first = TicketWrite {
        heads: vec![[9; 32]],
        holder: Some("d3".into()),
        ..write("w", None, b"", row("w", Status::New, None), &[])
    };
    s.save_ticket(&first).expect("a write with a holder and no change chunk");
    let holds = SyncState { confirmed: vec![[9; 32]], ..Default::default() };
    assert_eq!(s.sync_states("d3", &["w".into()]).expect("states"), vec![("w".into(), holds)]);
}

fn retention(s: &dyn Storage) {
    let mut done = row("old", Status::Completed, Some("eli"));
    done.resolved_at = Some(1_000);
    s.save_ticket(&write("old", None, b"1", done.clone(), &[])).expect("old");
    done.id = "new".into();
    done.resolved_at = Some(5_000);
    s.save_ticket(&write("new", None, b"1", done, &[])).expect("new");
    s.save_ticket(&write("open", None, b"1", row("open", Status::Accepted, Some("eli")), &[])).expect("open");
    let ids = |cursor| {
        s.held_completed_before("d1", 2_000, cursor).expect("held").into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert!(ids(0).is_empty(), "only tickets the device holds");
    let held = SyncState::default();
    s.put_sync_states("d1", &[("old".into(), held.clone()), ("new".into(), held.clone()), ("open".into(), held)])
        .expect("hold");
    assert_eq!(ids(0), ["old"]);
    let evicted = SyncState { evicted_at: Some(10), ..Default::default() };
    s.put_sync_states("d1", &[("old".into(), evicted)]).expect("evict");
    assert_eq!(ids(9), ["old"], "an eviction the device has not applied yet is sent again");
    assert!(ids(10).is_empty(), "an applied eviction is not");
}

fn blob_links(s: &dyn Storage) {
    let sha = "ab".repeat(32);
    assert!(s.blob_tickets(&sha).expect("none").is_empty());
    assert!(s.link_blob(&sha, "t2", "d1", 1_000).expect("link"), "a new link");
    assert!(!s.link_blob(&sha, "t2", "d2", 2_000).expect("again"), "a link is recorded once");
    assert!(s.link_blob(&sha, "t1", "d2", 3_000).expect("second ticket"));
    assert!(s.link_blob(&"cd".repeat(32), "t3", "d1", 3_000).expect("other blob"));
    assert_eq!(s.blob_tickets(&sha).expect("tickets"), ["t1", "t2"]);
}

fn listings_and_sessions(s: &dyn Storage) {
    s.create_user(&user("fay", Role::Engineer)).expect("create user");
    s.create_user(&user("dana", Role::Dispatcher)).expect("create user");
    s.create_device(&device("d2", "fay", 2)).expect("create device");
    s.create_device(&device("d1", "dana", 1)).expect("create device");
    s.create_device(&device("d3", "dana", 3)).expect("create device");
    s.record_sync("d2", 77).expect("record sync");
    let ids: Vec<String> = s.list_users().expect("list users").into_iter().map(|u| u.id).collect();
    assert_eq!(ids, ["dana", "fay"], "users are listed by id");
    s.revoke_device("d3").expect("revoke");
    let devices = s.list_devices().expect("list devices");
    let listed: Vec<(&str, &str, bool, Option<i64>)> =
        devices.iter().map(|d| (d.id.as_str(), d.user_id.as_str(), d.revoked, d.last_sync_at)).collect();
    assert_eq!(
        listed,
        [("d1", "dana", false, None), ("d3", "dana", true, None), ("d2", "fay", false, Some(77))],
        "devices are listed by user then id, with revocation and last sync"
    );

    let session = |hash: u8, device_id: &str, created_at: i64, expires_at: i64| SessionRecord {
        token_sha256: [hash; 32],
        device_id: device_id.into(),
        created_at,
        expires_at,
    };
    assert!(
        matches!(s.create_session(&session(9, "nope", 0, 10)), Err(StorageError::NotFound(_))),
        "a session needs an existing device"
    );
    s.create_session(&session(10, "d1", 1_000, 2_000)).expect("create session");
    assert!(
        matches!(s.create_session(&session(10, "d1", 1_000, 2_000)), Err(StorageError::Duplicate(_))),
        "a session hash is unique"
    );
    let who = s.session(&[10; 32], 1_500).expect("session").expect("a live session is found");
    assert_eq!((who.user_id.as_str(), who.device_id.as_str(), who.role), ("dana", "d1", Role::Dispatcher));
    assert_eq!(s.session(&[10; 32], 2_000).expect("session"), None, "a session ends at its expiry");
    assert_eq!(s.session(&[11; 32], 1_500).expect("session"), None, "an unknown session is nobody");

    // Making a session later drops the expired ones.
    s.create_session(&session(12, "d1", 3_000, 9_000)).expect("create session");
    assert_eq!(s.session(&[10; 32], 0).expect("session"), None, "expired sessions are deleted");
    assert!(s.delete_session(&[12; 32]).expect("delete"), "a session is deleted");
    assert!(!s.delete_session(&[12; 32]).expect("delete"), "deleting twice finds nothing");
    assert_eq!(s.session(&[12; 32], 3_500).expect("session"), None, "a deleted session is nobody");

    // Revoking the device that signed in ends its sessions.
    s.create_session(&session(13, "d1", 3_000, 9_000)).expect("create session");
    s.revoke_device("d1").expect("revoke");
    assert_eq!(s.session(&[13; 32], 3_500).expect("session"), None, "a revoked device's session is nobody");
}
