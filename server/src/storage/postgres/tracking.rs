//! [`TrackingStorage`] on PostgreSQL.

use fieldsync_core::time::Millis;
use postgres::Row;

use super::PostgresStorage;
use crate::storage::tracking::{FollowUp, TrackingLink, TrackingStorage};
use crate::storage::{HashBytes, StorageError};

/// The step that adds the tables (PostgreSQL migration 5, SQLite's 7).
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE server_secrets (
        name  TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE tracking_links (
        token_sha256 BYTEA  PRIMARY KEY,
        ticket_id    TEXT   NOT NULL,
        generation   BIGINT NOT NULL,
        created_at   BIGINT NOT NULL,
        revoked_at   BIGINT,
        UNIQUE (ticket_id, generation)
    );
    CREATE TABLE follow_ups (
        ticket_id      TEXT   PRIMARY KEY,
        rating         BIGINT NOT NULL,
        comment        TEXT   NOT NULL,
        opened_at      BIGINT NOT NULL,
        followed_up_by TEXT,
        followed_up_at BIGINT,
        outcome        TEXT
    );
"#;

const LINK_COLUMNS: &str = "ticket_id, generation, token_sha256, created_at, revoked_at";

fn link(row: &Row) -> TrackingLink {
    let hash: Vec<u8> = row.get(2);
    TrackingLink {
        ticket_id: row.get(0),
        generation: u32::try_from(row.get::<_, i64>(1)).unwrap_or(0),
        token_sha256: hash.try_into().unwrap_or([0; 32]),
        created_at: row.get(3),
        revoked_at: row.get(4),
    }
}

impl TrackingStorage for PostgresStorage {
    fn tracking_secret(&self, fresh: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO server_secrets (name, value) VALUES ('tracking', $1) ON CONFLICT (name) DO NOTHING",
                &[&fresh],
            )?;
            Ok(tx.query_one("SELECT value FROM server_secrets WHERE name = 'tracking'", &[])?.get(0))
        })
    }

    fn add_tracking_link(&self, l: &TrackingLink) -> Result<bool, StorageError> {
        let generation = i64::from(l.generation);
        let hash = l.token_sha256.as_slice();
        self.write(|tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO tracking_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
                ),
                &[&l.ticket_id, &generation, &hash, &l.created_at, &l.revoked_at],
            )?;
            Ok(added == 1)
        })
    }

    fn tracking_link(&self, token_sha256: &HashBytes) -> Result<Option<TrackingLink>, StorageError> {
        let hash = token_sha256.as_slice();
        self.read(|tx| {
            let row =
                tx.query_opt(&format!("SELECT {LINK_COLUMNS} FROM tracking_links WHERE token_sha256 = $1"), &[&hash])?;
            Ok(row.as_ref().map(link))
        })
    }

    fn latest_tracking_link(&self, ticket_id: &str) -> Result<Option<TrackingLink>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM tracking_links WHERE ticket_id = $1 ORDER BY generation DESC LIMIT 1"
                ),
                &[&ticket_id],
            )?;
            Ok(row.as_ref().map(link))
        })
    }

    fn revoke_tracking_links(&self, ticket_id: &str, at: Millis) -> Result<u64, StorageError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE tracking_links SET revoked_at = $2 WHERE ticket_id = $1 AND revoked_at IS NULL",
                &[&ticket_id, &at],
            )?)
        })
    }

    fn open_follow_up(&self, f: &FollowUp) -> Result<bool, StorageError> {
        let rating = i64::from(f.rating);
        self.write(|tx| {
            let added = tx.execute(
                "INSERT INTO follow_ups (ticket_id, rating, comment, opened_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&f.ticket_id, &rating, &f.comment, &f.opened_at],
            )?;
            Ok(added == 1)
        })
    }

    fn follow_ups(&self) -> Result<Vec<FollowUp>, StorageError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT ticket_id, rating, comment, opened_at, followed_up_by, followed_up_at, outcome FROM follow_ups
                 ORDER BY followed_up_at IS NOT NULL, opened_at DESC",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| FollowUp {
                    ticket_id: row.get(0),
                    rating: u8::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                    comment: row.get(2),
                    opened_at: row.get(3),
                    followed_up_by: row.get(4),
                    followed_up_at: row.get(5),
                    outcome: row.get(6),
                })
                .collect())
        })
    }

    fn record_follow_up(&self, ticket_id: &str, by: &str, at: Millis, outcome: &str) -> Result<bool, StorageError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE follow_ups SET followed_up_by = $2, followed_up_at = $3, outcome = $4 WHERE ticket_id = $1",
                &[&ticket_id, &by, &at, &outcome],
            )?;
            Ok(n == 1)
        })
    }
}
