//! [`ReportFactsStorage`] on SQLite (the SQL is shared with PostgreSQL).

use rusqlite::params;

use super::SqliteStorage;
use crate::storage::report_facts::{FactsRow, KEEP_REPORT_FACTS_SQL, REPORT_FACTS_SQL, ReportFactsStorage};
use crate::storage::statistics::for_sqlite;
use crate::storage::{StorageError, i64_of, u64_of};

impl ReportFactsStorage for SqliteStorage {
    fn report_facts(&self, from: i64, to: i64) -> Result<Vec<FactsRow>, StorageError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(&for_sqlite(REPORT_FACTS_SQL))?;
            let rows = statement
                .query_map(params![from, to], |row| {
                    let kept = match (row.get::<_, Option<i64>>(2)?, row.get::<_, Option<String>>(3)?) {
                        (Some(seq), Some(facts)) => Some((u64_of(seq), facts)),
                        _ => None,
                    };
                    Ok(FactsRow { ticket_id: row.get(0)?, changed_seq: u64_of(row.get(1)?), kept })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn keep_report_facts(&self, facts: &[(String, u64, String)]) -> Result<(), StorageError> {
        let facts = facts.to_vec();
        // A cache: a power cut may lose it, and the next page view folds again.
        self.write_relaxed(move |tx| {
            let mut statement = tx.prepare_cached(&for_sqlite(KEEP_REPORT_FACTS_SQL))?;
            for (ticket, seq, json) in &facts {
                statement.execute(params![ticket, i64_of(*seq), json])?;
            }
            Ok(())
        })
    }
}
