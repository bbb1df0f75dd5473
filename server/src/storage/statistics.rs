//! What the statistics pages read from the ticket index (docs/adr/0024).
//!
//! One scan of the tickets created in a range, over a narrow projection of index columns
//! written at save time (`documents::index_row`), never a fold of documents per page view. The
//! pure module `crate::statistics` folds the rows into every grouping at once, so a page over
//! a year of 100,000 tickets costs one scan, not one per grouping. One SQL text serves both
//! backends: it uses only `CASE` and `CAST`, which SQLite and PostgreSQL read alike (a boolean
//! column is `0/1` in SQLite and `BOOLEAN` in PostgreSQL, and `CASE WHEN column THEN …` reads
//! both). SQLite gets `?n` where PostgreSQL has `$n`.

use fieldsync_core::time::Millis;

use super::StorageError;

/// The index figures of one ticket the statistics fold, borrowed from the row being read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketFigures<'a> {
    /// The ticket type (classification).
    pub ticket_type: &'a str,
    /// The customer record's id ("" for none).
    pub customer_id: &'a str,
    /// The customer's name.
    pub customer_name: &'a str,
    /// The current (or last) assignee ("" for none).
    pub assignee: &'a str,
    /// The derived status (`Status::as_str`).
    pub status: &'a str,
    /// The product (classification).
    pub product: &'a str,
    /// The product's module.
    pub module: &'a str,
    /// A complaint's level ("" on other tickets).
    pub complaint_level: &'a str,
    /// A complaint's product ("" on other tickets).
    pub complaint_product: &'a str,
    /// Who it was last reassigned away from ("" if never).
    pub reassigned_from: &'a str,
    /// Who last gave it back ("" if nobody did).
    pub rejected_by: &'a str,
    /// Created (UTC ms).
    pub created_at: Millis,
    /// The first response (acceptance) since the last dispatch.
    pub responded_at: Option<Millis>,
    /// The first revisit's verdict, once revisited.
    pub first_time_fix: Option<bool>,
    /// When it was revisited.
    pub revisited_at: Option<Millis>,
    /// When its revisit is due (set only while not revisited).
    pub revisit_due_at: Option<Millis>,
    /// Whether it is a complaint.
    pub complaint: bool,
    /// Minutes of time recorded.
    pub minutes_worked: i64,
    /// Part lines recorded.
    pub parts_lines: i64,
    /// Parts used, quantities summed.
    pub parts_quantity: i64,
    /// Reassignments (events).
    pub reassigned_count: i64,
    /// Rejections (events).
    pub rejected_count: i64,
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

/// The index reads the statistics pages make; part of every [`super::Storage`].
pub trait StatisticsStorage {
    /// Calls `visit` with the figures of every ticket created in `from..to` (UTC ms), in no
    /// particular order, inside one read transaction.
    fn each_created(
        &self,
        from: Millis,
        to: Millis,
        visit: &mut dyn FnMut(&TicketFigures<'_>),
    ) -> Result<(), StorageError>;
    /// The `limit` oldest open tickets (not completed or cancelled), oldest first, and how
    /// many tickets are open in all.
    fn oldest_open(&self, limit: usize) -> Result<(Vec<AgedTicket>, i64), StorageError>;
}

/// The scan behind [`StatisticsStorage::each_created`] with PostgreSQL placeholders (`$1` from,
/// `$2` to); columns in [`TicketFigures`]' order, booleans and counts as `BIGINT`.
pub(crate) const CREATED_SQL: &str = "SELECT ticket_type, customer_id, customer_name, COALESCE(assignee, ''), status,
        product, module, complaint_level, complaint_product, reassigned_from, rejected_by,
        created_at, responded_at,
        CAST(CASE WHEN first_time_fix IS NULL THEN NULL WHEN first_time_fix THEN 1 ELSE 0 END AS BIGINT),
        revisited_at, revisit_due_at, CAST(CASE WHEN complaint THEN 1 ELSE 0 END AS BIGINT),
        CAST(minutes_worked AS BIGINT), CAST(parts_lines AS BIGINT), CAST(parts_quantity AS BIGINT),
        CAST(reassigned_count AS BIGINT), CAST(rejected_count AS BIGINT)
     FROM tickets
     WHERE created_at >= $1 AND created_at < $2";

/// The open tickets, oldest first, `$1` at most.
pub(crate) const OLDEST_OPEN_SQL: &str = "SELECT id, title, customer_name, assignee, status, created_at FROM tickets
     WHERE status NOT IN ('completed', 'cancelled') AND created_at IS NOT NULL
     ORDER BY created_at, id LIMIT $1";

/// How many tickets are open.
pub(crate) const OPEN_COUNT_SQL: &str = "SELECT COUNT(*) FROM tickets WHERE status NOT IN ('completed', 'cancelled')";

/// A query with SQLite's placeholders.
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
        for sql in [OPEN_COUNT_SQL, OLDEST_OPEN_SQL] {
            assert!(sql.contains(&open), "{sql} does not say {open}");
        }
    }
}
