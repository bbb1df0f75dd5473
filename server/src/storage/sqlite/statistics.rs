//! [`StatisticsStorage`] on SQLite (the SQL is shared with PostgreSQL).

use rusqlite::params;
use rusqlite::types::{FromSqlError, ValueRef};

use super::SqliteStorage;
use crate::storage::statistics::{
    AgedTicket, CREATED_SQL, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage, TicketFigures, for_sqlite,
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

fn figures<'a>(row: &'a rusqlite::Row<'_>) -> rusqlite::Result<TicketFigures<'a>> {
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
        created_at: row.get(11)?,
        responded_at: row.get(12)?,
        first_time_fix: row.get::<_, Option<i64>>(13)?.map(|fixed| fixed != 0),
        revisited_at: row.get(14)?,
        revisit_due_at: row.get(15)?,
        complaint: row.get::<_, i64>(16)? != 0,
        minutes_worked: row.get(17)?,
        parts_lines: row.get(18)?,
        parts_quantity: row.get(19)?,
        reassigned_count: row.get(20)?,
        rejected_count: row.get(21)?,
    })
}

impl StatisticsStorage for SqliteStorage {
    fn each_created(&self, from: i64, to: i64, visit: &mut dyn FnMut(&TicketFigures<'_>)) -> Result<(), StorageError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(&for_sqlite(CREATED_SQL))?;
            let mut rows = statement.query(params![from, to])?;
            while let Some(row) = rows.next()? {
                visit(&figures(row)?);
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
