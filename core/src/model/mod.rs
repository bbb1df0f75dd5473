//! The ticket document and its typed views.
//!
//! A ticket is one Automerge document (layout in [`doc`] and docs/adr/0002). This module holds
//! the plain types apps see: what a dispatcher fills in ([`NewTicket`]), the full view of one
//! ticket ([`Ticket`]) and the one-row summary lists are made of ([`TicketSummary`]).

mod card;
pub mod columns;
mod complaint;
pub mod doc;
pub mod ids;

pub use card::{CARD_CONTACTS, CARD_RECENT_TICKETS, Contact, Contract, CustomerCard, CustomerSite, RecentTicket};
pub use complaint::ComplaintLevel;
pub use doc::{INDEX_COLUMNS, INDEX_REVISION, TicketIndex};

use serde::{Deserialize, Serialize};

use crate::time::Millis;
use crate::workflow::{Conflict, Role, Status};

/// The document schema version this code writes. Readers accept any version and preserve
/// fields they do not know.
pub const SCHEMA_VERSION: u64 = 1;

/// Who is using this store: the signed-in user, on this device, in this role.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user's id (engineers are assigned by it).
    pub user_id: String,
    /// This device's id.
    pub device_id: String,
    /// The role the user's token grants.
    pub role: Role,
}

/// How urgent a ticket is.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Can wait.
    Low,
    /// The usual.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now (outage, safety).
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    /// The name stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses [`Priority::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The customer the work is for.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    /// Name shown on the board.
    pub name: String,
    /// Phone number to call ahead.
    pub phone: String,
    /// Street address.
    pub address: String,
    /// Service tier ("gold", "standard", ...), which drives SLA policy.
    pub tier: String,
    /// The customer record this ticket is for (empty: free text only; docs/adr/0018). On
    /// creation the server fills the fields above from the record.
    pub id: String,
    /// The record's site the work is at (empty: the record's first site).
    pub site_id: String,
}

/// Where the work is: a point and the radius that counts as "on site".
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Radius in metres within which a check-in counts as on site.
    pub radius_m: f64,
}

/// What kind of work a ticket is, from the taxonomy an admin keeps (docs/adr/0014). Every field
/// may be empty (unclassified). Dispatcher-owned: engineers see it and cannot change it.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Classification {
    /// Ticket type: "on_site_repair", "installation", "maintenance", "inspection", ...
    #[serde(rename = "type")]
    pub ticket_type: String,
    /// The product concerned.
    pub product: String,
    /// The product's module.
    pub module: String,
    /// The product's version.
    pub version: String,
}

impl Classification {
    /// The four fields with their names, in the document's order.
    pub fn fields(&self) -> [(&'static str, &str); 4] {
        [("type", &self.ticket_type), ("product", &self.product), ("module", &self.module), ("version", &self.version)]
    }
}

/// One escalation the server recorded on a ticket when an SLA clock was about to break or broke.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Escalation {
    /// Its id: the breach (ticket, rule, clock, deadline), so one breach is recorded once.
    pub id: String,
    /// The rule that fired.
    pub rule: String,
    /// The clock: "respond", "arrive" or "resolve".
    pub clock: String,
    /// The deadline it was about.
    pub deadline: Millis,
    /// When the server escalated (UTC ms).
    pub at: Millis,
    /// What was done, for people ("priority high → urgent; assigned to sup").
    pub summary: String,
}

/// The service-level deadlines, UTC milliseconds.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sla {
    /// The engineer must accept by then.
    pub respond_by: Option<Millis>,
    /// The engineer must check in on site by then.
    pub arrive_by: Option<Millis>,
    /// The job must be completed by then.
    pub resolve_by: Option<Millis>,
}

/// What a dispatcher fills in to create a ticket. In JSON every field but `title` may be left
/// out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTicket {
    /// Short title.
    pub title: String,
    /// What is wrong.
    pub description: String,
    /// Who it is for.
    pub customer: Customer,
    /// Where it is.
    pub site: Option<Site>,
    /// How urgent.
    pub priority: Priority,
    /// Type, product, module and version.
    pub classification: Classification,
    /// Deadlines.
    pub sla: Sla,
    /// Engineer to dispatch it to at once, if any.
    pub assignee: Option<String>,
    /// A customer complaint: never deleted, history never compacted away.
    pub complaint: bool,
    /// The customer must sign before the job can be completed.
    pub signature_required: bool,
    /// Checklist items (labels), all unticked.
    pub checklist: Vec<String>,
    /// How long after completion the customer is called back (the SLA policy's revisit
    /// target, written at creation; `None`: no revisit is due).
    pub revisit_after: Option<Millis>,
    /// A complaint's level (the ticket is then a complaint).
    pub complaint_level: Option<ComplaintLevel>,
    /// The organisation unit a complaint concerns (free text, may be empty).
    pub complaint_unit: String,
    /// The customer card the server writes for a ticket made for a customer record (never read
    /// from a caller's JSON: only the server fills it, docs/adr/0018).
    #[serde(skip)]
    pub customer_card: Option<CustomerCard>,
}

/// A GPS fix from the device.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy in metres.
    pub accuracy_m: f64,
}

impl Location {
    /// Great-circle distance in metres (haversine, mean Earth radius).
    pub fn distance_m(&self, lat: f64, lon: f64) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (phi1, phi2) = (self.lat.to_radians(), lat.to_radians());
        let d_phi = (lat - self.lat).to_radians();
        let d_lambda = (lon - self.lon).to_radians();
        let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().atan2((1.0 - a).sqrt())
    }

    /// Whether the coordinates are real numbers on Earth and the accuracy is not negative.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && self.accuracy_m.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && self.accuracy_m >= 0.0
    }
}

/// Where a check-in happened and how it relates to the site.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckInPlace {
    /// The GPS fix.
    pub location: Location,
    /// Distance to the site centre in metres (when the ticket has a site).
    pub distance_m: Option<f64>,
    /// Whether the fix is within the site radius (when the ticket has a site).
    pub inside_site: Option<bool>,
}

/// One entry of a ticket's history.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// Sortable unique id.
    pub id: String,
    /// Kind as stored (see [`crate::workflow::EventKind`]); unknown kinds are kept.
    pub kind: String,
    /// Device time, UTC ms.
    pub at: Millis,
    /// User who recorded it.
    pub by: String,
    /// Their role at the time.
    pub role: Option<Role>,
    /// Device it was recorded on.
    pub device: String,
    /// Engineer named by `dispatched` / `reassigned`.
    pub assignee: Option<String>,
    /// Where a `checked_in` happened.
    pub place: Option<CheckInPlace>,
    /// Reason given for `rejected`, `cancelled`, `reopened`.
    pub reason: Option<String>,
    /// Work summary given with `completed`.
    pub summary: Option<String>,
    /// The engineer's estimated arrival, shared with `travel_started` (UTC ms): the
    /// customer's tracking page shows it.
    #[serde(default)]
    pub eta: Option<Millis>,
    /// Set by the server when the event broke a rule (the reason): the event stays in the
    /// history but the state machine skips it.
    #[serde(default)]
    pub void: Option<String>,
    /// The device's own clock when the server moved `at` into the ticket's life (it cannot
    /// be before the ticket was created, nor after the server received it): the skew shows.
    #[serde(default)]
    pub device_at: Option<Millis>,
    /// Whom the revisit call reached (`revisited`, or a revisit's `reopened`).
    #[serde(default)]
    pub contact: Option<String>,
    /// A `reopened` recording a revisit's "not fixed" (docs/adr/0019).
    #[serde(default)]
    pub revisit: bool,
}

/// A free-text note.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Sortable unique id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Device time.
    pub at: Millis,
    /// Author.
    pub by: String,
    /// Device.
    pub device: String,
    /// Shown to the customer on the tracking page (an answer to them, a word on the work);
    /// notes are internal unless marked so, and internal notes never leave the server.
    #[serde(default)]
    pub public: bool,
    /// Set by the server when the record broke a rule (the reason); it stays readable.
    #[serde(default)]
    pub void: Option<String>,
}

/// A message the customer left on the tracking page. Only the server writes these (with its
/// customer actor), so a device can neither forge nor edit one.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMessage {
    /// Sortable unique id.
    pub id: String,
    /// The text as the customer typed it (escaped wherever it is shown).
    pub text: String,
    /// When the server received it.
    pub at: Millis,
    /// Always [`CUSTOMER_AUTHOR`].
    pub by: String,
}

/// The author of what the customer writes through the tracking page.
pub const CUSTOMER_AUTHOR: &str = "customer";

/// A part used on the job.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartUsed {
    /// Sortable unique id.
    pub id: String,
    /// Stock-keeping unit.
    pub sku: String,
    /// Quantity (positive).
    pub qty: u32,
    /// Device time.
    pub at: Millis,
    /// Who recorded it.
    pub by: String,
    /// Set by the server when the record broke a rule (the reason); it stays readable.
    #[serde(default)]
    pub void: Option<String>,
}

/// Time worked.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeEntry {
    /// Sortable unique id.
    pub id: String,
    /// Minutes (positive).
    pub minutes: u32,
    /// What kind of time ("labour", "travel", ...).
    pub kind: String,
    /// Device time.
    pub at: Millis,
    /// Who recorded it.
    pub by: String,
    /// Set by the server when the record broke a rule (the reason); it stays readable.
    #[serde(default)]
    pub void: Option<String>,
}

/// One checklist item.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// The item's key (its label as created).
    pub item: String,
    /// Ticked or not.
    pub done: bool,
    /// When it last changed (absent if never).
    pub at: Option<Millis>,
    /// Who last changed it.
    pub by: Option<String>,
}

/// Metadata of a photo (the image itself is a content-addressed blob).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoMeta {
    /// SHA-256 of the processed image, hex.
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
    pub taken_at: Option<Millis>,
    /// Who added it.
    pub by: String,
    /// Where it was taken, if the app recorded it.
    pub location: Option<Location>,
    /// SHA-256 of the thumbnail, hex.
    #[serde(default)]
    pub thumbnail_sha256: String,
}

#[cfg(test)]
impl PhotoMeta {
    /// A 1×1 photo whose image hashes to `a…a`, for tests.
    pub(crate) fn sample() -> PhotoMeta {
        PhotoMeta {
            sha256: "a".repeat(64),
            width: 1,
            height: 1,
            bytes: 1,
            caption: String::new(),
            taken_at: None,
            by: String::new(),
            location: None,
            thumbnail_sha256: String::new(),
        }
    }
}

/// Metadata of the customer's signature.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureMeta {
    /// Name of the person who signed.
    pub signer: String,
    /// When.
    pub signed_at: Millis,
    /// SHA-256 of the rendered PNG, hex.
    pub png_sha256: String,
    /// SHA-256 of the job summary the customer saw, hex.
    pub summary_sha256: String,
}

/// Feedback: a rating and a comment (the engineer's note of it, or the customer's own).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// 1 to 5.
    pub rating: u8,
    /// Free text.
    pub comment: String,
    /// When it was recorded.
    pub at: Millis,
    /// On whose device.
    pub by: String,
}

/// SLA milestones as derived from the history.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestones {
    /// First acceptance since the last dispatch.
    pub responded_at: Option<Millis>,
    /// First check-in since the last dispatch.
    pub arrived_at: Option<Millis>,
    /// Completion (cleared by reopen).
    pub resolved_at: Option<Millis>,
}

/// The full view of one ticket.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Ticket id.
    pub id: String,
    /// Document schema version it was created with.
    pub schema: u64,
    /// Creation time.
    pub created_at: Millis,
    /// Creator (a dispatcher).
    pub created_by: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Customer.
    pub customer: Customer,
    /// The customer card the server wrote at creation (read-only), if made for a record.
    #[serde(default)]
    pub customer_card: Option<CustomerCard>,
    /// Site.
    pub site: Option<Site>,
    /// Priority.
    pub priority: Priority,
    /// Type, product, module and version.
    pub classification: Classification,
    /// The escalations the server recorded, oldest first.
    pub escalations: Vec<Escalation>,
    /// Deadlines.
    pub sla: Sla,
    /// How long after completion the customer is called back, if a revisit is due.
    pub revisit_after: Option<Millis>,
    /// When the completed job was revisited and confirmed fixed (cleared by a reopen).
    pub revisited_at: Option<Millis>,
    /// Complaint flag: once set it stays (never deleted, history never rewritten).
    pub complaint: bool,
    /// A complaint's level, once set.
    pub complaint_level: Option<ComplaintLevel>,
    /// The organisation unit a complaint concerns.
    pub complaint_unit: String,
    /// Whether completion needs a signature.
    pub signature_required: bool,
    /// Derived status.
    pub status: Status,
    /// Derived assignee.
    pub assignee: Option<String>,
    /// Derived milestones.
    pub milestones: Milestones,
    /// Refused events.
    pub conflicts: Vec<Conflict>,
    /// Full history in document order.
    pub events: Vec<TicketEvent>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Parts.
    pub parts: Vec<PartUsed>,
    /// Time entries.
    pub time_entries: Vec<TimeEntry>,
    /// Checklist, by item.
    pub checklist: Vec<ChecklistItem>,
    /// Photos, by hash.
    pub photos: Vec<PhotoMeta>,
    /// Signature, once captured.
    pub signature: Option<SignatureMeta>,
    /// Feedback as the engineer noted it on site, once recorded (not the customer's rating).
    pub feedback: Option<Feedback>,
    /// What the customer wrote on the tracking page, in order.
    #[serde(default)]
    pub customer_messages: Vec<CustomerMessage>,
    /// The customer's own rating from the tracking page (written once, by the server): what
    /// reports and follow-ups use.
    #[serde(default)]
    // Apps have always called it the customer's rating (and the index does too).
    #[cfg_attr(feature = "uniffi", uniffi(name = "customer_rating"))]
    pub customer_feedback: Option<Feedback>,
}

impl Ticket {
    /// The ticket as an app shows it: the notes, parts and time entries the server voided are
    /// left out, as in the job summary the customer signs ([`JobSummary::of`]); the history
    /// keeps its voided events, and the refusals are in `conflicts`.
    pub fn without_voided(mut self) -> Ticket {
        self.notes.retain(|n| n.void.is_none());
        self.parts.retain(|p| p.void.is_none());
        self.time_entries.retain(|e| e.void.is_none());
        self
    }
}

/// One row of a list: what the device's index table holds, so lists never load documents —
/// the ticket's [`TicketIndex`] and what only this device knows of it. Reads of the index's
/// fields go through to it (`summary.status`).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    /// Ticket id.
    pub id: String,
    /// The listed fields, computed from the document.
    #[serde(flatten)]
    pub index: TicketIndex,
    /// When this device last changed or received the ticket.
    pub updated_at: Millis,
    /// Local changes not yet acknowledged by the server.
    pub pending: bool,
    /// Why the ticket is set aside, when its stored document cannot be loaded.
    pub quarantined: Option<String>,
    /// Why the server refused this ticket's local changes, if it did.
    pub rejected: Option<String>,
}

impl std::ops::Deref for TicketSummary {
    type Target = TicketIndex;
    fn deref(&self) -> &TicketIndex {
        &self.index
    }
}

impl std::ops::DerefMut for TicketSummary {
    fn deref_mut(&mut self) -> &mut TicketIndex {
        &mut self.index
    }
}

/// Filters for [`crate::Client::list`]; every field left empty matches everything.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListFilter {
    /// Only these statuses (empty: all).
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub statuses: Vec<Status>,
    /// Only tickets assigned to this user.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub assignee: Option<String>,
    /// Only tickets with an unmet SLA deadline before this time.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub sla_due_before: Option<Millis>,
    /// Only tickets whose title or customer name contains this text (case-insensitive).
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub text: Option<String>,
    /// Only tickets of this type.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub ticket_type: Option<String>,
}

/// The order of a ticket query's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketSort {
    /// The most urgent unmet deadline first, then the most recently changed (the list's order).
    #[default]
    Urgency,
    /// The most recently changed first.
    RecentlyUpdated,
    /// The highest priority first, then by urgency.
    Priority,
    /// By title, A to Z.
    Title,
}

/// A live query for [`crate::Client::observe_tickets`]: which tickets, in what order, how many.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketQuery {
    /// Which tickets.
    pub filter: ListFilter,
    /// In what order.
    #[serde(default)]
    pub sort: TicketSort,
    /// At most this many (none: all).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A photo to add: the camera's file or bytes, and what the app records beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPhoto {
    /// The image (JPEG or PNG; HEIC is converted by the app first).
    pub source: PhotoInput,
    /// Caption.
    pub caption: String,
    /// When it was taken, if the app knows.
    pub taken_at: Option<Millis>,
    /// Where it was taken, if the app chooses to record it (the file's own GPS is dropped).
    pub location: Option<Location>,
}

/// Where a photo's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhotoInput {
    /// A file.
    Path(std::path::PathBuf),
    /// Bytes in memory.
    Bytes(Vec<u8>),
}

/// The canonical summary of the work a customer signs for: what was done (notes), the parts,
/// the time, and the photos. Its SHA-256 is bound into the signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The ticket.
    pub ticket_id: String,
    /// Its title.
    pub title: String,
    /// The customer's name.
    pub customer: String,
    /// Notes, in history order.
    pub work: Vec<String>,
    /// Parts as (sku, quantity), in history order.
    pub parts: Vec<(String, u32)>,
    /// Time as (minutes, kind), in history order.
    pub time: Vec<(u32, String)>,
    /// Photo hashes, sorted.
    pub photos: Vec<String>,
}

impl JobSummary {
    /// The summary of a ticket as it stands (voided entries left out).
    pub fn of(ticket: &Ticket) -> JobSummary {
        let mut photos: Vec<String> = ticket.photos.iter().map(|p| p.sha256.clone()).collect();
        photos.sort();
        JobSummary {
            ticket_id: ticket.id.clone(),
            title: ticket.title.clone(),
            customer: ticket.customer.name.clone(),
            work: ticket.notes.iter().filter(|n| n.void.is_none()).map(|n| n.text.clone()).collect(),
            parts: ticket.parts.iter().filter(|p| p.void.is_none()).map(|p| (p.sku.clone(), p.qty)).collect(),
            time: ticket
                .time_entries
                .iter()
                .filter(|t| t.void.is_none())
                .map(|t| (t.minutes, t.kind.clone()))
                .collect(),
            photos,
        }
    }

    /// SHA-256 (hex) of the summary's canonical JSON (fields in declaration order).
    pub fn sha256(&self) -> String {
        Self::sha256_hex(self.canonical_text().as_bytes())
    }

    /// The canonical JSON (fields in declaration order) the signature's hash is taken of.
    pub fn canonical_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 (hex) of some bytes.
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }
}
