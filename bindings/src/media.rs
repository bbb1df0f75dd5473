//! Media back out (issue 14, Deliver 4; docs/adr/0021): the job summary a customer signs for,
//! and per-upload progress. The files themselves are the core's
//! ([`fieldsync_core::Client::media_file`]).

use fieldsync_core::client::SignedSummary;
use fieldsync_core::store::blobs::Upload;

/// What the customer is shown before signing, and the exact text the signature binds.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct JobSummary {
    /// The ticket.
    pub ticket_id: String,
    /// Its title.
    pub title: String,
    /// The customer's name.
    pub customer: String,
    /// The work done (the notes), in order.
    pub work: Vec<String>,
    /// Parts used, in order.
    pub parts: Vec<SummaryPart>,
    /// Time logged, in order.
    pub time: Vec<SummaryTime>,
    /// The photos' SHA-256, sorted.
    pub photos: Vec<String>,
    /// The canonical text the signature's `summary_sha256` is the SHA-256 of.
    pub text: String,
    /// SHA-256 (hex) of `text`: what a signature captured now binds.
    pub sha256: String,
}

/// A part in the job summary.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SummaryPart {
    /// Stock number.
    pub sku: String,
    /// How many.
    pub qty: u32,
}

/// Time in the job summary.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SummaryTime {
    /// Minutes.
    pub minutes: u32,
    /// "labour", "travel", ...
    pub kind: String,
}

/// One photo, thumbnail or signature waiting to upload or under way.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UploadProgress {
    /// The blob's SHA-256 (a photo's `sha256`, `thumbnail_sha256`, a signature's `png_sha256`).
    pub sha256: String,
    /// The ticket it belongs to.
    pub ticket_id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes the server has confirmed.
    pub sent: u64,
}

impl From<SignedSummary> for JobSummary {
    fn from(s: SignedSummary) -> Self {
        let summary = s.summary;
        JobSummary {
            ticket_id: summary.ticket_id,
            title: summary.title,
            customer: summary.customer,
            work: summary.work,
            parts: summary.parts.into_iter().map(|(sku, qty)| SummaryPart { sku, qty }).collect(),
            time: summary.time.into_iter().map(|(minutes, kind)| SummaryTime { minutes, kind }).collect(),
            photos: summary.photos,
            text: s.text,
            sha256: s.sha256,
        }
    }
}

impl From<Upload> for UploadProgress {
    fn from(u: Upload) -> Self {
        UploadProgress { sha256: u.sha256, ticket_id: u.ticket_id, size: u.size, sent: u.sent }
    }
}
