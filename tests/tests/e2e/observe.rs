//! Observation across a real sync: a ticket reassigned away leaves the phone, and its observers
//! are told (issue 14, Deliver 3; docs/adr/0017).

use std::sync::mpsc;
use std::time::Duration;

use fieldsync_core::actions::Command;
use fieldsync_core::model::{ListFilter, TicketQuery, TicketSort};

use super::{job, world};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_ticket_is_observed_as_gone_and_leaves_the_query_by_id() {
    let w = world(&["eli", "fay"]).await;
    let id = w.dispatcher.create(&job("lift", "eli")).await;
    let other = w.dispatcher.create(&job("boiler", "eli")).await;
    let eli = &w.engineers[0];
    eli.sync().await;

    let (views_tx, views) = mpsc::channel();
    let _viewing = eli.client().observe_ticket(&id, move |ticket| {
        let _ = views_tx.send(ticket.map(|t| t.id));
    });
    let (updates_tx, updates) = mpsc::channel();
    let query = TicketQuery { filter: ListFilter::default(), sort: TicketSort::Title, limit: Some(10) };
    let _querying = eli.client().observe_tickets(query, move |update| {
        let _ = updates_tx.send(update);
    });
    assert_eq!(views.recv_timeout(WAIT).expect("the ticket at once"), Some(id.clone()));
    let first = updates.recv_timeout(WAIT).expect("the result at once");
    assert_eq!(first.tickets.len(), 2);

    w.dispatcher.act(&id, &Command::Assign { engineer: "fay".into() }).await.expect("reassign");
    let report = eli.sync().await;
    assert!(report.evicted.contains(&id), "{report:?}");
    // The reassignment may arrive a round before the eviction: wait for the eviction.
    while views.recv_timeout(WAIT).expect("told of the eviction").is_some() {}
    let after = loop {
        let update = updates.recv_timeout(WAIT).expect("the query without it");
        if !update.tickets.iter().any(|t| t.id == id) {
            break update;
        }
    };
    assert_eq!(after.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [other]);
    assert_eq!(after.changed_ids, [id], "the evicted id is handed over");
}
