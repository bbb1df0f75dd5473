//! [`StatisticsStorage`] on PostgreSQL (the SQL is shared with SQLite).

use postgres::Row;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use super::PostgresStorage;
use crate::storage::statistics::{
    AgedTicket, CREATED_SQL, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage, TicketFigures,
};
use crate::storage::{StorageError, i64_of};

/// Column `i` as text borrowed from the row ("" for `NULL`).
fn text(row: &Row, i: usize) -> Result<&str, postgres::Error> {
    Ok(row.try_get::<_, Option<&str>>(i)?.unwrap_or(""))
}

fn figures(row: &Row) -> Result<TicketFigures<'_>, postgres::Error> {
    Ok(TicketFigures {
        ticket_type: text(row, 0)?,
        customer_id: text(row, 1)?,
        customer_name: text(row, 2)?,
        assignee: text(row, 3)?,
        status: text(row, 4)?,
        product: text(row, 5)?,
        module: text(row, 6)?,
        complaint_level: text(row, 7)?,
        complaint_product: text(row, 8)?,
        reassigned_from: text(row, 9)?,
        rejected_by: text(row, 10)?,
        created_at: row.try_get(11)?,
        responded_at: row.try_get(12)?,
        first_time_fix: row.try_get::<_, Option<i64>>(13)?.map(|fixed| fixed != 0),
        revisited_at: row.try_get(14)?,
        revisit_due_at: row.try_get(15)?,
        complaint: row.try_get::<_, i64>(16)? != 0,
        minutes_worked: row.try_get(17)?,
        parts_lines: row.try_get(18)?,
        parts_quantity: row.try_get(19)?,
        reassigned_count: row.try_get(20)?,
        rejected_count: row.try_get(21)?,
    })
}

impl StatisticsStorage for PostgresStorage {
    fn each_created(&self, from: i64, to: i64, visit: &mut dyn FnMut(&TicketFigures<'_>)) -> Result<(), StorageError> {
        self.read(|tx| {
            let statement = tx.statement(CREATED_SQL)?;
            // Streamed: a year of tickets is not held in memory at once.
            let params: [&dyn ToSql; 2] = [&from, &to];
            let mut rows = tx.tx.query_raw(&statement, params)?;
            while let Some(row) = rows.next()? {
                visit(&figures(&row)?);
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
