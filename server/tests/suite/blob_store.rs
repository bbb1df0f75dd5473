//! The blob store conformance suite, run on the filesystem store, and what survives a reopen.

use std::sync::atomic::{AtomicUsize, Ordering};

use fieldsync_server::blobs::{BlobId, BlobState, BlobStore, FsBlobStore, conformance};

#[test]
fn the_filesystem_store_passes_the_blob_store_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = AtomicUsize::new(0);
    conformance::run(&|| -> Box<dyn BlobStore> {
        let root = dir.path().join(format!("b{}", n.fetch_add(1, Ordering::Relaxed)));
        Box::new(FsBlobStore::open(&root).expect("open"))
    });
}

#[test]
fn an_upload_in_progress_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: Vec<u8> = (0..3_000u32).map(|i| (i % 251) as u8).collect();
    let id = BlobId::of(&data);
    {
        let store = FsBlobStore::open(dir.path()).expect("open");
        store.append(&id, 0, 3_000, &data[..1_000]).expect("first chunk");
    }
    let store = FsBlobStore::open(dir.path()).expect("reopen");
    assert_eq!(store.state(&id).expect("state"), BlobState::Partial { offset: 1_000, length: 3_000 });
    assert_eq!(store.append(&id, 1_000, 3_000, &data[1_000..]).expect("rest"), BlobState::Complete { length: 3_000 });
    drop(store);
    let store = FsBlobStore::open(dir.path()).expect("reopen again");
    assert_eq!(store.state(&id).expect("state"), BlobState::Complete { length: 3_000 });
    let shard = dir.path().join(&id.as_str()[..2]).join(id.as_str());
    assert_eq!(std::fs::read(shard).expect("complete file in its shard"), data);
    let partials: Vec<_> = std::fs::read_dir(dir.path().join("partial")).expect("partial dir").collect();
    assert!(partials.is_empty(), "nothing left of the upload: {partials:?}");
}

#[test]
fn blob_names_are_64_lowercase_hex() {
    assert!(BlobId::parse(&"a".repeat(64)).is_some());
    assert!(BlobId::parse(&"A".repeat(64)).is_none());
    assert!(BlobId::parse(&"a".repeat(63)).is_none());
    assert!(BlobId::parse(&"g".repeat(64)).is_none());
    assert!(BlobId::parse("../etc/passwd").is_none());
}
