//! What the customer sees of a ticket: a pure function of the ticket, the engineer's first
//! name, the language and the zone. Everything the page and its live updates carry goes
//! through [`PublicView::of`], so what may leave the server is decided in one place: no
//! internal notes, no other ticket, no names but the engineer's first one, no phone numbers,
//! no photos (none is marked for the customer yet).

use fieldsync_core::model::{CUSTOMER_AUTHOR, Ticket};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{self, EventKind, Status};
use serde::Serialize;

use super::i18n::{self, Lang, Text, t};

/// One step of the visit as the customer follows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `received`, `assigned`, `on_the_way`, `on_site`, `work_done`, `completed`.
    pub key: &'static str,
    /// Its words.
    pub label: &'static str,
    /// Reached.
    pub done: bool,
    /// The newest step reached.
    pub current: bool,
    /// When it was reached, in the customer's zone.
    pub at: Option<String>,
}

/// One line of the conversation: the customer's messages and the service's public notes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Whether the customer wrote it.
    pub mine: bool,
    /// "You" or "Service team".
    pub who: &'static str,
    /// The text (escaped by whoever renders it).
    pub text: String,
    /// When, in the customer's zone.
    pub at: String,
    #[serde(skip)]
    sort_at: Millis,
}

/// The tracking page's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicView {
    /// The language.
    pub lang: &'static str,
    /// The job's title.
    pub title: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The engineer's first name, once one is assigned.
    pub engineer: Option<String>,
    /// The ETA the engineer shared when setting off, while they are on the way.
    pub eta: Option<String>,
    /// "We will be with you by …" and "We aim to finish by …", while not yet met.
    pub promises: Vec<String>,
    /// The conversation, oldest first.
    pub conversation: Vec<Line>,
    /// The request was cancelled.
    pub cancelled: bool,
    /// A message may be left now.
    pub can_message: bool,
    /// The rating form is offered.
    pub can_rate: bool,
    /// The customer's rating, once given.
    pub rating: Option<u8>,
    /// The zone times are in (`UTC+08:00`).
    pub zone: String,
}

/// The first name of a display name: its first word; a name written without spaces in CJK
/// script (family name first) loses its first character, the family name.
pub fn first_name(full: &str) -> String {
    let full = full.trim();
    if let Some((first, _)) = full.split_once(char::is_whitespace) {
        return first.to_owned();
    }
    let chars: Vec<char> = full.chars().collect();
    let cjk = |c: &char| matches!(*c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF);
    if chars.len() >= 2 && chars.iter().all(cjk) { chars[1..].iter().collect() } else { full.to_owned() }
}

impl PublicView {
    /// The view of `ticket` for its customer. `engineer_name` is the assignee's display name.
    pub fn of(ticket: &Ticket, engineer_name: Option<&str>, lang: Lang, offset_minutes: i32) -> PublicView {
        let time = |ms: Millis| i18n::time(lang, ms, offset_minutes);
        let live: Vec<_> = ticket.events.iter().filter(|e| e.void.is_none()).collect();
        let last_at = |kinds: &[EventKind]| {
            live.iter().rev().find(|e| EventKind::parse(&e.kind).is_some_and(|k| kinds.contains(&k))).map(|e| e.at)
        };
        let status = ticket.status;
        let assigned = ticket.assignee.is_some() && status != Status::Rejected;
        let reached = [
            ("received", Text::Received, true, Some(ticket.created_at)),
            ("assigned", Text::Assigned, assigned, last_at(&[EventKind::Dispatched, EventKind::Reassigned])),
            (
                "on_the_way",
                Text::OnTheWay,
                matches!(status, Status::Travelling) || ticket.milestones.arrived_at.is_some(),
                last_at(&[EventKind::TravelStarted]),
            ),
            ("on_site", Text::OnSite, ticket.milestones.arrived_at.is_some(), ticket.milestones.arrived_at),
            (
                "work_done",
                Text::WorkDone,
                ticket.signature.is_some() || status == Status::Completed,
                ticket.signature.as_ref().map(|s| s.signed_at).or(ticket.milestones.resolved_at),
            ),
            ("completed", Text::Completed, status == Status::Completed, ticket.milestones.resolved_at),
        ];
        let current = reached.iter().rposition(|(_, _, done, _)| *done).unwrap_or(0);
        let steps = reached
            .iter()
            .enumerate()
            .map(|(i, (key, text, done, at))| Step {
                key,
                label: t(lang, *text),
                done: *done,
                current: i == current,
                at: at.filter(|_| *done).map(time),
            })
            .collect();
        let eta = (status == Status::Travelling)
            .then(|| live.iter().rev().find(|e| e.kind == EventKind::TravelStarted.as_str()).and_then(|e| e.eta))
            .flatten()
            .map(time);
        let mut promises = Vec::new();
        if status != Status::Cancelled {
            if let (Some(by), None) = (ticket.sla.arrive_by, ticket.milestones.arrived_at) {
                promises.push(format!("{} {}", t(lang, Text::PromiseArrive), time(by)));
            }
            if let (Some(by), None) = (ticket.sla.resolve_by, ticket.milestones.resolved_at) {
                promises.push(format!("{} {}", t(lang, Text::PromiseResolve), time(by)));
            }
        }
        let mut conversation: Vec<Line> = ticket
            .notes
            .iter()
            .filter(|n| n.public && n.void.is_none())
            .map(|n| Line {
                mine: false,
                who: t(lang, Text::Service),
                text: n.text.clone(),
                at: time(n.at),
                sort_at: n.at,
            })
            .chain(ticket.customer_messages.iter().filter(|m| m.by == CUSTOMER_AUTHOR).map(|m| Line {
                mine: true,
                who: t(lang, Text::You),
                text: m.text.clone(),
                at: time(m.at),
                sort_at: m.at,
            }))
            .collect();
        conversation.sort_by_key(|line| line.sort_at);
        let rated = ticket.customer_feedback.is_some();
        PublicView {
            lang: lang.code(),
            title: ticket.title.clone(),
            steps,
            engineer: ticket.assignee.as_ref().filter(|_| assigned).map(|id| first_name(engineer_name.unwrap_or(id))),
            eta,
            promises,
            conversation,
            cancelled: status == Status::Cancelled,
            can_message: workflow::check_customer_message(status, ticket.customer_messages.len()).is_ok(),
            can_rate: workflow::check_customer_rating(status, rated).is_ok(),
            rating: ticket.customer_feedback.as_ref().map(|f| f.rating),
            zone: i18n::zone_label(offset_minutes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, Automerge};
    use fieldsync_core::actions::{self, Command};
    use fieldsync_core::model::{Identity, Location, NewTicket, Sla, doc};
    use fieldsync_core::workflow::Role;

    const T0: Millis = 1_796_270_400_000; // 2026-12-03T04:00Z

    fn who(user: &str, role: Role) -> Identity {
        Identity { user_id: user.into(), device_id: format!("{user}-phone"), role }
    }

    fn step(document: &mut Automerge, command: Command, at: Millis) {
        actions::perform(document, &who("mei", Role::Engineer), &command, at).expect("step");
    }

    #[test]
    fn steps_eta_and_promises_follow_the_visit() {
        let new = NewTicket {
            title: "Air conditioner".into(),
            assignee: Some("mei".into()),
            sla: Sla { arrive_by: Some(T0 + 3_600_000), resolve_by: Some(T0 + 7_200_000), ..Sla::default() },
            ..NewTicket::default()
        };
        let (_, mut document, _) =
            actions::create(ActorId::random(), &who("dana", Role::Dispatcher), &new, T0).expect("create");
        let view =
            |d: &Automerge, lang| PublicView::of(&doc::read_ticket(d).expect("read"), Some("Mei Chen"), lang, 480);
        let current = |v: &PublicView| v.steps.iter().find(|s| s.current).map(|s| s.key);

        let assigned = view(&document, Lang::En);
        assert_eq!((current(&assigned), assigned.engineer.as_deref()), (Some("assigned"), Some("Mei")));
        assert_eq!(assigned.promises, ["We will be with you by 13:00, 3 Dec", "We aim to finish by 14:00, 3 Dec"]);
        assert!(assigned.can_message && !assigned.can_rate && assigned.eta.is_none());

        step(&mut document, Command::Accept, T0 + 60_000);
        step(&mut document, Command::StartTravel { eta: Some(T0 + 1_800_000) }, T0 + 120_000);
        let travelling = view(&document, Lang::Zh);
        assert_eq!(current(&travelling), Some("on_the_way"));
        assert_eq!(travelling.eta.as_deref(), Some("12月3日 12:30"));
        assert_eq!(travelling.steps[2].label, "工程师在路上");

        step(
            &mut document,
            Command::CheckIn { location: Location { lat: 1.0, lon: 1.0, accuracy_m: 1.0 } },
            T0 + 900_000,
        );
        let on_site = view(&document, Lang::En);
        assert_eq!(current(&on_site), Some("on_site"));
        assert!(on_site.eta.is_none(), "no ETA once there");
        assert_eq!(on_site.promises, ["We aim to finish by 14:00, 3 Dec"], "a met promise goes");

        step(&mut document, Command::Complete { summary: "done".into() }, T0 + 2_000_000);
        let done = view(&document, Lang::En);
        assert_eq!(current(&done), Some("completed"));
        assert!(done.steps.iter().all(|s| s.done) && done.promises.is_empty());
        assert!(done.can_rate && done.rating.is_none());
    }

    #[test]
    fn first_names_drop_the_family_name() {
        assert_eq!(first_name("Mei Chen"), "Mei");
        assert_eq!(first_name("  Eli  van Dam "), "Eli");
        assert_eq!(first_name("王小明"), "小明");
        assert_eq!(first_name("eli"), "eli");
    }
}
