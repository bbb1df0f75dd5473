//! The records and enums Kotlin and Swift see, and their conversions from and to the core's
//! types: all in this one place. Times are UTC milliseconds.

use std::path::PathBuf;

use fieldsync_core::media::StrokePoint as CoreStrokePoint;
use fieldsync_core::model::{self as core_model, PhotoInput};
// The core's own record (feature `uniffi`, docs/adr/0032): no mirror.
pub use fieldsync_core::model::Location;
use fieldsync_core::sync as core_sync;
use fieldsync_core::workflow;

/// Who is using the store: the signed-in user, on this device, in this role.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The user's id (engineers are assigned by it).
    pub user_id: String,
    /// This device's id.
    pub device_id: String,
    /// The role the user's token grants.
    pub role: Role,
}

/// Where and as whom to sync.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ServerConfig {
    /// The server's base URL, e.g. `https://fieldsync.example.com`.
    pub url: String,
    /// This device's bearer token.
    pub token: String,
}

/// What a user is allowed to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Role {
    /// Works tickets assigned to them in the field.
    Engineer,
    /// Creates, assigns, cancels and reopens tickets.
    Dispatcher,
    /// A dispatcher who also manages users and devices.
    Admin,
    /// Handles complaints (through the server's API; their devices hold no tickets).
    ComplaintHandler,
}

/// A ticket's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Status {
    /// Created, not yet assigned.
    New,
    /// Assigned to an engineer who has not answered yet.
    Dispatched,
    /// The engineer accepted it.
    Accepted,
    /// The engineer turned it down.
    Rejected,
    /// The engineer is on the way.
    Travelling,
    /// The engineer checked in at the site.
    OnSite,
    /// Work is under way.
    Working,
    /// Work is paused.
    Paused,
    /// The job is done.
    Completed,
    /// The dispatcher cancelled it.
    Cancelled,
    /// In the shared pool: any engineer may claim it (last, so older values keep their place).
    Pooled,
}

/// How urgent a ticket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Priority {
    /// Can wait.
    Low,
    /// The usual.
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

/// Where the work is: a point and the radius that counts as on site.
#[derive(Clone, Copy, Debug, PartialEq, uniffi::Record)]
pub struct Site {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Radius in metres.
    pub radius_m: f64,
}

/// The customer the work is for.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Customer {
    /// Name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// Street address.
    pub address: String,
    /// Service tier.
    pub tier: String,
}

/// One row of a ticket list.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TicketSummary {
    /// Ticket id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: Status,
    /// Assigned engineer.
    pub assignee: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Customer name.
    pub customer_name: String,
    /// Customer address.
    pub customer_address: String,
    /// The earliest deadline not yet met.
    pub sla_due_at: Option<i64>,
    /// Number of refused events.
    pub conflicts: u32,
    /// When this device last changed or received the ticket.
    pub updated_at: i64,
    /// Local changes the server has not acknowledged yet.
    pub pending: bool,
    /// The ticket's stored copy cannot be read; it is set aside.
    pub set_aside: bool,
    /// Why the server refused this ticket's local changes, if it did.
    pub rejected: Option<String>,
    /// The ticket type (its classification; empty when unclassified).
    pub ticket_type: String,
}

/// Which tickets [`crate::FieldsyncClient::list`] returns; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct ListFilter {
    /// Only these statuses (empty: all).
    #[uniffi(default)]
    pub statuses: Vec<Status>,
    /// Only tickets assigned to this user.
    #[uniffi(default)]
    pub assignee: Option<String>,
    /// Only tickets with an unmet deadline before this time.
    #[uniffi(default)]
    pub sla_due_before: Option<i64>,
    /// Only tickets whose title or customer name contains this text.
    #[uniffi(default)]
    pub text: Option<String>,
    /// Only tickets of this type.
    #[uniffi(default)]
    pub ticket_type: Option<String>,
}

/// How many tickets are in one status.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StatusCount {
    /// The status.
    pub status: Status,
    /// How many tickets.
    pub count: u64,
}

/// A note on a ticket.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Note {
    /// Id.
    pub id: String,
    /// Text.
    pub text: String,
    /// When.
    pub at: i64,
    /// Author.
    pub by: String,
    /// Shown to the customer on the tracking page.
    pub public: bool,
}

/// A message the customer left on the tracking page.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CustomerMessage {
    /// Text.
    pub text: String,
    /// When the server received it.
    pub at: i64,
}

/// A part used.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PartUsed {
    /// Stock-keeping unit.
    pub sku: String,
    /// Quantity.
    pub qty: u32,
    /// When.
    pub at: i64,
    /// Who.
    pub by: String,
}

/// Time worked.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TimeEntry {
    /// Minutes.
    pub minutes: u32,
    /// Kind ("labour", "travel", ...).
    pub kind: String,
    /// When.
    pub at: i64,
    /// Who.
    pub by: String,
}

/// One checklist item.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ChecklistItem {
    /// Label.
    pub item: String,
    /// Ticked.
    pub done: bool,
}

/// One entry of the history.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TicketEvent {
    /// Kind ("accepted", "checked_in", ...).
    pub kind: String,
    /// When.
    pub at: i64,
    /// Who.
    pub by: String,
}

/// A photo's metadata (the image is a blob, uploaded by sync).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Photo {
    /// SHA-256 of the processed JPEG, hex.
    pub sha256: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// Caption.
    pub caption: String,
    /// When it was taken.
    pub taken_at: Option<i64>,
    /// Where it was taken, if recorded.
    pub location: Option<Location>,
    /// SHA-256 of the thumbnail, hex.
    pub thumbnail_sha256: String,
}

/// The customer's signature.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Signature {
    /// Who signed.
    pub signer: String,
    /// When.
    pub signed_at: i64,
    /// SHA-256 of the PNG, hex.
    pub png_sha256: String,
    /// SHA-256 of the job summary the customer saw, hex.
    pub summary_sha256: String,
}

/// The customer's feedback.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Feedback {
    /// 1 to 5.
    pub rating: u8,
    /// Comment.
    pub comment: String,
}

/// The full view of one ticket.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// What is wrong.
    pub description: String,
    /// Customer.
    pub customer: Customer,
    /// The customer card the server wrote with the ticket (read-only), if it was made for a
    /// customer record.
    pub customer_card: Option<crate::CustomerCard>,
    /// Site.
    pub site: Option<Site>,
    /// Priority.
    pub priority: Priority,
    /// Status.
    pub status: Status,
    /// Assigned engineer.
    pub assignee: Option<String>,
    /// A customer complaint.
    pub complaint: bool,
    /// Completion needs the customer's signature.
    pub signature_required: bool,
    /// Deadline to accept.
    pub respond_by: Option<i64>,
    /// Deadline to arrive.
    pub arrive_by: Option<i64>,
    /// Deadline to resolve.
    pub resolve_by: Option<i64>,
    /// History.
    pub events: Vec<TicketEvent>,
    /// Refused events, for people ("cannot complete: ticket is cancelled").
    pub conflicts: Vec<String>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Parts.
    pub parts: Vec<PartUsed>,
    /// Time.
    pub time_entries: Vec<TimeEntry>,
    /// Checklist.
    pub checklist: Vec<ChecklistItem>,
    /// Photos.
    pub photos: Vec<Photo>,
    /// Signature, once captured.
    pub signature: Option<Signature>,
    /// Feedback as the engineer noted it, once recorded.
    pub feedback: Option<Feedback>,
    /// What the customer wrote on the tracking page.
    pub customer_messages: Vec<CustomerMessage>,
    /// The customer's own rating from the tracking page.
    pub customer_rating: Option<Feedback>,
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

/// One point of a signature stroke.
#[derive(Clone, Copy, Debug, PartialEq, uniffi::Record)]
pub struct StrokePoint {
    /// Horizontal position, 0..=1.
    pub x: f32,
    /// Vertical position, 0..=1.
    pub y: f32,
    /// Milliseconds since the signature started.
    pub t: u32,
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

impl From<Identity> for core_model::Identity {
    fn from(i: Identity) -> Self {
        core_model::Identity { user_id: i.user_id, device_id: i.device_id, role: i.role.into() }
    }
}

impl From<Role> for workflow::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Engineer => workflow::Role::Engineer,
            Role::Dispatcher => workflow::Role::Dispatcher,
            Role::Admin => workflow::Role::Admin,
            Role::ComplaintHandler => workflow::Role::ComplaintHandler,
        }
    }
}

impl From<workflow::Role> for Role {
    fn from(r: workflow::Role) -> Self {
        match r {
            workflow::Role::Engineer => Role::Engineer,
            workflow::Role::Dispatcher => Role::Dispatcher,
            workflow::Role::Admin => Role::Admin,
            workflow::Role::ComplaintHandler => Role::ComplaintHandler,
        }
    }
}

impl From<workflow::Status> for Status {
    fn from(s: workflow::Status) -> Self {
        use workflow::Status as S;
        match s {
            S::New => Status::New,
            S::Dispatched => Status::Dispatched,
            S::Accepted => Status::Accepted,
            S::Rejected => Status::Rejected,
            S::Travelling => Status::Travelling,
            S::OnSite => Status::OnSite,
            S::Working => Status::Working,
            S::Paused => Status::Paused,
            S::Completed => Status::Completed,
            S::Cancelled => Status::Cancelled,
            S::Pooled => Status::Pooled,
        }
    }
}

impl From<Status> for workflow::Status {
    fn from(s: Status) -> Self {
        use workflow::Status as S;
        match s {
            Status::New => S::New,
            Status::Dispatched => S::Dispatched,
            Status::Accepted => S::Accepted,
            Status::Rejected => S::Rejected,
            Status::Travelling => S::Travelling,
            Status::OnSite => S::OnSite,
            Status::Working => S::Working,
            Status::Paused => S::Paused,
            Status::Completed => S::Completed,
            Status::Cancelled => S::Cancelled,
            Status::Pooled => S::Pooled,
        }
    }
}

impl From<core_model::Priority> for Priority {
    fn from(p: core_model::Priority) -> Self {
        match p {
            core_model::Priority::Low => Priority::Low,
            core_model::Priority::Normal => Priority::Normal,
            core_model::Priority::High => Priority::High,
            core_model::Priority::Urgent => Priority::Urgent,
        }
    }
}

impl From<core_model::TicketSummary> for TicketSummary {
    fn from(s: core_model::TicketSummary) -> Self {
        let index = s.index;
        TicketSummary {
            id: s.id,
            title: index.title,
            status: index.status.into(),
            assignee: index.assignee,
            priority: index.priority.into(),
            customer_name: index.customer_name,
            customer_address: index.customer_address,
            sla_due_at: index.sla_due_at,
            conflicts: index.conflicts,
            updated_at: s.updated_at,
            pending: s.pending,
            set_aside: s.quarantined.is_some(),
            rejected: s.rejected,
            ticket_type: index.ticket_type,
        }
    }
}

impl From<ListFilter> for core_model::ListFilter {
    fn from(f: ListFilter) -> Self {
        core_model::ListFilter {
            statuses: f.statuses.into_iter().map(Into::into).collect(),
            assignee: f.assignee,
            sla_due_before: f.sla_due_before,
            text: f.text,
            ticket_type: f.ticket_type,
        }
    }
}

impl From<core_model::PhotoMeta> for Photo {
    fn from(p: core_model::PhotoMeta) -> Self {
        Photo {
            sha256: p.sha256,
            width: p.width,
            height: p.height,
            bytes: p.bytes,
            caption: p.caption,
            taken_at: p.taken_at,
            location: p.location,
            thumbnail_sha256: p.thumbnail_sha256,
        }
    }
}

impl From<core_model::SignatureMeta> for Signature {
    fn from(s: core_model::SignatureMeta) -> Self {
        Signature {
            signer: s.signer,
            signed_at: s.signed_at,
            png_sha256: s.png_sha256,
            summary_sha256: s.summary_sha256,
        }
    }
}

impl From<core_model::Ticket> for Ticket {
    fn from(t: core_model::Ticket) -> Self {
        Ticket {
            id: t.id,
            title: t.title,
            description: t.description,
            customer: Customer {
                name: t.customer.name,
                phone: t.customer.phone,
                address: t.customer.address,
                tier: t.customer.tier,
            },
            customer_card: t.customer_card.map(Into::into),
            site: t.site.map(|s| Site { lat: s.lat, lon: s.lon, radius_m: s.radius_m }),
            priority: t.priority.into(),
            status: t.status.into(),
            assignee: t.assignee,
            complaint: t.complaint,
            signature_required: t.signature_required,
            respond_by: t.sla.respond_by,
            arrive_by: t.sla.arrive_by,
            resolve_by: t.sla.resolve_by,
            events: t.events.into_iter().map(|e| TicketEvent { kind: e.kind, at: e.at, by: e.by }).collect(),
            conflicts: t.conflicts.into_iter().map(|c| c.reason).collect(),
            notes: t
                .notes
                .into_iter()
                .filter(|n| n.void.is_none())
                .map(|n| Note { id: n.id, text: n.text, at: n.at, by: n.by, public: n.public })
                .collect(),
            parts: t
                .parts
                .into_iter()
                .filter(|p| p.void.is_none())
                .map(|p| PartUsed { sku: p.sku, qty: p.qty, at: p.at, by: p.by })
                .collect(),
            time_entries: t
                .time_entries
                .into_iter()
                .filter(|e| e.void.is_none())
                .map(|e| TimeEntry { minutes: e.minutes, kind: e.kind, at: e.at, by: e.by })
                .collect(),
            checklist: t.checklist.into_iter().map(|c| ChecklistItem { item: c.item, done: c.done }).collect(),
            photos: t.photos.into_iter().map(Into::into).collect(),
            signature: t.signature.map(Into::into),
            feedback: t.feedback.map(|f| Feedback { rating: f.rating, comment: f.comment }),
            customer_messages: t
                .customer_messages
                .into_iter()
                .map(|m| CustomerMessage { text: m.text, at: m.at })
                .collect(),
            customer_rating: t.customer_feedback.map(|f| Feedback { rating: f.rating, comment: f.comment }),
        }
    }
}

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

impl From<StrokePoint> for CoreStrokePoint {
    fn from(p: StrokePoint) -> Self {
        CoreStrokePoint { x: p.x, y: p.y, t: p.t }
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
