//! Workflow tests: derive.

use super::*;

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
