//! Numbered schema migrations on `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Never edit a migration that
//! has shipped: add the next one. The test in `store::tests` builds every older schema,
//! migrates it, and compares the result with a fresh store.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The schema steps, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: documents as chunks, the ticket index, key-value metadata.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE doc_chunks (
        ticket_id TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        kind      TEXT    NOT NULL CHECK (kind IN ('change', 'snapshot')),
        bytes     BLOB    NOT NULL,
        PRIMARY KEY (ticket_id, seq)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE tickets (
        id               TEXT PRIMARY KEY,
        title            TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        assignee         TEXT,
        priority         TEXT    NOT NULL,
        customer_name    TEXT    NOT NULL,
        customer_address TEXT    NOT NULL,
        respond_by       INTEGER,
        arrive_by        INTEGER,
        resolve_by       INTEGER,
        sla_due_at       INTEGER,
        conflicts        INTEGER NOT NULL DEFAULT 0,
        updated_at       INTEGER NOT NULL,
        pending          INTEGER NOT NULL DEFAULT 0,
        quarantined      TEXT
    ) STRICT;
    CREATE INDEX tickets_by_status   ON tickets (status);
    CREATE INDEX tickets_by_assignee ON tickets (assignee);
    CREATE INDEX tickets_by_sla_due  ON tickets (sla_due_at) WHERE sla_due_at IS NOT NULL;
    "#,
    // 2: sync state: what the server is known to have of each ticket, and why the server
    // refused a ticket's changes.
    r#"
    CREATE TABLE sync_state (
        ticket_id    TEXT PRIMARY KEY,
        server_heads BLOB NOT NULL
    ) STRICT;
    ALTER TABLE tickets ADD COLUMN rejected TEXT;
    "#,
    // 3: a partial index whose WHERE clause a bound parameter can decide makes SQLite
    // re-prepare every cached statement on `tickets` at each run; a full index does not.
    r#"
    DROP INDEX tickets_by_sla_due;
    CREATE INDEX tickets_by_sla_due ON tickets (sla_due_at);
    "#,
    // 4: content-addressed blobs (processed photos, thumbnails, signature images) and their
    // upload queue.
    r#"
    CREATE TABLE blobs (
        sha256       TEXT PRIMARY KEY,
        bytes        BLOB    NOT NULL,
        content_type TEXT    NOT NULL,
        created_at   INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE uploads (
        sha256     TEXT    NOT NULL,
        ticket_id  TEXT    NOT NULL,
        size       INTEGER NOT NULL,
        sent       INTEGER NOT NULL DEFAULT 0,
        state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
        reason     TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, ticket_id)
    ) STRICT;
    CREATE INDEX uploads_by_state ON uploads (state);
    "#,
    // 5: the ticket's type (its classification, docs/adr/0014) in the index, so lists filter
    // by it without loading documents. Rows of older tickets have none: they were unclassified.
    r#"
    ALTER TABLE tickets ADD COLUMN ticket_type TEXT NOT NULL DEFAULT '';
    CREATE INDEX tickets_by_type ON tickets (ticket_type);
    "#,
    // 6: one ticket index for device and server (docs/adr/0025): the device's rows hold every
    // listed field the server's do. Rows of older tickets are filled from their documents when
    // the store opens (`tickets::reindex_if_stale`).
    r#"
    ALTER TABLE tickets ADD COLUMN resolved_at INTEGER;
    ALTER TABLE tickets ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN created_at INTEGER;
    ALTER TABLE tickets ADD COLUMN responded_at INTEGER;
    ALTER TABLE tickets ADD COLUMN arrived_at INTEGER;
    ALTER TABLE tickets ADD COLUMN revisit_due_at INTEGER;
    ALTER TABLE tickets ADD COLUMN revisited_at INTEGER;
    ALTER TABLE tickets ADD COLUMN first_time_fix INTEGER;
    ALTER TABLE tickets ADD COLUMN customer_rating INTEGER;
    ALTER TABLE tickets ADD COLUMN complaint INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN complaint_level TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_unit TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_product TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_tier TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN product TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN module TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN minutes_worked INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN parts_lines INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN parts_quantity INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN reassigned_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN reassigned_from TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN rejected_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN rejected_by TEXT NOT NULL DEFAULT '';
    "#,
    // 7: the tickets with unacknowledged changes found by index: every sync counts them and
    // reads them (`pending_count`, `pending_with_server_heads`), which scanned every row of the
    // store (3% of the bench's device CPU with 20 tickets a device; a phone holds hundreds).
    r#"
    CREATE INDEX tickets_by_pending ON tickets (pending);
    "#,
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the store's schema up to [`LATEST_VERSION`]; see [`run_numbered`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    run_numbered(conn, MIGRATIONS)
}

/// Numbered migrations on `PRAGMA user_version`, for any SQLite database of the project (the
/// device store here, the server's database too): `steps[i]` takes the schema from version
/// `i` to `i + 1`. Applies the missing steps in one transaction and returns the version found;
/// a newer version is refused without touching the file.
pub fn run_numbered(conn: &mut Connection, steps: &[&str]) -> Result<i64, StoreError> {
    let latest = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > latest {
        return Err(StoreError::NewerSchema { found, supported: latest });
    }
    for step in &steps[usize::try_from(found).unwrap_or(0)..] {
        tx.execute_batch(step)?;
    }
    if found < latest {
        tx.pragma_update(None, "user_version", latest)?;
    }
    tx.commit()?;
    Ok(found)
}

/// Applies the first `version` migrations only: for tests that need an old schema.
#[cfg(test)]
pub(crate) fn migrate_to(conn: &mut Connection, version: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for step in &MIGRATIONS[..version] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", version as i64)?;
    tx.commit()
}
