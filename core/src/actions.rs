//! Every user action as data, and the one pure function that checks and applies it to a
//! ticket document. Devices (through [`crate::Client`]) and the server (for its dispatcher
//! API) both act through here, so an action means the same thing everywhere. No I/O.

use automerge::{ActorId, Automerge, ChangeHash};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::doc::{self, EventDraft, Stamp};
use crate::model::{
    CheckInPlace, Classification, ComplaintLevel, Identity, Location, NewTicket, PhotoMeta, SignatureMeta, ids,
};
use crate::time::Millis;
use crate::workflow::{self, Action, Actor, Derived, EventKind, Status};

/// One action on an existing ticket, with its arguments.
///
/// An action is declared by its variant here and its row in `plan`: the workflow event kind
/// or [`Action`] the row names carries who may, the status move and the verb
/// (`workflow`); arguments with text get their bounds in `validate`. Nothing else restates
/// it: the bindings hand this enum to Kotlin and Swift as it is (feature `uniffi`,
/// docs/adr/0032).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Command {
    /// Assign a new ticket, or reassign one (dispatcher).
    Assign {
        /// The engineer's user id.
        engineer: String,
    },
    /// Cancel (dispatcher).
    Cancel {
        /// Why.
        reason: String,
    },
    /// Reopen a completed or cancelled ticket (dispatcher).
    Reopen {
        /// Why.
        reason: String,
    },
    /// Put a new (or rejected) ticket into the shared pool instead of assigning it
    /// (dispatcher; docs/adr/0023).
    Pool {
        /// The skill group whose pool it is: only its members hold the ticket and may claim
        /// it (docs/adr/0028); none: every engineer's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// Claim a pooled ticket for oneself (engineer): it becomes one's own, accepted.
    Claim,
    /// Accept (assignee).
    Accept,
    /// Reject (assignee).
    Reject {
        /// Why.
        reason: String,
    },
    /// Start travelling (assignee), sharing an estimated arrival with the customer if known.
    StartTravel {
        /// Estimated arrival, UTC ms (now to a day ahead).
        #[serde(default)]
        eta: Option<Millis>,
    },
    /// Check in on site (assignee).
    CheckIn {
        /// The GPS fix.
        location: Location,
    },
    /// Start work (assignee).
    StartWork,
    /// Pause work (assignee).
    Pause,
    /// Resume work (assignee).
    Resume,
    /// Put work on hold with the reason the dispatcher sees on the timeline: "awaiting part
    /// X-20", "customer away until 3 pm" (assignee; a pause that says why, resumed by
    /// [`Command::Resume`]).
    Hold {
        /// Why.
        reason: String,
    },
    /// Complete the job (assignee).
    Complete {
        /// What was done.
        summary: String,
    },
    /// Add a note (assignee while active; dispatchers any time).
    AddNote {
        /// The text.
        text: String,
    },
    /// Add a note the customer sees on the tracking page: an answer to their message, a word
    /// on the work (assignee while active; dispatchers any time).
    AddPublicNote {
        /// The text.
        text: String,
    },
    /// Record a part used (assignee).
    AddPart {
        /// Stock-keeping unit.
        sku: String,
        /// Quantity, at least 1.
        qty: u32,
    },
    /// Log time (assignee).
    LogTime {
        /// Minutes, 1 to 1440.
        minutes: u32,
        /// "labour", "travel", ...
        kind: String,
    },
    /// Tick or untick a checklist item (assignee).
    SetChecklistItem {
        /// The item.
        item: String,
        /// Ticked?
        done: bool,
    },
    /// Record the customer's feedback (assignee).
    RecordFeedback {
        /// 1 to 5.
        rating: u8,
        /// Free text.
        comment: String,
    },
    /// Add a processed photo's metadata (assignee); the image is a blob stored beside it.
    AddPhoto {
        /// The photo (its `by` is filled in from the actor).
        photo: PhotoMeta,
    },
    /// Record the customer's signature, once (assignee, on site).
    CaptureSignature {
        /// The signature (`signed_at` as the device saw it).
        signature: SignatureMeta,
        /// The strokes as drawn, JSON.
        strokes_json: String,
    },
    /// Change the type, product, module and version (dispatcher; any status, so a closed
    /// ticket can be filed right for the reports).
    Reclassify {
        /// The new classification (every field written).
        classification: Classification,
    },
    /// Record the revisit of a completed job (dispatcher; docs/adr/0019): the customer was
    /// called; `fixed` closes it as revisited, not fixed reopens it to its engineer with the
    /// reason.
    Revisit {
        /// Whether the customer confirmed the job fixed.
        fixed: bool,
        /// Whom the call reached (free text; may be empty).
        #[serde(default)]
        contact: String,
        /// What the customer said; required when not fixed (the reopen's reason).
        #[serde(default)]
        note: String,
    },
    /// Set a complaint's level and the organisation unit it concerns (complaint handler,
    /// dispatcher; complaint tickets only; docs/adr/0019).
    SetComplaint {
        /// Suggestion, grumble, complaint or crisis.
        level: ComplaintLevel,
        /// The organisation unit it concerns (may be empty).
        #[serde(default)]
        unit: String,
    },
}

/// What an applied action left behind.
#[derive(Clone, Debug)]
pub struct Performed {
    /// The Automerge change it made.
    pub hash: ChangeHash,
    /// The ticket's derived state after it.
    pub derived: Derived,
    /// The change wrote only under [`doc::INDEX_NEUTRAL_KEYS`] and added no event: the
    /// ticket's index row is the one before it (a device skips computing it again).
    pub index_unchanged: bool,
}

/// Creates a ticket document (dispatchers and admins); it is dispatched at once when
/// `new.assignee` is set. Returns the new ticket's id, its document and what was done.
pub fn create(
    actor: ActorId,
    identity: &Identity,
    new: &NewTicket,
    at: Millis,
) -> Result<(String, Automerge, Performed), Error> {
    validate_new_ticket(new)?;
    let ticket_id = ids::new_id();
    let stamp = Stamp { id: ids::new_id(), at, identity };
    workflow::apply(&workflow::TicketState::default(), &EventDraft::of(EventKind::Created).to_workflow_event(&stamp))?;
    let mut document = Automerge::new().with_actor(actor);
    let hash = doc::edit(&mut document, at, "create", |tx| doc::create(tx, &ticket_id, new, &stamp))?;
    let derived = doc::derive(&document);
    Ok((ticket_id, document, Performed { hash, derived, index_unchanged: false }))
}

/// Checks `command` by `identity` against the ticket's current state and, if allowed, applies
/// it to `document` as one Automerge change. On error the document is unchanged.
pub fn perform(
    document: &mut Automerge,
    identity: &Identity,
    command: &Command,
    at: Millis,
) -> Result<Performed, Error> {
    let derived = doc::derive(document);
    perform_on(document, derived, identity, command, at)
}

/// [`perform`] when the document's derived state is already known (a device keeps it beside
/// its cached document): `derived` must be what [`doc::derive`] gives for `document` now.
/// Folding the history is the costliest read of an action, and a valid action only appends
/// one event to it.
pub fn perform_on(
    document: &mut Automerge,
    derived: Derived,
    identity: &Identity,
    command: &Command,
    at: Millis,
) -> Result<Performed, Error> {
    validate(command)?;
    if let Command::StartTravel { eta: Some(eta) } = command {
        workflow::values::eta(*eta, at).map_err(|bad| Error::InvalidInput(bad.0))?;
    }
    let stamp = Stamp { id: ids::new_id(), at, identity };
    let edit = plan(document, &derived.state, command);
    let next = match &edit {
        Edit::Event(draft) => {
            let next = workflow::apply(&derived.state, &draft.to_workflow_event(&stamp))?;
            if draft.kind == Some(EventKind::Completed) {
                workflow::check_completion(doc::signature_required(document), doc::has_signature(document))?;
            }
            next
        }
        Edit::Content(action) => {
            let actor = Actor { user: &identity.user_id, role: Some(identity.role) };
            workflow::check_content(&derived.state, *action, &actor)?;
            match command {
                Command::CaptureSignature { .. } if doc::has_signature(document) => {
                    return Err(workflow::Refusal { action: *action, reason: workflow::Reason::AlreadySigned }.into());
                }
                Command::RecordFeedback { .. } if doc::has_feedback(document) => {
                    return Err(workflow::Refusal { action: *action, reason: workflow::Reason::AlreadyRecorded }.into());
                }
                Command::AddPhoto { photo } if doc::has_photo(document, &photo.sha256) => {
                    return Err(Error::InvalidInput(format!("photo {} is already on the ticket", photo.sha256)));
                }
                _ => {}
            }
            derived.state.clone()
        }
        Edit::Dispatcher(action) => {
            let complaint = doc::is_complaint(document);
            match command {
                Command::Reclassify { classification } => {
                    let before = doc::read_classification(document);
                    workflow::complaints::check_reclassify(
                        identity.role,
                        complaint,
                        &before.ticket_type,
                        &classification.ticket_type,
                    )?;
                    if *classification == before {
                        return Err(Error::InvalidInput("the ticket is classified so already".into()));
                    }
                }
                Command::SetComplaint { level, unit } => {
                    workflow::complaints::check_set_complaint(identity.role, complaint)?;
                    let before = (doc::read_complaint_level(document), doc::read_complaint_unit(document));
                    if before == (Some(*level), unit.trim().to_owned()) {
                        return Err(Error::InvalidInput("the complaint is set so already".into()));
                    }
                }
                _ if !identity.role.dispatches() => {
                    return Err(workflow::Refusal { action: *action, reason: workflow::Reason::NotDispatcher }.into());
                }
                _ => {}
            }
            derived.state.clone()
        }
    };
    let message = match command {
        // The timeline shows what a reclassification changed (the change's message).
        Command::Reclassify { classification } => {
            reclassify_message(&doc::read_classification(document), classification)
        }
        Command::Revisit { fixed, .. } => revisit_message(*fixed).to_owned(),
        Command::SetComplaint { level, unit } => complaint_message(document, *level, unit.trim()),
        _ => edit.action().verb().to_owned(),
    };
    let hash = doc::edit(document, at, &message, |tx| match (&edit, command) {
        (Edit::Event(draft), _) => doc::append_event(tx, draft, &stamp),
        (_, Command::AddNote { text }) => doc::append_note(tx, text, false, &stamp),
        (_, Command::AddPublicNote { text }) => doc::append_note(tx, text, true, &stamp),
        (_, Command::AddPart { sku, qty }) => doc::append_part(tx, sku, *qty, &stamp),
        (_, Command::LogTime { minutes, kind }) => doc::append_time(tx, *minutes, kind, &stamp),
        (_, Command::SetChecklistItem { item, done }) => doc::set_checklist_item(tx, item, *done, &stamp),
        (_, Command::RecordFeedback { rating, comment }) => doc::put_feedback(tx, *rating, comment, &stamp),
        (_, Command::AddPhoto { photo }) => doc::put_photo(tx, photo, &stamp),
        (_, Command::CaptureSignature { signature, strokes_json }) => {
            doc::put_signature(tx, signature, strokes_json, &stamp)
        }
        (_, Command::Reclassify { classification }) => {
            // Reclassified into a complaint, it is one for good (docs/adr/0019).
            if classification.ticket_type == workflow::complaints::COMPLAINT_TYPE {
                doc::mark_complaint(tx)?;
            }
            doc::put_classification(tx, classification)
        }
        (_, Command::SetComplaint { level, unit }) => doc::put_complaint(tx, Some(*level), unit.trim()),
        _ => Err(doc::ModelError::NotATicket("event command planned as content")),
    })?;
    // A valid action appends at the end of the history: the fold is the old one plus this
    // event, with the same conflicts.
    let index_unchanged = matches!(edit, Edit::Content(_))
        && content_key(command).is_some_and(|key| doc::INDEX_NEUTRAL_KEYS.contains(&key));
    Ok(Performed { hash, derived: Derived { state: next, conflicts: derived.conflicts }, index_unchanged })
}

/// The one root key a content command writes under (the writes above; a test checks each
/// against the patches of its change).
fn content_key(command: &Command) -> Option<&'static str> {
    match command {
        Command::AddNote { .. } | Command::AddPublicNote { .. } => Some(doc::key::NOTES),
        Command::AddPart { .. } => Some(doc::key::PARTS),
        Command::LogTime { .. } => Some(doc::key::TIME_ENTRIES),
        Command::SetChecklistItem { .. } => Some(doc::key::CHECKLIST),
        Command::AddPhoto { .. } => Some(doc::key::PHOTOS),
        Command::CaptureSignature { .. } => Some(doc::key::SIGNATURE),
        _ => None,
    }
}

enum Edit {
    Event(EventDraft),
    Content(Action),
    Dispatcher(Action),
}

impl Edit {
    /// The workflow's action this edit is: its verb names the change ("pause", "add note").
    fn action(&self) -> Action {
        match self {
            Edit::Event(draft) => draft.kind.map_or(Action::Create, EventKind::action),
            Edit::Content(action) | Edit::Dispatcher(action) => *action,
        }
    }
}

fn plan(document: &Automerge, state: &workflow::TicketState, command: &Command) -> Edit {
    let event = |kind| Edit::Event(EventDraft::of(kind));
    let with_reason =
        |kind, reason: &str| Edit::Event(EventDraft { reason: Some(reason.to_owned()), ..EventDraft::of(kind) });
    match command {
        Command::Assign { engineer } => {
            let kind = if state.status == Status::New { EventKind::Dispatched } else { EventKind::Reassigned };
            Edit::Event(EventDraft { assignee: Some(engineer.clone()), ..EventDraft::of(kind) })
        }
        Command::Cancel { reason } => with_reason(EventKind::Cancelled, reason),
        Command::Reopen { reason } => with_reason(EventKind::Reopened, reason),
        Command::Reject { reason } => with_reason(EventKind::Rejected, reason),
        Command::Accept => event(EventKind::Accepted),
        Command::Pool { group } => {
            Edit::Event(EventDraft { group: group.clone(), ..EventDraft::of(EventKind::Pooled) })
        }
        Command::Claim => event(EventKind::Claimed),
        Command::StartTravel { eta } => {
            Edit::Event(EventDraft { eta: *eta, ..EventDraft::of(EventKind::TravelStarted) })
        }
        Command::CheckIn { location } => Edit::Event(EventDraft {
            place: Some(check_in_place(document, *location)),
            ..EventDraft::of(EventKind::CheckedIn)
        }),
        Command::StartWork => event(EventKind::WorkStarted),
        Command::Pause => event(EventKind::Paused),
        Command::Hold { reason } => with_reason(EventKind::Paused, reason),
        Command::Resume => event(EventKind::Resumed),
        Command::Complete { summary } => {
            Edit::Event(EventDraft { summary: Some(summary.clone()), ..EventDraft::of(EventKind::Completed) })
        }
        Command::AddNote { .. } | Command::AddPublicNote { .. } => Edit::Content(Action::AddNote),
        Command::AddPart { .. } => Edit::Content(Action::AddPart),
        Command::LogTime { .. } => Edit::Content(Action::LogTime),
        Command::SetChecklistItem { .. } => Edit::Content(Action::SetChecklistItem),
        Command::RecordFeedback { .. } => Edit::Content(Action::RecordFeedback),
        Command::AddPhoto { .. } => Edit::Content(Action::AddPhoto),
        Command::CaptureSignature { .. } => Edit::Content(Action::CaptureSignature),
        Command::Reclassify { .. } => Edit::Dispatcher(Action::Reclassify),
        Command::SetComplaint { .. } => Edit::Dispatcher(Action::SetComplaint),
        Command::Revisit { fixed, contact, note } => {
            let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
            let kind = if *fixed { EventKind::Revisited } else { EventKind::Reopened };
            Edit::Event(EventDraft {
                reason: text(note),
                contact: text(contact),
                revisit: !*fixed,
                ..EventDraft::of(kind)
            })
        }
    }
}

/// "complaint: level — → crisis; unit — → billing": what a complaint change changed.
fn complaint_message(document: &Automerge, level: ComplaintLevel, unit: &str) -> String {
    let shown = |v: &str| if v.is_empty() { "—".to_owned() } else { v.to_owned() };
    let old_level = doc::read_complaint_level(document).map_or("", ComplaintLevel::as_str);
    let old_unit = doc::read_complaint_unit(document);
    let mut changes = Vec::new();
    if old_level != level.as_str() {
        changes.push(format!("level {} → {}", shown(old_level), level.as_str()));
    }
    if old_unit != unit {
        changes.push(format!("unit {} → {}", shown(&old_unit), shown(unit)));
    }
    format!("complaint: {}", changes.join("; "))
}

/// The timeline's name of a revisit change.
pub fn revisit_message(fixed: bool) -> &'static str {
    if fixed { "revisit: fixed" } else { "revisit: not fixed" }
}

/// "reclassify: type maintenance → bug; product — → boiler-x".
fn reclassify_message(before: &Classification, after: &Classification) -> String {
    let shown = |v: &str| if v.is_empty() { "—".to_owned() } else { v.to_owned() };
    let changes: Vec<String> = before
        .fields()
        .into_iter()
        .zip(after.fields())
        .filter(|((_, old), (_, new))| old != new)
        .map(|((name, old), (_, new))| format!("{name} {} → {}", shown(old), shown(new)))
        .collect();
    format!("{}: {}", Action::Reclassify.verb(), changes.join("; "))
}

/// Arguments out of range are refused before anything is looked at, by the same value rules
/// the server applies to what a device pushes ([`workflow::values`]).
fn validate(command: &Command) -> Result<(), Error> {
    use workflow::values as v;
    let checked = match command {
        Command::Assign { engineer } => v::required_text(engineer, "engineer", v::MAX_USER_ID_CHARS),
        Command::Pool { group: Some(group) } => v::required_text(group, "skill group", v::MAX_USER_ID_CHARS),
        Command::Cancel { reason }
        | Command::Reopen { reason }
        | Command::Reject { reason }
        | Command::Hold { reason } => v::required_text(reason, "reason", v::MAX_REASON_CHARS),
        Command::CheckIn { location } if !location.is_valid() => Err(v::BadValue(format!(
            "location out of range: lat {}, lon {}, accuracy {} m",
            location.lat, location.lon, location.accuracy_m
        ))),
        Command::Complete { summary } => v::optional_text(summary, "summary", v::MAX_SUMMARY_CHARS),
        Command::AddNote { text } | Command::AddPublicNote { text } => {
            v::required_text(text, "note", v::MAX_NOTE_CHARS)
        }
        Command::AddPart { sku, qty } => {
            v::required_text(sku, "sku", v::MAX_SKU_CHARS).and_then(|()| v::part_qty(u64::from(*qty)))
        }
        Command::LogTime { minutes, kind } => {
            v::required_text(kind, "time kind", v::MAX_TIME_KIND_CHARS).and_then(|()| v::minutes(u64::from(*minutes)))
        }
        Command::SetChecklistItem { item, .. } => v::required_text(item, "checklist item", v::MAX_CHECKLIST_ITEM_CHARS),
        Command::RecordFeedback { rating, comment } => {
            v::rating(u64::from(*rating)).and_then(|()| v::optional_text(comment, "comment", v::MAX_COMMENT_CHARS))
        }
        Command::AddPhoto { photo } => v::sha256_hex(&photo.sha256, "photo")
            .and_then(|()| v::optional_text(&photo.caption, "caption", v::MAX_CAPTION_CHARS)),
        Command::CaptureSignature { signature, strokes_json } => {
            v::required_text(&signature.signer, "signer's name", v::MAX_SIGNER_CHARS)
                .and_then(|()| v::sha256_hex(&signature.png_sha256, "signature image"))
                .and_then(|()| v::sha256_hex(&signature.summary_sha256, "job summary"))
                .and_then(|()| {
                    if strokes_json.len() > v::MAX_STROKES_BYTES {
                        Err(v::BadValue(format!("signature strokes are over {} bytes", v::MAX_STROKES_BYTES)))
                    } else {
                        Ok(())
                    }
                })
        }
        Command::Reclassify { classification } => v::classification(classification),
        Command::SetComplaint { unit, .. } => v::optional_text(unit, "unit", v::MAX_SIGNER_CHARS),
        Command::Revisit { fixed, contact, note } => v::optional_text(contact, "contact", v::MAX_SIGNER_CHARS)
            .and_then(|()| {
                if *fixed {
                    v::optional_text(note, "note", v::MAX_REASON_CHARS)
                } else {
                    v::required_text(note, "reason", v::MAX_REASON_CHARS)
                }
            }),
        _ => Ok(()),
    };
    checked.map_err(|bad| Error::InvalidInput(bad.0))
}

fn check_in_place(document: &Automerge, location: Location) -> CheckInPlace {
    match doc::read_site(document) {
        Some(site) => {
            let distance = location.distance_m(site.lat, site.lon);
            CheckInPlace { location, distance_m: Some(distance), inside_site: Some(distance <= site.radius_m) }
        }
        None => CheckInPlace { location, distance_m: None, inside_site: None },
    }
}

fn require_text(value: &str, what: &str) -> Result<(), Error> {
    if value.trim().is_empty() { Err(Error::InvalidInput(format!("{what} must not be empty"))) } else { Ok(()) }
}

/// Checks a new ticket's fields.
pub fn validate_new_ticket(new: &NewTicket) -> Result<(), Error> {
    require_text(&new.title, "title")?;
    if let Some(assignee) = &new.assignee {
        require_text(assignee, "assignee")?;
    }
    if let Some(site) = new.site {
        let valid = Location { lat: site.lat, lon: site.lon, accuracy_m: 0.0 }.is_valid()
            && site.radius_m.is_finite()
            && site.radius_m >= 0.0;
        if !valid {
            return Err(Error::InvalidInput(format!("site out of range: {site:?}")));
        }
    }
    for item in &new.checklist {
        require_text(item, "checklist item")?;
    }
    workflow::values::classification(&new.classification).map_err(|bad| Error::InvalidInput(bad.0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_older_clients_still_read() {
        // `start_travel` had no fields before the ETA: an old client's JSON is the same command.
        let old: Command = serde_json::from_str(r#"{"action":"start_travel"}"#).expect("old start_travel");
        assert_eq!(old, Command::StartTravel { eta: None });
        let new: Command = serde_json::from_str(r#"{"action":"start_travel","eta":5}"#).expect("with an ETA");
        assert_eq!(new, Command::StartTravel { eta: Some(5) });
        let public: Command = serde_json::from_str(r#"{"action":"add_public_note","text":"hi"}"#).expect("public");
        assert_eq!(public, Command::AddPublicNote { text: "hi".into() });
        // `pool` had no fields before skill groups' pools: the pool of everyone.
        let pool: Command = serde_json::from_str(r#"{"action":"pool"}"#).expect("old pool");
        assert_eq!(pool, Command::Pool { group: None });
        assert_eq!(serde_json::to_string(&pool).expect("json"), r#"{"action":"pool"}"#);
    }

    #[test]
    fn a_pool_names_its_group_in_the_pooled_event() {
        let identity =
            Identity { user_id: "dana".into(), device_id: "d1".into(), role: crate::workflow::Role::Dispatcher };
        let new = NewTicket { title: "Boiler".into(), ..Default::default() };
        let (_, mut document, _) = create(automerge::ActorId::random(), &identity, &new, 1).expect("create");
        assert_eq!(doc::pool_group(&document), None);
        perform(&mut document, &identity, &Command::Pool { group: Some("boilers".into()) }, 2).expect("pool");
        assert_eq!(doc::pool_group(&document).as_deref(), Some("boilers"));
        assert_eq!(doc::derive(&document).state.status, Status::Pooled);
        let blank = perform(&mut document, &identity, &Command::Pool { group: Some(" ".into()) }, 3);
        assert!(blank.is_err(), "a blank group is refused");
    }

    /// A ticket a dispatcher created at time 1 and assigned to the engineer it returns.
    fn assigned_ticket() -> (Identity, Automerge) {
        let dispatcher =
            Identity { user_id: "dana".into(), device_id: "d1".into(), role: crate::workflow::Role::Dispatcher };
        let engineer =
            Identity { user_id: "eli".into(), device_id: "d2".into(), role: crate::workflow::Role::Engineer };
        let new = NewTicket { title: "Boiler".into(), assignee: Some("eli".into()), ..Default::default() };
        let (_, document, _) = create(automerge::ActorId::random(), &dispatcher, &new, 1).expect("create");
        (engineer, document)
    }

    /// The engineer accepts, travels, checks in and starts work, from time `at` on.
    fn start_work(document: &mut Automerge, engineer: &Identity, at: Millis) {
        let location = Location { lat: 52.0, lon: 4.0, accuracy_m: 5.0 };
        for (n, command) in
            [Command::Accept, Command::StartTravel { eta: None }, Command::CheckIn { location }, Command::StartWork]
                .into_iter()
                .enumerate()
        {
            perform(document, engineer, &command, at + n as Millis).expect("to work");
        }
    }

    #[test]
    fn a_hold_pauses_the_work_and_says_why() {
        let (engineer, mut document) = assigned_ticket();
        let hold = Command::Hold { reason: "awaiting part X-20".into() };
        let early = perform(&mut document, &engineer, &hold, 2).expect_err("nothing to hold before work starts");
        assert!(early.to_string().contains("cannot pause"), "{early}");
        start_work(&mut document, &engineer, 3);
        let blank = perform(&mut document, &engineer, &Command::Hold { reason: " ".into() }, 10);
        assert!(matches!(blank, Err(Error::InvalidInput(_))), "a hold says why: {blank:?}");
        let held = perform(&mut document, &engineer, &hold, 11).expect("hold");
        assert_eq!(held.derived.state.status, Status::Paused);
        let ticket = doc::read_ticket(&document).expect("read");
        let last = ticket.events.last().expect("an event");
        assert_eq!((last.kind.as_str(), last.reason.as_deref()), ("paused", Some("awaiting part X-20")));
        let resumed = perform(&mut document, &engineer, &Command::Resume, 12).expect("resume");
        assert_eq!(resumed.derived.state.status, Status::Working);
    }

    #[test]
    fn a_content_action_writes_only_under_its_key_and_a_neutral_one_keeps_the_index() {
        // `content_key` restates which key each write uses, and `index_unchanged` lets a
        // device keep its index row: both must hold for what the change really wrote.
        let (engineer, mut document) = assigned_ticket();
        start_work(&mut document, &engineer, 2);
        let photo = PhotoMeta { by: "eli".into(), ..PhotoMeta::sample() };
        let signature = SignatureMeta {
            signer: "Ms Li".into(),
            signed_at: 20,
            png_sha256: "b".repeat(64),
            summary_sha256: "c".repeat(64),
        };
        let commands = [
            Command::AddNote { text: "Valve corroded".into() },
            Command::AddPublicNote { text: "Parts ordered".into() },
            Command::SetChecklistItem { item: "isolate power".into(), done: true },
            Command::AddPhoto { photo },
            Command::CaptureSignature { signature, strokes_json: "[]".into() },
            Command::AddPart { sku: "VALVE-22".into(), qty: 2 },
            Command::LogTime { minutes: 45, kind: "labour".into() },
            Command::RecordFeedback { rating: 5, comment: "Quick".into() },
            Command::Pause,
        ];
        let mut neutral = 0;
        for (n, command) in commands.iter().enumerate() {
            let before = document.get_heads();
            let index_before = doc::TicketIndex::of(&document, &doc::derive(&document));
            let performed = perform(&mut document, &engineer, command, 10 + n as Millis).expect("perform");
            let patches = document.diff(&before, &document.get_heads());
            let keys: std::collections::BTreeSet<String> = patches
                .iter()
                .filter_map(|patch| match (patch.path.first(), &patch.action) {
                    (Some((_, automerge::Prop::Map(key))), _) => Some(key.clone()),
                    (None, automerge::PatchAction::PutMap { key, .. }) => Some(key.clone()),
                    _ => None,
                })
                .collect();
            if let Some(key) = content_key(command) {
                assert_eq!(keys, [key.to_owned()].into(), "{command:?} wrote {keys:?}");
            }
            let index_after = doc::TicketIndex::of(&document, &performed.derived);
            if performed.index_unchanged {
                neutral += 1;
                assert_eq!(index_after, index_before, "{command:?} is said to leave the index as it was");
            }
        }
        assert_eq!(neutral, 5, "notes, public notes, checklist ticks, photos and the signature keep the index");
    }
}
