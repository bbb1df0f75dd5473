//! [`StatisticsStorage`] on SQLite (the SQL is shared with PostgreSQL).

use rusqlite::params;
use rusqlite::types::{FromSqlError, ValueRef};

use super::SqliteStorage;
use crate::storage::statistics::{
    AgedTicket, CREATED_SQL, FigureKind, FigureValue, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage,
    TicketFigures, for_sqlite,
};
use crate::storage::{StorageError, i64_of};

fn conversion(column: usize, value: ValueRef<'_>, e: FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, value.data_type(), Box::new(e))
}

/// Column `i` as text borrowed from the row ("" for `NULL`).
fn text<'a>(row: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'a str> {
    let value = row.get_ref(i)?;
    Ok(value.as_str_or_null().map_err(|e| conversion(i, value, e))?.unwrap_or(""))
}

/// Column `i` of a statistics row, read as `kind`.
fn figure<'a>(row: &'a rusqlite::Row<'_>, i: usize, kind: FigureKind) -> rusqlite::Result<FigureValue<'a>> {
    Ok(match kind {
        FigureKind::Text => FigureValue::Text(text(row, i)?),
        FigureKind::Int | FigureKind::Flag => FigureValue::Int(row.get(i)?),
    })
}

impl StatisticsStorage for SqliteStorage {
    fn each_created(&self, from: i64, to: i64, visit: &mut dyn FnMut(&TicketFigures<'_>)) -> Result<(), StorageError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(&for_sqlite(&CREATED_SQL))?;
            let mut rows = statement.query(params![from, to])?;
            while let Some(row) = rows.next()? {
                visit(&TicketFigures::read(|i, kind| figure(row, i, kind))?);
            }
            Ok(())
        })
    }

    fn oldest_open(&self, limit: usize) -> Result<(Vec<AgedTicket>, i64), StorageError> {
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let aged = tx
                .prepare_cached(&for_sqlite(OLDEST_OPEN_SQL))?
                .query_map(params![limit], |row| {
                    Ok(AgedTicket {
                        id: row.get(0)?,
                        title: row.get(1)?,
                        customer_name: row.get(2)?,
                        assignee: row.get(3)?,
                        status: row.get(4)?,
                        created_at: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let open = tx.prepare_cached(OPEN_COUNT_SQL)?.query_row([], |row| row.get(0))?;
            Ok((aged, open))
        })
    }
}
