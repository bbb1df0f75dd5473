//! [`CustomerStorage`] on SQLite.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStorage, index};
use crate::storage::customers::{CustomerStorage, StoredCustomer, like_pattern};
use crate::storage::{IndexRow, ROW_COLUMNS, StorageError, i64_of};

/// The step that adds customer records and the customer reference and response milestones to
/// the ticket index (SQLite migration 9; docs/adr/0018).
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE customers (
        id          TEXT PRIMARY KEY,
        name        TEXT    NOT NULL,
        tier        TEXT    NOT NULL,
        json        TEXT    NOT NULL,
        search_text TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        updated_by  TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX customers_by_name ON customers (name);
    ALTER TABLE tickets ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN created_at INTEGER;
    ALTER TABLE tickets ADD COLUMN responded_at INTEGER;
    ALTER TABLE tickets ADD COLUMN arrived_at INTEGER;
    CREATE INDEX tickets_by_customer ON tickets (customer_id, site_id, created_at);
"#;

const COLUMNS: &str = "id, name, tier, json, search_text, version, created_at, updated_at, updated_by";

fn customer_row(row: &Row<'_>) -> rusqlite::Result<StoredCustomer> {
    Ok(StoredCustomer {
        id: row.get(0)?,
        name: row.get(1)?,
        tier: row.get(2)?,
        json: row.get(3)?,
        search_text: row.get(4)?,
        version: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        updated_by: row.get(8)?,
    })
}

impl CustomerStorage for SqliteStorage {
    fn create_customer(&self, c: &StoredCustomer) -> Result<(), StorageError> {
        let c = c.clone();
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)
                     ON CONFLICT (id) DO NOTHING"
                ))?
                .execute(params![
                    c.id,
                    c.name,
                    c.tier,
                    c.json,
                    c.search_text,
                    c.created_at,
                    c.updated_at,
                    c.updated_by
                ])?;
            if inserted == 0 {
                return Err(StorageError::Duplicate(format!("customer {}", c.id)));
            }
            Ok(())
        })
    }

    fn update_customer(&self, c: &StoredCustomer, expected_version: i64) -> Result<i64, StorageError> {
        let c = c.clone();
        self.write(move |tx| {
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE customers SET name = ?2, tier = ?3, json = ?4, search_text = ?5, version = version + 1,
                        updated_at = ?6, updated_by = ?7
                     WHERE id = ?1 AND version = ?8 RETURNING version",
                )?
                .query_row(
                    params![c.id, c.name, c.tier, c.json, c.search_text, c.updated_at, c.updated_by, expected_version],
                    |row| row.get(0),
                )
                .optional()?;
            match version {
                Some(version) => Ok(version),
                None => {
                    let exists = tx
                        .prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
                        .query_row([&c.id], |_| Ok(()))
                        .optional()?
                        .is_some();
                    Err(if exists {
                        StorageError::VersionConflict(format!("customer {}", c.id))
                    } else {
                        StorageError::NotFound(format!("customer {}", c.id))
                    })
                }
            }
        })
    }

    fn customer(&self, id: &str) -> Result<Option<StoredCustomer>, StorageError> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM customers WHERE id = ?1"))?
                .query_row([id], customer_row)
                .optional()?)
        })
    }

    fn search_customers(&self, needle: &str, limit: usize) -> Result<Vec<StoredCustomer>, StorageError> {
        let pattern = like_pattern(needle);
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM customers WHERE search_text LIKE ?1 ESCAPE '\\' ORDER BY name, id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![pattern, i64_of(limit as u64)], customer_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn customer_tickets(
        &self,
        customer_id: &str,
        site_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IndexRow>, StorageError> {
        self.read(|tx| {
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM tickets t WHERE t.customer_id = ?1 AND (?2 IS NULL OR t.site_id = ?2)
                 ORDER BY t.created_at DESC, t.changed_seq DESC LIMIT ?3"
            );
            index::query_rows(tx, &sql, params![customer_id, site_id, i64_of(limit as u64)])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::storage::customers::CustomerStorage;

    /// A database written before migration 9 (a ticket in the index) opens, migrates, and its
    /// ticket reads with no customer and no creation time; nothing else changed.
    #[test]
    fn a_database_from_before_customers_migrates_and_keeps_its_tickets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.sqlite");
        {
            let mut conn = rusqlite::Connection::open(&path).expect("open");
            let before = &crate::storage::migrations::MIGRATIONS[..8];
            fieldsync_core::store::run_numbered(&mut conn, before).expect("schema 8");
            conn.execute(
                "INSERT INTO tickets (id, title, status, assignee, priority, customer_name, customer_address,
                    conflicts, updated_at, changed_seq, version, ticket_type, escalated)
                 VALUES ('t1', 'Old job', 'dispatched', 'eli', 'normal', 'ACME', '1 Main St', 0, 5, 1, 1, 'bug', 0)",
                [],
            )
            .expect("an old row");
        }
        let storage = SqliteStorage::open(&path).expect("migrates");
        let row = storage.ticket_row("t1").expect("read").expect("kept");
        assert_eq!(
            (row.title.as_str(), row.customer_name.as_str(), row.ticket_type.as_str()),
            ("Old job", "ACME", "bug")
        );
        assert_eq!((row.customer_id.as_str(), row.site_id.as_str(), row.created_at), ("", "", None));
        assert!(storage.customer_tickets("", None, 10).expect("none").iter().all(|r| r.customer_id.is_empty()));
        assert!(storage.search_customers("", 10).expect("empty").is_empty());
        let version: i64 = rusqlite::Connection::open(&path)
            .expect("open")
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, crate::storage::migrations::MIGRATIONS.len() as i64);
    }
}
