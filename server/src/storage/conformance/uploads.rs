//! The uploads part of the storage conformance suite.

use crate::storage::Storage;

/// The upload-progress checks of the conformance suite.
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    let sha = "ef".repeat(32);
    assert_eq!(s.blob_received(&sha, "d1").expect("none"), 0, "nothing sent yet");
    s.record_blob_received(&sha, "d1", 100, 1_000).expect("record");
    s.record_blob_received(&sha, "d2", 7, 1_000).expect("record");
    assert_eq!(s.blob_received(&sha, "d1").expect("d1"), 100);
    assert_eq!(s.blob_received(&sha, "d2").expect("d2"), 7, "per device");
    s.record_blob_received(&sha, "d1", 0, 2_000).expect("restart");
    assert_eq!(s.blob_received(&sha, "d1").expect("d1"), 0, "replaced, not added");
    s.record_blob_received(&sha, "d1", u64::MAX, 3_000).expect("large");
    assert_eq!(s.blob_received(&sha, "d1").expect("d1"), u64::MAX, "the whole u64 range");
    assert_eq!(s.blob_received(&"00".repeat(32), "d1").expect("other blob"), 0);
    s.record_blob_received(&"00".repeat(32), "d1", 5, 3_000).expect("other blob");
    s.forget_blob_received(&sha).expect("forget");
    assert_eq!((s.blob_received(&sha, "d1").expect("d1"), s.blob_received(&sha, "d2").expect("d2")), (0, 0));
    assert_eq!(s.blob_received(&"00".repeat(32), "d1").expect("other blob"), 5, "only that blob's");
}
