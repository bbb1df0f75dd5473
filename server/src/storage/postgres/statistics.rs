//! [`StatisticsStorage`] on PostgreSQL (the SQL is shared with SQLite).

use postgres::Row;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use super::PostgresStorage;
use crate::storage::statistics::{
    AgedTicket, CREATED_SQL, FigureKind, FigureValue, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage, TicketFigures,
};
use crate::storage::{StorageError, i64_of};

/// Column `i` as text borrowed from the row ("" for `NULL`).
fn text(row: &Row, i: usize) -> Result<&str, postgres::Error> {
    Ok(row.try_get::<_, Option<&str>>(i)?.unwrap_or(""))
}

/// Column `i` of a statistics row, read as `kind`.
fn figure(row: &Row, i: usize, kind: FigureKind) -> Result<FigureValue<'_>, postgres::Error> {
    Ok(match kind {
        FigureKind::Text => FigureValue::Text(text(row, i)?),
        FigureKind::Int | FigureKind::Flag => FigureValue::Int(row.try_get(i)?),
    })
}

impl StatisticsStorage for PostgresStorage {
    fn each_created(&self, from: i64, to: i64, visit: &mut dyn FnMut(&TicketFigures<'_>)) -> Result<(), StorageError> {
        self.read(|tx| {
            let statement = tx.statement(&CREATED_SQL)?;
            // Streamed: a year of tickets is not held in memory at once.
            let params: [&dyn ToSql; 2] = [&from, &to];
            let mut rows = tx.tx.query_raw(&statement, params)?;
            while let Some(row) = rows.next()? {
                visit(&TicketFigures::read(|i, kind| figure(&row, i, kind))?);
            }
            Ok(())
        })
    }

    fn oldest_open(&self, limit: usize) -> Result<(Vec<AgedTicket>, i64), StorageError> {
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let aged = tx
                .query(OLDEST_OPEN_SQL, &[&limit])?
                .iter()
                .map(|row| {
                    Ok(AgedTicket {
                        id: row.try_get(0)?,
                        title: row.try_get(1)?,
                        customer_name: row.try_get(2)?,
                        assignee: row.try_get(3)?,
                        status: row.try_get(4)?,
                        created_at: row.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            let open: i64 = tx.query_one(OPEN_COUNT_SQL, &[])?.try_get(0)?;
            Ok((aged, open))
        })
    }
}
