//! What to do first when the workflow refuses an engineer's step: "cannot complete: ticket is
//! accepted; check in first". Read from the same transition table as the refusal itself
//! ([`super::allows`]), so the advice cannot drift from the rules. The CLI, the server's API
//! (and so the console) and the bindings all show [`Refusal::explain`].

use std::collections::VecDeque;

use super::{Action, EventKind, Reason, Refusal, Status, allows, content_allows};

/// Steps that move a job forward, in the order they are tried; going back (reject, pause,
/// cancel, reassign, reopen) is never advised.
const FORWARD: [EventKind; 6] = [
    EventKind::Dispatched,
    EventKind::Accepted,
    EventKind::CheckedIn,
    EventKind::TravelStarted,
    EventKind::WorkStarted,
    EventKind::Resumed,
];

/// The status a forward step leads to.
fn after(kind: EventKind) -> Status {
    match kind {
        EventKind::Dispatched => Status::Dispatched,
        EventKind::Accepted => Status::Accepted,
        EventKind::TravelStarted => Status::Travelling,
        EventKind::CheckedIn => Status::OnSite,
        _ => Status::Working,
    }
}

/// Whether `action` may be taken by the assignee of a ticket in `status`.
fn possible(action: Action, status: Status) -> bool {
    EventKind::ALL.into_iter().any(|kind| kind.action() == action && allows(kind, status))
        || content_allows(action, status)
}

/// Engineer's actions: the only ones advice is given for (a dispatcher's refusals say
/// everything already, and the customer's are shown on the tracking page in its own words).
fn is_engineers(action: Action) -> bool {
    !matches!(
        action,
        Action::Create
            | Action::Assign
            | Action::Cancel
            | Action::Reopen
            | Action::Reclassify
            | Action::Revisit
            | Action::SetComplaint
            | Action::Pool
            | Action::MessageFromCustomer
            | Action::RateVisit
    )
}

/// The first forward step from `status` on the shortest way to where `action` is possible.
pub fn first_step(action: Action, status: Status) -> Option<EventKind> {
    if !is_engineers(action) || possible(action, status) {
        return None;
    }
    let mut seen = vec![status];
    let mut queue = VecDeque::from([(status, None::<EventKind>)]);
    while let Some((at, first)) = queue.pop_front() {
        for kind in FORWARD {
            let next = after(kind);
            if !allows(kind, at) || seen.contains(&next) {
                continue;
            }
            let first = first.or(Some(kind));
            if possible(action, next) {
                return first;
            }
            seen.push(next);
            queue.push_back((next, first));
        }
    }
    None
}

impl Refusal {
    /// What must happen first for this refused step to be allowed, if anything forward can
    /// make it so: "check in first", "a dispatcher must assign it first".
    pub fn next_step(&self) -> Option<String> {
        let first = match &self.reason {
            Reason::WrongStatus { status } => first_step(self.action, *status)?,
            Reason::NotAssignee { assignee: None } if is_engineers(self.action) => EventKind::Dispatched,
            _ => return None,
        };
        Some(if first.is_dispatcher_kind() {
            "a dispatcher must assign it first".to_owned()
        } else {
            format!("{} first", first.action().verb())
        })
    }

    /// The refusal with what comes first, for people: "cannot complete: ticket is accepted;
    /// check in first". Stored conflicts keep the plain [`std::fmt::Display`] wording.
    pub fn explain(&self) -> String {
        match self.next_step() {
            Some(step) => format!("{self}; {step}"),
            None => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(action: Action, status: Status) -> String {
        Refusal { action, reason: Reason::WrongStatus { status } }.explain()
    }

    #[test]
    fn a_refused_step_says_what_comes_first() {
        assert_eq!(explain(Action::Complete, Status::Accepted), "cannot complete: ticket is accepted; check in first");
        assert_eq!(
            explain(Action::StartWork, Status::Travelling),
            "cannot start work: ticket is travelling; check in first"
        );
        assert_eq!(
            explain(Action::CheckIn, Status::Dispatched),
            "cannot check in: ticket is not accepted; accept first"
        );
        assert_eq!(
            explain(Action::AddNote, Status::Dispatched),
            "cannot add a note: ticket is not accepted; accept first"
        );
        assert_eq!(
            explain(Action::Complete, Status::New),
            "cannot complete: ticket is not accepted; a dispatcher must assign it first"
        );
        assert_eq!(
            explain(Action::CaptureSignature, Status::Travelling),
            "cannot capture the signature: ticket is travelling; check in first"
        );
        assert_eq!(explain(Action::Resume, Status::Working), "cannot resume: ticket is working");
        let unassigned = Refusal { action: Action::CheckIn, reason: Reason::NotAssignee { assignee: None } };
        assert_eq!(
            unassigned.explain(),
            "cannot check in: ticket is not assigned to anyone; a dispatcher must assign it first"
        );
    }

    #[test]
    fn no_advice_where_nothing_forward_helps() {
        // Done, given back, or the dispatcher's own refusals: the plain wording.
        assert_eq!(explain(Action::Complete, Status::Completed), "cannot complete: ticket is completed");
        assert_eq!(explain(Action::Accept, Status::Accepted), "cannot accept: ticket is accepted");
        assert_eq!(explain(Action::CheckIn, Status::Rejected), "cannot check in: ticket is rejected");
        assert_eq!(explain(Action::Reopen, Status::New), "cannot reopen: ticket is new");
        let elsewhere = Refusal { action: Action::Accept, reason: Reason::NotAssignee { assignee: Some("li".into()) } };
        assert_eq!(elsewhere.explain(), "cannot accept: ticket is assigned to someone else");
    }

    #[test]
    fn every_advised_step_leads_to_where_the_action_is_possible() {
        // Following the advice, step after step, always ends where the action is allowed.
        for action in [Action::Complete, Action::StartWork, Action::CheckIn, Action::AddPart, Action::CaptureSignature]
        {
            for status in Status::ALL {
                let mut at = status;
                for _ in 0..6 {
                    let Some(kind) = first_step(action, at) else { break };
                    assert!(allows(kind, at), "{action:?} from {status:?}: advised {kind:?} at {at:?}");
                    at = after(kind);
                }
                if first_step(action, status).is_some() {
                    assert!(possible(action, at), "{action:?} from {status:?} ends at {at:?}");
                }
            }
        }
    }
}
