//! The PostgreSQL schema: numbered migrations, applied once under an advisory lock.

use super::{PostgresStorage, customers, manager, report_facts, tracking, uploads};
use crate::storage::StorageError;

/// Advisory lock key of migrations (the one-key form; tickets use the two-key form).
const MIGRATION_LOCK: i64 = 0x6669_656c_6473_796e; // "fieldsyn"

/// The schema steps, oldest first: `MIGRATIONS[i]` takes the schema from version `i` to
/// `i + 1`. Never edit a migration that has shipped: add the next one.
const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite has at its version 3 (users, devices, actors, the change sequence,
    // document chunks, the ticket index, sync state, the change log, blob links).
    r#"
    CREATE TABLE users (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL
    );
    CREATE TABLE devices (
        id           TEXT PRIMARY KEY,
        user_id      TEXT    NOT NULL REFERENCES users (id),
        token_sha256 BYTEA   NOT NULL UNIQUE,
        revoked      BOOLEAN NOT NULL DEFAULT FALSE,
        last_sync_at BIGINT
    );
    CREATE TABLE actors (
        actor_hex TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id)
    );
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('change_seq', 0);
    CREATE TABLE doc_chunks (
        ticket_id TEXT   NOT NULL,
        seq       BIGINT NOT NULL,
        kind      TEXT   NOT NULL CHECK (kind IN ('change', 'snapshot')),
        bytes     BYTEA  NOT NULL,
        PRIMARY KEY (ticket_id, seq)
    );
    CREATE TABLE tickets (
        id               TEXT PRIMARY KEY,
        title            TEXT   NOT NULL,
        status           TEXT   NOT NULL,
        assignee         TEXT,
        priority         TEXT   NOT NULL,
        customer_name    TEXT   NOT NULL,
        customer_address TEXT   NOT NULL,
        respond_by       BIGINT,
        arrive_by        BIGINT,
        resolve_by       BIGINT,
        sla_due_at       BIGINT,
        conflicts        BIGINT NOT NULL DEFAULT 0,
        resolved_at      BIGINT,
        updated_at       BIGINT NOT NULL,
        changed_seq      BIGINT NOT NULL UNIQUE,
        version          BIGINT NOT NULL
    );
    CREATE INDEX tickets_by_status   ON tickets (status);
    CREATE INDEX tickets_by_assignee ON tickets (assignee, changed_seq);
    CREATE INDEX tickets_by_sla_due  ON tickets (sla_due_at);
    CREATE TABLE sync_state (
        device_id      TEXT  NOT NULL,
        ticket_id      TEXT  NOT NULL,
        confirmed      BYTEA NOT NULL,
        pending_cursor BIGINT,
        pending_heads  BYTEA,
        evicted_at     BIGINT,
        PRIMARY KEY (device_id, ticket_id)
    );
    CREATE INDEX sync_state_by_ticket ON sync_state (ticket_id);
    CREATE TABLE change_log (
        ticket_id   TEXT   NOT NULL,
        change_hash TEXT   NOT NULL,
        device_id   TEXT   NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (ticket_id, change_hash)
    );
    CREATE TABLE blob_links (
        sha256    TEXT   NOT NULL,
        ticket_id TEXT   NOT NULL,
        device_id TEXT   NOT NULL,
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (sha256, ticket_id)
    );
    CREATE INDEX blob_links_by_ticket ON blob_links (ticket_id);
    "#,
    // 2: webhook subscriptions, their delivery outbox and the delivery log (SQLite's 4;
    // docs/adr/0008).
    r#"
    CREATE TABLE webhook_subscriptions (
        id          TEXT PRIMARY KEY,
        url         TEXT    NOT NULL,
        event_kinds TEXT    NOT NULL,
        secret      TEXT    NOT NULL,
        enabled     BOOLEAN NOT NULL,
        created_at  BIGINT  NOT NULL,
        created_by  TEXT    NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id              TEXT PRIMARY KEY,
        subscription_id TEXT   NOT NULL,
        ticket_id       TEXT   NOT NULL,
        event_id        TEXT   NOT NULL,
        event_kind      TEXT   NOT NULL,
        payload         TEXT   NOT NULL,
        state           TEXT   NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        BIGINT NOT NULL DEFAULT 0,
        attempt_limit   BIGINT NOT NULL,
        next_attempt_at BIGINT,
        lease_owner     TEXT,
        lease_until     BIGINT,
        created_at      BIGINT NOT NULL,
        UNIQUE (subscription_id, event_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at);
    CREATE INDEX webhook_deliveries_by_lease ON webhook_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE TABLE webhook_attempts (
        delivery_id   TEXT   NOT NULL,
        attempt       BIGINT NOT NULL,
        started_at    BIGINT NOT NULL,
        duration_ms   BIGINT NOT NULL,
        status_code   INTEGER,
        error         TEXT,
        next_retry_at BIGINT,
        PRIMARY KEY (delivery_id, attempt)
    );
    "#,
    // 3: console sign-in sessions (SQLite's 5; docs/adr/0007), by the SHA-256 of the cookie only; shared
    // by every instance, so a dispatcher signed in through one is signed in on all.
    r#"
    CREATE TABLE console_sessions (
        token_sha256 BYTEA  PRIMARY KEY,
        device_id    TEXT   NOT NULL REFERENCES devices (id),
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL
    );
    CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
    "#,
    // 4: how many bytes of each blob each device sent (SQLite's 6; issue 13).
    uploads::MIGRATION,
    // 5: tracking links and follow-ups (SQLite's 7; docs/adr/0012).
    tracking::MIGRATION,
    // 6: classification in the index, the manager's settings (taxonomy, SLA policy,
    // escalation rules) with their change log, and escalation claims (SQLite's 8;
    // docs/adr/0014).
    manager::MIGRATION,
    // 7: customer records, and the customer reference, creation time and response milestones
    // in the ticket index (SQLite's 9; docs/adr/0018).
    customers::MIGRATION,
    // 8: the revisit work, the customer's rating and the complaint analysis in the index
    // (SQLite's 10; docs/adr/0019).
    r#"
    ALTER TABLE tickets ADD COLUMN revisit_due_at BIGINT;
    ALTER TABLE tickets ADD COLUMN revisited_at BIGINT;
    ALTER TABLE tickets ADD COLUMN first_time_fix BOOLEAN;
    ALTER TABLE tickets ADD COLUMN customer_rating SMALLINT;
    ALTER TABLE tickets ADD COLUMN complaint BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE tickets ADD COLUMN complaint_level TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_unit TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_product TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_tier TEXT NOT NULL DEFAULT '';
    CREATE INDEX tickets_by_revisit_due ON tickets (revisit_due_at);
    CREATE INDEX tickets_by_complaint ON tickets (complaint);
    "#,
    // 9: product and module, time and parts, reassignments and rejections in the index
    // (SQLite's 11; docs/adr/0025). Filled from the documents on open.
    r#"
    ALTER TABLE tickets ADD COLUMN product TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN module TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN minutes_worked BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN parts_lines BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN parts_quantity BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN reassigned_count BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN reassigned_from TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN rejected_count BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN rejected_by TEXT NOT NULL DEFAULT '';
    "#,
    // 10 (9 is the statistics' index columns, merged before this; SQLite's 12): the service
    // reports' per-ticket facts (docs/adr/0028).
    report_facts::MIGRATION,
    // 11 (SQLite's 13): the heads of each
    // ticket's stored document, written with its row, so that a bootstrap sends the stored
    // bytes without loading them (docs/adr/0030). NULL in rows written before: loaded instead.
    "ALTER TABLE tickets ADD COLUMN heads BYTEA;",
    // 12 (SQLite's 14): the three ways an engineer's sync finds its changed tickets (assignee,
    // pool, held) each bounded by the cursor in an index (docs/adr/0026).
    r#"
    DROP INDEX tickets_by_status;
    CREATE INDEX tickets_by_status ON tickets (status, changed_seq);
    CREATE INDEX tickets_by_id_seq ON tickets (id, changed_seq);
    "#,
    // 13 (PostgreSQL only): what a ticket write raises when the ticket was written since its
    // writer read it, so that the one statement of a write fails whole (docs/adr/0033;
    // `rows::SAVE_SQL`).
    r#"
    CREATE FUNCTION fieldsync_version_conflict(ticket TEXT) RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        RAISE EXCEPTION 'ticket % was written since it was read', ticket USING ERRCODE = 'FS409';
    END
    $$;
    "#,
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

impl PostgresStorage {
    pub(super) fn migrate(&self) -> Result<i64, StorageError> {
        self.write(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
            let found: i64 = match tx.query_opt("SELECT version FROM schema_version", &[])? {
                Some(row) => row.get(0),
                None => {
                    tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
                    0
                }
            };
            if found > LATEST_VERSION {
                return Err(StorageError::NewerSchema { found, supported: LATEST_VERSION });
            }
            for step in &MIGRATIONS[usize::try_from(found).unwrap_or(0)..] {
                tx.tx.batch_execute(step)?;
            }
            if found < LATEST_VERSION {
                tx.execute("UPDATE schema_version SET version = $1", &[&LATEST_VERSION])?;
            }
            // Rows computed under an older index get their new columns from their documents,
            // under the same lock: one instance does it.
            super::rows::reindex_if_stale(tx)?;
            Ok(found)
        })
    }
}
