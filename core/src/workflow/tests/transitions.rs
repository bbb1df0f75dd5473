//! Workflow tests: Transition matrix: every kind x every status.

use super::*;

/// The event used for `kind` in the matrix: engineer kinds by the assignee, dispatcher kinds by
/// a user with `dispatcher_role`, naming `OTHER_ENG` (only dispatch/reassign read it).
pub(super) fn matrix_event(kind: EventKind, dispatcher_role: Role) -> Event {
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
