//! Who sent a blob's bytes (issue 13, attack 5): per (blob, device), how many of the blob's
//! bytes that device sent in order. A device links a blob to a ticket only once it has sent
//! every byte (docs/adr/0004, amendment): knowing a blob's SHA-256 is not having it.

use fieldsync_core::time::Millis;

use super::StorageError;

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
