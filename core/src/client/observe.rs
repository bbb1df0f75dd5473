//! Observation (docs/adr/0017): one ticket, or a live query, told to a callback now and after
//! every change that concerns it, on the notifier thread, in order.
//!
//! Both are built on the change notifications ([`super::subscriptions`]), which carry the ids
//! that changed: an observer of one ticket ignores every other id, and a query observer asks
//! the index table whether a changed id matches its filter (or was in its last result) before
//! running its query again, and calls back only when the result differs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, Weak};

use super::{Client, Inner, Subscription};
use crate::error::Error;
use crate::model::{Ticket, TicketQuery, TicketSummary};
use crate::store::tickets;

/// What a query observer is told: the result, and which of the tickets that changed since the
/// last call are in it or have just left it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryUpdate {
    /// The query's result now.
    pub tickets: Vec<TicketSummary>,
    /// The tickets that changed and are in the result or just left it (every id in the result
    /// on the first call).
    pub changed_ids: Vec<String>,
}

impl Client {
    /// Calls `callback` with the full view of `ticket_id` now, then after every change to it;
    /// with `None` when it does not exist (never created here, or evicted: reassigned to
    /// someone else, or deleted on the server). Changes to other tickets never call it. Runs
    /// on the notifier thread; dropping the returned handle stops it.
    pub fn observe_ticket(
        &self,
        ticket_id: &str,
        callback: impl Fn(Option<Ticket>) + Send + Sync + 'static,
    ) -> Subscription {
        let client = self.weak();
        let ticket_id = ticket_id.to_owned();
        let first = vec![ticket_id.clone()];
        self.inner.notifier.subscribe_with_first(first, move |ids| {
            if !ids.contains(&ticket_id) {
                return;
            }
            let Some(client) = upgrade(&client) else { return };
            match client.get(&ticket_id) {
                Ok(ticket) => callback(Some(ticket)),
                Err(Error::NotFound(_)) => callback(None),
                // A store failure or a quarantined document: nothing new to show; the next
                // change tries again.
                Err(_) => {}
            }
        })
    }

    /// Calls `callback` with the result of `query` now, then whenever a change could alter
    /// it: a changed ticket that matches the filter or was in the last result. Calls back only
    /// when the result differs, with the changed ids that concern it. Runs on the notifier
    /// thread; dropping the returned handle stops it.
    pub fn observe_tickets(
        &self,
        query: TicketQuery,
        callback: impl Fn(QueryUpdate) + Send + Sync + 'static,
    ) -> Subscription {
        let client = self.weak();
        let last: Mutex<Option<Vec<TicketSummary>>> = Mutex::new(None);
        self.inner.notifier.subscribe_with_first(Vec::new(), move |ids| {
            let Some(client) = upgrade(&client) else { return };
            let Ok(mut last) = last.lock() else { return };
            let Ok(Some(update)) = client.query_update(&query, last.as_deref(), ids) else { return };
            *last = Some(update.tickets.clone());
            drop(last);
            callback(update);
        })
    }

    /// The update a query observer gets for `changed`, given its last result; `None` when the
    /// result cannot have changed or did not.
    pub(super) fn query_update(
        &self,
        query: &TicketQuery,
        last: Option<&[TicketSummary]>,
        changed: &[String],
    ) -> Result<Option<QueryUpdate>, Error> {
        self.live_store()?.read(|tx| {
            let Some(last) = last else {
                let result = tickets::query(tx, query)?;
                let changed_ids = result.iter().map(|t| t.id.clone()).collect();
                return Ok(Some(QueryUpdate { tickets: result, changed_ids }));
            };
            let was_in: BTreeMap<&str, &TicketSummary> = last.iter().map(|t| (t.id.as_str(), t)).collect();
            let matching = tickets::matching_ids(tx, &query.filter, changed)?;
            if !changed.iter().any(|id| was_in.contains_key(id.as_str())) && matching.is_empty() {
                return Ok(None);
            }
            let result = tickets::query(tx, query)?;
            if result == last {
                return Ok(None);
            }
            let is_in: BTreeSet<&str> = result.iter().map(|t| t.id.as_str()).collect();
            let mut changed_ids: Vec<String> = changed
                .iter()
                .filter(|id| was_in.contains_key(id.as_str()) || is_in.contains(id.as_str()))
                .cloned()
                .collect();
            // The store may already hold later writes whose notifications are still queued: a
            // ticket whose row differs from the last result changed too, whichever notification
            // this read answers (else that later notification finds nothing new to report).
            for ticket in &result {
                let differs = was_in.get(ticket.id.as_str()).is_some_and(|old| *old != ticket);
                if differs && !changed_ids.contains(&ticket.id) {
                    changed_ids.push(ticket.id.clone());
                }
            }
            Ok(Some(QueryUpdate { tickets: result, changed_ids }))
        })
    }

    /// A handle that does not keep the client open (a subscription lives inside the client).
    fn weak(&self) -> Weak<Inner> {
        std::sync::Arc::downgrade(&self.inner)
    }
}

fn upgrade(inner: &Weak<Inner>) -> Option<Client> {
    inner.upgrade().map(|inner| Client { inner })
}
