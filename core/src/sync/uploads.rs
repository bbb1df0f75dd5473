//! Blob uploads: resumable, tus-like, after the documents and never holding them up.
//!
//! For each queued (blob, ticket): `HEAD /v1/blobs/{sha}` says how much the server has, then
//! `PATCH` sends the rest in chunks from that offset, recording progress after each one. An
//! interrupted upload therefore re-sends at most the chunk that was in flight, also after an
//! app restart. A blob the server refuses (hash mismatch, too large, not allowed) is set aside
//! with the reason and the others go on; a network failure stops this round and leaves the
//! rest for the next sync.

use super::transport::{HttpResponse, Method};
use super::{SyncEngine, SyncError, joined, server_error};
use crate::protocol::ApiError;
use crate::store::blobs::Upload;

/// How many bytes one PATCH carries by default.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// What a round of uploads did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Blobs that reached the server whole.
    pub uploaded: Vec<String>,
    /// Blobs the server refused, with the reason (set aside).
    pub refused: Vec<(String, String)>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Why the round stopped early, when the network failed.
    pub interrupted: Option<String>,
}

enum Outcome {
    Done,
    Refused(String),
}

impl SyncEngine {
    /// Uploads every blob of `pending` (the queue as the sync read it) it can; a network
    /// failure ends the round, not the sync.
    pub(super) async fn upload_pending(&self, pending: Vec<Upload>) -> UploadReport {
        let mut report = UploadReport::default();
        for upload in pending {
            match self.upload_one(&upload, &mut report).await {
                Ok(Outcome::Done) => {
                    self.record(&upload, upload.size, "done", None).await;
                    report.uploaded.push(upload.sha256.clone());
                }
                Ok(Outcome::Refused(reason)) => {
                    self.record(&upload, 0, "failed", Some(reason.clone())).await;
                    report.refused.push((upload.sha256.clone(), reason));
                }
                Err(e) => {
                    report.interrupted = Some(e.to_string());
                    return report;
                }
            }
        }
        report
    }

    async fn record(&self, upload: &Upload, sent: u64, state: &'static str, reason: Option<String>) {
        let (client, upload) = (self.inner.client.clone(), upload.clone());
        // Progress is an optimisation: if it cannot be written, HEAD tells the truth next time.
        let now = tokio::task::spawn_blocking(move || {
            client.record_upload(&upload, sent, state, reason.as_deref())?;
            client.waiting()
        })
        .await;
        // Each chunk shows on the status: an app's per-photo progress bar.
        if let Ok(Ok((pending, uploads))) = now {
            self.inner.status.send_modify(|s| {
                s.set_pending(pending);
                s.uploads = uploads;
            });
        }
    }

    fn blob_url(&self, sha256: &str) -> String {
        format!("{}/v1/blobs/{sha256}", self.inner.config.server_url.trim_end_matches('/'))
    }

    async fn upload_one(&self, upload: &Upload, report: &mut UploadReport) -> Result<Outcome, SyncError> {
        let (client, sha) = (self.inner.client.clone(), upload.sha256.clone());
        let bytes = match tokio::task::spawn_blocking(move || client.blob(&sha)).await {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => return Ok(Outcome::Refused("the blob is missing from this device's store".into())),
            Ok(Err(e)) => return Err(SyncError::Local(e.to_string())),
            Err(e) => return Err(joined(e)),
        };
        let total = bytes.len() as u64;
        let mut offset = self.server_offset(&upload.sha256).await?;
        if offset.complete {
            return Ok(Outcome::Done);
        }
        // Never trust an offset past the end of what we have.
        let mut at = offset.bytes.min(total);
        let url = format!("{}?ticket={}", self.blob_url(&upload.sha256), query_escaped(&upload.ticket_id));
        // A server that keeps disagreeing about the offset must not keep us here.
        let mut conflicts = 0;
        while at < total {
            let chunk = self.inner.config.upload_chunk_bytes.max(1);
            let end = (at as usize).saturating_add(chunk).min(bytes.len());
            let request = self
                .authorized(Method::Patch, url.clone())
                .header("Upload-Offset", at.to_string())
                .header("Upload-Length", total.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(bytes[at as usize..end].to_vec());
            let response = self.send(request).await?;
            let status = response.status;
            let server_at = header_u64(&response, "Upload-Offset");
            let complete = response.header("Upload-Complete").is_some();
            if status == 409 {
                let body = &response.body;
                let code = serde_json::from_slice::<ApiError>(body).map(|e| e.error).unwrap_or_default();
                conflicts += 1;
                if code != "offset_mismatch" || conflicts > 3 {
                    // Another upload of this blob declared a different length, or the offsets
                    // never settle: set it aside rather than loop.
                    return Ok(Outcome::Refused(server_error(status, body).to_string()));
                }
                // The server has a different offset (a chunk landed before a lost answer).
                offset = self.server_offset(&upload.sha256).await?;
                if offset.complete {
                    return Ok(Outcome::Done);
                }
                at = offset.bytes.min(total);
                continue;
            }
            if !response.is_success() {
                return match server_error(status, &response.body) {
                    e if e.is_transient() || status == 401 => Err(e),
                    e => Ok(Outcome::Refused(e.to_string())),
                };
            }
            report.bytes_sent += (end as u64) - at;
            if complete {
                return Ok(Outcome::Done);
            }
            at = server_at.unwrap_or(end as u64);
            self.record(upload, at, "pending", None).await;
        }
        // Everything sent but never confirmed complete: ask once more.
        if self.server_offset(&upload.sha256).await?.complete {
            Ok(Outcome::Done)
        } else {
            Err(SyncError::Protocol(format!("blob {} sent whole but not confirmed", upload.sha256)))
        }
    }

    async fn server_offset(&self, sha256: &str) -> Result<ServerOffset, SyncError> {
        let response = self.send(self.authorized(Method::Head, self.blob_url(sha256))).await?;
        if !response.is_success() {
            return Err(server_error(response.status, &[]));
        }
        Ok(ServerOffset {
            bytes: header_u64(&response, "Upload-Offset").unwrap_or(0),
            complete: response.header("Upload-Complete").is_some(),
        })
    }
}

struct ServerOffset {
    bytes: u64,
    complete: bool,
}

fn header_u64(response: &HttpResponse, name: &str) -> Option<u64> {
    response.header(name)?.trim().parse().ok()
}

/// `value` as a URL query value: everything but unreserved characters percent-encoded.
fn query_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::query_escaped;

    #[test]
    fn a_ticket_id_is_escaped_in_the_query() {
        assert_eq!(query_escaped("0190-ab_c.d~"), "0190-ab_c.d~");
        assert_eq!(query_escaped("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
