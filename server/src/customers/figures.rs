//! A customer's figures, from the ticket index only (never by loading documents): how many of
//! their tickets are open and closed, the mean time to first response, and how many broke an
//! SLA deadline.

use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;
use serde::Serialize;

use crate::storage::IndexRow;

/// A customer's figures over the tickets given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Tickets counted.
    pub tickets: usize,
    /// Not completed or cancelled.
    pub open: usize,
    /// Completed or cancelled.
    pub closed: usize,
    /// Mean of creation → the `responded_at` milestone (the acceptance the SLA's respond clock
    /// judges), over the tickets that have both; `None` when none has.
    pub mean_first_response_ms: Option<Millis>,
    /// Tickets with at least one deadline missed: met late, or still unmet past it at `now`
    /// (cancelled tickets count only deadlines met late).
    pub sla_breaches: usize,
}

/// Whether one index row shows a missed deadline at `now`.
pub fn breached(row: &IndexRow, now: Millis) -> bool {
    let cancelled = row.status == Status::Cancelled;
    [(row.sla.respond_by, row.responded_at), (row.sla.arrive_by, row.arrived_at), (row.sla.resolve_by, row.resolved_at)]
        .iter()
        .any(|(deadline, met)| match (deadline, met) {
            (Some(deadline), Some(met)) => met > deadline,
            (Some(deadline), None) => !cancelled && now > *deadline,
            (None, _) => false,
        })
}

/// The figures of `rows` (one customer's tickets) at `now`.
pub fn figures(rows: &[IndexRow], now: Millis) -> Figures {
    let open = rows.iter().filter(|r| r.status.is_open()).count();
    let responses: Vec<Millis> = rows.iter().filter_map(|r| Some((r.responded_at? - r.created_at?).max(0))).collect();
    let mean_first_response_ms =
        (!responses.is_empty()).then(|| responses.iter().sum::<Millis>() / responses.len() as Millis);
    Figures {
        tickets: rows.len(),
        open,
        closed: rows.len() - open,
        mean_first_response_ms,
        sla_breaches: rows.iter().filter(|r| breached(r, now)).count(),
    }
}
