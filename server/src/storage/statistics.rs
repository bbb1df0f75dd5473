//! Aggregates over the ticket index for the statistics pages (docs/adr/0024).
//!
//! Every figure is a `GROUP BY` over index columns written at save time
//! (`documents::index_row`), never a fold of documents per page view, so a page over a year
//! of 100,000 tickets costs one scan. One SQL text serves both backends: it uses only
//! `CASE`, `CAST`, `COUNT`, `SUM`, `MAX` and integer division, which SQLite and PostgreSQL
//! read alike (a boolean column is `0/1` in SQLite and `BOOLEAN` in PostgreSQL, and
//! `CASE WHEN column THEN …` reads both). SQLite gets `?n` where PostgreSQL has `$n`.

use fieldsync_core::time::Millis;

use super::StorageError;

/// What a [`Tally`] groups tickets by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// The ticket type (classification), "most frequent problems".
    TicketType,
    /// The customer record's id (label: the customer's name).
    Customer,
    /// The current (or last) assignee.
    Engineer,
    /// The creation day in the organisation's zone (key: days since 1970-01-01 there).
    Day,
    /// Complaints only, by complaint level.
    ComplaintLevel,
    /// Complaints only, by the product complained about.
    ComplaintProduct,
    /// The product (classification), "which products have the most problems".
    Product,
    /// The product's module, keyed `product / module` ("" when no module is set).
    Module,
    /// Tickets an engineer gave back, by the engineer who last did (only such tickets).
    RejectedBy,
    /// Tickets reassigned away from an engineer, by the engineer it was last taken from
    /// (only such tickets).
    ReassignedFrom,
}

/// Counts and sums for one group of tickets created in a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The group's key (see [`Grouping`]); "" for none.
    pub key: String,
    /// A readable name for the key (the customer's name for [`Grouping::Customer`]).
    pub label: String,
    /// Tickets.
    pub tickets: i64,
    /// Of which not completed or cancelled.
    pub open: i64,
    /// Of which with a first response (acceptance) at or after creation.
    pub responded: i64,
    /// Sum over those of creation → first response, ms.
    pub response_ms: i64,
    /// Tickets whose first-time-fix outcome is known (a revisit judged it).
    pub ftf_known: i64,
    /// Of which fixed the first time.
    pub ftf_fixed: i64,
    /// Tickets revisited.
    pub revisited: i64,
    /// Tickets whose revisit is due and not done.
    pub revisit_due: i64,
    /// Complaints.
    pub complaints: i64,
    /// Tickets of type "bug".
    pub bugs: i64,
    /// Completed tickets.
    pub completed: i64,
    /// Minutes of time recorded (time entries).
    pub minutes: i64,
    /// Part lines recorded.
    pub parts_lines: i64,
    /// Parts used, quantities summed.
    pub parts_quantity: i64,
    /// Reassignments (events), summed over the tickets.
    pub reassignments: i64,
    /// Rejections (events), summed over the tickets.
    pub rejections: i64,
}

/// An open ticket for the ageing list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgedTicket {
    /// Ticket id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Customer's name.
    pub customer_name: String,
    /// Assignee.
    pub assignee: Option<String>,
    /// Status (`Status::as_str`).
    pub status: String,
    /// Created (UTC ms).
    pub created_at: Millis,
}

/// The index aggregates the statistics pages read; part of every [`super::Storage`].
pub trait StatisticsStorage {
    /// One [`Tally`] per group of the tickets created in `from..to` (UTC ms); days are cut at
    /// `utc_offset_ms` (only [`Grouping::Day`] uses it).
    fn tally(
        &self,
        grouping: Grouping,
        from: Millis,
        to: Millis,
        utc_offset_ms: i64,
    ) -> Result<Vec<Tally>, StorageError>;
    /// The `limit` oldest open tickets (not completed or cancelled), oldest first, and how
    /// many tickets are open in all.
    fn oldest_open(&self, limit: usize) -> Result<(Vec<AgedTicket>, i64), StorageError>;
}

/// The tally query with PostgreSQL placeholders: `$1` from, `$2` to, `$3` the offset (only
/// for [`Grouping::Day`], so the other queries bind two parameters).
pub(crate) fn tally_sql(grouping: Grouping) -> String {
    let is_complaint = "CASE WHEN complaint THEN 1 ELSE 0 END = 1";
    let (key, label, only) = match grouping {
        Grouping::TicketType => ("ticket_type", "ticket_type", ""),
        Grouping::Customer => ("customer_id", "customer_name", ""),
        Grouping::Engineer => ("COALESCE(assignee, '')", "COALESCE(assignee, '')", ""),
        Grouping::Day => ("CAST((created_at + $3) / 86400000 AS TEXT)", "''", ""),
        Grouping::ComplaintLevel => ("complaint_level", "complaint_level", is_complaint),
        Grouping::ComplaintProduct => ("complaint_product", "complaint_product", is_complaint),
        Grouping::Product => ("product", "product", ""),
        Grouping::Module => ("CASE WHEN module = '' THEN '' ELSE product || ' / ' || module END", "module", ""),
        Grouping::RejectedBy => ("rejected_by", "rejected_by", "rejected_by <> ''"),
        Grouping::ReassignedFrom => ("reassigned_from", "reassigned_from", "reassigned_from <> ''"),
    };
    let only = if only.is_empty() { String::new() } else { format!(" AND {only}") };
    let sum = |cond: &str| format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)");
    let total = |column: &str| format!("CAST(SUM({column}) AS BIGINT)");
    format!(
        "SELECT {key}, MAX({label}), COUNT(*), {open}, {responded},
                CAST(SUM(CASE WHEN responded_at >= created_at THEN responded_at - created_at ELSE 0 END) AS BIGINT),
                {ftf_known}, {ftf_fixed}, {revisited}, {revisit_due}, {complaints}, {bugs}, {completed},
                {minutes}, {parts_lines}, {parts_quantity}, {reassignments}, {rejections}
         FROM tickets
         WHERE created_at >= $1 AND created_at < $2{only}
         GROUP BY {key}",
        open = sum("status NOT IN ('completed', 'cancelled')"),
        responded = sum("responded_at >= created_at"),
        ftf_known = sum("first_time_fix IS NOT NULL"),
        ftf_fixed = sum("first_time_fix"),
        revisited = sum("revisited_at IS NOT NULL"),
        revisit_due = sum("revisit_due_at IS NOT NULL AND revisited_at IS NULL"),
        complaints = sum("complaint"),
        bugs = sum("LOWER(ticket_type) = 'bug'"),
        completed = sum("status = 'completed'"),
        minutes = total("minutes_worked"),
        parts_lines = total("parts_lines"),
        parts_quantity = total("parts_quantity"),
        reassignments = total("reassigned_count"),
        rejections = total("rejected_count"),
    )
}

/// The open tickets, oldest first, `$1` at most.
pub(crate) const OLDEST_OPEN_SQL: &str = "SELECT id, title, customer_name, assignee, status, created_at FROM tickets
     WHERE status NOT IN ('completed', 'cancelled') AND created_at IS NOT NULL
     ORDER BY created_at, id LIMIT $1";

/// How many tickets are open.
pub(crate) const OPEN_COUNT_SQL: &str = "SELECT COUNT(*) FROM tickets WHERE status NOT IN ('completed', 'cancelled')";

/// [`tally_sql`] with SQLite's placeholders.
pub(crate) fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use fieldsync_core::workflow::Status;

    use super::*;

    /// SQL cannot call `Status::is_final`, so the statements spell the final statuses out; this
    /// holds them to the workflow's (ADR 0007): a new final status fails here, not on the page.
    #[test]
    fn open_means_what_the_workflow_says() {
        let finals: Vec<String> =
            Status::ALL.iter().filter(|s| s.is_final()).map(|s| format!("'{}'", s.as_str())).collect();
        let open = format!("status NOT IN ({})", finals.join(", "));
        for sql in [OPEN_COUNT_SQL, OLDEST_OPEN_SQL, &tally_sql(Grouping::TicketType)] {
            assert!(sql.contains(&open), "{sql} does not say {open}");
        }
    }
}
