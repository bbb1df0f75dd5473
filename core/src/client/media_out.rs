//! Media back out (issue 14, Deliver 4; docs/adr/0021): the stored photos, thumbnails and
//! signature images as files an image loader shows (Coil, AsyncImage), and the job summary a
//! customer signs for, as the exact text its signature binds.

use std::path::{Path, PathBuf};

use super::Client;
use crate::error::Error;
use crate::model::JobSummary;
use crate::store::blobs;

/// The job summary the customer is shown before signing, and the exact text its signature
/// binds (the signature records `SHA-256(text)` as `summary_sha256`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSummary {
    /// The summary's parts, for display.
    pub summary: JobSummary,
    /// The canonical text (JSON, fields in declaration order) that is hashed.
    pub text: String,
    /// SHA-256 (hex) of `text`: what a signature captured now would bind.
    pub sha256: String,
}

impl Client {
    /// The job summary of `ticket_id` as it stands, with the exact text a signature captured
    /// now binds ([`Client::capture_signature`] hashes the same).
    pub fn signed_summary(&self, ticket_id: &str) -> Result<SignedSummary, Error> {
        let summary = self.job_summary(ticket_id)?;
        let text = summary.canonical_text();
        let sha256 = JobSummary::sha256_hex(text.as_bytes());
        Ok(SignedSummary { summary, text, sha256 })
    }

    /// A stored blob (a photo, its thumbnail, a signature PNG) as a file: written once, from the
    /// store, into the media folder beside the store file (`<store>.media/<sha256>.jpg|.png`),
    /// and then only read. `None` when this device does not have the blob. The folder is the
    /// app's own storage, like the store; the files are plain images even when the store is
    /// encrypted (an image loader cannot read the store), so an app that must not keep them
    /// deletes the folder ([`Client::media_dir`]) when done.
    pub fn media_file(&self, sha256: &str) -> Result<Option<PathBuf>, Error> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(Error::InvalidInput("a blob is named by its SHA-256: 64 lowercase hex digits".into()));
        }
        let dir = self.media_dir();
        for extension in ["jpg", "png"] {
            let path = dir.join(format!("{sha256}.{extension}"));
            if path.is_file() {
                return Ok(Some(path));
            }
        }
        let Some(bytes) = self.live_store()?.read(|tx| Ok::<_, Error>(blobs::blob(tx, sha256)?))? else {
            return Ok(None);
        };
        let extension = if bytes.starts_with(b"\x89PNG") { "png" } else { "jpg" };
        let path = dir.join(format!("{sha256}.{extension}"));
        write_whole(&dir, &path, &bytes)?;
        Ok(Some(path))
    }

    /// The folder [`Client::media_file`] writes to: `<store file>.media`.
    pub fn media_dir(&self) -> PathBuf {
        let store = self.inner.store.path();
        let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".media");
        store.with_file_name(name)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename: a reader never sees a part.
fn write_whole(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Store(crate::store::StoreError::Io(e));
    std::fs::create_dir_all(dir).map_err(io)?;
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}
