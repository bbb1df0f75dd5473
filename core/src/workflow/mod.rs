//! The ticket workflow: statuses, who may do what, and how status is derived.
//!
//! Pure and without I/O. Status is never stored: it is the fold of a ticket's `events` list,
//! in list order, through [`apply`]. An event the machine refuses is kept in the document and
//! reported as a [`Conflict`]; it never changes the status. Local actions are checked with the
//! same [`apply`] (and [`check_content`] for notes, parts and the like) before they are written,
//! so a device never writes an event it knows will be refused.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::time::Millis;

pub mod complaints;
mod guidance;
mod pool;
pub mod values;

/// What a user is allowed to be.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works tickets assigned to them in the field.
    Engineer,
    /// Creates, assigns, cancels and reopens tickets.
    Dispatcher,
    /// A dispatcher who also manages users and devices.
    Admin,
    /// Handles customer complaints: sets their level and reclassifies them (a complaint into
    /// a sales lead or an inquiry, and back), on complaint tickets only (docs/adr/0019).
    ComplaintHandler,
}

impl Role {
    /// The name used in documents and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Engineer => "engineer",
            Role::Dispatcher => "dispatcher",
            Role::Admin => "admin",
            Role::ComplaintHandler => "complaint_handler",
        }
    }

    /// Parses [`Role::as_str`]'s output; anything else is `None`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "engineer" => Some(Role::Engineer),
            "dispatcher" => Some(Role::Dispatcher),
            "admin" => Some(Role::Admin),
            "complaint_handler" => Some(Role::ComplaintHandler),
            _ => None,
        }
    }

    /// Dispatchers and admins: every ticket, every dispatcher action.
    pub fn dispatches(self) -> bool {
        matches!(self, Role::Dispatcher | Role::Admin)
    }

    /// Who may act on complaints: complaint handlers, dispatchers and admins.
    pub fn handles_complaints(self) -> bool {
        matches!(self, Role::ComplaintHandler | Role::Dispatcher | Role::Admin)
    }
}

/// A ticket's derived status.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, not yet assigned.
    #[default]
    New,
    /// In the shared pool: any engineer may claim it (抢单; docs/adr/0023).
    Pooled,
    /// Assigned to an engineer who has not answered yet.
    Dispatched,
    /// The engineer accepted it.
    Accepted,
    /// The engineer turned it down; the dispatcher must reassign or cancel.
    Rejected,
    /// The engineer is on the way.
    Travelling,
    /// The engineer checked in at the site.
    OnSite,
    /// Work is under way.
    Working,
    /// Work is paused (waiting for a part, the customer, ...).
    Paused,
    /// The job is done (final until reopened).
    Completed,
    /// The dispatcher cancelled it (final until reopened).
    Cancelled,
}

impl Status {
    /// Every status, in workflow order.
    pub const ALL: [Status; 11] = [
        Status::New,
        Status::Pooled,
        Status::Dispatched,
        Status::Accepted,
        Status::Rejected,
        Status::Travelling,
        Status::OnSite,
        Status::Working,
        Status::Paused,
        Status::Completed,
        Status::Cancelled,
    ];

    /// The name used in the index table and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Pooled => "pooled",
            Status::Dispatched => "dispatched",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Travelling => "travelling",
            Status::OnSite => "on_site",
            Status::Working => "working",
            Status::Paused => "paused",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses [`Status::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The name for people: "on site" rather than "on_site".
    pub fn label(self) -> &'static str {
        match self {
            Status::OnSite => "on site",
            Status::Pooled => "in the pool",
            other => other.as_str(),
        }
    }

    /// Completed and cancelled tickets take no more work until reopened.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }

    /// Not final: work may still happen (new, dispatched, rejected back to the desk, or active).
    pub fn is_open(self) -> bool {
        !self.is_final()
    }

    /// The engineer has taken the job and not finished it.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Accepted | Status::Travelling | Status::OnSite | Status::Working | Status::Paused)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of event in a ticket's history that move its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Dispatcher created the ticket.
    Created,
    /// Dispatcher assigned a new ticket to an engineer.
    Dispatched,
    /// Engineer accepted.
    Accepted,
    /// Engineer rejected (with a reason).
    Rejected,
    /// Engineer set off to the site.
    TravelStarted,
    /// Engineer checked in on site (time + GPS).
    CheckedIn,
    /// Engineer started the work.
    WorkStarted,
    /// Engineer paused the work.
    Paused,
    /// Engineer resumed the work.
    Resumed,
    /// Engineer completed the job (with a summary).
    Completed,
    /// Dispatcher cancelled the ticket.
    Cancelled,
    /// Dispatcher gave the ticket to another (or the same) engineer.
    Reassigned,
    /// Dispatcher reopened a completed or cancelled ticket (a revisit that found the job not
    /// fixed is a reopen too, marked [`Event::revisit`]).
    Reopened,
    /// Dispatcher called the customer back after completion and the job is confirmed fixed:
    /// the ticket stays completed, closed as revisited (docs/adr/0019).
    Revisited,
    /// Dispatcher put the ticket into the shared pool instead of assigning it.
    Pooled,
    /// An engineer claimed a pooled ticket: it is theirs, accepted.
    Claimed,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 16] = [
        EventKind::Created,
        EventKind::Dispatched,
        EventKind::Accepted,
        EventKind::Rejected,
        EventKind::TravelStarted,
        EventKind::CheckedIn,
        EventKind::WorkStarted,
        EventKind::Paused,
        EventKind::Resumed,
        EventKind::Completed,
        EventKind::Cancelled,
        EventKind::Reassigned,
        EventKind::Reopened,
        EventKind::Revisited,
        EventKind::Pooled,
        EventKind::Claimed,
    ];

    /// The name stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Dispatched => "dispatched",
            EventKind::Accepted => "accepted",
            EventKind::Rejected => "rejected",
            EventKind::TravelStarted => "travel_started",
            EventKind::CheckedIn => "checked_in",
            EventKind::WorkStarted => "work_started",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
            EventKind::Completed => "completed",
            EventKind::Cancelled => "cancelled",
            EventKind::Reassigned => "reassigned",
            EventKind::Reopened => "reopened",
            EventKind::Revisited => "revisited",
            EventKind::Pooled => "pooled",
            EventKind::Claimed => "claimed",
        }
    }

    /// Parses [`EventKind::as_str`]'s output; a kind from a newer version is `None`.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Kinds only the ticket's current assignee may record.
    pub fn is_engineer_kind(self) -> bool {
        !self.is_dispatcher_kind()
    }

    /// Kinds only a dispatcher or admin may record.
    pub fn is_dispatcher_kind(self) -> bool {
        matches!(
            self,
            EventKind::Created
                | EventKind::Dispatched
                | EventKind::Cancelled
                | EventKind::Reassigned
                | EventKind::Reopened
                | EventKind::Revisited
                | EventKind::Pooled
        )
    }

    /// The action that records this kind, for messages.
    pub fn action(self) -> Action {
        match self {
            EventKind::Created => Action::Create,
            EventKind::Dispatched | EventKind::Reassigned => Action::Assign,
            EventKind::Accepted => Action::Accept,
            EventKind::Rejected => Action::Reject,
            EventKind::TravelStarted => Action::StartTravel,
            EventKind::CheckedIn => Action::CheckIn,
            EventKind::WorkStarted => Action::StartWork,
            EventKind::Paused => Action::Pause,
            EventKind::Resumed => Action::Resume,
            EventKind::Completed => Action::Complete,
            EventKind::Cancelled => Action::Cancel,
            EventKind::Reopened => Action::Reopen,
            EventKind::Revisited => Action::Revisit,
            EventKind::Pooled => Action::Pool,
            EventKind::Claimed => Action::Claim,
        }
    }
}

/// Everything a user can do to a ticket, for validation and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a ticket.
    Create,
    /// Assign or reassign it.
    Assign,
    /// Accept it.
    Accept,
    /// Reject it.
    Reject,
    /// Start travelling.
    StartTravel,
    /// Check in on site.
    CheckIn,
    /// Start work.
    StartWork,
    /// Pause work.
    Pause,
    /// Resume work.
    Resume,
    /// Complete the job.
    Complete,
    /// Cancel the ticket.
    Cancel,
    /// Reopen it.
    Reopen,
    /// Add a note.
    AddNote,
    /// Record a part used.
    AddPart,
    /// Log time worked.
    LogTime,
    /// Tick or untick a checklist item.
    SetChecklistItem,
    /// Record the customer's feedback.
    RecordFeedback,
    /// Add a photo.
    AddPhoto,
    /// Capture the customer's signature.
    CaptureSignature,
    /// The customer leaves a message on the tracking page.
    MessageFromCustomer,
    /// The customer rates the visit on the tracking page.
    RateVisit,
    /// Change the ticket's classification (type, product, module, version).
    Reclassify,
    /// Record the revisit of a completed job (回访): fixed, or not fixed and reopened.
    Revisit,
    /// Set a complaint's level and the organisation unit it concerns.
    SetComplaint,
    /// Put the ticket into the shared pool (dispatcher).
    Pool,
    /// Claim a pooled ticket (engineer).
    Claim,
}

impl Action {
    /// Engineer steps that only make sense once the ticket is accepted.
    fn needs_acceptance(self) -> bool {
        matches!(
            self,
            Action::StartTravel
                | Action::CheckIn
                | Action::StartWork
                | Action::Pause
                | Action::Resume
                | Action::Complete
                | Action::AddNote
                | Action::AddPart
                | Action::LogTime
                | Action::SetChecklistItem
                | Action::RecordFeedback
                | Action::AddPhoto
                | Action::CaptureSignature
        )
    }

    /// The verb, as in "cannot check in: ...".
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Assign => "assign",
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::StartTravel => "start travel",
            Action::CheckIn => "check in",
            Action::StartWork => "start work",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
            Action::Reopen => "reopen",
            Action::AddNote => "add a note",
            Action::AddPart => "add a part",
            Action::LogTime => "log time",
            Action::SetChecklistItem => "change the checklist",
            Action::RecordFeedback => "record feedback",
            Action::AddPhoto => "add a photo",
            Action::CaptureSignature => "capture the signature",
            Action::MessageFromCustomer => "leave a message",
            Action::RateVisit => "rate the visit",
            Action::Reclassify => "reclassify",
            Action::Revisit => "record a revisit",
            Action::SetComplaint => "set the complaint",
            Action::Pool => "put in the pool",
            Action::Claim => "claim",
        }
    }
}

/// Who acts: the user and the role their token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor<'a> {
    /// The user id.
    pub user: &'a str,
    /// Their role; `None` when an event names a role this version does not know.
    pub role: Option<Role>,
}

/// One event of a ticket's history as the state machine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Sortable unique id.
    pub id: String,
    /// The kind as stored (kept even when this version does not know it).
    pub kind_name: String,
    /// The kind, if this version knows it.
    pub kind: Option<EventKind>,
    /// The user who recorded it.
    pub by: String,
    /// Their role when they recorded it.
    pub role: Option<Role>,
    /// The engineer named by `dispatched` and `reassigned`.
    pub assignee: Option<String>,
    /// Device time when it was recorded.
    pub at: Millis,
    /// A `reopened` that records a revisit's "not fixed" (allowed only from completed, before
    /// the ticket was revisited, and it counts against the first-time fix).
    pub revisit: bool,
}

/// Why the state machine refused an event or an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// The ticket's status does not allow it.
    WrongStatus {
        /// The status at that point.
        status: Status,
    },
    /// An engineer action by someone who is not the current assignee.
    NotAssignee {
        /// The current assignee, if any.
        assignee: Option<String>,
    },
    /// A dispatcher action by someone who is not a dispatcher or admin.
    NotDispatcher,
    /// An assignment that names no engineer.
    NoEngineerNamed,
    /// A second `created` event (two documents cannot be created into one).
    AlreadyCreated,
    /// Completion of a ticket whose policy requires the customer's signature, without one.
    SignatureRequired,
    /// A second signature: a signature is written once.
    AlreadySigned,
    /// A second recording of something written once (the customer's feedback).
    AlreadyRecorded,
    /// More records of a kind than a ticket may hold.
    TooMany {
        /// The most there may be.
        max: usize,
    },
    /// A complaint's action on a ticket that is not a complaint.
    NotAComplaint,
    /// A complaint handler reclassifying outside complaint, sales lead and inquiry.
    NotAComplaintType,
    /// A claim of a pooled ticket another engineer claimed first (or a dispatcher assigned).
    ClaimedByOther,
    /// A claim that names another engineer: one claims for oneself.
    ClaimForOther,
    /// A claim by someone who is not an engineer.
    NotEngineer,
}

/// A refused event or action: what was tried and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What was tried.
    pub action: Action,
    /// Why it was refused.
    pub reason: Reason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}: ", self.action.verb())?;
        match &self.reason {
            Reason::WrongStatus { status } => {
                if matches!(status, Status::New | Status::Dispatched) && self.action.needs_acceptance() {
                    f.write_str("ticket is not accepted")
                } else {
                    write!(f, "ticket is {}", status.label())
                }
            }
            Reason::NotAssignee { assignee: Some(_) } => f.write_str("ticket is assigned to someone else"),
            Reason::NotAssignee { assignee: None } => f.write_str("ticket is not assigned to anyone"),
            Reason::NotDispatcher => f.write_str("only a dispatcher or admin may do this"),
            Reason::NoEngineerNamed => f.write_str("no engineer named"),
            Reason::AlreadyCreated => f.write_str("ticket already exists"),
            Reason::SignatureRequired => f.write_str("the customer's signature is required first"),
            Reason::AlreadySigned => f.write_str("the customer has already signed"),
            Reason::AlreadyRecorded => f.write_str("it is already recorded"),
            Reason::TooMany { max } => write!(f, "a ticket holds at most {max}"),
            Reason::NotAComplaint => f.write_str("the ticket is not a complaint"),
            Reason::NotAComplaintType => {
                f.write_str("a complaint handler turns a complaint into a sales lead or an inquiry, and back")
            }
            Reason::ClaimedByOther => f.write_str("claimed by someone else"),
            Reason::ClaimForOther => f.write_str("one claims a ticket for oneself"),
            Reason::NotEngineer => f.write_str("only an engineer may claim a ticket"),
        }
    }
}

impl std::error::Error for Refusal {}

/// A refused event, kept in the history and shown to people.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The refused event's id.
    pub event_id: String,
    /// Its kind as stored.
    pub kind: String,
    /// Who recorded it.
    pub by: String,
    /// Why it was refused, for people ("cannot complete: ticket is cancelled").
    pub reason: String,
}

/// The state reached after folding some events.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TicketState {
    /// Whether a `created` event has been applied.
    pub created: bool,
    /// Current status.
    pub status: Status,
    /// Current assignee.
    pub assignee: Option<String>,
    /// When the assignee first accepted since the last (re)dispatch: the SLA "respond" milestone.
    pub responded_at: Option<Millis>,
    /// When the assignee first checked in since the last (re)dispatch: the SLA "arrive" milestone.
    pub arrived_at: Option<Millis>,
    /// When the ticket was completed (cleared by reopen): the SLA "resolve" milestone.
    pub resolved_at: Option<Millis>,
    /// When the completed job was revisited and confirmed fixed (cleared by reopen).
    pub revisited_at: Option<Millis>,
    /// How many times the ticket was reopened.
    pub reopens: u32,
    /// The first revisit's verdict on the first visit: fixed with no reopen before it. `None`
    /// until the ticket is first revisited (docs/adr/0019).
    pub first_time_fix: Option<bool>,
}

/// The whole derived picture of a ticket: its state plus the refused events.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Derived {
    /// The state after every accepted event.
    pub state: TicketState,
    /// Refused events, in history order.
    pub conflicts: Vec<Conflict>,
}

/// Applies one event to a state: the new state, or why the event is refused.
pub fn apply(state: &TicketState, event: &Event) -> Result<TicketState, Refusal> {
    let Some(kind) = event.kind else {
        // A kind from a newer version: kept in history, no effect on status here.
        return Ok(state.clone());
    };
    let refuse = |reason| Refusal { action: kind.action(), reason };
    let actor = Actor { user: &event.by, role: event.role };
    if kind == EventKind::Claimed {
        return pool::apply_claim(state, event, &actor).map_err(refuse);
    }
    check_actor(state, kind, &actor).map_err(refuse)?;

    use Status as S;
    let from = state.status;
    if kind == EventKind::Created && state.created {
        return Err(refuse(Reason::AlreadyCreated));
    }
    // A revisit judges a completed job once: not a cancelled one, not one revisited.
    let judges_revisit = kind == EventKind::Revisited || (kind == EventKind::Reopened && event.revisit);
    if judges_revisit && from == S::Completed && state.revisited_at.is_some() {
        return Err(refuse(Reason::AlreadyRecorded));
    }
    let allowed = if judges_revisit { from == S::Completed } else { allows(kind, from) };
    if !allowed {
        return Err(refuse(Reason::WrongStatus { status: from }));
    }

    let mut next = state.clone();
    match kind {
        EventKind::Created => next.created = true,
        EventKind::Dispatched | EventKind::Reassigned => {
            let Some(engineer) = event.assignee.as_deref().filter(|a| !a.is_empty()) else {
                return Err(refuse(Reason::NoEngineerNamed));
            };
            next.status = S::Dispatched;
            next.assignee = Some(engineer.to_owned());
            next.responded_at = None;
            next.arrived_at = None;
        }
        EventKind::Accepted => {
            next.status = S::Accepted;
            next.responded_at.get_or_insert(event.at);
        }
        EventKind::Rejected => {
            // The engineer gave the job back: it is nobody's until the dispatcher reassigns it,
            // and a later reopen does not hand it back to them.
            next.status = S::Rejected;
            next.assignee = None;
        }
        EventKind::TravelStarted => next.status = S::Travelling,
        EventKind::CheckedIn => {
            next.status = S::OnSite;
            next.arrived_at.get_or_insert(event.at);
        }
        EventKind::WorkStarted | EventKind::Resumed => next.status = S::Working,
        EventKind::Paused => next.status = S::Paused,
        EventKind::Completed => {
            next.status = S::Completed;
            next.resolved_at = Some(event.at);
        }
        EventKind::Cancelled => next.status = S::Cancelled,
        EventKind::Reopened => {
            next.status = if next.assignee.is_some() { S::Dispatched } else { S::New };
            next.responded_at = None;
            next.arrived_at = None;
            next.resolved_at = None;
            next.revisited_at = None;
            if event.revisit {
                next.first_time_fix.get_or_insert(false);
            }
            next.reopens = next.reopens.saturating_add(1);
        }
        EventKind::Revisited => {
            next.revisited_at = Some(event.at);
            next.first_time_fix.get_or_insert(state.reopens == 0);
        }
        EventKind::Pooled => pool::into_pool(&mut next),
        // Judged above, by its own rule.
        EventKind::Claimed => {}
    }
    Ok(next)
}

/// Whether a ticket in status `from` may take an event of `kind` (who records it is checked
/// apart). The one table of status transitions; [`apply`] and [`Refusal::next_step`] read it.
pub fn allows(kind: EventKind, from: Status) -> bool {
    use Status as S;
    match kind {
        EventKind::Created => true,
        EventKind::Dispatched => from == S::New,
        EventKind::Reassigned => !from.is_final() && from != S::New,
        EventKind::Accepted => from == S::Dispatched,
        EventKind::Rejected => matches!(from, S::Dispatched | S::Accepted),
        EventKind::TravelStarted => from == S::Accepted,
        EventKind::CheckedIn => matches!(from, S::Accepted | S::Travelling),
        EventKind::WorkStarted => from == S::OnSite,
        EventKind::Paused => matches!(from, S::OnSite | S::Working),
        EventKind::Resumed => from == S::Paused,
        EventKind::Completed => matches!(from, S::OnSite | S::Working | S::Paused),
        EventKind::Cancelled => !from.is_final(),
        EventKind::Reopened => from.is_final(),
        EventKind::Revisited => from == S::Completed,
        EventKind::Pooled => pool::may_pool_from(from),
        EventKind::Claimed => from == S::Pooled,
    }
}

/// Engineer kinds: only the current assignee. Dispatcher kinds: only dispatchers and admins.
fn check_actor(state: &TicketState, kind: EventKind, actor: &Actor<'_>) -> Result<(), Reason> {
    if kind.is_dispatcher_kind() {
        return match actor.role {
            Some(role) if role.dispatches() => Ok(()),
            _ => Err(Reason::NotDispatcher),
        };
    }
    check_assignee(state, actor)
}

fn check_assignee(state: &TicketState, actor: &Actor<'_>) -> Result<(), Reason> {
    match state.assignee.as_deref() {
        Some(assignee) if assignee == actor.user => Ok(()),
        other => Err(Reason::NotAssignee { assignee: other.map(str::to_owned) }),
    }
}

/// Folds events in history order: the final state and every refused event as a conflict.
pub fn derive<'a>(events: impl IntoIterator<Item = &'a Event>) -> Derived {
    let mut derived = Derived::default();
    for event in events {
        match apply(&derived.state, event) {
            Ok(next) => derived.state = next,
            Err(refusal) => derived.conflicts.push(Conflict {
                event_id: event.id.clone(),
                kind: event.kind_name.clone(),
                by: event.by.clone(),
                reason: refusal.to_string(),
            }),
        }
    }
    derived
}

/// Completion needs the customer's signature when the ticket's policy says so.
pub fn check_completion(signature_required: bool, has_signature: bool) -> Result<(), Refusal> {
    if signature_required && !has_signature {
        Err(Refusal { action: Action::Complete, reason: Reason::SignatureRequired })
    } else {
        Ok(())
    }
}

/// Whether the customer may leave a message now: until the ticket is cancelled, and at most
/// [`values::MAX_CUSTOMER_MESSAGES`] per ticket. The text itself is checked by
/// [`values::customer_message`]. Only the server writes the customer's records, with these
/// rules (the tracking page; server/src/tracking).
pub fn check_customer_message(status: Status, messages_so_far: usize) -> Result<(), Refusal> {
    let refuse = |reason| Refusal { action: Action::MessageFromCustomer, reason };
    if status == Status::Cancelled {
        return Err(refuse(Reason::WrongStatus { status }));
    }
    if messages_so_far >= values::MAX_CUSTOMER_MESSAGES {
        return Err(refuse(Reason::TooMany { max: values::MAX_CUSTOMER_MESSAGES }));
    }
    Ok(())
}

/// Whether the customer may rate the visit now: once the job is completed, and once per
/// ticket (the rating and comment are checked by [`values::rating`] and
/// [`values::MAX_COMMENT_CHARS`]).
pub fn check_customer_rating(status: Status, already_rated: bool) -> Result<(), Refusal> {
    let refuse = |reason| Refusal { action: Action::RateVisit, reason };
    if status != Status::Completed {
        return Err(refuse(Reason::WrongStatus { status }));
    }
    if already_rated {
        return Err(refuse(Reason::AlreadyRecorded));
    }
    Ok(())
}

/// A rating this low opens a follow-up: someone calls the customer back.
pub const FOLLOW_UP_AT_OR_BELOW: u8 = 2;

/// Whether a customer's rating opens a follow-up (a bad rating is called back).
pub fn needs_follow_up(rating: u8) -> bool {
    rating <= FOLLOW_UP_AT_OR_BELOW
}

/// Checks an action that adds content rather than an event (notes, parts, time, checklist,
/// feedback). Engineer-owned content is for the current assignee while the job is active;
/// dispatchers and admins may add notes and photos (one the customer sent the service desk) at
/// any time.
pub fn check_content(state: &TicketState, action: Action, actor: &Actor<'_>) -> Result<(), Refusal> {
    let refuse = |reason| Refusal { action, reason };
    if matches!(action, Action::AddNote | Action::AddPhoto) && actor.role.is_some_and(Role::dispatches) {
        return Ok(());
    }
    check_assignee(state, actor).map_err(refuse)?;
    if content_allows(action, state.status) {
        Ok(())
    } else {
        Err(refuse(Reason::WrongStatus { status: state.status }))
    }
}

/// Whether the assignee may add content of this kind to a ticket in `status`.
pub(crate) fn content_allows(action: Action, status: Status) -> bool {
    match action {
        Action::AddNote | Action::AddPart | Action::LogTime | Action::SetChecklistItem | Action::AddPhoto => {
            status.is_active()
        }
        Action::CaptureSignature => matches!(status, Status::OnSite | Status::Working | Status::Paused),
        Action::RecordFeedback => {
            matches!(status, Status::OnSite | Status::Working | Status::Paused | Status::Completed)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
