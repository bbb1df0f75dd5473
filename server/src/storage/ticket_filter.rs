//! The SQL of a [`TicketFilter`] over `tickets t`: one place says which filters exist and what
//! each means, for both backends. They differ only in how parameters are numbered and how text
//! is matched without regard to case.

use super::{ROW_COLUMNS, TicketFilter};

/// A value the SQL binds, in parameter order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    Text(String),
    Int(i64),
}

/// Where the backends' SQL differs.
pub(crate) struct Dialect {
    /// The marker of the n-th parameter (from 1): `?1` or `$1`.
    parameter: fn(usize) -> String,
    /// Case-insensitive `LIKE`: SQLite's `LIKE` folds ASCII case, PostgreSQL needs `ILIKE`.
    like: &'static str,
}

/// SQLite's parameters and `LIKE`.
pub(crate) const SQLITE: Dialect = Dialect { parameter: |n| format!("?{n}"), like: "LIKE" };
/// PostgreSQL's parameters and `ILIKE`.
pub(crate) const POSTGRES: Dialect = Dialect { parameter: |n| format!("${n}"), like: "ILIKE" };

/// A query and the values it binds.
pub(crate) struct Query {
    pub sql: String,
    pub values: Vec<Bound>,
}

struct Builder<'a> {
    dialect: &'a Dialect,
    values: Vec<Bound>,
}

impl Builder<'_> {
    /// Binds `value` and returns its marker.
    fn bind(&mut self, value: Bound) -> String {
        self.values.push(value);
        (self.dialect.parameter)(self.values.len())
    }

    /// The `WHERE` clause of `filter` ("" when it keeps every row).
    fn where_clause(&mut self, filter: &TicketFilter) -> String {
        let mut clauses = Vec::new();
        if !filter.statuses.is_empty() {
            let marks: Vec<String> =
                filter.statuses.iter().map(|s| self.bind(Bound::Text(s.as_str().to_owned()))).collect();
            clauses.push(format!("t.status IN ({})", marks.join(", ")));
        }
        if let Some(assignee) = &filter.assignee {
            clauses.push(format!("t.assignee = {}", self.bind(Bound::Text(assignee.clone()))));
        }
        if let Some(before) = filter.sla_due_before {
            clauses.push(format!("t.sla_due_at < {}", self.bind(Bound::Int(before))));
        }
        if let Some(ticket_type) = &filter.ticket_type {
            clauses.push(format!("t.ticket_type = {}", self.bind(Bound::Text(ticket_type.clone()))));
        }
        if filter.revisit_due {
            clauses.push("t.revisit_due_at IS NOT NULL".to_owned());
        }
        if filter.revisited {
            clauses.push("t.first_time_fix IS NOT NULL".to_owned());
        }
        if filter.complaint {
            clauses.push("t.complaint = TRUE".to_owned());
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let mark = self.bind(Bound::Text(format!("%{escaped}%")));
            let like = self.dialect.like;
            clauses.push(format!("(t.title {like} {mark} ESCAPE '\\' OR t.customer_name {like} {mark} ESCAPE '\\')"));
        }
        if let Some(priority) = &filter.priority {
            clauses.push(format!("t.priority = {}", self.bind(Bound::Text(priority.clone()))));
        }
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) }
    }
}

/// The index rows `filter` keeps, most recently changed first, at most its `limit` (a bound
/// value, not SQL text: each distinct text is one more cached statement per connection).
pub(crate) fn list(filter: &TicketFilter, dialect: &Dialect) -> Query {
    let mut b = Builder { dialect, values: Vec::new() };
    let filter_sql = b.where_clause(filter);
    let limit = match filter.limit {
        Some(n) => format!(" LIMIT {}", b.bind(Bound::Int(i64::try_from(n).unwrap_or(i64::MAX)))),
        None => String::new(),
    };
    let sql = format!("SELECT {ROW_COLUMNS} FROM tickets t {filter_sql} ORDER BY t.changed_seq DESC{limit}");
    Query { sql, values: b.values }
}

/// How many rows `filter` keeps, its `limit` ignored.
pub(crate) fn count(filter: &TicketFilter, dialect: &Dialect) -> Query {
    let mut b = Builder { dialect, values: Vec::new() };
    let filter_sql = b.where_clause(filter);
    Query { sql: format!("SELECT COUNT(*) FROM tickets t {filter_sql}"), values: b.values }
}
