//! The records the FFI needs beyond the core's own: what only the boundary has (the server to
//! sync with, a photo to add by path or bytes, the sync status with its failure's kind, the
//! report's options) and the shapes uniffi cannot carry as the core holds them (tuples, paths,
//! error values). Every other record and enum Kotlin and Swift see is the core's own, derived
//! there behind its `uniffi` feature (docs/adr/0032) and re-exported here. Times are UTC
//! milliseconds.

use std::path::PathBuf;

use fieldsync_core::model as core_model;
// The core's own records and enums (feature `uniffi`, docs/adr/0032): no mirrors.
pub use fieldsync_core::media::StrokePoint;
use fieldsync_core::model::PhotoInput;
pub use fieldsync_core::model::{
    CheckInPlace, ChecklistItem, Contact, Contract, Customer, CustomerCard, CustomerMessage, CustomerSite, Escalation,
    Feedback, Identity, ListFilter, Location, Milestones, Note, PartUsed, PhotoMeta, Priority, RecentTicket,
    SignatureMeta, Site, Sla, Ticket, TicketEvent, TicketIndex, TicketSummary, TimeEntry,
};
use fieldsync_core::sync as core_sync;
pub use fieldsync_core::workflow::{Conflict, Role, Status};

/// Where and as whom to sync.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ServerConfig {
    /// The server's base URL, e.g. `https://fieldsync.example.com`.
    pub url: String,
    /// This device's bearer token.
    pub token: String,
}

/// How many tickets are in one status.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StatusCount {
    /// The status.
    pub status: Status,
    /// How many tickets.
    pub count: u64,
}

/// A photo to add: a file the camera wrote, or its bytes.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewPhoto {
    /// The JPEG or PNG file (HEIC: convert first); ignored when `bytes` is given.
    #[uniffi(default)]
    pub path: String,
    /// The JPEG or PNG itself, for a photo that is not a file (a `content://` stream read by the
    /// app, a camera buffer).
    #[uniffi(default)]
    pub bytes: Option<Vec<u8>>,
    /// Caption.
    #[uniffi(default)]
    pub caption: String,
    /// When it was taken.
    #[uniffi(default)]
    pub taken_at: Option<i64>,
    /// Where it was taken, if the app records it (the file's own GPS is dropped).
    #[uniffi(default)]
    pub location: Option<Location>,
}

/// The sync engine's state, for a status bar.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Whether the app reports connectivity.
    pub online: bool,
    /// A sync is running.
    pub syncing: bool,
    /// Tickets with local changes the server has not acknowledged.
    pub pending_tickets: u64,
    /// When the last sync succeeded.
    pub last_success_at: Option<i64>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
    /// What kind of failure that was (sign in again, offline, an untrusted certificate, ...).
    pub last_error_kind: Option<crate::error::SyncFailureKind>,
    /// The last failure asks the user to sign in again (the token was refused, or belongs to
    /// another user or device than this store).
    pub needs_sign_in: bool,
    /// Photos and signatures waiting to upload.
    pub pending_uploads: u64,
    /// Bytes of those not yet on the server.
    pub pending_upload_bytes: u64,
    /// Each of those, with the bytes the server has confirmed: per-photo progress, updated
    /// after every chunk.
    pub uploads: Vec<crate::media::UploadProgress>,
}

/// A ticket the server refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RejectedTicket {
    /// The ticket.
    pub ticket_id: String,
    /// Why, for people.
    pub reason: String,
}

/// What one sync moved.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Tickets whose local changes were sent.
    pub pushed: Vec<String>,
    /// Tickets that received changes from the server.
    pub received: Vec<String>,
    /// Tickets the server refused.
    pub rejected: Vec<RejectedTicket>,
    /// Tickets removed from this device.
    pub evicted: Vec<String>,
    /// Tickets whose update could not be merged (the rest synced).
    pub failed: Vec<String>,
    /// Photos and signatures uploaded whole.
    pub uploaded: Vec<String>,
    /// Why uploads stopped early, when the network failed.
    pub uploads_interrupted: Option<String>,
    /// HTTP round trips.
    pub round_trips: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

// ---------------------------------------------------------------------------------------------
// Conversions

impl From<NewPhoto> for core_model::NewPhoto {
    fn from(p: NewPhoto) -> Self {
        core_model::NewPhoto {
            source: match p.bytes {
                Some(bytes) => PhotoInput::Bytes(bytes),
                None => PhotoInput::Path(PathBuf::from(p.path)),
            },
            caption: p.caption,
            taken_at: p.taken_at,
            location: p.location,
        }
    }
}

impl From<core_sync::SyncStatus> for SyncStatus {
    fn from(s: core_sync::SyncStatus) -> Self {
        let last_error_kind = s.last_failure.map(|e| crate::FieldsyncError::from(e).sync_failure_kind());
        SyncStatus {
            online: s.online,
            syncing: s.syncing,
            pending_tickets: s.pending_tickets,
            last_success_at: s.last_success_at,
            last_error: s.last_error,
            last_error_kind,
            needs_sign_in: last_error_kind.is_some_and(crate::error::SyncFailureKind::needs_sign_in),
            pending_uploads: s.pending_uploads,
            pending_upload_bytes: s.pending_upload_bytes,
            uploads: s.uploads.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core_sync::SyncReport> for SyncReport {
    fn from(r: core_sync::SyncReport) -> Self {
        SyncReport {
            pushed: r.pushed,
            received: r.received,
            rejected: r.rejected.into_iter().map(|(ticket_id, reason)| RejectedTicket { ticket_id, reason }).collect(),
            evicted: r.evicted,
            failed: r.failed.into_iter().map(|(id, _)| id).collect(),
            uploaded: r.uploads.uploaded,
            uploads_interrupted: r.uploads.interrupted,
            round_trips: r.round_trips,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
        }
    }
}

/// What [`crate::FieldsyncClient::service_report`] is asked for; every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct ReportOptions {
    /// The font file to set the report in: a CJK font for Chinese text (Android:
    /// `/system/fonts/NotoSansCJK-Regular.ttc`; iOS: a font the app ships). None: the first
    /// known system path that exists; no font at all is [`crate::FieldsyncError::Report`].
    #[uniffi(default)]
    pub font_path: Option<String>,
    /// The folder to write the PDF to. None: a `reports` folder beside the store file.
    #[uniffi(default)]
    pub out_dir: Option<String>,
    /// Document heads (hex) to make the report from; empty: the ticket as it is now.
    #[uniffi(default)]
    pub heads: Vec<String>,
    /// Times are shown at this offset from UTC, in minutes (China: 480).
    #[uniffi(default)]
    pub utc_offset_minutes: i32,
}

impl From<ReportOptions> for fieldsync_core::client::ReportRequest {
    fn from(o: ReportOptions) -> Self {
        fieldsync_core::client::ReportRequest {
            font_path: o.font_path.map(PathBuf::from),
            out_dir: o.out_dir.map(PathBuf::from),
            heads: o.heads,
            options: fieldsync_core::report::ReportOptions { utc_offset_minutes: o.utc_offset_minutes },
        }
    }
}
