//! [`StatisticsStorage`] on SQLite (the SQL is shared with PostgreSQL).

use rusqlite::params;

use super::SqliteStorage;
use crate::storage::statistics::{
    AgedTicket, Grouping, OLDEST_OPEN_SQL, OPEN_COUNT_SQL, StatisticsStorage, Tally, for_sqlite, tally_sql,
};
use crate::storage::{StorageError, i64_of};

fn tally_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tally> {
    Ok(Tally {
        key: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
        label: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
        tickets: row.get(2)?,
        open: row.get(3)?,
        responded: row.get(4)?,
        response_ms: row.get(5)?,
        ftf_known: row.get(6)?,
        ftf_fixed: row.get(7)?,
        revisited: row.get(8)?,
        revisit_due: row.get(9)?,
        complaints: row.get(10)?,
        bugs: row.get(11)?,
        completed: row.get(12)?,
        minutes: row.get(13)?,
        parts_lines: row.get(14)?,
        parts_quantity: row.get(15)?,
        reassignments: row.get(16)?,
        rejections: row.get(17)?,
    })
}

impl StatisticsStorage for SqliteStorage {
    fn tally(&self, grouping: Grouping, from: i64, to: i64, utc_offset_ms: i64) -> Result<Vec<Tally>, StorageError> {
        self.read(|tx| {
            let sql = for_sqlite(&tally_sql(grouping));
            let mut statement = tx.prepare_cached(&sql)?;
            let rows = if grouping == Grouping::Day {
                statement.query_map(params![from, to, utc_offset_ms], tally_of)?.collect::<Result<Vec<_>, _>>()?
            } else {
                statement.query_map(params![from, to], tally_of)?.collect::<Result<Vec<_>, _>>()?
            };
            Ok(rows)
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
