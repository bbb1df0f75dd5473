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

// ---------------------------------------------------------------------------------------------
// Transition matrix: every kind x every status
// ---------------------------------------------------------------------------------------------

/// The event used for `kind` in the matrix: engineer kinds by the assignee, dispatcher kinds by
/// a user with `dispatcher_role`, naming `OTHER_ENG` (only dispatch/reassign read it).
fn matrix_event(kind: EventKind, dispatcher_role: Role) -> Event {
    if DISPATCHER_KINDS.contains(&kind) {
        let by = if dispatcher_role == Role::Admin { ADMIN } else { DISP };
        event(kind, by, Some(dispatcher_role), Some(OTHER_ENG))
    } else {
        eng(kind)
    }
}

fn check_matrix(created: bool, dispatcher_role: Role) {
    let mut allowed = 0;
    let mut refused = 0;
    for kind in EventKind::ALL {
        for from in Status::ALL {
            let state = TicketState { created, ..state_with(from) };
            let ev = matrix_event(kind, dispatcher_role);
            let context = format!("{kind:?} from {from:?} (created: {created}, by {dispatcher_role:?})");
            let result = apply(&state, &ev);

            if created && kind == EventKind::Created {
                let refusal = err_refusal(result, &context);
                assert_eq!(refusal, Refusal { action: Action::Create, reason: Reason::AlreadyCreated }, "{context}");
                refused += 1;
                continue;
            }

            match expected_to(kind, from) {
                Some(to) => {
                    let next = ok_state(result, &context);
                    assert_eq!(next.status, to, "{context}");
                    let expected_assignee = match kind {
                        EventKind::Dispatched | EventKind::Reassigned => Some(OTHER_ENG),
                        // The engineer gave the job back: nobody's until reassigned.
                        EventKind::Rejected => None,
                        // In the pool: nobody's until claimed.
                        EventKind::Pooled => None,
                        _ => Some(ENG),
                    };
                    assert_eq!(next.assignee.as_deref(), expected_assignee, "{context}");
                    assert_eq!(next.created, created || kind == EventKind::Created, "{context}");
                    allowed += 1;
                }
                None => {
                    let refusal = err_refusal(result, &context);
                    assert_eq!(
                        refusal,
                        Refusal { action: action_of(kind), reason: Reason::WrongStatus { status: from } },
                        "{context}"
                    );
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(allowed + refused, 176);
}

#[test]
fn transition_matrix_by_dispatcher() {
    check_matrix(false, Role::Dispatcher);
}

#[test]
fn transition_matrix_by_admin() {
    check_matrix(false, Role::Admin);
}

#[test]
fn transition_matrix_after_created_only_changes_created() {
    // With `created` already set, every non-`created` pair behaves exactly as in the table and
    // a second `created` is refused as AlreadyCreated in every status.
    check_matrix(true, Role::Dispatcher);
    check_matrix(true, Role::Admin);
}

#[test]
fn refused_event_leaves_state_untouched_by_returning_err_only() {
    // `apply` never mutates its input; a refused event gives Err and the caller's state stays.
    let state =
        TicketState { created: true, responded_at: Some(10), arrived_at: Some(20), ..state_with(Status::Working) };
    let before = state.clone();
    let _ = apply(&state, &eng(EventKind::Accepted));
    let _ = apply(&state, &eng(EventKind::Completed));
    assert_eq!(state, before);
}

#[test]
fn reopen_without_assignee_goes_back_to_new() {
    for from in [Status::Completed, Status::Cancelled] {
        let state = TicketState { created: true, status: from, ..TicketState::default() };
        let next = ok_state(apply(&state, &disp(EventKind::Reopened)), &format!("reopen from {from:?}"));
        assert_eq!(next.status, Status::New);
        assert_eq!(next.assignee, None);
    }
    // Via history: created, cancelled (never dispatched), reopened.
    let state = fold_ok(&[disp(EventKind::Created), disp(EventKind::Cancelled), disp(EventKind::Reopened)]);
    assert_eq!(state.status, Status::New);
    assert_eq!(state.assignee, None);
}

#[test]
fn reopen_with_assignee_goes_back_to_dispatched_for_same_engineer() {
    let mut events = working_history();
    events.extend([eng(EventKind::Completed), disp(EventKind::Reopened)]);
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Dispatched);
    assert_eq!(state.assignee.as_deref(), Some(ENG));
    // The engineer must accept again.
    let state = ok_state(apply(&state, &eng(EventKind::Accepted)), "accept after reopen");
    assert_eq!(state.status, Status::Accepted);
}

#[test]
fn reassign_to_the_same_engineer_is_allowed() {
    let mut events = working_history();
    events.push(assign(EventKind::Reassigned, ENG));
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Dispatched);
    assert_eq!(state.assignee.as_deref(), Some(ENG));
}

#[test]
fn full_happy_path() {
    let mut events = working_history();
    events.extend([
        eng(EventKind::Paused),
        eng(EventKind::Resumed),
        eng(EventKind::Paused),
        eng(EventKind::Resumed),
        eng(EventKind::Completed),
    ]);
    let derived = derive(&events);
    assert!(derived.conflicts.is_empty(), "{:?}", derived.conflicts);
    assert_eq!(derived.state.status, Status::Completed);
    assert!(derived.state.created);
    assert_eq!(derived.state.assignee.as_deref(), Some(ENG));
}

#[test]
fn reject_then_reassign_to_another_engineer() {
    let mut events = dispatched_history();
    events.extend([eng(EventKind::Rejected), assign(EventKind::Reassigned, OTHER_ENG)]);
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Dispatched);
    assert_eq!(state.assignee.as_deref(), Some(OTHER_ENG));
    // The new engineer can accept; the old one no longer can.
    let old = apply(&state, &eng(EventKind::Accepted));
    assert_eq!(
        err_refusal(old, "old engineer accepts").reason,
        Reason::NotAssignee { assignee: Some(OTHER_ENG.to_owned()) }
    );
    let new = apply(&state, &event(EventKind::Accepted, OTHER_ENG, Some(Role::Engineer), None));
    assert_eq!(ok_state(new, "new engineer accepts").status, Status::Accepted);
}

// ---------------------------------------------------------------------------------------------
// Actor rules
// ---------------------------------------------------------------------------------------------

#[test]
fn engineer_kinds_by_someone_else_are_not_assignee_in_every_status() {
    let others: [(&str, Option<Role>); 4] = [
        (OTHER_ENG, Some(Role::Engineer)),
        (DISP, Some(Role::Dispatcher)),
        (ADMIN, Some(Role::Admin)),
        ("stranger", None),
    ];
    for kind in ENGINEER_KINDS {
        for from in Status::ALL {
            for (by, role) in others {
                let state = TicketState { created: true, ..state_with(from) };
                let context = format!("{kind:?} from {from:?} by {by}");
                let refusal = err_refusal(apply(&state, &event(kind, by, role, None)), &context);
                assert_eq!(
                    refusal,
                    Refusal { action: action_of(kind), reason: Reason::NotAssignee { assignee: Some(ENG.to_owned()) } },
                    "{context}"
                );
            }
        }
    }
}

#[test]
fn engineer_kinds_without_assignee_are_not_assignee_none() {
    for kind in ENGINEER_KINDS {
        for from in Status::ALL {
            for (by, role) in [(ENG, Some(Role::Engineer)), (DISP, Some(Role::Dispatcher)), ("", None)] {
                let state = TicketState { created: true, status: from, ..TicketState::default() };
                let context = format!("{kind:?} from {from:?} by {by:?} without assignee");
                let refusal = err_refusal(apply(&state, &event(kind, by, role, None)), &context);
                assert_eq!(
                    refusal,
                    Refusal { action: action_of(kind), reason: Reason::NotAssignee { assignee: None } },
                    "{context}"
                );
            }
        }
    }
}

#[test]
fn engineer_kinds_by_assignee_ignore_the_role() {
    // Current behaviour: engineer kinds check only that `by` is the assignee, whatever the role.
    for role in [Some(Role::Engineer), Some(Role::Dispatcher), Some(Role::Admin), None] {
        let state = state_with(Status::Dispatched);
        let next = ok_state(apply(&state, &event(EventKind::Accepted, ENG, role, None)), &format!("{role:?}"));
        assert_eq!(next.status, Status::Accepted);
    }
}

#[test]
fn dispatcher_kinds_by_engineer_or_unknown_role_are_not_dispatcher_in_every_status() {
    for kind in DISPATCHER_KINDS {
        for from in Status::ALL {
            for created in [false, true] {
                // Even the assignee themself, and whether or not the engineer is named.
                for (by, role) in [(ENG, Some(Role::Engineer)), (OTHER_ENG, Some(Role::Engineer)), (DISP, None)] {
                    let state = TicketState { created, ..state_with(from) };
                    let context = format!("{kind:?} from {from:?} by {by} as {role:?} (created: {created})");
                    let refusal = err_refusal(apply(&state, &event(kind, by, role, Some(OTHER_ENG))), &context);
                    assert_eq!(
                        refusal,
                        Refusal { action: action_of(kind), reason: Reason::NotDispatcher },
                        "{context}"
                    );
                }
            }
        }
    }
}

#[test]
fn dispatcher_kinds_by_dispatcher_and_admin_are_allowed() {
    // (kind, a status it is allowed from, the resulting status), for each dispatcher kind.
    let cases = [
        (EventKind::Created, Status::New, Status::New),
        (EventKind::Dispatched, Status::New, Status::Dispatched),
        (EventKind::Reassigned, Status::Working, Status::Dispatched),
        (EventKind::Cancelled, Status::Working, Status::Cancelled),
        (EventKind::Reopened, Status::Cancelled, Status::Dispatched),
    ];
    for (kind, from, to) in cases {
        for (by, role) in [(DISP, Role::Dispatcher), (ADMIN, Role::Admin)] {
            let state = state_with(from);
            let context = format!("{kind:?} from {from:?} by {role:?}");
            let next = ok_state(apply(&state, &event(kind, by, Some(role), Some(OTHER_ENG))), &context);
            assert_eq!(next.status, to, "{context}");
        }
    }
}

#[test]
fn dispatch_and_reassign_without_an_engineer_are_refused() {
    for (kind, from) in [(EventKind::Dispatched, Status::New), (EventKind::Reassigned, Status::Accepted)] {
        for assignee in [None, Some("")] {
            let state = TicketState { created: true, ..state_with(from) };
            let context = format!("{kind:?} from {from:?} naming {assignee:?}");
            let refusal = err_refusal(apply(&state, &event(kind, DISP, Some(Role::Dispatcher), assignee)), &context);
            assert_eq!(refusal, Refusal { action: Action::Assign, reason: Reason::NoEngineerNamed }, "{context}");
            assert_eq!(refusal.to_string(), "cannot assign: no engineer named");
        }
    }
    // Dispatched/Reassigned without assignee are refused in every status: WrongStatus where the
    // status forbids it (checked first), NoEngineerNamed where it is allowed.
    for kind in [EventKind::Dispatched, EventKind::Reassigned] {
        for from in Status::ALL {
            let state = state_with(from);
            let context = format!("{kind:?} from {from:?} naming nobody");
            let refusal = err_refusal(apply(&state, &event(kind, DISP, Some(Role::Dispatcher), None)), &context);
            let expected = if expected_to(kind, from).is_some() {
                Reason::NoEngineerNamed
            } else {
                Reason::WrongStatus { status: from }
            };
            assert_eq!(refusal.reason, expected, "{context}");
        }
    }
}

#[test]
fn second_created_is_already_created() {
    for from in Status::ALL {
        for (by, role) in [(DISP, Role::Dispatcher), (ADMIN, Role::Admin)] {
            let state = TicketState { created: true, ..state_with(from) };
            let refusal = err_refusal(
                apply(&state, &event(EventKind::Created, by, Some(role), None)),
                &format!("second created from {from:?}"),
            );
            assert_eq!(refusal, Refusal { action: Action::Create, reason: Reason::AlreadyCreated });
        }
    }
    // The actor check comes first: an engineer's second `created` is NotDispatcher.
    let state = TicketState { created: true, ..TicketState::default() };
    let refusal = err_refusal(apply(&state, &eng(EventKind::Created)), "engineer second created");
    assert_eq!(refusal.reason, Reason::NotDispatcher);

    let first = disp(EventKind::Created);
    let second = disp(EventKind::Created);
    let derived = derive([&first, &second]);
    assert!(derived.state.created);
    assert_eq!(
        derived.conflicts,
        vec![Conflict {
            event_id: second.id.clone(),
            kind: "created".to_owned(),
            by: DISP.to_owned(),
            reason: "cannot create: ticket already exists".to_owned(),
        }]
    );
}

#[test]
fn unknown_kind_leaves_state_unchanged_in_every_status() {
    for from in Status::ALL {
        for created in [false, true] {
            for assignee in [None, Some(ENG.to_owned())] {
                let state = TicketState {
                    created,
                    status: from,
                    assignee: assignee.clone(),
                    responded_at: Some(1),
                    arrived_at: Some(2),
                    resolved_at: Some(3),
                    revisited_at: None,
                    reopens: 1,
                    first_time_fix: Some(false),
                };
                // Whoever records it, whatever the role.
                for (by, role) in [(ENG, Some(Role::Engineer)), ("stranger", None), (DISP, Some(Role::Dispatcher))] {
                    let ev = unknown_event("teleported", by, role);
                    let next = ok_state(apply(&state, &ev), &format!("teleported from {from:?} by {by}"));
                    assert_eq!(next, state);
                }
            }
        }
    }
}

#[test]
fn unknown_kind_in_history_is_not_a_conflict() {
    let mut events = dispatched_history();
    events.push(unknown_event("teleported", ENG, Some(Role::Engineer)));
    events.push(eng(EventKind::Accepted));
    events.push(unknown_event("teleported", "stranger", None));
    let derived = derive(&events);
    assert!(derived.conflicts.is_empty(), "{:?}", derived.conflicts);
    assert_eq!(derived.state.status, Status::Accepted);
}

// ---------------------------------------------------------------------------------------------
// Milestones
// ---------------------------------------------------------------------------------------------

#[test]
fn milestones_along_the_happy_path() {
    let events = vec![
        event_at(EventKind::Created, DISP, Some(Role::Dispatcher), None, 10),
        event_at(EventKind::Dispatched, DISP, Some(Role::Dispatcher), Some(ENG), 20),
        eng_at(EventKind::Accepted, 100),
        eng_at(EventKind::TravelStarted, 150),
        eng_at(EventKind::CheckedIn, 200),
        eng_at(EventKind::WorkStarted, 210),
        eng_at(EventKind::Paused, 220),
        eng_at(EventKind::Resumed, 230),
        eng_at(EventKind::Completed, 300),
    ];
    let mut state = TicketState::default();
    let mut seen = Vec::new();
    for ev in &events {
        state = ok_state(apply(&state, ev), &ev.kind_name);
        seen.push((state.status, state.responded_at, state.arrived_at, state.resolved_at));
    }
    assert_eq!(
        seen,
        vec![
            (Status::New, None, None, None),
            (Status::Dispatched, None, None, None),
            (Status::Accepted, Some(100), None, None),
            (Status::Travelling, Some(100), None, None),
            (Status::OnSite, Some(100), Some(200), None),
            (Status::Working, Some(100), Some(200), None),
            (Status::Paused, Some(100), Some(200), None),
            (Status::Working, Some(100), Some(200), None),
            (Status::Completed, Some(100), Some(200), Some(300)),
        ]
    );

    // Reopen clears all three; the next accept/check-in/complete set them afresh.
    let state =
        ok_state(apply(&state, &event_at(EventKind::Reopened, DISP, Some(Role::Dispatcher), None, 400)), "reopen");
    assert_eq!(
        (state.status, state.responded_at, state.arrived_at, state.resolved_at),
        (Status::Dispatched, None, None, None)
    );
    let state = fold_from(
        state,
        &[eng_at(EventKind::Accepted, 500), eng_at(EventKind::CheckedIn, 600), eng_at(EventKind::Completed, 700)],
    );
    assert_eq!((state.responded_at, state.arrived_at, state.resolved_at), (Some(500), Some(600), Some(700)));
}

fn fold_from(mut state: TicketState, events: &[Event]) -> TicketState {
    for ev in events {
        state = ok_state(apply(&state, ev), &ev.kind_name);
    }
    state
}

#[test]
fn check_in_straight_from_accepted_sets_arrived_at() {
    let state = TicketState { responded_at: Some(100), ..state_with(Status::Accepted) };
    let next = ok_state(apply(&state, &eng_at(EventKind::CheckedIn, 250)), "check in from accepted");
    assert_eq!((next.status, next.responded_at, next.arrived_at), (Status::OnSite, Some(100), Some(250)));
}

#[test]
fn accept_and_check_in_keep_an_earlier_milestone() {
    // `responded_at` / `arrived_at` record the *first* time since the last (re)dispatch.
    let state = TicketState { responded_at: Some(5), ..state_with(Status::Dispatched) };
    let next = ok_state(apply(&state, &eng_at(EventKind::Accepted, 99)), "accept");
    assert_eq!(next.responded_at, Some(5));

    let state = TicketState { arrived_at: Some(7), ..state_with(Status::Travelling) };
    let next = ok_state(apply(&state, &eng_at(EventKind::CheckedIn, 99)), "check in");
    assert_eq!(next.arrived_at, Some(7));
}

#[test]
fn completed_sets_resolved_at_to_the_event_time() {
    for from in [Status::OnSite, Status::Working, Status::Paused] {
        let state = state_with(from);
        let next = ok_state(apply(&state, &eng_at(EventKind::Completed, 777)), &format!("complete from {from:?}"));
        assert_eq!(next.resolved_at, Some(777));
    }
}

#[test]
fn reassign_clears_respond_and_arrive_then_a_new_accept_sets_them_again() {
    let events = vec![
        disp(EventKind::Created),
        assign(EventKind::Dispatched, ENG),
        eng_at(EventKind::Accepted, 100),
        eng_at(EventKind::CheckedIn, 200),
        eng_at(EventKind::WorkStarted, 210),
        event_at(EventKind::Reassigned, DISP, Some(Role::Dispatcher), Some(OTHER_ENG), 300),
    ];
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Dispatched);
    assert_eq!(state.assignee.as_deref(), Some(OTHER_ENG));
    assert_eq!((state.responded_at, state.arrived_at, state.resolved_at), (None, None, None));

    let state = fold_from(
        state,
        &[
            event_at(EventKind::Accepted, OTHER_ENG, Some(Role::Engineer), None, 400),
            event_at(EventKind::CheckedIn, OTHER_ENG, Some(Role::Engineer), None, 500),
        ],
    );
    assert_eq!((state.responded_at, state.arrived_at), (Some(400), Some(500)));
}

#[test]
fn reassign_clears_responded_at_after_reject_and_the_second_accept_counts() {
    let events = vec![
        disp(EventKind::Created),
        assign(EventKind::Dispatched, ENG),
        eng_at(EventKind::Accepted, 100),
        eng_at(EventKind::Rejected, 150),
    ];
    let state = fold_ok(&events);
    // Rejecting does not clear the response milestone.
    assert_eq!((state.status, state.responded_at), (Status::Rejected, Some(100)));

    let state = fold_from(state, &[assign(EventKind::Reassigned, ENG), eng_at(EventKind::Accepted, 300)]);
    assert_eq!((state.status, state.responded_at), (Status::Accepted, Some(300)));
}

#[test]
fn other_kinds_do_not_touch_milestones() {
    let base = TicketState {
        created: true,
        responded_at: Some(1),
        arrived_at: Some(2),
        resolved_at: Some(3),
        ..state_with(Status::New)
    };
    // (kind, from) pairs that are allowed and are not accept/check-in/complete/assign/reopen.
    let cases = [
        (EventKind::Rejected, Status::Accepted),
        (EventKind::TravelStarted, Status::Accepted),
        (EventKind::WorkStarted, Status::OnSite),
        (EventKind::Paused, Status::Working),
        (EventKind::Resumed, Status::Paused),
        (EventKind::Cancelled, Status::Working),
    ];
    for (kind, from) in cases {
        let state = TicketState { status: from, ..base.clone() };
        let next = ok_state(apply(&state, &matrix_event(kind, Role::Dispatcher)), &format!("{kind:?}"));
        assert_eq!((next.responded_at, next.arrived_at, next.resolved_at), (Some(1), Some(2), Some(3)), "{kind:?}");
    }
    // Created on a fresh state leaves them alone too.
    let state = TicketState { created: false, ..base.clone() };
    let next = ok_state(apply(&state, &disp(EventKind::Created)), "created");
    assert_eq!((next.responded_at, next.arrived_at, next.resolved_at), (Some(1), Some(2), Some(3)));
}

#[test]
fn cancel_keeps_milestones_and_reopen_clears_them() {
    let mut events = working_history();
    events.push(disp(EventKind::Cancelled));
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Cancelled);
    assert!(state.responded_at.is_some());
    assert!(state.arrived_at.is_some());
    assert_eq!(state.resolved_at, None);

    let state = ok_state(apply(&state, &disp(EventKind::Reopened)), "reopen");
    assert_eq!(
        (state.status, state.responded_at, state.arrived_at, state.resolved_at),
        (Status::Dispatched, None, None, None)
    );
}

// ---------------------------------------------------------------------------------------------
// derive
// ---------------------------------------------------------------------------------------------

#[test]
fn derive_of_nothing_is_the_default() {
    let derived = derive(std::iter::empty::<&Event>());
    assert_eq!(derived, Derived::default());
    assert_eq!(derived.state.status, Status::New);
    assert!(!derived.state.created);
}

#[test]
fn derive_keeps_folding_after_a_refused_event() {
    let created = disp(EventKind::Created);
    let dispatched = assign(EventKind::Dispatched, ENG);
    let early_check_in = eng(EventKind::CheckedIn);
    let accepted = eng_at(EventKind::Accepted, 1_000);
    let check_in = eng_at(EventKind::CheckedIn, 2_000);
    let events = [created, dispatched, early_check_in.clone(), accepted, check_in];

    let derived = derive(&events);
    assert_eq!(derived.state.status, Status::OnSite);
    assert_eq!(derived.state.responded_at, Some(1_000));
    assert_eq!(derived.state.arrived_at, Some(2_000));
    assert_eq!(
        derived.conflicts,
        vec![Conflict {
            event_id: early_check_in.id.clone(),
            kind: "checked_in".to_owned(),
            by: ENG.to_owned(),
            reason: "cannot check in: ticket is not accepted".to_owned(),
        }]
    );
}

#[test]
fn derive_matches_apply_fold_and_reports_every_conflict_in_order() {
    let created = disp(EventKind::Created);
    let by_engineer = eng(EventKind::Dispatched); // NotDispatcher
    let dispatched = assign(EventKind::Dispatched, ENG);
    let wrong_engineer = event(EventKind::Accepted, OTHER_ENG, Some(Role::Engineer), None); // NotAssignee
    let no_engineer = event(EventKind::Reassigned, DISP, Some(Role::Dispatcher), Some("")); // NoEngineerNamed
    let accepted = eng(EventKind::Accepted);
    let resumed = eng(EventKind::Resumed); // WrongStatus accepted
    let unknown = unknown_event("teleported", ENG, Some(Role::Engineer));
    let travel = eng(EventKind::TravelStarted);
    let events = [
        created,
        by_engineer.clone(),
        dispatched,
        wrong_engineer.clone(),
        no_engineer.clone(),
        accepted,
        resumed.clone(),
        unknown,
        travel,
    ];

    let derived = derive(&events);
    assert_eq!(derived.state.status, Status::Travelling);
    assert_eq!(derived.state.assignee.as_deref(), Some(ENG));
    let conflict = |ev: &Event, reason: &str| Conflict {
        event_id: ev.id.clone(),
        kind: ev.kind_name.clone(),
        by: ev.by.clone(),
        reason: reason.to_owned(),
    };
    assert_eq!(
        derived.conflicts,
        vec![
            conflict(&by_engineer, "cannot assign: only a dispatcher or admin may do this"),
            conflict(&wrong_engineer, "cannot accept: ticket is assigned to someone else"),
            conflict(&no_engineer, "cannot assign: no engineer named"),
            conflict(&resumed, "cannot resume: ticket is accepted"),
        ]
    );
    assert_eq!(derived.conflicts[0].kind, "dispatched");
    assert_eq!(derived.conflicts[1].by, OTHER_ENG);

    // The state equals folding only the accepted events.
    let mut state = TicketState::default();
    for ev in &events {
        if let Ok(next) = apply(&state, ev) {
            state = next;
        }
    }
    assert_eq!(derived.state, state);
}

#[test]
fn derive_cancel_then_complete() {
    let mut events = working_history();
    let cancel = disp(EventKind::Cancelled);
    let complete = eng_at(EventKind::Completed, 9_000);
    events.extend([cancel, complete.clone()]);

    let derived = derive(&events);
    assert_eq!(derived.state.status, Status::Cancelled);
    assert_eq!(derived.state.resolved_at, None);
    assert_eq!(
        derived.conflicts,
        vec![Conflict {
            event_id: complete.id.clone(),
            kind: "completed".to_owned(),
            by: ENG.to_owned(),
            reason: "cannot complete: ticket is cancelled".to_owned(),
        }]
    );
}

#[test]
fn derive_complete_then_cancel() {
    let mut events = working_history();
    let complete = eng_at(EventKind::Completed, 9_000);
    let cancel = disp(EventKind::Cancelled);
    events.extend([complete, cancel.clone()]);

    let derived = derive(&events);
    assert_eq!(derived.state.status, Status::Completed);
    assert_eq!(derived.state.resolved_at, Some(9_000));
    assert_eq!(
        derived.conflicts,
        vec![Conflict {
            event_id: cancel.id.clone(),
            kind: "cancelled".to_owned(),
            by: DISP.to_owned(),
            reason: "cannot cancel: ticket is completed".to_owned(),
        }]
    );
}

#[test]
fn derive_concurrent_accept_and_reassign() {
    // Offline engineer accepts while the dispatcher reassigns: whichever comes first in the list
    // wins, the other is a conflict (or is simply applied, when still allowed).
    let accept = eng(EventKind::Accepted);
    let reassign = assign(EventKind::Reassigned, OTHER_ENG);

    let mut first = dispatched_history();
    first.extend([accept.clone(), reassign.clone()]);
    let derived = derive(&first);
    assert!(derived.conflicts.is_empty(), "{:?}", derived.conflicts);
    assert_eq!((derived.state.status, derived.state.assignee.as_deref()), (Status::Dispatched, Some(OTHER_ENG)));
    assert_eq!(derived.state.responded_at, None);

    let mut second = dispatched_history();
    second.extend([reassign, accept.clone()]);
    let derived = derive(&second);
    assert_eq!((derived.state.status, derived.state.assignee.as_deref()), (Status::Dispatched, Some(OTHER_ENG)));
    assert_eq!(
        derived.conflicts,
        vec![Conflict {
            event_id: accept.id.clone(),
            kind: "accepted".to_owned(),
            by: ENG.to_owned(),
            reason: "cannot accept: ticket is assigned to someone else".to_owned(),
        }]
    );
}

#[test]
fn derive_accepts_events_before_created() {
    // Current behaviour: nothing requires `created` to come first. A dispatch before the
    // `created` event is applied, and the late `created` is applied too (status unchanged).
    let dispatched = assign(EventKind::Dispatched, ENG);
    let created = disp(EventKind::Created);
    let derived = derive([&dispatched, &created]);
    assert!(derived.conflicts.is_empty(), "{:?}", derived.conflicts);
    assert!(derived.state.created);
    assert_eq!(derived.state.status, Status::Dispatched);
}

// ---------------------------------------------------------------------------------------------
// check_content / check_completion
// ---------------------------------------------------------------------------------------------

#[test]
fn content_by_the_assignee_follows_the_status_table() {
    for action in CONTENT_ACTIONS {
        for status in Status::ALL {
            for role in [Some(Role::Engineer), None] {
                let state = TicketState { created: true, ..state_with(status) };
                let result = check_content(&state, action, &actor(ENG, role));
                let context = format!("{action:?} in {status:?} by assignee as {role:?}");
                if content_allowed_in(action, status) {
                    assert_eq!(result, Ok(()), "{context}");
                } else {
                    assert_eq!(result, Err(Refusal { action, reason: Reason::WrongStatus { status } }), "{context}");
                }
            }
        }
    }
}

#[test]
fn content_by_another_engineer_is_not_assignee() {
    for action in CONTENT_ACTIONS {
        for status in Status::ALL {
            let state = state_with(status);
            assert_eq!(
                check_content(&state, action, &actor(OTHER_ENG, Some(Role::Engineer))),
                Err(Refusal { action, reason: Reason::NotAssignee { assignee: Some(ENG.to_owned()) } }),
                "{action:?} in {status:?}"
            );
            let unassigned = TicketState { status, ..TicketState::default() };
            assert_eq!(
                check_content(&unassigned, action, &actor(ENG, Some(Role::Engineer))),
                Err(Refusal { action, reason: Reason::NotAssignee { assignee: None } }),
                "{action:?} in {status:?} without assignee"
            );
        }
    }
}

#[test]
fn content_by_dispatcher_or_admin_is_notes_only_in_any_status() {
    for (user, role) in [(DISP, Role::Dispatcher), (ADMIN, Role::Admin)] {
        for status in Status::ALL {
            for assignee in [Some(ENG.to_owned()), None] {
                let state = TicketState { status, assignee: assignee.clone(), ..TicketState::default() };
                for action in CONTENT_ACTIONS {
                    let result = check_content(&state, action, &actor(user, Some(role)));
                    let context = format!("{action:?} in {status:?} by {role:?} (assignee {assignee:?})");
                    if action == Action::AddNote {
                        assert_eq!(result, Ok(()), "{context}");
                    } else {
                        assert_eq!(
                            result,
                            Err(Refusal { action, reason: Reason::NotAssignee { assignee: assignee.clone() } }),
                            "{context}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn content_note_by_unknown_role_is_not_a_dispatcher_note() {
    let state = state_with(Status::Working);
    assert_eq!(
        check_content(&state, Action::AddNote, &actor(DISP, None)),
        Err(Refusal { action: Action::AddNote, reason: Reason::NotAssignee { assignee: Some(ENG.to_owned()) } })
    );
}

#[test]
fn content_by_a_dispatcher_who_is_the_assignee_follows_the_engineer_table() {
    for action in CONTENT_ACTIONS.into_iter().filter(|a| *a != Action::AddNote) {
        for status in Status::ALL {
            let state = state_with(status);
            let result = check_content(&state, action, &actor(ENG, Some(Role::Dispatcher)));
            assert_eq!(result.is_ok(), content_allowed_in(action, status), "{action:?} in {status:?}");
        }
    }
}

#[test]
fn check_content_refuses_non_content_actions() {
    // Current behaviour: any non-content action is refused with WrongStatus for the assignee.
    let non_content = [
        Action::Create,
        Action::Assign,
        Action::Accept,
        Action::Reject,
        Action::StartTravel,
        Action::CheckIn,
        Action::StartWork,
        Action::Pause,
        Action::Resume,
        Action::Complete,
        Action::Cancel,
        Action::Reopen,
    ];
    for action in non_content {
        for status in Status::ALL {
            let state = state_with(status);
            assert_eq!(
                check_content(&state, action, &actor(ENG, Some(Role::Engineer))),
                Err(Refusal { action, reason: Reason::WrongStatus { status } }),
                "{action:?} in {status:?}"
            );
        }
    }
}

#[test]
fn check_completion_all_combinations() {
    let refused = Err(Refusal { action: Action::Complete, reason: Reason::SignatureRequired });
    let cases = [(false, false, Ok(())), (false, true, Ok(())), (true, true, Ok(())), (true, false, refused)];
    for (required, has, expected) in cases {
        assert_eq!(check_completion(required, has), expected, "required {required}, has {has}");
    }
    let message = match check_completion(true, false) {
        Err(refusal) => refusal.to_string(),
        Ok(()) => panic!("signature required but missing was accepted"),
    };
    assert_eq!(message, "cannot complete: the customer's signature is required first");
}

// ---------------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------------

fn message(state: &TicketState, ev: &Event) -> String {
    err_refusal(apply(state, ev), &ev.kind_name).to_string()
}

#[test]
fn display_messages_from_apply() {
    let dispatched = fold_ok(&dispatched_history());
    assert_eq!(message(&dispatched, &eng(EventKind::CheckedIn)), "cannot check in: ticket is not accepted");
    assert_eq!(
        message(&dispatched, &event(EventKind::Accepted, OTHER_ENG, Some(Role::Engineer), None)),
        "cannot accept: ticket is assigned to someone else"
    );

    let mut cancelled_events = dispatched_history();
    cancelled_events.push(disp(EventKind::Cancelled));
    let cancelled = fold_ok(&cancelled_events);
    assert_eq!(message(&cancelled, &eng(EventKind::Accepted)), "cannot accept: ticket is cancelled");

    let working = fold_ok(&working_history());
    assert_eq!(
        message(&working, &event(EventKind::Cancelled, ENG, Some(Role::Engineer), None)),
        "cannot cancel: only a dispatcher or admin may do this"
    );
    assert_eq!(
        message(&working, &event(EventKind::Cancelled, DISP, None, None)),
        "cannot cancel: only a dispatcher or admin may do this"
    );

    let new = fold_ok(&[disp(EventKind::Created)]);
    assert_eq!(message(&new, &eng(EventKind::CheckedIn)), "cannot check in: ticket is not assigned to anyone");
    assert_eq!(message(&new, &disp(EventKind::Created)), "cannot create: ticket already exists");
    assert_eq!(message(&new, &disp(EventKind::Reopened)), "cannot reopen: ticket is new");
    assert_eq!(message(&new, &disp(EventKind::Dispatched)), "cannot assign: no engineer named");
}

#[test]
fn display_wrong_status_messages() {
    // (action, status, message): "not accepted" only for steps that need acceptance, and only
    // while the ticket is new or dispatched.
    let cases = [
        (Action::CheckIn, Status::New, "cannot check in: ticket is not accepted"),
        (Action::CheckIn, Status::Dispatched, "cannot check in: ticket is not accepted"),
        (Action::CheckIn, Status::Rejected, "cannot check in: ticket is rejected"),
        (Action::CheckIn, Status::OnSite, "cannot check in: ticket is on site"),
        (Action::StartTravel, Status::Dispatched, "cannot start travel: ticket is not accepted"),
        (Action::StartWork, Status::New, "cannot start work: ticket is not accepted"),
        (Action::StartWork, Status::Accepted, "cannot start work: ticket is accepted"),
        (Action::Pause, Status::Dispatched, "cannot pause: ticket is not accepted"),
        (Action::Resume, Status::Working, "cannot resume: ticket is working"),
        (Action::Complete, Status::Dispatched, "cannot complete: ticket is not accepted"),
        (Action::Complete, Status::Cancelled, "cannot complete: ticket is cancelled"),
        (Action::Complete, Status::Completed, "cannot complete: ticket is completed"),
        (Action::AddNote, Status::Dispatched, "cannot add a note: ticket is not accepted"),
        (Action::AddPart, Status::New, "cannot add a part: ticket is not accepted"),
        (Action::LogTime, Status::Completed, "cannot log time: ticket is completed"),
        (Action::SetChecklistItem, Status::Rejected, "cannot change the checklist: ticket is rejected"),
        (Action::RecordFeedback, Status::Dispatched, "cannot record feedback: ticket is not accepted"),
        (Action::RecordFeedback, Status::Cancelled, "cannot record feedback: ticket is cancelled"),
        // Accept, reject and the dispatcher actions do not "need acceptance".
        (Action::Accept, Status::New, "cannot accept: ticket is new"),
        (Action::Accept, Status::Cancelled, "cannot accept: ticket is cancelled"),
        (Action::Reject, Status::New, "cannot reject: ticket is new"),
        (Action::Assign, Status::Dispatched, "cannot assign: ticket is dispatched"),
        (Action::Assign, Status::Completed, "cannot assign: ticket is completed"),
        (Action::Cancel, Status::Completed, "cannot cancel: ticket is completed"),
        (Action::Reopen, Status::Working, "cannot reopen: ticket is working"),
        (Action::Reopen, Status::Paused, "cannot reopen: ticket is paused"),
        (Action::Create, Status::Travelling, "cannot create: ticket is travelling"),
    ];
    for (action, status, expected) in cases {
        let refusal = Refusal { action, reason: Reason::WrongStatus { status } };
        assert_eq!(refusal.to_string(), expected);
    }
}

#[test]
fn display_other_reasons_and_every_verb() {
    let verbs = [
        (Action::Create, "create"),
        (Action::Assign, "assign"),
        (Action::Accept, "accept"),
        (Action::Reject, "reject"),
        (Action::StartTravel, "start travel"),
        (Action::CheckIn, "check in"),
        (Action::StartWork, "start work"),
        (Action::Pause, "pause"),
        (Action::Resume, "resume"),
        (Action::Complete, "complete"),
        (Action::Cancel, "cancel"),
        (Action::Reopen, "reopen"),
        (Action::AddNote, "add a note"),
        (Action::AddPart, "add a part"),
        (Action::LogTime, "log time"),
        (Action::SetChecklistItem, "change the checklist"),
        (Action::RecordFeedback, "record feedback"),
    ];
    let reasons = [
        (Reason::NotAssignee { assignee: Some(ENG.to_owned()) }, "ticket is assigned to someone else"),
        (Reason::NotAssignee { assignee: None }, "ticket is not assigned to anyone"),
        (Reason::NotDispatcher, "only a dispatcher or admin may do this"),
        (Reason::NoEngineerNamed, "no engineer named"),
        (Reason::AlreadyCreated, "ticket already exists"),
        (Reason::SignatureRequired, "the customer's signature is required first"),
    ];
    for (action, verb) in verbs {
        assert_eq!(action.verb(), verb);
        for (reason, tail) in &reasons {
            let refusal = Refusal { action, reason: reason.clone() };
            assert_eq!(refusal.to_string(), format!("cannot {verb}: {tail}"));
        }
    }
}

#[test]
fn refusal_serializes_with_a_reason_code() {
    let refusal = Refusal { action: Action::CheckIn, reason: Reason::WrongStatus { status: Status::Dispatched } };
    let json = serde_json::to_value(&refusal).ok();
    assert_eq!(
        json,
        Some(serde_json::json!({"action": "check_in", "reason": {"code": "wrong_status", "status": "dispatched"}}))
    );
    let back: Option<Refusal> = json.and_then(|v| serde_json::from_value(v).ok());
    assert_eq!(back, Some(refusal));
}

// ---------------------------------------------------------------------------------------------
// Names: as_str / parse / serde, and kind classification
// ---------------------------------------------------------------------------------------------

#[test]
fn role_names_round_trip() {
    let roles = [(Role::Engineer, "engineer"), (Role::Dispatcher, "dispatcher"), (Role::Admin, "admin")];
    for (role, name) in roles {
        assert_eq!(role.as_str(), name);
        assert_eq!(Role::parse(name), Some(role));
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(serde_json::to_string(&role).ok(), Some(format!("\"{name}\"")));
    }
    for bad in ["", "Engineer", "ADMIN", "owner", " admin"] {
        assert_eq!(Role::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn status_names_round_trip() {
    let statuses = [
        (Status::New, "new"),
        (Status::Pooled, "pooled"),
        (Status::Dispatched, "dispatched"),
        (Status::Accepted, "accepted"),
        (Status::Rejected, "rejected"),
        (Status::Travelling, "travelling"),
        (Status::OnSite, "on_site"),
        (Status::Working, "working"),
        (Status::Paused, "paused"),
        (Status::Completed, "completed"),
        (Status::Cancelled, "cancelled"),
    ];
    assert_eq!(Status::ALL.to_vec(), statuses.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    for (status, name) in statuses {
        assert_eq!(status.as_str(), name);
        assert_eq!(status.to_string(), name);
        assert_eq!(Status::parse(name), Some(status));
        assert_eq!(serde_json::to_string(&status).ok(), Some(format!("\"{name}\"")));
        assert_eq!(status.is_final(), matches!(status, Status::Completed | Status::Cancelled));
    }
    for bad in ["", "onsite", "On_Site", "canceled", "done"] {
        assert_eq!(Status::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Status::default(), Status::New);
}

#[test]
fn event_kind_names_round_trip() {
    let kinds = [
        (EventKind::Created, "created"),
        (EventKind::Dispatched, "dispatched"),
        (EventKind::Accepted, "accepted"),
        (EventKind::Rejected, "rejected"),
        (EventKind::TravelStarted, "travel_started"),
        (EventKind::CheckedIn, "checked_in"),
        (EventKind::WorkStarted, "work_started"),
        (EventKind::Paused, "paused"),
        (EventKind::Resumed, "resumed"),
        (EventKind::Completed, "completed"),
        (EventKind::Cancelled, "cancelled"),
        (EventKind::Reassigned, "reassigned"),
        (EventKind::Reopened, "reopened"),
        (EventKind::Revisited, "revisited"),
        (EventKind::Pooled, "pooled"),
        (EventKind::Claimed, "claimed"),
    ];
    assert_eq!(EventKind::ALL.to_vec(), kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    for (kind, name) in kinds {
        assert_eq!(kind.as_str(), name);
        assert_eq!(EventKind::parse(name), Some(kind));
        assert_eq!(serde_json::to_string(&kind).ok(), Some(format!("\"{name}\"")));
    }
    for bad in ["", "teleported", "checkedin", "Created", "travel started"] {
        assert_eq!(EventKind::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn event_kind_classification_and_actions() {
    for kind in EventKind::ALL {
        assert_eq!(kind.is_dispatcher_kind(), DISPATCHER_KINDS.contains(&kind), "{kind:?}");
        // A claim is recorded by an engineer (the path rules read this), under the pool's rule.
        let engineers = ENGINEER_KINDS.contains(&kind) || CLAIM_KINDS.contains(&kind);
        assert_eq!(kind.is_engineer_kind(), engineers, "{kind:?}");
        assert_eq!(kind.action(), action_of(kind), "{kind:?}");
    }
}

#[test]
fn reopening_a_ticket_the_engineer_rejected_does_not_hand_it_back_to_them() {
    let mut events = dispatched_history();
    events.extend([eng(EventKind::Rejected), disp(EventKind::Cancelled), disp(EventKind::Reopened)]);
    let derived = derive(&events);
    assert!(derived.conflicts.is_empty(), "{:?}", derived.conflicts);
    assert_eq!((derived.state.status, derived.state.assignee.as_deref()), (Status::New, None));
    // And the engineer who rejected it can no longer act on it.
    let refusal = err_refusal(apply(&derived.state, &eng(EventKind::Accepted)), "accept after reject");
    assert_eq!(refusal.reason, Reason::NotAssignee { assignee: None });
}

#[test]
fn the_customer_messages_until_cancelled_and_rates_once_after_completion() {
    for status in Status::ALL {
        let message = check_customer_message(status, 0);
        assert_eq!(message.is_ok(), status != Status::Cancelled, "{status:?}");
        let rating = check_customer_rating(status, false);
        assert_eq!(rating.is_ok(), status == Status::Completed, "{status:?}");
    }
    let full = check_customer_message(Status::OnSite, values::MAX_CUSTOMER_MESSAGES);
    assert_eq!(full.map_err(|r| r.reason), Err(Reason::TooMany { max: values::MAX_CUSTOMER_MESSAGES }));
    let again = check_customer_rating(Status::Completed, true);
    assert_eq!(again.map_err(|r| r.to_string()), Err("cannot rate the visit: it is already recorded".into()));
    assert!(needs_follow_up(1) && needs_follow_up(2) && !needs_follow_up(3) && !needs_follow_up(5));
}

// ---------------------------------------------------------------------------------------------
// Revisits (docs/adr/0019)
// ---------------------------------------------------------------------------------------------

/// created, dispatched to ENG, worked and completed.
fn completed_history() -> Vec<Event> {
    let mut events = dispatched_history();
    for kind in [EventKind::Accepted, EventKind::CheckedIn, EventKind::Completed] {
        events.push(eng(kind));
    }
    events
}

/// A dispatcher's `reopened` recording a revisit's "not fixed".
fn revisit_not_fixed() -> Event {
    Event { revisit: true, ..disp(EventKind::Reopened) }
}

#[test]
fn a_revisit_confirming_the_fix_closes_the_ticket_as_revisited_and_counts_a_first_time_fix() {
    let mut events = completed_history();
    let revisited = disp(EventKind::Revisited);
    let at = revisited.at;
    events.push(revisited);
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.revisited_at, Some(at));
    assert_eq!(state.first_time_fix, Some(true));
    // Revisited once: a second verdict either way is refused as already recorded.
    for second in [disp(EventKind::Revisited), revisit_not_fixed()] {
        let refusal = err_refusal(apply(&state, &second), "second revisit");
        assert_eq!(refusal.reason, Reason::AlreadyRecorded, "{refusal}");
    }
    // A plain reopen by a dispatcher is still possible, and clears the revisit.
    let reopened = ok_state(apply(&state, &disp(EventKind::Reopened)), "reopen after revisit");
    assert_eq!((reopened.status, reopened.revisited_at), (Status::Dispatched, None));
    assert_eq!(reopened.first_time_fix, Some(true), "the first verdict stands");
}

#[test]
fn a_revisit_finding_it_not_fixed_reopens_the_ticket_to_its_engineer_and_is_no_first_time_fix() {
    let mut events = completed_history();
    events.push(revisit_not_fixed());
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Dispatched);
    assert_eq!(state.assignee.as_deref(), Some(ENG));
    assert_eq!(state.first_time_fix, Some(false));
    assert_eq!(state.resolved_at, None);
    // Fixed on the second visit and then confirmed: still not a first-time fix.
    for kind in [EventKind::Accepted, EventKind::CheckedIn, EventKind::Completed] {
        events.push(eng(kind));
    }
    events.push(disp(EventKind::Revisited));
    let state = fold_ok(&events);
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.first_time_fix, Some(false));
}

#[test]
fn a_ticket_reopened_before_its_first_revisit_is_no_first_time_fix() {
    let mut events = completed_history();
    events.push(disp(EventKind::Reopened));
    for kind in [EventKind::Accepted, EventKind::CheckedIn, EventKind::Completed] {
        events.push(eng(kind));
    }
    events.push(disp(EventKind::Revisited));
    assert_eq!(fold_ok(&events).first_time_fix, Some(false));
}

#[test]
fn revisits_are_refused_before_completion_on_cancelled_tickets_and_to_engineers() {
    let mut cancelled = dispatched_history();
    cancelled.push(disp(EventKind::Cancelled));
    let state = fold_ok(&cancelled);
    for event in [disp(EventKind::Revisited), revisit_not_fixed()] {
        let refusal = err_refusal(apply(&state, &event), "revisit of a cancelled ticket");
        assert_eq!(refusal.reason, Reason::WrongStatus { status: Status::Cancelled });
    }
    let working = fold_ok(&dispatched_history());
    let refusal = err_refusal(apply(&working, &disp(EventKind::Revisited)), "revisit before completion");
    assert_eq!(refusal.reason, Reason::WrongStatus { status: Status::Dispatched });
    let completed = fold_ok(&completed_history());
    let by_engineer = event(EventKind::Revisited, ENG, Some(Role::Engineer), None);
    let refusal = err_refusal(apply(&completed, &by_engineer), "an engineer revisits");
    assert_eq!(refusal.reason, Reason::NotDispatcher);
    assert_eq!(completed.first_time_fix, None, "not revisited yet");
}
