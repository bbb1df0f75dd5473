//! Who sent a blob's bytes (issue 13, attack 5): per (blob, device), how many of the blob's
//! bytes that device sent in order. A device links a blob to a ticket only once it has sent
//! every byte (docs/adr/0004, amendment): knowing a blob's SHA-256 is not having it.

use fieldsync_core::time::Millis;

use super::{Storage, StorageError};

/// The per-device upload progress of blobs; part of every [`Storage`].
pub trait UploadStorage {
    /// How many bytes of blob `sha256` (lowercase hex) device `device_id` has sent, in order
    /// from the first (0 when it never sent any).
    fn blob_received(&self, sha256: &str, device_id: &str) -> Result<u64, StorageError>;
    /// Records that `device_id` has sent the first `received` bytes of `sha256` (replacing what
    /// was recorded: a discarded upload starts again from 0).
    fn record_blob_received(
        &self,
        sha256: &str,
        device_id: &str,
        received: u64,
        at: Millis,
    ) -> Result<(), StorageError>;
    /// Forgets every device's progress of `sha256`: its upload in progress was discarded, so
    /// what each device sent of it counts no more.
    fn forget_blob_received(&self, sha256: &str) -> Result<(), StorageError>;
}

/// The upload-progress checks of the conformance suite.
pub(crate) fn conformance(make: &dyn Fn() -> Box<dyn Storage>) {
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
