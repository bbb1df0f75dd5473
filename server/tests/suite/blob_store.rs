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

/// Regression (found by the crash harness, tests/tests/crash.rs): the server was killed after
/// the last chunk of an upload was written and fsynced but before the upload was hashed and
/// moved into place. The partial file held every byte, so `HEAD` answered
/// `Upload-Offset = length` without `Upload-Complete`, the device had nothing left to send, and
/// the photo never reached the server. Now the store finishes such an upload when it is next
/// asked about it, or discards it when the bytes do not match, so the device uploads again.
#[test]
fn an_upload_cut_off_between_its_last_chunk_and_its_completion_is_finished_on_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: Vec<u8> = (0..3_000u32).map(|i| (i % 251) as u8).collect();
    let id = BlobId::of(&data);
    let mut wrong = data.clone();
    wrong[2_999] ^= 1;
    let wrong_id = BlobId::of(&wrong);
    {
        let store = FsBlobStore::open(dir.path()).expect("open");
        store.append(&id, 0, 3_000, &data[..1_000]).expect("first chunk");
        // A second upload whose bytes will not match the name it was uploaded under.
        store.append(&wrong_id, 0, 3_000, &data[..1_000]).expect("first chunk");
    }
    // What the last chunk's write left before the process died: every byte in the partial file.
    let partial = |id: &BlobId| dir.path().join("partial").join(id.as_str());
    for target in [&id, &wrong_id] {
        let mut file = std::fs::OpenOptions::new().append(true).open(partial(target)).expect("partial file");
        std::io::Write::write_all(&mut file, &data[1_000..]).expect("the rest of the bytes");
    }

    let store = FsBlobStore::open(dir.path()).expect("reopen after the crash");
    assert_eq!(store.state(&id).expect("state"), BlobState::Complete { length: 3_000 });
    let mut reader = store.open(&id).expect("open").expect("the blob is served");
    let mut served = Vec::new();
    std::io::Read::read_to_end(&mut reader.reader, &mut served).expect("read");
    assert_eq!(served, data);
    assert_eq!(store.state(&wrong_id).expect("state"), BlobState::Absent, "bytes that do not match start over");
    assert_eq!(store.append(&wrong_id, 0, 3_000, &wrong).expect("upload again"), BlobState::Complete { length: 3_000 });
}

#[test]
fn blob_names_are_64_lowercase_hex() {
    assert!(BlobId::parse(&"a".repeat(64)).is_some());
    assert!(BlobId::parse(&"A".repeat(64)).is_none());
    assert!(BlobId::parse(&"a".repeat(63)).is_none());
    assert!(BlobId::parse(&"g".repeat(64)).is_none());
    assert!(BlobId::parse("../etc/passwd").is_none());
}
