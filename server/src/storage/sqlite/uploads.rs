//! [`UploadStorage`] on SQLite.

use fieldsync_core::time::Millis;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::StorageError;
use crate::storage::uploads::UploadStorage;

/// The step that adds the table (SQLite migration 6).
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE blob_uploads (
        sha256     TEXT    NOT NULL,
        device_id  TEXT    NOT NULL,
        received   INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, device_id)
    ) STRICT, WITHOUT ROWID;
"#;

impl UploadStorage for SqliteStorage {
    fn blob_received(&self, sha256: &str, device_id: &str) -> Result<u64, StorageError> {
        self.read(|tx| {
            let received: Option<i64> = tx
                .prepare_cached("SELECT received FROM blob_uploads WHERE sha256 = ?1 AND device_id = ?2")?
                .query_row(params![sha256, device_id], |row| row.get(0))
                .optional()?;
            // Stored as the same 64 bits (SQLite integers are signed).
            Ok(received.map_or(0, |n| n as u64))
        })
    }

    fn record_blob_received(
        &self,
        sha256: &str,
        device_id: &str,
        received: u64,
        at: Millis,
    ) -> Result<(), StorageError> {
        let (sha256, device_id) = (sha256.to_owned(), device_id.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO blob_uploads (sha256, device_id, received, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (sha256, device_id) DO UPDATE SET received = excluded.received, updated_at = excluded.updated_at",
            )?
            .execute(params![sha256, device_id, received as i64, at])?;
            Ok(())
        })
    }

    fn forget_blob_received(&self, sha256: &str) -> Result<(), StorageError> {
        let sha256 = sha256.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM blob_uploads WHERE sha256 = ?1")?.execute([sha256])?;
            Ok(())
        })
    }
}
