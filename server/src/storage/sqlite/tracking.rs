//! [`TrackingStorage`] on SQLite.

use fieldsync_core::time::Millis;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStorage;
use crate::storage::tracking::{FollowUp, TrackingLink, TrackingStorage};
use crate::storage::{HashBytes, StorageError};

/// The step that adds the tables (SQLite migration 7).
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE server_secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;
    CREATE TABLE tracking_links (
        token_sha256 BLOB    PRIMARY KEY,
        ticket_id    TEXT    NOT NULL,
        generation   INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        revoked_at   INTEGER,
        UNIQUE (ticket_id, generation)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE follow_ups (
        ticket_id      TEXT PRIMARY KEY,
        rating         INTEGER NOT NULL,
        comment        TEXT    NOT NULL,
        opened_at      INTEGER NOT NULL,
        followed_up_by TEXT,
        followed_up_at INTEGER,
        outcome        TEXT
    ) STRICT;
"#;

const LINK_COLUMNS: &str = "ticket_id, generation, token_sha256, created_at, revoked_at";

fn link(row: &Row<'_>) -> rusqlite::Result<TrackingLink> {
    let hash: Vec<u8> = row.get(2)?;
    Ok(TrackingLink {
        ticket_id: row.get(0)?,
        generation: row.get(1)?,
        token_sha256: hash.try_into().unwrap_or([0; 32]),
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

impl TrackingStorage for SqliteStorage {
    fn tracking_secret(&self, fresh: &[u8]) -> Result<Vec<u8>, StorageError> {
        let fresh = fresh.to_vec();
        self.write(move |tx| {
            tx.prepare_cached("INSERT OR IGNORE INTO server_secrets (name, value) VALUES ('tracking', ?1)")?
                .execute([&fresh])?;
            Ok(tx
                .prepare_cached("SELECT value FROM server_secrets WHERE name = 'tracking'")?
                .query_row([], |row| row.get(0))?)
        })
    }

    fn add_tracking_link(&self, l: &TrackingLink) -> Result<bool, StorageError> {
        let l = l.clone();
        self.write(move |tx| {
            let added = tx
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO tracking_links ({LINK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
                ))?
                .execute(params![l.ticket_id, l.generation, l.token_sha256.as_slice(), l.created_at, l.revoked_at])?;
            Ok(added == 1)
        })
    }

    fn tracking_link(&self, token_sha256: &HashBytes) -> Result<Option<TrackingLink>, StorageError> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached(&format!("SELECT {LINK_COLUMNS} FROM tracking_links WHERE token_sha256 = ?1"))?
                .query_row([token_sha256.as_slice()], link)
                .optional()?)
        })
    }

    fn latest_tracking_link(&self, ticket_id: &str) -> Result<Option<TrackingLink>, StorageError> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {LINK_COLUMNS} FROM tracking_links WHERE ticket_id = ?1 ORDER BY generation DESC LIMIT 1"
                ))?
                .query_row([ticket_id], link)
                .optional()?)
        })
    }

    fn revoke_tracking_links(&self, ticket_id: &str, at: Millis) -> Result<u64, StorageError> {
        let ticket_id = ticket_id.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE tracking_links SET revoked_at = ?2 WHERE ticket_id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![ticket_id, at])?;
            Ok(n as u64)
        })
    }

    fn open_follow_up(&self, f: &FollowUp) -> Result<bool, StorageError> {
        let f = f.clone();
        self.write(move |tx| {
            let added = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO follow_ups (ticket_id, rating, comment, opened_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![f.ticket_id, f.rating, f.comment, f.opened_at])?;
            Ok(added == 1)
        })
    }

    fn follow_ups(&self) -> Result<Vec<FollowUp>, StorageError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(
                "SELECT ticket_id, rating, comment, opened_at, followed_up_by, followed_up_at, outcome FROM follow_ups
                 ORDER BY followed_up_at IS NOT NULL, opened_at DESC",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(FollowUp {
                    ticket_id: row.get(0)?,
                    rating: row.get(1)?,
                    comment: row.get(2)?,
                    opened_at: row.get(3)?,
                    followed_up_by: row.get(4)?,
                    followed_up_at: row.get(5)?,
                    outcome: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn record_follow_up(&self, ticket_id: &str, by: &str, at: Millis, outcome: &str) -> Result<bool, StorageError> {
        let (ticket_id, by, outcome) = (ticket_id.to_owned(), by.to_owned(), outcome.to_owned());
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE follow_ups SET followed_up_by = ?2, followed_up_at = ?3, outcome = ?4 WHERE ticket_id = ?1",
                )?
                .execute(params![ticket_id, by, at, outcome])?;
            Ok(n == 1)
        })
    }
}
