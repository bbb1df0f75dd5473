//! Workflow tests: Actor rules.

use super::*;

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
