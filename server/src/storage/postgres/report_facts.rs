//! [`ReportFactsStorage`] on PostgreSQL (the SQL is shared with SQLite).

use super::PostgresStorage;
use crate::storage::report_facts::{FactsRow, KEEP_REPORT_FACTS_SQL, REPORT_FACTS_SQL, ReportFactsStorage};
use crate::storage::{StorageError, i64_of, u64_of};

/// Migration 10 (9 is the statistics' index columns, merged before this; SQLite's 12): the
/// service reports' per-ticket facts (docs/adr/0028).
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE report_facts (
        ticket_id TEXT PRIMARY KEY,
        seq       BIGINT NOT NULL,
        facts     TEXT   NOT NULL
    );
    "#;

impl ReportFactsStorage for PostgresStorage {
    fn report_facts(&self, from: i64, to: i64) -> Result<Vec<FactsRow>, StorageError> {
        self.read(|tx| {
            tx.query(REPORT_FACTS_SQL, &[&from, &to])?
                .iter()
                .map(|row| {
                    let kept = match (row.try_get::<_, Option<i64>>(2)?, row.try_get::<_, Option<String>>(3)?) {
                        (Some(seq), Some(facts)) => Some((u64_of(seq), facts)),
                        _ => None,
                    };
                    Ok(FactsRow { ticket_id: row.try_get(0)?, changed_seq: u64_of(row.try_get(1)?), kept })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()
                .map_err(Into::into)
        })
    }

    fn keep_report_facts(&self, facts: &[(String, u64, String)]) -> Result<(), StorageError> {
        self.write(|tx| {
            for (ticket, seq, json) in facts {
                tx.execute(KEEP_REPORT_FACTS_SQL, &[ticket, &i64_of(*seq), json])?;
            }
            Ok(())
        })
    }
}
