use super::*;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The engineer every table state is assigned to.
const ENG: &str = "eng-1";
/// Another engineer (the target of dispatch/reassign in the tables, and the "wrong" engineer).
const OTHER_ENG: &str = "eng-2";
/// A dispatcher.
const DISP: &str = "disp-1";
/// An admin.
const ADMIN: &str = "admin-1";

static NEXT_SEQ: AtomicI64 = AtomicI64::new(1);

fn next_seq() -> i64 {
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
}

/// An event with a unique id, recorded at an explicit time.
fn event_at(kind: EventKind, by: &str, role: Option<Role>, assignee: Option<&str>, at: Millis) -> Event {
    Event {
        id: format!("ev-{:06}", next_seq()),
        kind_name: kind.as_str().to_owned(),
        kind: Some(kind),
        by: by.to_owned(),
        role,
        assignee: assignee.map(str::to_owned),
        at,
        revisit: false,
    }
}

/// An event with a unique id; its time is the (unique, increasing) sequence number.
fn event(kind: EventKind, by: &str, role: Option<Role>, assignee: Option<&str>) -> Event {
    let at = next_seq();
    event_at(kind, by, role, assignee, at)
}

/// An event of a kind this version does not know.
fn unknown_event(kind_name: &str, by: &str, role: Option<Role>) -> Event {
    Event {
        id: format!("ev-{:06}", next_seq()),
        kind_name: kind_name.to_owned(),
        kind: None,
        by: by.to_owned(),
        role,
        assignee: None,
        at: next_seq(),
        revisit: false,
    }
}

/// An engineer event by the assignee `ENG`.
fn eng(kind: EventKind) -> Event {
    event(kind, ENG, Some(Role::Engineer), None)
}

/// An engineer event by the assignee `ENG` at a given time.
fn eng_at(kind: EventKind, at: Millis) -> Event {
    event_at(kind, ENG, Some(Role::Engineer), None, at)
}

/// A dispatcher event by `DISP` (no engineer named).
fn disp(kind: EventKind) -> Event {
    event(kind, DISP, Some(Role::Dispatcher), None)
}

/// A dispatch/reassign by `DISP` naming `engineer`.
fn assign(kind: EventKind, engineer: &str) -> Event {
    event(kind, DISP, Some(Role::Dispatcher), Some(engineer))
}

/// A state built directly: the given status, assigned to `ENG`, not yet `created`.
fn state_with(status: Status) -> TicketState {
    TicketState { status, assignee: Some(ENG.to_owned()), ..TicketState::default() }
}

fn actor(user: &str, role: Option<Role>) -> Actor<'_> {
    Actor { user, role }
}

fn ok_state(result: Result<TicketState, Refusal>, context: &str) -> TicketState {
    match result {
        Ok(state) => state,
        Err(refusal) => panic!("{context}: expected Ok, got refusal {refusal:?} ({refusal})"),
    }
}

fn err_refusal(result: Result<TicketState, Refusal>, context: &str) -> Refusal {
    match result {
        Ok(state) => panic!("{context}: expected a refusal, got Ok({state:?})"),
        Err(refusal) => refusal,
    }
}

/// Folds events with `apply`, panicking on the first refusal.
fn fold_ok(events: &[Event]) -> TicketState {
    let mut state = TicketState::default();
    for event in events {
        state = ok_state(apply(&state, event), &format!("applying {} by {}", event.kind_name, event.by));
    }
    state
}

/// created, dispatched to ENG.
fn dispatched_history() -> Vec<Event> {
    vec![disp(EventKind::Created), assign(EventKind::Dispatched, ENG)]
}

/// created, dispatched, accepted, travel, check in, start work: status Working.
fn working_history() -> Vec<Event> {
    let mut events = dispatched_history();
    events.extend([
        eng(EventKind::Accepted),
        eng(EventKind::TravelStarted),
        eng(EventKind::CheckedIn),
        eng(EventKind::WorkStarted),
    ]);
    events
}

// ---------------------------------------------------------------------------------------------
// Literal expectation tables (written out by hand, not computed from the code under test)
// ---------------------------------------------------------------------------------------------

/// The kinds only dispatchers and admins may record.
const DISPATCHER_KINDS: [EventKind; 7] = [
    EventKind::Created,
    EventKind::Dispatched,
    EventKind::Cancelled,
    EventKind::Reassigned,
    EventKind::Reopened,
    EventKind::Revisited,
    EventKind::Pooled,
];

/// The kinds only the current assignee may record.
const ENGINEER_KINDS: [EventKind; 8] = [
    EventKind::Accepted,
    EventKind::Rejected,
    EventKind::TravelStarted,
    EventKind::CheckedIn,
    EventKind::WorkStarted,
    EventKind::Paused,
    EventKind::Resumed,
    EventKind::Completed,
];

/// The kinds any engineer may record, by the pool's own rule (pool.rs has their tests).
const CLAIM_KINDS: [EventKind; 1] = [EventKind::Claimed];

/// The action each kind is reported as.
const KIND_ACTIONS: [(EventKind, Action); 16] = [
    (EventKind::Pooled, Action::Pool),
    (EventKind::Claimed, Action::Claim),
    (EventKind::Created, Action::Create),
    (EventKind::Dispatched, Action::Assign),
    (EventKind::Accepted, Action::Accept),
    (EventKind::Rejected, Action::Reject),
    (EventKind::TravelStarted, Action::StartTravel),
    (EventKind::CheckedIn, Action::CheckIn),
    (EventKind::WorkStarted, Action::StartWork),
    (EventKind::Paused, Action::Pause),
    (EventKind::Resumed, Action::Resume),
    (EventKind::Completed, Action::Complete),
    (EventKind::Cancelled, Action::Cancel),
    (EventKind::Reassigned, Action::Assign),
    (EventKind::Reopened, Action::Reopen),
    (EventKind::Revisited, Action::Revisit),
];

fn action_of(kind: EventKind) -> Action {
    match KIND_ACTIONS.iter().find(|(k, _)| *k == kind) {
        Some((_, action)) => *action,
        None => panic!("KIND_ACTIONS lacks {kind:?}"),
    }
}

/// Every allowed (kind, from) -> to, for a state assigned to `ENG` with no `created` event yet,
/// dispatcher kinds recorded by a dispatcher/admin and engineer kinds by `ENG`.
/// Every pair not listed must be refused with `WrongStatus { status: from }`.
#[rustfmt::skip]
const ALLOWED: &[(EventKind, Status, Status)] = &[
    // `created` is gated only by the `created` flag, not by status; it leaves the status alone.
    (EventKind::Created, Status::New, Status::New),
    (EventKind::Created, Status::Pooled, Status::Pooled),
    (EventKind::Created, Status::Dispatched, Status::Dispatched),
    (EventKind::Created, Status::Accepted, Status::Accepted),
    (EventKind::Created, Status::Rejected, Status::Rejected),
    (EventKind::Created, Status::Travelling, Status::Travelling),
    (EventKind::Created, Status::OnSite, Status::OnSite),
    (EventKind::Created, Status::Working, Status::Working),
    (EventKind::Created, Status::Paused, Status::Paused),
    (EventKind::Created, Status::Completed, Status::Completed),
    (EventKind::Created, Status::Cancelled, Status::Cancelled),

    (EventKind::Dispatched, Status::New, Status::Dispatched),

    (EventKind::Reassigned, Status::Pooled, Status::Dispatched),
    (EventKind::Reassigned, Status::Dispatched, Status::Dispatched),
    (EventKind::Reassigned, Status::Accepted, Status::Dispatched),
    (EventKind::Reassigned, Status::Rejected, Status::Dispatched),
    (EventKind::Reassigned, Status::Travelling, Status::Dispatched),
    (EventKind::Reassigned, Status::OnSite, Status::Dispatched),
    (EventKind::Reassigned, Status::Working, Status::Dispatched),
    (EventKind::Reassigned, Status::Paused, Status::Dispatched),

    (EventKind::Accepted, Status::Dispatched, Status::Accepted),

    (EventKind::Rejected, Status::Dispatched, Status::Rejected),
    (EventKind::Rejected, Status::Accepted, Status::Rejected),

    (EventKind::TravelStarted, Status::Accepted, Status::Travelling),

    (EventKind::CheckedIn, Status::Accepted, Status::OnSite),
    (EventKind::CheckedIn, Status::Travelling, Status::OnSite),

    (EventKind::WorkStarted, Status::OnSite, Status::Working),

    (EventKind::Paused, Status::OnSite, Status::Paused),
    (EventKind::Paused, Status::Working, Status::Paused),

    (EventKind::Resumed, Status::Paused, Status::Working),

    (EventKind::Completed, Status::OnSite, Status::Completed),
    (EventKind::Completed, Status::Working, Status::Completed),
    (EventKind::Completed, Status::Paused, Status::Completed),

    (EventKind::Cancelled, Status::New, Status::Cancelled),
    (EventKind::Cancelled, Status::Pooled, Status::Cancelled),
    (EventKind::Cancelled, Status::Dispatched, Status::Cancelled),
    (EventKind::Cancelled, Status::Accepted, Status::Cancelled),
    (EventKind::Cancelled, Status::Rejected, Status::Cancelled),
    (EventKind::Cancelled, Status::Travelling, Status::Cancelled),
    (EventKind::Cancelled, Status::OnSite, Status::Cancelled),
    (EventKind::Cancelled, Status::Working, Status::Cancelled),
    (EventKind::Cancelled, Status::Paused, Status::Cancelled),

    // The state has an assignee, so a reopened ticket goes back to them.
    (EventKind::Reopened, Status::Completed, Status::Dispatched),
    (EventKind::Reopened, Status::Cancelled, Status::Dispatched),

    // A revisit confirming the fix leaves the ticket completed (closed as revisited).
    (EventKind::Revisited, Status::Completed, Status::Completed),
    // The shared pool (pool.rs): new or rejected tickets go in; a claim takes one out, accepted.
    (EventKind::Pooled, Status::New, Status::Pooled),
    (EventKind::Pooled, Status::Rejected, Status::Pooled),
    (EventKind::Claimed, Status::Pooled, Status::Accepted),
];

fn expected_to(kind: EventKind, from: Status) -> Option<Status> {
    ALLOWED.iter().find(|(k, f, _)| *k == kind && *f == from).map(|(_, _, to)| *to)
}

/// The content actions `check_content` is for.
const CONTENT_ACTIONS: [Action; 5] =
    [Action::AddNote, Action::AddPart, Action::LogTime, Action::SetChecklistItem, Action::RecordFeedback];

/// The statuses in which the assignee may perform each content action.
const CONTENT_ALLOWED: [(Action, &[Status]); 5] = [
    (Action::AddNote, &[Status::Accepted, Status::Travelling, Status::OnSite, Status::Working, Status::Paused]),
    (Action::AddPart, &[Status::Accepted, Status::Travelling, Status::OnSite, Status::Working, Status::Paused]),
    (Action::LogTime, &[Status::Accepted, Status::Travelling, Status::OnSite, Status::Working, Status::Paused]),
    (
        Action::SetChecklistItem,
        &[Status::Accepted, Status::Travelling, Status::OnSite, Status::Working, Status::Paused],
    ),
    (Action::RecordFeedback, &[Status::OnSite, Status::Working, Status::Paused, Status::Completed]),
];

fn content_allowed_in(action: Action, status: Status) -> bool {
    match CONTENT_ALLOWED.iter().find(|(a, _)| *a == action) {
        Some((_, statuses)) => statuses.contains(&status),
        None => panic!("CONTENT_ALLOWED lacks {action:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The tables themselves
// ---------------------------------------------------------------------------------------------

#[test]
fn tables_are_consistent() {
    let mut seen = HashSet::new();
    for (kind, from, _) in ALLOWED {
        assert!(seen.insert((*kind, *from)), "duplicate ALLOWED entry for ({kind:?}, {from:?})");
    }
    assert_eq!(ALLOWED.len(), 48);
    assert_eq!(EventKind::ALL.len() * Status::ALL.len() - ALLOWED.len(), 128, "refused pairs");

    let dispatcher: HashSet<_> = DISPATCHER_KINDS.into_iter().collect();
    let engineer: HashSet<_> = ENGINEER_KINDS.into_iter().collect();
    let all: HashSet<_> = EventKind::ALL.into_iter().collect();
    assert!(dispatcher.is_disjoint(&engineer));
    let claim: HashSet<_> = CLAIM_KINDS.into_iter().collect();
    assert!(claim.is_disjoint(&engineer) && claim.is_disjoint(&dispatcher));
    assert_eq!(&(&dispatcher | &engineer) | &claim, all);
    assert_eq!(KIND_ACTIONS.len(), EventKind::ALL.len());
}

mod actors;
mod content;
mod derive;
mod display;
mod milestones;
mod names;
mod revisits;
mod transitions;
