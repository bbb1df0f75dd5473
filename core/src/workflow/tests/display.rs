//! Workflow tests: Display.

use super::*;

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
