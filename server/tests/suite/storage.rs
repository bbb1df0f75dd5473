//! The storage conformance suite, run on SQLite.

use std::sync::atomic::{AtomicUsize, Ordering};

use fieldsync_server::storage::{SqliteStorage, Storage, conformance};

#[test]
fn sqlite_passes_the_storage_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = AtomicUsize::new(0);
    conformance::run(&|| -> Box<dyn Storage> {
        let path = dir.path().join(format!("s{}.sqlite", n.fetch_add(1, Ordering::Relaxed)));
        Box::new(SqliteStorage::open(&path).expect("open"))
    });
}

#[test]
fn sqlite_reopens_with_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("server.sqlite");
    {
        let storage = SqliteStorage::open(&path).expect("open");
        storage
            .create_user(&fieldsync_server::storage::UserRecord {
                id: "eli".into(),
                name: "Eli".into(),
                role: fieldsync_core::Role::Engineer,
            })
            .expect("user");
    }
    let storage = SqliteStorage::open(&path).expect("reopen");
    assert!(storage.user("eli").expect("user").is_some());
}
