//! [`UploadStorage`] on PostgreSQL.

use fieldsync_core::time::Millis;

use super::PostgresStorage;
use crate::storage::StorageError;
use crate::storage::uploads::UploadStorage;

/// The step that adds the table (PostgreSQL migration 4, SQLite's 6).
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE blob_uploads (
        sha256     TEXT   NOT NULL,
        device_id  TEXT   NOT NULL,
        received   BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (sha256, device_id)
    );
"#;

impl UploadStorage for PostgresStorage {
    fn blob_received(&self, sha256: &str, device_id: &str) -> Result<u64, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(
                "SELECT received FROM blob_uploads WHERE sha256 = $1 AND device_id = $2",
                &[&sha256, &device_id],
            )?;
            // Stored as the same 64 bits (BIGINT is signed).
            Ok(row.map_or(0, |row| row.get::<_, i64>(0) as u64))
        })
    }

    fn record_blob_received(
        &self,
        sha256: &str,
        device_id: &str,
        received: u64,
        at: Millis,
    ) -> Result<(), StorageError> {
        let received = received as i64;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO blob_uploads (sha256, device_id, received, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256, device_id) DO UPDATE SET received = excluded.received, updated_at = excluded.updated_at",
                &[&sha256, &device_id, &received, &at],
            )?;
            Ok(())
        })
    }

    fn forget_blob_received(&self, sha256: &str) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute("DELETE FROM blob_uploads WHERE sha256 = $1", &[&sha256])?;
            Ok(())
        })
    }
}
