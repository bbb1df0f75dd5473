//! [`StatisticsStorage`] on PostgreSQL (the SQL is shared with SQLite).

use postgres::Row;

use super::PostgresStorage;
use crate::storage::statistics::{
    AgedTicket, Grouping, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage, Tally, tally_sql,
};
use crate::storage::{StorageError, i64_of};

fn tally_of(row: &Row) -> Result<Tally, postgres::Error> {
    Ok(Tally {
        key: row.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
        label: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
        tickets: row.try_get(2)?,
        open: row.try_get(3)?,
        responded: row.try_get(4)?,
        response_ms: row.try_get(5)?,
        ftf_known: row.try_get(6)?,
        ftf_fixed: row.try_get(7)?,
        revisited: row.try_get(8)?,
        revisit_due: row.try_get(9)?,
        complaints: row.try_get(10)?,
        bugs: row.try_get(11)?,
        completed: row.try_get(12)?,
        minutes: row.try_get(13)?,
        parts_lines: row.try_get(14)?,
        parts_quantity: row.try_get(15)?,
        reassignments: row.try_get(16)?,
        rejections: row.try_get(17)?,
    })
}

impl StatisticsStorage for PostgresStorage {
    fn tally(&self, grouping: Grouping, from: i64, to: i64, utc_offset_ms: i64) -> Result<Vec<Tally>, StorageError> {
        self.read(|tx| {
            let sql = tally_sql(grouping);
            let rows = if grouping == Grouping::Day {
                tx.query(&sql, &[&from, &to, &utc_offset_ms])?
            } else {
                tx.query(&sql, &[&from, &to])?
            };
            Ok(rows.iter().map(tally_of).collect::<Result<Vec<_>, _>>()?)
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
