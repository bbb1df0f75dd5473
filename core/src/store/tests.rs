use super::*;
use rusqlite::Connection;

fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Builds the schema as every older version left it, opens it with the opener, and checks
/// that the result is exactly a fresh store's schema.
#[test]
fn every_older_schema_migrates_to_the_fresh_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh_path = dir.path().join("fresh.sqlite");
    let (fresh, report) = Store::open(&fresh_path, Durability::default(), None).expect("open fresh");
    assert_eq!(report.migrated_from, 0);
    let fresh_schema = schema_of(&fresh.writer.lock().expect("lock"));
    assert!(!fresh_schema.is_empty());

    for version in 0..migrations::MIGRATIONS.len() {
        let path = dir.path().join(format!("v{version}.sqlite"));
        {
            let mut conn = Connection::open(&path).expect("open old");
            migrations::migrate_to(&mut conn, version).expect("old schema");
            if version >= 1 {
                conn.execute(
                    "INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ('t', 1, 'change', x'00')",
                    [],
                )
                .expect("old data");
            }
        }
        let (store, report) = Store::open(&path, Durability::default(), None).expect("migrate");
        assert_eq!(report.migrated_from, version as i64);
        let conn = store.writer.lock().expect("lock");
        assert_eq!(schema_of(&conn), fresh_schema, "schema after migrating from v{version}");
        let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(user_version, LATEST_VERSION);
        if version >= 1 {
            let kept: i64 = conn.query_row("SELECT COUNT(*) FROM doc_chunks", [], |r| r.get(0)).expect("count");
            assert_eq!(kept, 1, "data written under v{version} survives");
        }
    }
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("newer.sqlite");
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE from_the_future (x); PRAGMA user_version = 99;").expect("future");
    }
    let err = Store::open(&path, Durability::default(), None).expect_err("newer schema must be refused");
    assert!(matches!(err, StoreError::NewerSchema { found: 99, supported: LATEST_VERSION }), "{err:?}");
    assert!(err.to_string().contains("update the app"));
    let conn = Connection::open(&path).expect("reopen");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, 99);
    assert_eq!(schema_of(&conn).len(), 1, "nothing added to a newer store");
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let garbage = b"this is not an SQLite database, it is a field engineer's bad day".repeat(100);
    std::fs::write(&path, &garbage).expect("write garbage");
    let (store, report) = Store::open(&path, Durability::default(), None).expect("open recovers");
    let moved = report.moved_aside.expect("reported as moved aside");
    assert_eq!(std::fs::read(&moved).expect("moved file kept"), garbage);
    store.integrity_check().expect("fresh store is sound");
}

#[test]
fn a_corrupted_page_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let (store, _) = Store::open(&path, Durability::default(), None).expect("open");
        store
            .write(|tx| -> Result<(), StoreError> {
                for n in 0..200 {
                    tickets::append_chunk(tx, &format!("t{n}"), tickets::ChunkKind::Change, &[7u8; 500])?;
                }
                Ok(())
            })
            .expect("fill");
        let conn = store.writer.lock().expect("lock");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("checkpoint");
    }
    // Overwrite the schema page's header area: SQLite reports the file as malformed.
    let mut bytes = std::fs::read(&path).expect("read");
    for b in &mut bytes[100..400] {
        *b = 0xEE;
    }
    std::fs::write(&path, &bytes).expect("corrupt");
    let (_, report) = Store::open(&path, Durability::default(), None).expect("open recovers");
    let moved = report.moved_aside.expect("moved aside");
    assert_eq!(std::fs::read(moved).expect("kept").len(), bytes.len());
}

#[test]
fn an_unreadable_location_is_an_error_and_nothing_is_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the file should be: an I/O-level failure, not corruption.
    let path = dir.path().join("store.sqlite");
    std::fs::create_dir(&path).expect("dir");
    assert!(Store::open(&path, Durability::default(), None).is_err());
    assert!(path.is_dir(), "left as it was");
}

// ---- encryption at rest (docs/adr/0011) ------------------------------------------------------

const MARKER: &[u8] = b"fieldsync-plaintext-marker: Ms Jansen, 1 Main St";

fn key(byte: u8) -> StoreKey {
    StoreKey::from_bytes(&[byte; StoreKey::LEN]).expect("32 bytes")
}

/// Every file in `dir` but the WAL's shared-memory index (`-shm`, rebuilt by any reader from
/// the WAL), by name and SHA-256: what "left exactly as it was" is checked against.
fn files_in(dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let bytes = std::fs::read(entry.path()).expect("read");
            (entry.file_name().to_string_lossy().into_owned(), hex::encode(Sha256::digest(bytes)))
        })
        .filter(|(name, _)| !name.ends_with("-shm"))
        .collect();
    files.sort();
    files
}

/// The bytes of the store file and of its WAL, where committed pages wait for a checkpoint.
fn store_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read");
    bytes.extend(std::fs::read(encryption::sibling(path, "-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A chunk and a blob, both carrying [`MARKER`].
fn write_marked(store: &Store) {
    store
        .write(|tx| -> Result<(), StoreError> {
            tickets::append_chunk(tx, "t1", tickets::ChunkKind::Change, MARKER)?;
            blobs::put_blob(tx, "sha-of-photo", &MARKER.repeat(40), "image/jpeg", 1)?;
            Ok(())
        })
        .expect("write");
}

fn read_marked(store: &Store) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    store
        .read(|tx| -> Result<_, StoreError> { Ok((tickets::all_chunks(tx, "t1")?, blobs::blob(tx, "sha-of-photo")?)) })
        .expect("read")
}

#[test]
fn a_keyed_store_round_trips_and_no_plaintext_reaches_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, key) in [("plain", None), ("encrypted", Some(key(7)))] {
        let path = dir.path().join(format!("{name}.sqlite"));
        let (store, _) = Store::open(&path, Durability::default(), key.as_ref()).expect("open");
        write_marked(&store);
        // The plaintext store is the control: the same check finds the marker there.
        assert_eq!(contains(&store_bytes(&path), MARKER), key.is_none(), "{name} store, open");
        drop(store);
        let closed = store_bytes(&path);
        assert_eq!(contains(&closed, MARKER), key.is_none(), "{name} store, closed");
        assert_eq!(contains(&closed, b"SQLite format 3\0"), key.is_none(), "{name}: SQLite's header");
    }
    let (store, report) = Store::open(&dir.path().join("encrypted.sqlite"), Durability::default(), Some(&key(7)))
        .expect("reopen with the key");
    assert_eq!(report, OpenReport { migrated_from: LATEST_VERSION, moved_aside: None });
    let (chunks, blob) = read_marked(&store);
    assert_eq!(chunks, vec![MARKER.to_vec()]);
    assert_eq!(blob, Some(MARKER.repeat(40)));
    store.integrity_check().expect("sound");
}

#[test]
fn a_wrong_or_missing_key_is_a_typed_error_and_the_store_is_left_exactly_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let (store, _) = Store::open(&path, Durability::default(), Some(&key(1))).expect("create");
    write_marked(&store);
    drop(store);
    let before = files_in(dir.path());

    let wrong = Store::open(&path, Durability::default(), Some(&key(2))).expect_err("wrong key");
    assert!(matches!(wrong, StoreError::WrongKey), "{wrong:?}");
    assert_eq!(files_in(dir.path()), before, "a wrong key changes no byte and moves nothing");
    let missing = Store::open(&path, Durability::default(), None).expect_err("no key");
    assert!(matches!(missing, StoreError::KeyRequired), "{missing:?}");
    assert!(missing.to_string().contains("encrypted"), "{missing}");
    assert_eq!(files_in(dir.path()), before, "no key changes no byte and moves nothing");

    let (store, report) = Store::open(&path, Durability::default(), Some(&key(1))).expect("the right key");
    assert_eq!(report.moved_aside, None);
    assert_eq!(read_marked(&store).0, vec![MARKER.to_vec()]);
}

/// An app killed with changes still in the WAL, then started with the wrong key: closing the
/// failed connection must not checkpoint that WAL into the file.
#[test]
fn a_wrong_key_leaves_a_store_with_a_pending_wal_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    drop(Store::open(&path, Durability::default(), Some(&key(1))).expect("create"));
    {
        let conn = Connection::open(&path).expect("open");
        encryption::apply_key(&conn, &key(1)).expect("key");
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).expect("no checkpoint");
        conn.execute("INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ('t1', 1, 'change', ?1)", [MARKER])
            .expect("insert");
    }
    assert!(encryption::sibling(&path, "-wal").exists(), "the change waits in the WAL");
    let before = files_in(dir.path());
    for _ in 0..2 {
        let err = Store::open(&path, Durability::default(), Some(&key(2))).expect_err("wrong key");
        assert!(matches!(err, StoreError::WrongKey), "{err:?}");
        let err = Store::open(&path, Durability::default(), None).expect_err("no key");
        assert!(matches!(err, StoreError::KeyRequired), "{err:?}");
    }
    assert_eq!(files_in(dir.path()), before, "the database and its WAL are untouched");
    let (store, _) = Store::open(&path, Durability::default(), Some(&key(1))).expect("the right key");
    assert_eq!(read_marked(&store).0, vec![MARKER.to_vec()], "the WAL's change is there");
}

#[test]
fn a_plaintext_store_opened_with_a_key_is_refused_then_encrypted_once_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let (store, _) = Store::open(&path, Durability::default(), None).expect("plaintext");
    write_marked(&store);
    drop(store);
    let before = files_in(dir.path());
    let err = Store::open(&path, Durability::default(), Some(&key(3))).expect_err("a key for a plaintext store");
    assert!(matches!(err, StoreError::NotEncrypted), "{err:?}");
    assert_eq!(files_in(dir.path()), before, "refused without a change");

    // A leftover of an interrupted earlier attempt does not get in the way.
    std::fs::write(encryption::sibling(&path, ".encrypting"), b"half of an encrypted copy").expect("leftover");
    encrypt_existing(&path, &key(3)).expect("encrypt");
    let files: Vec<String> = files_in(dir.path()).into_iter().map(|(name, _)| name).collect();
    assert_eq!(files, vec!["store.sqlite".to_owned()], "the copy took the plaintext's place");
    let raw = store_bytes(&path);
    assert!(!contains(&raw, MARKER) && !contains(&raw, b"SQLite format 3\0"), "encrypted");

    assert!(matches!(Store::open(&path, Durability::default(), None), Err(StoreError::KeyRequired)));
    let (store, report) = Store::open(&path, Durability::default(), Some(&key(3))).expect("opens with the key");
    assert_eq!(report.migrated_from, LATEST_VERSION, "schema version carried over");
    assert_eq!(read_marked(&store), (vec![MARKER.to_vec()], Some(MARKER.repeat(40))));
    store.integrity_check().expect("sound");
    drop(store);

    encrypt_existing(&path, &key(3)).expect("again: nothing to do");
    assert!(matches!(encrypt_existing(&path, &key(4)), Err(StoreError::WrongKey)));
    assert!(Store::open(&path, Durability::default(), Some(&key(3))).is_ok());
}

#[test]
fn a_plaintext_store_left_by_a_crash_with_its_changes_in_the_wal_is_refused_untouched_then_encrypted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = dir.path().join("live.sqlite");
    let (store, _) = Store::open(&live, Durability::default(), None).expect("plaintext");
    write_marked(&store);
    // What a crash leaves: the files as they are while the store is open (no checkpoint).
    let crashed_dir = dir.path().join("crashed");
    std::fs::create_dir(&crashed_dir).expect("dir");
    let path = crashed_dir.join("store.sqlite");
    std::fs::copy(&live, &path).expect("copy");
    std::fs::copy(encryption::sibling(&live, "-wal"), encryption::sibling(&path, "-wal")).expect("copy wal");
    drop(store);

    let before = files_in(&crashed_dir);
    let err = Store::open(&path, Durability::default(), Some(&key(5))).expect_err("a key for a plaintext store");
    assert!(matches!(err, StoreError::NotEncrypted), "{err:?}");
    assert_eq!(files_in(&crashed_dir), before, "refused without a change");
    encrypt_existing(&path, &key(5)).expect("encrypt");
    let (store, _) = Store::open(&path, Durability::default(), Some(&key(5))).expect("opens with the key");
    assert_eq!(read_marked(&store).0, vec![MARKER.to_vec()], "the change that was only in the WAL is there");
}

#[test]
fn encrypting_a_store_that_is_open_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let (store, _) = Store::open(&path, Durability::default(), None).expect("plaintext");
    write_marked(&store);
    let err = encrypt_existing(&path, &key(5)).expect_err("open elsewhere");
    assert!(matches!(err, StoreError::InUse), "{err:?}");
    assert!(!encryption::sibling(&path, ".encrypting").exists(), "the copy is removed");
    store.write(|tx| tickets::append_chunk(tx, "t1", tickets::ChunkKind::Change, b"later")).expect("still works");
    drop(store);
    let (store, _) = Store::open(&path, Durability::default(), None).expect("still plaintext");
    assert_eq!(read_marked(&store).0.len(), 2);
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_when_a_key_is_given_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let garbage = b"not a database, and not encrypted either".repeat(200);
    std::fs::write(&path, &garbage).expect("write garbage");
    let (store, report) = Store::open(&path, Durability::default(), Some(&key(6))).expect("open recovers");
    assert_eq!(std::fs::read(report.moved_aside.expect("moved aside")).expect("kept"), garbage);
    write_marked(&store);
    drop(store);
    assert!(!contains(&store_bytes(&path), MARKER), "the fresh store is encrypted");
}

#[test]
fn store_keys_are_checked_and_never_printed() {
    assert!(matches!(StoreKey::from_bytes(&[1; 16]), Err(StoreError::InvalidKey(_))));
    assert!(matches!(StoreKey::from_hex("abcd"), Err(StoreError::InvalidKey(_))));
    assert!(matches!(StoreKey::from_hex(&"zz".repeat(32)), Err(StoreError::InvalidKey(_))));
    let key = StoreKey::from_hex(&format!("{}\n", "ab".repeat(32))).expect("hex with a newline");
    let shown = format!("{key:?} {:?}", crate::OpenOptions { store_key: Some(key.clone()), ..Default::default() });
    assert!(!shown.to_lowercase().contains("abab") && !shown.contains("171"), "{shown}");
}

fn summary(
    status: crate::workflow::Status,
    assignee: &str,
    title: &str,
    updated_at: i64,
) -> crate::model::TicketSummary {
    crate::model::TicketSummary {
        id: "t1".into(),
        index: crate::model::TicketIndex {
            title: title.into(),
            status,
            assignee: Some(assignee.into()),
            customer_name: "Acme".into(),
            customer_address: "1 Main St".into(),
            ticket_type: "maintenance".into(),
            ..Default::default()
        },
        updated_at,
        pending: true,
        quarantined: None,
        rejected: None,
    }
}

/// The index row is right both when only unindexed columns change (the narrow update) and
/// when the indexed ones do (the full upsert), as every list filter sees it.
#[test]
fn index_rows_stay_right_through_narrow_and_full_updates() {
    use crate::model::ListFilter;
    use crate::workflow::Status;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(&dir.path().join("s.sqlite"), Durability::PowerLoss, None).expect("open");
    let upsert = |s: crate::model::TicketSummary| {
        store.write(|tx| -> Result<(), StoreError> { tickets::upsert_summary(tx, &s) }).expect("upsert")
    };
    let list = |filter: ListFilter| store.read(|tx| tickets::list(tx, &filter)).expect("list");
    upsert(summary(Status::Accepted, "eli", "Boiler", 1));
    upsert(summary(Status::Accepted, "eli", "Boiler leaks", 2));
    let rows = list(ListFilter { statuses: vec![Status::Accepted], ..Default::default() });
    assert_eq!((rows.len(), rows[0].title.as_str(), rows[0].updated_at), (1, "Boiler leaks", 2));
    upsert(summary(Status::Travelling, "ana", "Boiler leaks", 3));
    assert!(list(ListFilter { statuses: vec![Status::Accepted], ..Default::default() }).is_empty());
    assert!(list(ListFilter { assignee: Some("eli".into()), ..Default::default() }).is_empty());
    let rows =
        list(ListFilter { statuses: vec![Status::Travelling], assignee: Some("ana".into()), ..Default::default() });
    assert_eq!((rows.len(), rows[0].updated_at), (1, 3));
    // A reclassification leaves the indexed columns as they were: the narrow update writes it.
    let by_type = |t: &str| list(ListFilter { ticket_type: Some(t.into()), ..Default::default() }).len();
    assert_eq!((by_type("maintenance"), by_type("bug")), (1, 0));
    let mut reclassified = summary(Status::Travelling, "ana", "Boiler leaks", 4);
    reclassified.ticket_type = "bug".into();
    upsert(reclassified);
    assert_eq!((by_type("maintenance"), by_type("bug")), (0, 1), "the type is in the index");
    store.integrity_check().expect("integrity");
}

/// A relaxed write (a sync response) leaves the writer as the store's durability set it, so
/// the next action is fsynced again.
#[test]
fn a_relaxed_write_restores_the_durable_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(&dir.path().join("s.sqlite"), Durability::PowerLoss, None).expect("open");
    let synchronous = |store: &Store| {
        store
            .write(|tx| -> Result<i64, StoreError> { Ok(tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?) })
            .expect("pragma")
    };
    assert_eq!(synchronous(&store), 2, "FULL");
    let inside: i64 = store
        .write_relaxed(|tx| -> Result<i64, StoreError> {
            tickets::set_meta(tx, "k", "v")?;
            Ok(tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
        })
        .expect("relaxed");
    assert_eq!(inside, 1, "NORMAL inside the relaxed write");
    assert_eq!(synchronous(&store), 2, "FULL again after it");
    let failed = store.write_relaxed(|_| -> Result<(), StoreError> { Err(StoreError::Poisoned) });
    assert!(failed.is_err());
    assert_eq!(synchronous(&store), 2, "FULL again after a failed one");
    assert_eq!(store.read(|tx| tickets::get_meta(tx, "k")).expect("read").as_deref(), Some("v"));
}

/// Frames in the store's WAL file (a frame is a page plus its 24-byte header).
fn wal_frames(store: &Store) -> u64 {
    let mut wal = store.path().as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    bytes.saturating_sub(32) / (4096 + 24)
}

/// Commits `count` transactions of one 8 KB row each (a few pages per commit).
fn write_rows(store: &Store, count: usize) {
    for _ in 0..count {
        store
            .write(|tx| -> Result<(), StoreError> {
                tx.execute("INSERT INTO meta (key, value) VALUES (hex(randomblob(8)), hex(randomblob(4096)))", [])?;
                Ok(())
            })
            .expect("write");
    }
}

fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_background_thread_checkpoints_and_the_writer_starts_the_wal_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = CheckpointPolicy { background_after: 40, writer_after: i32::MAX };
    let path = dir.path().join("s.sqlite");
    let store = Store::open_with_checkpoints(&path, Durability::AppCrash, policy).expect("open");
    let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let size_at_open = file_size();
    let mut written = 0;
    // Up to the commit that asks the thread (no later commit could copy anything itself).
    while wal_frames(&store) < 40 {
        write_rows(&store, 1);
        written += 1;
    }
    until("the background checkpoint", || store.checkpoints_settled());
    assert!(store.background_checkpoints() >= 1);
    // The thread copied the rows' pages into the database file (each row's 8 KB of text
    // alone takes two pages, and at least five rows were written).
    assert!(file_size() > size_at_open + 8 * 4096, "the database file did not grow: {} bytes", file_size());
    // The thread has copied the bulk: the next commit copies what is left itself...
    write_rows(&store, 1);
    written += 1;
    let before = wal_frames(&store);
    // ...so the commits after it write from the WAL's start instead of growing it (without
    // the checkpoints it would grow by every frame written).
    write_rows(&store, 5);
    assert_eq!(wal_frames(&store), before, "the WAL grew: nothing was checkpointed");
    let rows: i64 = store
        .read(|tx| -> Result<i64, StoreError> {
            // Besides the rows written, the opener's record of the index it computed.
            Ok(tx.query_row("SELECT count(*) FROM meta WHERE key <> 'index_fingerprint'", [], |r| r.get(0))?)
        })
        .expect("count");
    assert_eq!(rows, written + 5);
    store.integrity_check().expect("integrity");
}

#[test]
fn a_writer_that_never_pauses_still_gets_the_wal_started_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = CheckpointPolicy { background_after: 40, writer_after: i32::MAX };
    let store = Store::open_with_checkpoints(&dir.path().join("s.sqlite"), Durability::AppCrash, policy).expect("open");
    write_rows(&store, 2);
    // A reader keeps its snapshot while the writer goes on: the thread can copy only the frames
    // that snapshot allows, as it can when commits keep landing during its run.
    store
        .read(|tx| -> Result<(), StoreError> {
            let _: i64 = tx.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?;
            while wal_frames(&store) < 40 {
                write_rows(&store, 1);
            }
            until("the background checkpoint", || store.checkpoints_settled());
            Ok(())
        })
        .expect("pinned read");
    // The next commit copies what the thread could not...
    write_rows(&store, 1);
    let before = wal_frames(&store);
    // ...so the WAL starts over instead of growing.
    write_rows(&store, 5);
    assert_eq!(wal_frames(&store), before, "the WAL grew: the writer never finished the checkpoint");
    store.integrity_check().expect("integrity");
}

#[test]
fn a_writer_checkpoints_itself_when_the_wal_outgrows_the_backstop() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The background thread is never asked: only the writer's backstop can keep the WAL small.
    let policy = CheckpointPolicy { background_after: i32::MAX, writer_after: 40 };
    let store = Store::open_with_checkpoints(&dir.path().join("s.sqlite"), Durability::AppCrash, policy).expect("open");
    write_rows(&store, 60);
    assert!(wal_frames(&store) < 60, "the WAL holds {} frames: it was never started over", wal_frames(&store));
    assert_eq!(store.background_checkpoints(), 0);
    store.integrity_check().expect("integrity");
}

#[test]
fn without_checkpoints_the_wal_grows_by_every_frame_written() {
    // The control for the two tests above: their measure of the WAL would see a missing
    // checkpoint.
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = CheckpointPolicy { background_after: i32::MAX, writer_after: i32::MAX };
    let store = Store::open_with_checkpoints(&dir.path().join("s.sqlite"), Durability::AppCrash, policy).expect("open");
    write_rows(&store, 20);
    let before = wal_frames(&store);
    write_rows(&store, 5);
    assert!(wal_frames(&store) > before);
}

/// A store last written by schema 5 (before the one ticket index) holds a ticket whose row
/// lacks the columns added since: opening it fills them from the ticket's document, once.
#[test]
fn rows_written_before_the_one_index_are_filled_from_their_documents_on_open() {
    use crate::model::doc::{self, Stamp};
    use crate::model::{Customer, Identity, NewTicket};
    use crate::workflow::Role;

    let dispatcher = Identity { user_id: "dana".into(), device_id: "console".into(), role: Role::Dispatcher };
    let mut document = automerge::Automerge::new();
    let new = NewTicket {
        title: "Boiler leaks".into(),
        customer: Customer { name: "Acme".into(), id: "cust-1".into(), site_id: "site-2".into(), ..Default::default() },
        assignee: Some("eli".into()),
        ..Default::default()
    };
    let stamp = Stamp { id: "e1".into(), at: 1_700_000_000_000, identity: &dispatcher };
    doc::edit(&mut document, stamp.at, "create", |tx| doc::create(tx, "t1", &new, &stamp)).expect("create");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v5.sqlite");
    {
        let mut conn = Connection::open(&path).expect("open old");
        migrations::migrate_to(&mut conn, 5).expect("schema 5");
        conn.execute(
            "INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ('t1', 1, 'snapshot', ?1)",
            [document.save()],
        )
        .expect("chunk");
        conn.execute(
            "INSERT INTO tickets (id, title, status, assignee, priority, customer_name, customer_address, updated_at)
             VALUES ('t1', 'Boiler leaks', 'dispatched', 'eli', 'normal', 'Acme', '', 5)",
            [],
        )
        .expect("row as schema 5 wrote it");
    }
    let (store, _) = Store::open(&path, Durability::default(), None).expect("open");
    let row = store.read(|tx| tickets::summary(tx, "t1")).expect("read").expect("row");
    assert_eq!((row.customer_id.as_str(), row.site_id.as_str()), ("cust-1", "site-2"), "filled from the document");
    assert_eq!(row.created_at, Some(1_700_000_000_000));
    assert_eq!((row.title.as_str(), row.updated_at), ("Boiler leaks", 5), "the row's own columns kept");
    let expected = doc::summarize(&document, 5, false).expect("summary").index;
    assert_eq!(row.index, expected, "the whole index is what the document says");

    // Once filled, it is not recomputed at every open.
    store
        .write(|tx| -> Result<usize, StoreError> {
            Ok(tx.execute("UPDATE tickets SET customer_id = 'changed' WHERE id = 't1'", [])?)
        })
        .expect("edit");
    drop(store);
    let (store, _) = Store::open(&path, Durability::default(), None).expect("reopen");
    let row = store.read(|tx| tickets::summary(tx, "t1")).expect("read").expect("row");
    assert_eq!(row.customer_id, "changed");
}

/// Every index column is in the fresh schema: a field declared without its migration fails
/// here, not at the first write.
#[test]
fn the_fresh_schema_has_every_index_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(&dir.path().join("s.sqlite"), Durability::default(), None).expect("open");
    let conn = store.writer.lock().expect("lock");
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('tickets')").expect("prepare");
    let names: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("names");
    for column in crate::model::INDEX_COLUMNS.iter() {
        assert!(names.iter().any(|n| n == column.name), "the device's tickets table lacks {}", column.name);
    }
}

/// Every sync counts and reads the tickets with unacknowledged changes: by index, not by a
/// scan of every row the store holds.
#[test]
fn the_pending_tickets_are_found_by_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(&dir.path().join("pending.sqlite"), Durability::default(), None).expect("open");
    let plan = |sql: &str| -> String {
        let conn = store.writer.lock().expect("lock");
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).expect("plan");
        rows.collect::<Result<Vec<_>, _>>().expect("rows").join("; ")
    };
    for sql in [
        "SELECT COUNT(*) FROM tickets WHERE pending = 1",
        "SELECT t.id, s.server_heads FROM tickets t LEFT JOIN sync_state s ON s.ticket_id = t.id
         WHERE t.pending = 1 AND t.quarantined IS NULL ORDER BY t.id",
    ] {
        let plan = plan(sql);
        assert!(plan.contains("INDEX tickets_by_pending (pending=?)"), "{sql}: {plan}");
    }
    // The statements the store runs are these.
    let counted = store.read(tickets::pending_count).expect("count");
    assert_eq!(counted, 0);
}
