//! Content-addressed blobs (photos, signatures) behind one small trait, so an object store can
//! slot in beside the local filesystem (docs/adr/0004).
//!
//! A blob is named by the SHA-256 of its bytes. It is uploaded in chunks, each appended at the
//! offset the store holds ([`BlobStore::append`] is a compare-and-append), and becomes
//! readable only once every byte arrived and the hash matched: a complete blob always has the
//! bytes its name says. The upload state (bytes received, declared length) is the store's, so
//! it survives a restart with the bytes it describes.
//!
//! `conformance::run` is the shared test suite every implementation must pass (test code: built
//! for tests and with the `conformance` feature only).

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod fs;

use std::io::Read;

pub use fs::FsBlobStore;

// The resumable upload protocol's headers (docs/adr/0004), shared by the upload handlers and
// the error map.
/// Bytes the server holds of a blob.
pub(crate) const UPLOAD_OFFSET: axum::http::HeaderName = axum::http::HeaderName::from_static("upload-offset");
/// A blob's total length.
pub(crate) const UPLOAD_LENGTH: axum::http::HeaderName = axum::http::HeaderName::from_static("upload-length");
/// `1` once a blob is complete and verified.
pub(crate) const UPLOAD_COMPLETE: axum::http::HeaderName = axum::http::HeaderName::from_static("upload-complete");
/// The content type of a chunk.
pub(crate) const CHUNK_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// A blob's name: the SHA-256 of its bytes, 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// Parses a name: exactly 64 lowercase hex characters, else `None`.
    pub fn parse(text: &str) -> Option<BlobId> {
        let valid = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| BlobId(text.to_owned()))
    }

    /// The id of these bytes.
    pub fn of(bytes: &[u8]) -> BlobId {
        use sha2::{Digest, Sha256};
        BlobId(hex::encode(Sha256::digest(bytes)))
    }

    /// The hex name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a blob's upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobState {
    /// Nothing received.
    Absent,
    /// An upload of `length` bytes in total, `offset` of them received and durable.
    Partial {
        /// Bytes received.
        offset: u64,
        /// The declared total length.
        length: u64,
    },
    /// Every byte received and the hash verified: readable.
    Complete {
        /// Its length.
        length: u64,
    },
}

impl BlobState {
    /// The bytes the store holds: what an upload resumes from.
    pub fn offset(&self) -> u64 {
        match *self {
            BlobState::Absent => 0,
            BlobState::Partial { offset, .. } => offset,
            BlobState::Complete { length } => length,
        }
    }
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The chunk was sent for another offset than the store holds.
    #[error("the upload is at offset {current}, not {sent}")]
    OffsetMismatch {
        /// What the store holds.
        current: u64,
        /// What the chunk claimed.
        sent: u64,
    },
    /// The declared total length differs from the one the upload started with.
    #[error("the upload was started with length {declared}, not {sent}")]
    LengthMismatch {
        /// The length the upload started with.
        declared: u64,
        /// What this chunk declared.
        sent: u64,
        /// Bytes received so far.
        offset: u64,
    },
    /// The chunk goes past the declared length.
    #[error("the chunk ends at byte {end}, past the upload's length {length}")]
    PastEnd {
        /// Where the chunk would end.
        end: u64,
        /// The declared length.
        length: u64,
    },
    /// Every byte arrived but their SHA-256 is not the blob's name; the upload was discarded.
    #[error("the uploaded bytes hash to {actual}, not {expected}; the upload was discarded")]
    HashMismatch {
        /// The blob's name.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The backend failed (I/O, a poisoned lock).
    #[error("blob store backend: {0}")]
    Backend(String),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError::Backend(e.to_string())
    }
}

/// A complete blob opened for reading.
pub struct BlobReader {
    /// Its length in bytes.
    pub length: u64,
    /// Its bytes.
    pub reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("length", &self.length).finish_non_exhaustive()
    }
}

/// Blob bytes and upload state. Synchronous: async handlers call it inside `spawn_blocking`.
///
/// Operations on one blob are atomic with respect to each other (an implementation serializes
/// them per blob); operations on different blobs run concurrently.
pub trait BlobStore: Send + Sync {
    /// Where the blob's upload stands.
    fn state(&self, id: &BlobId) -> Result<BlobState, BlobError>;

    /// Appends `chunk` to the upload of `id` (total `length` bytes) at `offset`, which must be
    /// the offset the store holds ([`BlobError::OffsetMismatch`] otherwise, nothing written);
    /// `length` must be the one the upload started with. The chunk is durable when this
    /// returns. When the upload reaches `length`, the bytes are hashed: a match makes the
    /// blob [`BlobState::Complete`], a mismatch discards the upload
    /// ([`BlobError::HashMismatch`], state [`BlobState::Absent`] again). A failed write leaves
    /// the upload at its old offset. Appending to a complete blob changes nothing and returns
    /// its state.
    fn append(&self, id: &BlobId, offset: u64, length: u64, chunk: &[u8]) -> Result<BlobState, BlobError>;

    /// A complete blob's bytes; `None` unless complete.
    fn open(&self, id: &BlobId) -> Result<Option<BlobReader>, BlobError>;

    /// Bytes `offset..offset + len` of what the store holds of `id`, complete or partial;
    /// `None` when it holds fewer. A second device proves it has a blob by sending bytes that
    /// are compared with these (docs/adr/0004, amendment).
    fn read_range(&self, id: &BlobId, offset: u64, len: usize) -> Result<Option<Vec<u8>>, BlobError>;

    /// Drops the upload in progress of `id`, if any (a complete blob stays): two devices sent
    /// different bytes for it and the store cannot tell which are right before the end.
    /// Returns the state after.
    fn discard_partial(&self, id: &BlobId) -> Result<BlobState, BlobError>;
}
