//! The conformance suite every [`BlobStore`] implementation must pass.
//!
//! Call [`run`] from a test with a constructor that returns a fresh, empty store each time. It
//! panics with a message naming the failed check.

use std::io::Read;

use super::{BlobError, BlobId, BlobState, BlobStore};

/// Runs every check, each on a fresh store from `make`.
pub fn run(make: &dyn Fn() -> Box<dyn BlobStore>) {
    chunked_upload(make().as_ref());
    wrong_offsets_and_lengths(make().as_ref());
    hash_mismatch_discards(make().as_ref());
    empty_blob(make().as_ref());
    concurrent_appends(make().as_ref());
    ranges(make().as_ref());
}

/// `n` bytes that are not all alike.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn read_all(s: &dyn BlobStore, id: &BlobId) -> Option<Vec<u8>> {
    let mut blob = s.open(id).expect("open")?;
    let mut out = Vec::new();
    blob.reader.read_to_end(&mut out).expect("read");
    assert_eq!(blob.length, out.len() as u64, "open reports the length it reads");
    Some(out)
}

fn chunked_upload(s: &dyn BlobStore) {
    let data = bytes(10_000, 1);
    let id = BlobId::of(&data);
    let length = data.len() as u64;
    assert_eq!(s.state(&id).expect("state"), BlobState::Absent);
    assert!(read_all(s, &id).is_none(), "an unknown blob does not open");
    let state = s.append(&id, 0, length, &data[..4_000]).expect("first chunk");
    assert_eq!(state, BlobState::Partial { offset: 4_000, length });
    assert_eq!(s.state(&id).expect("state"), state);
    assert!(read_all(s, &id).is_none(), "a partial blob does not open");
    s.append(&id, 4_000, length, &data[4_000..8_000]).expect("second chunk");
    let state = s.append(&id, 8_000, length, &data[8_000..]).expect("last chunk");
    assert_eq!(state, BlobState::Complete { length });
    assert_eq!(s.state(&id).expect("state"), BlobState::Complete { length });
    assert_eq!(read_all(s, &id).as_deref(), Some(&data[..]));
    // Appending to a complete blob changes nothing.
    let again = s.append(&id, 0, length, &data[..10]).expect("append to complete");
    assert_eq!(again, BlobState::Complete { length });
    assert_eq!(read_all(s, &id).as_deref(), Some(&data[..]));
}

fn wrong_offsets_and_lengths(s: &dyn BlobStore) {
    let data = bytes(1_000, 2);
    let id = BlobId::of(&data);
    match s.append(&id, 10, 1_000, &data[10..20]) {
        Err(BlobError::OffsetMismatch { current: 0, sent: 10 }) => {}
        other => panic!("a first chunk not at 0 is refused: {other:?}"),
    }
    assert_eq!(s.state(&id).expect("state"), BlobState::Absent, "a refused chunk starts nothing");
    s.append(&id, 0, 1_000, &data[..300]).expect("first");
    match s.append(&id, 100, 1_000, &data[100..400]) {
        Err(BlobError::OffsetMismatch { current: 300, sent: 100 }) => {}
        other => panic!("a chunk at a stale offset is refused with the current one: {other:?}"),
    }
    match s.append(&id, 300, 2_000, &data[300..400]) {
        Err(BlobError::LengthMismatch { declared: 1_000, sent: 2_000, offset: 300 }) => {}
        other => panic!("a changed length is refused: {other:?}"),
    }
    match s.append(&id, 300, 1_000, &bytes(800, 3)) {
        Err(BlobError::PastEnd { end: 1_100, length: 1_000 }) => {}
        other => panic!("a chunk past the end is refused: {other:?}"),
    }
    assert_eq!(s.state(&id).expect("state"), BlobState::Partial { offset: 300, length: 1_000 });
    assert_eq!(s.append(&id, 300, 1_000, &data[300..]).expect("rest"), BlobState::Complete { length: 1_000 });
    assert_eq!(read_all(s, &id).as_deref(), Some(&data[..]));
}

fn hash_mismatch_discards(s: &dyn BlobStore) {
    let data = bytes(500, 4);
    let id = BlobId::of(b"something else");
    s.append(&id, 0, 500, &data[..200]).expect("first");
    match s.append(&id, 200, 500, &data[200..]) {
        Err(BlobError::HashMismatch { expected, actual }) => {
            assert_eq!(expected, id.as_str());
            assert_eq!(actual, BlobId::of(&data).as_str());
        }
        other => panic!("bytes that do not hash to the name are refused: {other:?}"),
    }
    assert_eq!(s.state(&id).expect("state"), BlobState::Absent, "a mismatched upload is discarded");
    assert!(read_all(s, &id).is_none());
    // The right bytes can still be uploaded under their own name afterwards.
    let right = BlobId::of(&data);
    assert_eq!(s.append(&right, 0, 500, &data).expect("one chunk"), BlobState::Complete { length: 500 });
}

fn empty_blob(s: &dyn BlobStore) {
    let id = BlobId::of(b"");
    assert_eq!(s.append(&id, 0, 0, b"").expect("empty"), BlobState::Complete { length: 0 });
    assert_eq!(read_all(s, &id).as_deref(), Some(&b""[..]));
}

fn concurrent_appends(s: &dyn BlobStore) {
    let data = bytes(64 * 1024, 5);
    let id = BlobId::of(&data);
    let length = data.len() as u64;
    let chunk = 4 * 1024;
    // Eight writers race for every chunk at the same offset: exactly one wins each round.
    let mut offset = 0usize;
    while offset < data.len() {
        let end = (offset + chunk).min(data.len());
        let wins = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| s.append(&id, offset as u64, length, &data[offset..end]).is_ok()))
                .collect();
            racers.into_iter().filter_map(|r| r.join().ok()).filter(|won| *won).count()
        });
        // The last round may also "win" by finding the blob complete.
        if end < data.len() {
            assert_eq!(wins, 1, "exactly one of the racing appends at offset {offset} is taken");
        }
        offset = end;
    }
    assert_eq!(s.state(&id).expect("state"), BlobState::Complete { length });
    assert_eq!(read_all(s, &id).as_deref(), Some(&data[..]));
}

fn ranges(s: &dyn BlobStore) {
    let data = bytes(1_000, 7);
    let id = BlobId::of(&data);
    let length = data.len() as u64;
    assert_eq!(s.read_range(&id, 0, 1).expect("range"), None, "an unknown blob has no bytes");
    s.append(&id, 0, length, &data[..600]).expect("partial");
    assert_eq!(s.read_range(&id, 100, 500).expect("range").as_deref(), Some(&data[100..600]), "of a partial blob");
    assert_eq!(s.read_range(&id, 100, 501).expect("range"), None, "past what is held");
    assert_eq!(s.read_range(&id, u64::MAX, 2).expect("range"), None, "no overflow");
    s.append(&id, 600, length, &data[600..]).expect("complete");
    assert_eq!(s.read_range(&id, 0, 1_000).expect("range").as_deref(), Some(&data[..]), "of a complete blob");
    assert_eq!(s.read_range(&id, 1_000, 0).expect("range").as_deref(), Some(&[][..]), "empty at the end");
    assert_eq!(s.discard_partial(&id).expect("discard"), BlobState::Complete { length }, "a complete blob stays");

    let other = bytes(500, 8);
    let other_id = BlobId::of(&other);
    s.append(&other_id, 0, 500, &other[..100]).expect("partial");
    assert_eq!(s.discard_partial(&other_id).expect("discard"), BlobState::Absent);
    assert_eq!(s.state(&other_id).expect("state"), BlobState::Absent);
    assert_eq!(s.append(&other_id, 0, 500, &other).expect("again"), BlobState::Complete { length: 500 });
}
