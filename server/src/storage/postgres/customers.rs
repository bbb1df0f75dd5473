//! [`CustomerStorage`] on PostgreSQL.

use postgres::Row;

use super::PostgresStorage;
use super::rows::read_rows;
use crate::storage::customers::{CustomerStorage, StoredCustomer, like_pattern};
use crate::storage::{IndexRow, ROW_COLUMNS, StorageError, i64_of};

/// The step that adds customer records and the customer reference and response milestones to
/// the ticket index (PostgreSQL migration 7, SQLite's 9; docs/adr/0018).
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE customers (
        id          TEXT PRIMARY KEY,
        name        TEXT   NOT NULL,
        tier        TEXT   NOT NULL,
        json        TEXT   NOT NULL,
        search_text TEXT   NOT NULL,
        version     BIGINT NOT NULL,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        updated_by  TEXT   NOT NULL
    );
    CREATE INDEX customers_by_name ON customers (name);
    ALTER TABLE tickets ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN created_at BIGINT;
    ALTER TABLE tickets ADD COLUMN responded_at BIGINT;
    ALTER TABLE tickets ADD COLUMN arrived_at BIGINT;
    CREATE INDEX tickets_by_customer ON tickets (customer_id, site_id, created_at);
"#;

const COLUMNS: &str = "id, name, tier, json, search_text, version, created_at, updated_at, updated_by";

fn customer_row(row: &Row) -> Result<StoredCustomer, postgres::Error> {
    Ok(StoredCustomer {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        tier: row.try_get(2)?,
        json: row.try_get(3)?,
        search_text: row.try_get(4)?,
        version: row.try_get(5)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        updated_by: row.try_get(8)?,
    })
}

impl CustomerStorage for PostgresStorage {
    fn create_customer(&self, c: &StoredCustomer) -> Result<(), StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO customers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)
                     ON CONFLICT (id) DO NOTHING"
                ),
                &[&c.id, &c.name, &c.tier, &c.json, &c.search_text, &c.created_at, &c.updated_at, &c.updated_by],
            )?;
            if inserted == 0 {
                return Err(StorageError::Duplicate(format!("customer {}", c.id)));
            }
            Ok(())
        })
    }

    fn update_customer(&self, c: &StoredCustomer, expected_version: i64) -> Result<i64, StorageError> {
        self.write(|tx| {
            let row = tx.query_opt(
                "UPDATE customers SET name = $2, tier = $3, json = $4, search_text = $5, version = version + 1,
                    updated_at = $6, updated_by = $7
                 WHERE id = $1 AND version = $8 RETURNING version",
                &[&c.id, &c.name, &c.tier, &c.json, &c.search_text, &c.updated_at, &c.updated_by, &expected_version],
            )?;
            if let Some(row) = row {
                return Ok(row.try_get(0)?);
            }
            let exists = tx.query_opt("SELECT 1 FROM customers WHERE id = $1", &[&c.id])?.is_some();
            Err(if exists {
                StorageError::VersionConflict(format!("customer {}", c.id))
            } else {
                StorageError::NotFound(format!("customer {}", c.id))
            })
        })
    }

    fn customer(&self, id: &str) -> Result<Option<StoredCustomer>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM customers WHERE id = $1"), &[&id])?;
            Ok(row.as_ref().map(customer_row).transpose()?)
        })
    }

    fn search_customers(&self, needle: &str, limit: usize) -> Result<Vec<StoredCustomer>, StorageError> {
        let pattern = like_pattern(needle);
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM customers WHERE search_text LIKE $1 ESCAPE '\\'
                     ORDER BY name COLLATE \"C\", id LIMIT $2"
                ),
                &[&pattern, &limit],
            )?;
            Ok(rows.iter().map(customer_row).collect::<Result<_, _>>()?)
        })
    }

    fn customer_tickets(
        &self,
        customer_id: &str,
        site_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IndexRow>, StorageError> {
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM tickets t
                 WHERE t.customer_id = $1 AND ($2::TEXT IS NULL OR t.site_id = $2)
                 ORDER BY t.created_at DESC NULLS LAST, t.changed_seq DESC LIMIT $3"
            );
            Ok(read_rows(&tx.query(&sql, &[&customer_id, &site_id, &limit])?)?)
        })
    }
}
