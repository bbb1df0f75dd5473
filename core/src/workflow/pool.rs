//! The shared pool (抢单, docs/adr/0023): a dispatcher puts a ticket into the pool instead of
//! assigning it, and the first engineer to claim it gets it, accepted. Kept apart from the
//! main transition table so the pool's rules read in one place; [`super::apply`] and
//! [`super::allows`] call in here.

use super::{Actor, Event, Reason, Role, Status, TicketState};

/// Statuses a dispatcher may put into the pool from: a new ticket, or one an engineer handed
/// back (rejected). An assigned ticket is taken out of someone's hands by reassigning, not by
/// pooling, so nobody loses a job they have accepted to a race.
pub(super) fn may_pool_from(from: Status) -> bool {
    matches!(from, Status::New | Status::Rejected)
}

/// A pooled ticket is nobody's until it is claimed.
pub(super) fn into_pool(state: &mut TicketState) {
    state.status = Status::Pooled;
    state.assignee = None;
    state.responded_at = None;
    state.arrived_at = None;
}

/// Applies a claim: an engineer claims for themself a ticket that is in the pool, and it
/// becomes theirs, accepted (claiming is the answer the pool asks for; the respond clock
/// stops at the claim). Refused when someone else holds it already (claimed first, or a
/// dispatcher assigned it meanwhile), when the ticket is not in the pool, when the claim names
/// another engineer, or when a non-engineer claims.
pub(super) fn apply_claim(state: &TicketState, event: &Event, actor: &Actor<'_>) -> Result<TicketState, Reason> {
    if actor.role != Some(Role::Engineer) {
        return Err(Reason::NotEngineer);
    }
    if event.assignee.as_deref().is_some_and(|named| !named.is_empty() && named != actor.user) {
        return Err(Reason::ClaimForOther);
    }
    if state.status != Status::Pooled {
        return match state.assignee.as_deref() {
            Some(holder) if holder != actor.user => Err(Reason::ClaimedByOther),
            _ => Err(Reason::WrongStatus { status: state.status }),
        };
    }
    let mut next = state.clone();
    next.status = Status::Accepted;
    next.assignee = Some(actor.user.to_owned());
    next.responded_at = Some(event.at);
    next.arrived_at = None;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::super::{EventKind, Refusal, apply, derive};
    use super::*;

    fn event(kind: EventKind, by: &str, role: Role, assignee: Option<&str>, at: i64) -> Event {
        Event {
            id: format!("ev-{at:06}"),
            kind_name: kind.as_str().to_owned(),
            kind: Some(kind),
            by: by.to_owned(),
            role: Some(role),
            assignee: assignee.map(str::to_owned),
            at,
            revisit: false,
        }
    }

    fn pooled() -> Vec<Event> {
        vec![
            event(EventKind::Created, "disp", Role::Dispatcher, None, 1),
            event(EventKind::Pooled, "disp", Role::Dispatcher, None, 2),
        ]
    }

    fn claim(by: &str, at: i64) -> Event {
        event(EventKind::Claimed, by, Role::Engineer, None, at)
    }

    #[test]
    fn a_pooled_ticket_is_nobodys_and_the_first_claim_makes_it_the_claimers_accepted() {
        let mut events = pooled();
        let state = derive(&events).state;
        assert_eq!((state.status, state.assignee.as_deref()), (Status::Pooled, None));
        events.push(claim("ana", 10));
        let state = derive(&events).state;
        assert_eq!((state.status, state.assignee.as_deref()), (Status::Accepted, Some("ana")));
        assert_eq!(state.responded_at, Some(10), "the claim is the engineer's response");
    }

    #[test]
    fn a_second_claim_is_refused_as_claimed_by_someone_else() {
        let mut events = pooled();
        events.push(claim("ana", 10));
        events.push(claim("ben", 11));
        let derived = derive(&events);
        assert_eq!(derived.state.assignee.as_deref(), Some("ana"));
        assert_eq!(derived.conflicts.len(), 1);
        assert_eq!(derived.conflicts[0].by, "ben");
        assert_eq!(derived.conflicts[0].reason, "cannot claim: claimed by someone else");
    }

    #[test]
    fn claims_outside_the_pool_for_others_or_by_dispatchers_are_refused() {
        let created = derive(&pooled()[..1]).state;
        let refused = apply(&created, &claim("ana", 5)).expect_err("refused");
        assert_eq!(refused.reason, Reason::WrongStatus { status: Status::New });

        let pool = derive(&pooled()).state;
        let for_other = event(EventKind::Claimed, "ana", Role::Engineer, Some("ben"), 5);
        assert_eq!(apply(&pool, &for_other).expect_err("refused").reason, Reason::ClaimForOther);
        let by_dispatcher = event(EventKind::Claimed, "disp", Role::Dispatcher, None, 5);
        assert_eq!(apply(&pool, &by_dispatcher).expect_err("refused").reason, Reason::NotEngineer);
        let naming_self = event(EventKind::Claimed, "ana", Role::Engineer, Some("ana"), 5);
        assert!(apply(&pool, &naming_self).is_ok());

        // Assigned by a dispatcher while in the pool: a claim comes too late.
        let mut events = pooled();
        events.push(event(EventKind::Reassigned, "disp", Role::Dispatcher, Some("ben"), 3));
        let assigned = derive(&events).state;
        let refusal: Refusal = apply(&assigned, &claim("ana", 5)).expect_err("refused");
        assert_eq!(refusal.to_string(), "cannot claim: claimed by someone else");
    }

    #[test]
    fn only_dispatchers_pool_and_only_new_or_rejected_tickets() {
        let created = derive(&pooled()[..1]).state;
        let by_engineer = event(EventKind::Pooled, "ana", Role::Engineer, None, 3);
        assert_eq!(apply(&created, &by_engineer).expect_err("refused").reason, Reason::NotDispatcher);
        let mut events = pooled();
        events.push(claim("ana", 10));
        let accepted = derive(&events).state;
        let again = event(EventKind::Pooled, "disp", Role::Dispatcher, None, 11);
        assert_eq!(
            apply(&accepted, &again).expect_err("refused").reason,
            Reason::WrongStatus { status: Status::Accepted }
        );
        events.push(event(EventKind::Rejected, "ana", Role::Engineer, None, 12));
        events.push(again);
        let back = derive(&events).state;
        assert_eq!((back.status, back.assignee), (Status::Pooled, None), "a rejected ticket goes back to the pool");
    }
}
