//! Which of a ticket's conflicts still wait for a dispatcher, and what resolves them. Pure.
//!
//! A conflict (a refused event, or a second signature) stays in the document forever: the
//! history is never rewritten. It counts as resolved once a dispatcher acted on the ticket
//! after it (an accepted or refused dispatcher event later in the history: reassign, cancel,
//! reopen) or reviewed it with a note carrying its [`marker`] (docs/adr/0007).

use fieldsync_core::model::Ticket;
use fieldsync_core::workflow::{Conflict, EventKind};

/// The text a review note carries for a conflict: `[conflict <event id>]`, or for a second
/// signature (which has no event) `[conflict signature:<who>]`.
pub fn marker(conflict: &Conflict) -> String {
    if conflict.event_id.is_empty() {
        format!("[conflict {}:{}]", conflict.kind, conflict.by)
    } else {
        format!("[conflict {}]", conflict.event_id)
    }
}

/// The conflicts of `ticket` no dispatcher has dealt with yet; `is_dispatcher` tells whether a
/// user id belongs to a dispatcher or admin.
pub fn pending<'t>(ticket: &'t Ticket, is_dispatcher: &dyn Fn(&str) -> bool) -> Vec<&'t Conflict> {
    ticket
        .conflicts
        .iter()
        .filter(|conflict| {
            let acted_after = ticket
                .events
                .iter()
                .position(|e| !conflict.event_id.is_empty() && e.id == conflict.event_id)
                .is_some_and(|at| {
                    ticket.events[at + 1..].iter().any(|e| {
                        e.void.is_none() && EventKind::parse(&e.kind).is_some_and(EventKind::is_dispatcher_kind)
                    })
                });
            let mark = marker(conflict);
            let reviewed =
                ticket.notes.iter().any(|n| n.void.is_none() && is_dispatcher(&n.by) && n.text.contains(&mark));
            !(acted_after || reviewed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;
    use fieldsync_core::actions::{self, Command};
    use fieldsync_core::model::{Identity, Location, NewTicket, doc};
    use fieldsync_core::workflow::Role;

    use super::*;

    fn who(user: &str, role: Role) -> Identity {
        Identity { user_id: user.into(), device_id: format!("{user}-dev"), role }
    }

    /// A ticket the engineer completed offline while the dispatcher cancelled it.
    fn conflicted() -> (automerge::Automerge, Identity) {
        let dana = who("dana", Role::Dispatcher);
        let eli = who("eli", Role::Engineer);
        let new = NewTicket { title: "Leak".into(), assignee: Some("eli".into()), ..Default::default() };
        let (_, mut office, _) = actions::create(ActorId::from(&[1u8; 16][..]), &dana, &new, 1).expect("create");
        let mut phone = office.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        let here = Location { lat: 1.0, lon: 1.0, accuracy_m: 1.0 };
        for command in
            [Command::Accept, Command::CheckIn { location: here }, Command::Complete { summary: "done".into() }]
        {
            actions::perform(&mut phone, &eli, &command, 2).expect("engineer step");
        }
        actions::perform(&mut office, &dana, &Command::Cancel { reason: "phoned".into() }, 3).expect("cancel");
        office.merge(&mut phone).expect("merge");
        (office, dana)
    }

    #[test]
    fn a_conflict_waits_until_a_dispatcher_acts_after_it() {
        let (mut document, dana) = conflicted();
        let ticket = doc::read_ticket(&document).expect("read");
        assert_eq!(ticket.conflicts.len(), 1, "{:?}", ticket.conflicts);
        assert_eq!(pending(&ticket, &|u| u == "dana").len(), 1);
        actions::perform(&mut document, &dana, &Command::Reopen { reason: "redo".into() }, 4).expect("reopen");
        let ticket = doc::read_ticket(&document).expect("read");
        assert_eq!(ticket.conflicts.len(), 1, "the conflict stays in the history");
        assert!(pending(&ticket, &|u| u == "dana").is_empty(), "reopening after it resolves it");
    }

    #[test]
    fn a_dispatchers_review_note_resolves_it_an_engineers_does_not() {
        let (mut document, dana) = conflicted();
        let conflict = doc::read_ticket(&document).expect("read").conflicts[0].clone();
        let text = format!("Kept cancelled {}", marker(&conflict));
        actions::perform(&mut document, &dana, &Command::AddNote { text }, 4).expect("note");
        let ticket = doc::read_ticket(&document).expect("read");
        assert!(pending(&ticket, &|u| u == "dana").is_empty());
        assert_eq!(pending(&ticket, &|_| false).len(), 1, "a note by a non-dispatcher does not count");
    }
}
