//! `fieldsync check` (crate::check) over a backend: it reads every stored ticket, passes the
//! ones written as Automerge writes them and names the one holding a change of a kind no ticket
//! is made of (docs/adr/0034, amendment 2026-12-07).

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ROOT};
use fieldsync_core::model::doc::{self, Stamp};
use fieldsync_core::model::{Customer, Identity, NewTicket};
use fieldsync_core::workflow::{Role, Status};

use super::{row, write};
use crate::storage::Storage;

pub(super) fn run(s: &dyn Storage) {
    let dana = Identity { user_id: "dana".into(), device_id: "d1".into(), role: Role::Dispatcher };
    let ticket = |id: &str| {
        let new = NewTicket { title: "Boiler leaks".into(), customer: Customer::default(), ..Default::default() };
        let stamp = Stamp { id: format!("{id}-e0"), at: 1_700_000_000_000, identity: &dana };
        let mut document = Automerge::new();
        doc::edit(&mut document, stamp.at, "create", |tx| doc::create(tx, id, &new, &stamp)).expect("create");
        document
    };
    for id in ["honest-1", "honest-2"] {
        s.save_ticket(&write(id, None, &ticket(id).save(), row(id, Status::New, None), &[])).expect("honest");
    }
    // Written by Automerge itself, but text: refused by a push today, stored by a server before.
    let mut forged = ticket("forged").with_actor(ActorId::random());
    let mut tx = forged.transaction();
    tx.put_object(ROOT, "scribble", ObjType::Text).expect("text");
    tx.commit();
    let text_change = forged.get_last_local_change().expect("the forged change").hash().to_string();
    let logged = write("forged", None, &forged.save(), row("forged", Status::New, None), &[text_change.as_str()]);
    s.save_ticket(&logged).expect("forged");

    let mut seen = Vec::new();
    let report = crate::check::check_stored_tickets(s, |done, total| seen.push((done, total))).expect("check");
    assert_eq!((report.tickets, report.changes), (3, 4), "every ticket and change examined");
    assert_eq!(seen.last(), Some(&(3, 3)), "progress reaches the end");
    let named: Vec<&str> = report.findings.iter().map(|f| f.ticket_id.as_str()).collect();
    assert_eq!(named, ["forged"], "only the forged ticket: {:?}", report.findings);
    assert!(report.findings[0].problem.contains("kind 4"), "{:?}", report.findings[0]);
    // The change to blame, and who sent it (the log's record of it): the device to look at.
    assert_eq!(report.findings[0].change.as_deref(), Some(text_change.as_str()));
    let received = report.findings[0].received.as_ref().expect("who sent it");
    assert_eq!((received.device_id.as_str(), received.received_at), ("d1", 5));
    assert!(s.load_ticket("forged").expect("load").is_some(), "the check removes nothing");
}
