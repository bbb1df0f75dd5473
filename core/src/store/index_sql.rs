//! The ticket index on SQLite, for the device's store and the server's SQLite storage alike
//! (docs/adr/0025): column lists and assignments made from [`INDEX_COLUMNS`], values bound as
//! they are, and rows read by column name.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Row, Statement, ToSql};

use crate::model::columns::{ColumnKind, ColumnValue};
use crate::model::{INDEX_COLUMNS, TicketIndex};

impl ToSql for ColumnValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            ColumnValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            ColumnValue::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            ColumnValue::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            ColumnValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// A SQLite value as an index column of `kind` holds it.
pub fn column_value(value: ValueRef<'_>, kind: ColumnKind) -> ColumnValue {
    match (value, kind) {
        (ValueRef::Integer(n), ColumnKind::Bool) => ColumnValue::Bool(n != 0),
        (ValueRef::Integer(n), _) => ColumnValue::Int(n),
        (ValueRef::Text(bytes), _) => ColumnValue::Text(String::from_utf8_lossy(bytes).into_owned()),
        _ => ColumnValue::Null,
    }
}

/// The index columns, comma-separated, each prefixed with `prefix` (`"t."`, or `""`).
pub fn column_list(prefix: &str) -> String {
    INDEX_COLUMNS.iter().map(|c| format!("{prefix}{}", c.name)).collect::<Vec<_>>().join(", ")
}

/// Placeholders for the index columns: `?first, ?first+1, …` (`$` instead of `?` with
/// `marker`).
pub fn placeholders(marker: char, first: usize) -> String {
    (0..INDEX_COLUMNS.len()).map(|i| format!("{marker}{}", first + i)).collect::<Vec<_>>().join(", ")
}

/// `column = excluded.column` for every index column: the `DO UPDATE SET` of an upsert.
pub fn set_excluded() -> String {
    INDEX_COLUMNS.iter().map(|c| format!("{0} = excluded.{0}", c.name)).collect::<Vec<_>>().join(", ")
}

/// `column = ?n` for every index column but `skip`, numbered from `first` in
/// [`INDEX_COLUMNS`]' order (skipped columns keep their number).
pub fn set_numbered(marker: char, first: usize, skip: &[&str]) -> String {
    INDEX_COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| !skip.contains(&c.name))
        .map(|(i, c)| format!("{} = {marker}{}", c.name, first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where each index column is in a statement's result, found by name once per statement.
pub struct IndexReader {
    positions: Vec<Option<usize>>,
}

impl IndexReader {
    /// Finds the index columns in `statement`'s result (a column it lacks reads as `NULL`).
    pub fn new(statement: &Statement<'_>) -> IndexReader {
        // One pass over the statement's names: `Statement::column_index` per index column asks
        // SQLite for every name again each time (4% of the server's CPU per small sync).
        // Statements list the columns in `INDEX_COLUMNS`' order, so the column after the last
        // one found is tried first: a search of every name per name was 1.6% of the server's CPU.
        let mut positions = vec![None; INDEX_COLUMNS.len()];
        let mut next = 0;
        for at in 0..statement.column_count() {
            let Ok(name) = statement.column_name(at) else { continue };
            let found = match INDEX_COLUMNS.get(next) {
                Some(c) if c.name.eq_ignore_ascii_case(name) => Some(next),
                _ => INDEX_COLUMNS.iter().position(|c| c.name.eq_ignore_ascii_case(name)),
            };
            if let Some(column) = found {
                // The first column of a name, as `column_index` finds it.
                positions[column].get_or_insert(at);
                next = column + 1;
            }
        }
        IndexReader { positions }
    }

    /// The index in `row`.
    pub fn read(&self, row: &Row<'_>) -> rusqlite::Result<TicketIndex> {
        let mut values = Vec::with_capacity(self.positions.len());
        for (position, column) in self.positions.iter().zip(INDEX_COLUMNS.iter()) {
            values.push(match position {
                Some(i) => column_value(row.get_ref(*i)?, column.kind),
                None => ColumnValue::Null,
            });
        }
        Ok(TicketIndex::from_values(values))
    }
}
