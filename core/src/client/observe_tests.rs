//! Observation: one ticket's observer hears only of that ticket, a query observer only of
//! changes that alter its result, and a dropped subscription hears nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::tests::{boiler, world};
use super::*;
use crate::model::{TicketQuery, TicketSort};

const WAIT: Duration = Duration::from_secs(10);

fn titled(title: &str) -> NewTicket {
    NewTicket { title: title.into(), ..boiler() }
}

#[test]
fn a_ticket_observer_hears_of_its_ticket_only() {
    let w = world();
    let d = &w.dispatcher;
    let a = d.create_ticket(&titled("A")).expect("create a");
    let b = d.create_ticket(&titled("B")).expect("create b");
    let (tx, seen) = mpsc::channel();
    let _observing = d.observe_ticket(&a, move |ticket| {
        let _ = tx.send(ticket);
    });
    let first = seen.recv_timeout(WAIT).expect("the ticket at once").expect("a exists");
    assert_eq!((first.id.as_str(), first.notes.len()), (a.as_str(), 0));

    d.add_note(&b, "on b").expect("note b");
    d.add_note(&a, "on a").expect("note a");
    // Delivered in order: had the change to b reached the observer, it would come first.
    let next = seen.recv_timeout(WAIT).expect("a's change").expect("a exists");
    assert_eq!(next.id, a);
    assert_eq!(next.notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["on a"]);
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err(), "one call per change to a");
}

#[test]
fn a_ticket_that_does_not_exist_is_observed_as_none() {
    let w = world();
    let (tx, seen) = mpsc::channel();
    let _observing = w.engineer.observe_ticket("T-missing", move |ticket| {
        let _ = tx.send(ticket);
    });
    assert_eq!(seen.recv_timeout(WAIT).expect("told at once"), None);
}

#[test]
fn a_limited_query_calls_back_once_per_change_to_its_result() {
    let w = world();
    let d = &w.dispatcher;
    let boiler_1 = d.create_ticket(&titled("Boiler 1")).expect("create");
    let boiler_2 = d.create_ticket(&titled("Boiler 2")).expect("create");
    let boiler_3 = d.create_ticket(&titled("Boiler 3")).expect("create");
    let fridge = d.create_ticket(&titled("Fridge")).expect("create");
    let query = TicketQuery {
        filter: ListFilter { text: Some("boiler".into()), ..Default::default() },
        sort: TicketSort::Title,
        limit: Some(2),
    };
    let (tx, seen) = mpsc::channel();
    let _observing = d.observe_tickets(query, move |update| {
        let _ = tx.send(update);
    });
    let ids = |update: &QueryUpdate| update.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let first = seen.recv_timeout(WAIT).expect("the result at once");
    assert_eq!(ids(&first), [boiler_1.clone(), boiler_2.clone()]);
    assert_eq!(first.changed_ids, [boiler_1.clone(), boiler_2.clone()]);

    // Outside the filter, and inside it but past the limit: the result stays as it is.
    d.add_note(&fridge, "fridge").expect("note");
    d.add_note(&boiler_3, "third").expect("note");
    d.cancel(&boiler_1, "customer cancelled").expect("cancel");
    let next = seen.recv_timeout(WAIT).expect("the cancellation");
    assert_eq!(ids(&next), [boiler_1.clone(), boiler_2.clone()]);
    assert_eq!(next.tickets[0].status, Status::Cancelled);
    assert_eq!(next.changed_ids, std::slice::from_ref(&boiler_1), "only the id that changed the result");

    // A ticket that sorts into the first two pushes one out: both ids are handed over.
    let renamed = d.create_ticket(&titled("Boiler 0")).expect("create");
    let after = seen.recv_timeout(WAIT).expect("the new first");
    assert_eq!(ids(&after), [renamed.clone(), boiler_1.clone()]);
    assert_eq!(after.changed_ids, [renamed]);
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err(), "no call for unrelated changes");
}

#[test]
fn a_dropped_subscription_is_never_called_again() {
    let w = world();
    let d = &w.dispatcher;
    let a = d.create_ticket(&titled("A")).expect("create");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let observing = d.observe_ticket(&a, move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let (tx, seen) = mpsc::channel();
    let _query = d.observe_tickets(TicketQuery::default(), move |update| {
        let _ = tx.send(update);
    });
    seen.recv_timeout(WAIT).expect("first result");
    drop(observing);
    d.add_note(&a, "after drop").expect("note");
    // The query observer hears of the note after the dropped one would have: a barrier.
    seen.recv_timeout(WAIT).expect("the note");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only the first call, before the drop");
}

#[test]
fn a_late_read_still_names_the_ticket_that_changed_the_result() {
    // The notifier reads the store when it gets to a notification, which may be after later
    // writes: reading for the note on boiler 3 already sees boiler 1 cancelled. That update must
    // name boiler 1, since the cancellation's own notification will then find nothing new.
    let w = world();
    let d = &w.dispatcher;
    let boiler_1 = d.create_ticket(&titled("Boiler 1")).expect("create");
    d.create_ticket(&titled("Boiler 2")).expect("create");
    let boiler_3 = d.create_ticket(&titled("Boiler 3")).expect("create");
    let query = TicketQuery {
        filter: ListFilter { text: Some("boiler".into()), ..Default::default() },
        sort: TicketSort::Title,
        limit: Some(2),
    };
    let last = d.query(&query).expect("query");
    d.add_note(&boiler_3, "third").expect("note");
    d.cancel(&boiler_1, "customer cancelled").expect("cancel");
    let update = d.query_update(&query, Some(&last), std::slice::from_ref(&boiler_3)).expect("read").expect("changed");
    assert_eq!(update.tickets[0].status, Status::Cancelled);
    assert_eq!(update.changed_ids, [boiler_1]);
}
