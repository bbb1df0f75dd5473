//! Workflow tests: Milestones.

use super::transitions::matrix_event;
use super::*;

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
