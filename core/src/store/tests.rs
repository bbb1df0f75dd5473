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
    let (fresh, report) = Store::open(&fresh_path, Durability::default()).expect("open fresh");
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
        let (store, report) = Store::open(&path, Durability::default()).expect("migrate");
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
    let err = Store::open(&path, Durability::default()).expect_err("newer schema must be refused");
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
    let (store, report) = Store::open(&path, Durability::default()).expect("open recovers");
    let moved = report.moved_aside.expect("reported as moved aside");
    assert_eq!(std::fs::read(&moved).expect("moved file kept"), garbage);
    store.integrity_check().expect("fresh store is sound");
}

#[test]
fn a_corrupted_page_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let (store, _) = Store::open(&path, Durability::default()).expect("open");
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
    let (_, report) = Store::open(&path, Durability::default()).expect("open recovers");
    let moved = report.moved_aside.expect("moved aside");
    assert_eq!(std::fs::read(moved).expect("kept").len(), bytes.len());
}

#[test]
fn an_unreadable_location_is_an_error_and_nothing_is_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the file should be: an I/O-level failure, not corruption.
    let path = dir.path().join("store.sqlite");
    std::fs::create_dir(&path).expect("dir");
    assert!(Store::open(&path, Durability::default()).is_err());
    assert!(path.is_dir(), "left as it was");
}
