//! What the statistics pages read from the ticket index (docs/adr/0024).
//!
//! One scan of the tickets created in a range, over a narrow projection of index columns
//! written at save time (`documents::index_row`), never a fold of documents per page view. The
//! pure module `crate::statistics` folds the rows into every grouping at once, so a page over
//! a year of 100,000 tickets costs one scan, not one per grouping. One SQL text serves both
//! backends: it uses only `CASE` and `CAST`, which SQLite and PostgreSQL read alike (a boolean
//! column is `0/1` in SQLite and `BOOLEAN` in PostgreSQL, and `CASE WHEN column THEN …` reads
//! both). SQLite gets `?n` where PostgreSQL has `$n`.

use std::sync::LazyLock;

use fieldsync_core::time::Millis;

use super::StorageError;

/// How a statistics column travels: text, or a `BIGINT` (integer columns and booleans alike,
/// cast in the SQL so both backends hand back the same two kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FigureKind {
    /// Text, read as borrowed from the row ("" for `NULL`).
    Text,
    /// An integer column, selected as `CAST(column AS BIGINT)`.
    Int,
    /// A boolean column, selected as a `BIGINT` 0 or 1 (`NULL` kept).
    Flag,
}

/// One value of a statistics column as a backend read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FigureValue<'a> {
    /// A [`FigureKind::Text`] column ("" for `NULL`).
    Text(&'a str),
    /// A [`FigureKind::Int`] or [`FigureKind::Flag`] column.
    Int(Option<i64>),
}

/// A field type of [`TicketFigures`]: the kind its column is read as, and the field from the
/// value read. Forgiving, like the index rows: a value of another kind reads as the default.
trait Figure<'a>: Sized {
    const KIND: FigureKind;
    fn of(value: FigureValue<'a>) -> Self;
}

impl<'a> Figure<'a> for &'a str {
    const KIND: FigureKind = FigureKind::Text;
    fn of(value: FigureValue<'a>) -> Self {
        match value {
            FigureValue::Text(text) => text,
            FigureValue::Int(_) => "",
        }
    }
}

impl Figure<'_> for i64 {
    const KIND: FigureKind = FigureKind::Int;
    fn of(value: FigureValue<'_>) -> Self {
        Option::<i64>::of(value).unwrap_or(0)
    }
}

impl Figure<'_> for Option<i64> {
    const KIND: FigureKind = FigureKind::Int;
    fn of(value: FigureValue<'_>) -> Self {
        match value {
            FigureValue::Int(n) => n,
            FigureValue::Text(_) => None,
        }
    }
}

impl Figure<'_> for Option<bool> {
    const KIND: FigureKind = FigureKind::Flag;
    fn of(value: FigureValue<'_>) -> Self {
        Option::<i64>::of(value).map(|n| n != 0)
    }
}

impl Figure<'_> for bool {
    const KIND: FigureKind = FigureKind::Flag;
    fn of(value: FigureValue<'_>) -> Self {
        Option::<bool>::of(value).unwrap_or(false)
    }
}

/// Declares [`TicketFigures`] once: each field is the index column of the same name, and its
/// type says how the column is selected and read ([`Figure`]). From it come
/// [`TicketFigures::COLUMNS`] (the projection, in order) and [`TicketFigures::read`] (a row of
/// it), so no backend maps the columns by position.
macro_rules! ticket_figures {
    (<$lt:lifetime> $( $(#[doc = $doc:literal])* $field:ident: $ty:ty, )*) => {
        /// The index figures of one ticket the statistics fold, borrowed from the row being read.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct TicketFigures<$lt> {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl<$lt> TicketFigures<$lt> {
            /// The projection's columns (index column names) and kinds, in the order selected.
            pub(crate) const COLUMNS: &'static [(&'static str, FigureKind)] =
                &[$( (stringify!($field), <$ty as Figure<$lt>>::KIND) ),*];

            /// One row of the projection: `column(i, kind)` reads its column `i` as `kind`.
            pub(crate) fn read<E>(
                mut column: impl FnMut(usize, FigureKind) -> Result<FigureValue<$lt>, E>,
            ) -> Result<Self, E> {
                let mut positions = 0usize..;
                Ok(TicketFigures {
                    $( $field: {
                        let i = positions.next().unwrap_or_default();
                        <$ty as Figure<$lt>>::of(column(i, <$ty as Figure<$lt>>::KIND)?)
                    }, )*
                })
            }
        }
    };
}

ticket_figures! {
    <'a>
    /// The ticket type (classification).
    ticket_type: &'a str,
    /// The customer record's id ("" for none).
    customer_id: &'a str,
    /// The customer's name.
    customer_name: &'a str,
    /// The current (or last) assignee ("" for none).
    assignee: &'a str,
    /// The derived status (`Status::as_str`).
    status: &'a str,
    /// The product (classification).
    product: &'a str,
    /// The product's module.
    module: &'a str,
    /// A complaint's level ("" on other tickets).
    complaint_level: &'a str,
    /// A complaint's product ("" on other tickets).
    complaint_product: &'a str,
    /// Who it was last reassigned away from ("" if never).
    reassigned_from: &'a str,
    /// Who last gave it back ("" if nobody did).
    rejected_by: &'a str,
    /// Created (UTC ms).
    created_at: Millis,
    /// The first response (acceptance) since the last dispatch.
    responded_at: Option<Millis>,
    /// The first revisit's verdict, once revisited.
    first_time_fix: Option<bool>,
    /// When it was revisited.
    revisited_at: Option<Millis>,
    /// When its revisit is due (set only while not revisited).
    revisit_due_at: Option<Millis>,
    /// Whether it is a complaint.
    complaint: bool,
    /// Minutes of time recorded.
    minutes_worked: i64,
    /// Part lines recorded.
    parts_lines: i64,
    /// Parts used, quantities summed.
    parts_quantity: i64,
    /// Reassignments (events).
    reassigned_count: i64,
    /// Rejections (events).
    rejected_count: i64,
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
/// `$2` to): [`TicketFigures::COLUMNS`], booleans and integers as `BIGINT`.
pub(crate) static CREATED_SQL: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = TicketFigures::COLUMNS
        .iter()
        .map(|&(name, kind)| match kind {
            FigureKind::Text => name.to_owned(),
            FigureKind::Int => format!("CAST({name} AS BIGINT)"),
            FigureKind::Flag => {
                format!("CAST(CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN 1 ELSE 0 END AS BIGINT)")
            }
        })
        .collect();
    format!("SELECT {} FROM tickets WHERE created_at >= $1 AND created_at < $2", columns.join(", "))
});

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
    use fieldsync_core::model::INDEX_COLUMNS;
    use fieldsync_core::model::columns::ColumnKind;
    use fieldsync_core::workflow::Status;

    use super::*;

    /// Each figure is an index column of its name (ADR 0025's one list), of a kind it can be
    /// read as: a renamed or retyped index column fails here, not on a page.
    #[test]
    fn every_figure_is_an_index_column_of_its_kind() {
        for &(name, kind) in TicketFigures::COLUMNS {
            let column = INDEX_COLUMNS.iter().find(|c| c.name == name);
            let fits = |c: &ColumnKind| match kind {
                FigureKind::Text => *c == ColumnKind::Text,
                FigureKind::Int => matches!(c, ColumnKind::Int | ColumnKind::SmallInt),
                FigureKind::Flag => *c == ColumnKind::Bool,
            };
            assert!(column.is_some_and(|c| fits(&c.kind)), "{name} ({kind:?}) is no index column of that kind");
        }
    }

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
