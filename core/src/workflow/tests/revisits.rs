//! Workflow tests: Revisits (docs/adr/0019).

use super::*;

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
