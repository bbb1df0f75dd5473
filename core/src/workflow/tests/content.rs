//! Workflow tests: check_content / check_completion.

use super::*;

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
