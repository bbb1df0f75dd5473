//! Workflow tests: Names: as_str / parse / serde, and kind classification.

use super::*;

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
