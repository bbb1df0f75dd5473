//! Observation (docs/adr/0017): one ticket, or a live query, pushed to an app's observer by
//! the core's notifier thread. The records and the handle are here; the deciding (which change
//! concerns whom) is the core's, [`fieldsync_core::Client::observe_ticket`] and
//! [`fieldsync_core::Client::observe_tickets`].

use std::sync::Mutex;

use fieldsync_core::Subscription;
use fieldsync_core::model as core_model;

use crate::types::{ListFilter, Ticket, TicketSummary};

/// The order of a query's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Enum)]
pub enum TicketSort {
    /// The most urgent unmet deadline first, then the most recently changed.
    #[default]
    Urgency,
    /// The most recently changed first.
    RecentlyUpdated,
    /// The highest priority first, then by urgency.
    Priority,
    /// By title, A to Z.
    Title,
}

/// A live query: which tickets, in what order, how many.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct TicketQuery {
    /// Which tickets.
    #[uniffi(default)]
    pub filter: ListFilter,
    /// In what order (none: [`TicketSort::Urgency`]).
    #[uniffi(default)]
    pub sort: Option<TicketSort>,
    /// At most this many (none: all).
    #[uniffi(default)]
    pub limit: Option<u32>,
}

/// A query's result, and which of the tickets that changed since the last one concern it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TicketsUpdate {
    /// The result now.
    pub tickets: Vec<TicketSummary>,
    /// The changed tickets that are in the result or just left it (all of it, the first time).
    pub changed_ids: Vec<String>,
}

/// Receives one ticket: now, after every change to it, and `None` when it is gone from this
/// device (evicted: reassigned, or deleted on the server) or does not exist.
#[uniffi::export(with_foreign)]
pub trait TicketObserver: Send + Sync {
    /// The ticket now. Called off the main thread, in order.
    fn on_ticket(&self, ticket: Option<Ticket>);
}

/// Receives a query's result: now, then whenever a change alters it.
#[uniffi::export(with_foreign)]
pub trait TicketsObserver: Send + Sync {
    /// The result now, with the ids that changed. Called off the main thread, in order.
    fn on_tickets(&self, update: TicketsUpdate);
}

/// A running observation. It stops when [`ObservationHandle::cancel`] is called or when the handle
/// is dropped (Kotlin `close()`, Swift deinit).
#[derive(uniffi::Object)]
pub struct ObservationHandle {
    subscription: Mutex<Option<Subscription>>,
}

impl ObservationHandle {
    pub(crate) fn new(subscription: Subscription) -> Self {
        ObservationHandle { subscription: Mutex::new(Some(subscription)) }
    }
}

#[uniffi::export]
impl ObservationHandle {
    /// Stops the observation. A call already under way finishes; no other follows.
    pub fn cancel(&self) {
        if let Ok(mut subscription) = self.subscription.lock() {
            subscription.take();
        }
    }

    /// Whether the observation is still running.
    pub fn is_active(&self) -> bool {
        self.subscription.lock().map(|s| s.is_some()).unwrap_or(false)
    }
}

impl From<TicketSort> for core_model::TicketSort {
    fn from(sort: TicketSort) -> Self {
        match sort {
            TicketSort::Urgency => core_model::TicketSort::Urgency,
            TicketSort::RecentlyUpdated => core_model::TicketSort::RecentlyUpdated,
            TicketSort::Priority => core_model::TicketSort::Priority,
            TicketSort::Title => core_model::TicketSort::Title,
        }
    }
}

impl From<TicketQuery> for core_model::TicketQuery {
    fn from(q: TicketQuery) -> Self {
        core_model::TicketQuery { filter: q.filter, sort: q.sort.unwrap_or_default().into(), limit: q.limit }
    }
}

impl From<fieldsync_core::QueryUpdate> for TicketsUpdate {
    fn from(u: fieldsync_core::QueryUpdate) -> Self {
        TicketsUpdate { tickets: u.tickets, changed_ids: u.changed_ids }
    }
}
