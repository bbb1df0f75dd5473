//! Numbered schema migrations on `PRAGMA user_version` for the SQLite storage.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Never edit a migration that
//! has shipped: add the next one.

use fieldsync_core::store::StoreError;
use rusqlite::Connection;

use super::StorageError;

/// The schema steps, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: users, devices, actors, ticket chunks and index, sync state, change log.
    r#"
    CREATE TABLE users (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL
    ) STRICT;

    CREATE TABLE devices (
        id           TEXT PRIMARY KEY,
        user_id      TEXT    NOT NULL REFERENCES users (id),
        token_sha256 BLOB    NOT NULL UNIQUE,
        revoked      INTEGER NOT NULL DEFAULT 0,
        last_sync_at INTEGER
    ) STRICT;

    CREATE TABLE actors (
        actor_hex TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id)
    ) STRICT;

    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('change_seq', 0);

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
        resolved_at      INTEGER,
        updated_at       INTEGER NOT NULL,
        changed_seq      INTEGER NOT NULL UNIQUE,
        version          INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tickets_by_status   ON tickets (status);
    CREATE INDEX tickets_by_assignee ON tickets (assignee, changed_seq);
    CREATE INDEX tickets_by_sla_due  ON tickets (sla_due_at) WHERE sla_due_at IS NOT NULL;

    CREATE TABLE sync_state (
        device_id      TEXT    NOT NULL,
        ticket_id      TEXT    NOT NULL,
        confirmed      BLOB    NOT NULL,
        pending_cursor INTEGER,
        pending_heads  BLOB,
        evicted_at     INTEGER,
        PRIMARY KEY (device_id, ticket_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE change_log (
        ticket_id   TEXT    NOT NULL,
        change_hash TEXT    NOT NULL,
        device_id   TEXT    NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (ticket_id, change_hash)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2: the SLA index covers every row. A partial index makes SQLite re-prepare every
    // statement on `tickets` with a bound parameter at each execution (the planner checks the
    // bound value against the index's WHERE), which cost ~15% of the server's CPU per sync.
    r#"
    DROP INDEX tickets_by_sla_due;
    CREATE INDEX tickets_by_sla_due ON tickets (sla_due_at);
    "#,
    // 3: which tickets reference which content-addressed blob (photos, signatures;
    // docs/adr/0004). The bytes and the upload state live in the blob store, not here.
    r#"
    CREATE TABLE blob_links (
        sha256    TEXT    NOT NULL,
        ticket_id TEXT    NOT NULL,
        device_id TEXT    NOT NULL,
        linked_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, ticket_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX blob_links_by_ticket ON blob_links (ticket_id);
    "#,
    // 4: webhook subscriptions, their delivery outbox and the delivery log (docs/adr/0008).
    // Full indexes, not partial ones (see 2).
    r#"
    CREATE TABLE webhook_subscriptions (
        id          TEXT PRIMARY KEY,
        url         TEXT    NOT NULL,
        event_kinds TEXT    NOT NULL,
        secret      TEXT    NOT NULL,
        enabled     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        created_by  TEXT    NOT NULL
    ) STRICT;
    CREATE TABLE webhook_deliveries (
        id              TEXT PRIMARY KEY,
        subscription_id TEXT    NOT NULL,
        ticket_id       TEXT    NOT NULL,
        event_id        TEXT    NOT NULL,
        event_kind      TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        attempt_limit   INTEGER NOT NULL,
        next_attempt_at INTEGER,
        lease_owner     TEXT,
        lease_until     INTEGER,
        created_at      INTEGER NOT NULL,
        UNIQUE (subscription_id, event_id)
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
    CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at);
    CREATE INDEX webhook_deliveries_by_lease ON webhook_deliveries (lease_owner);
    CREATE TABLE webhook_attempts (
        delivery_id   TEXT    NOT NULL,
        attempt       INTEGER NOT NULL,
        started_at    INTEGER NOT NULL,
        duration_ms   INTEGER NOT NULL,
        status_code   INTEGER,
        error         TEXT,
        next_retry_at INTEGER,
        PRIMARY KEY (delivery_id, attempt)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 5: console sign-in sessions (docs/adr/0007), by the SHA-256 of the cookie only.
    r#"
    CREATE TABLE console_sessions (
        token_sha256 BLOB    PRIMARY KEY,
        device_id    TEXT    NOT NULL REFERENCES devices (id),
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
    "#,
    // 6: how many bytes of each blob each device sent (issue 13): a blob is linked to a ticket
    // only by a device that sent all of them.
    super::sqlite::uploads::MIGRATION,
    // 7: the customers' tracking links (by token hash) and the follow-ups of bad ratings
    // (docs/adr/0012).
    super::sqlite::tracking::MIGRATION,
    // 8: the ticket type and escalation flag in the index, the manager's settings (taxonomy,
    // SLA policy, escalation rules) with their change log, and escalation claims
    // (docs/adr/0014).
    super::sqlite::manager::MIGRATION,
    // 9: customer records, and the customer reference, creation time and response milestones
    // in the ticket index (docs/adr/0018).
    super::sqlite::customers::MIGRATION,
    // 10: the revisit work, the customer's rating and the complaint analysis in the index
    // (docs/adr/0019).
    r#"
    ALTER TABLE tickets ADD COLUMN revisit_due_at INTEGER;
    ALTER TABLE tickets ADD COLUMN revisited_at INTEGER;
    ALTER TABLE tickets ADD COLUMN first_time_fix INTEGER;
    ALTER TABLE tickets ADD COLUMN customer_rating INTEGER;
    ALTER TABLE tickets ADD COLUMN complaint INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN complaint_level TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_unit TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_product TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN complaint_tier TEXT NOT NULL DEFAULT '';
    CREATE INDEX tickets_by_revisit_due ON tickets (revisit_due_at);
    CREATE INDEX tickets_by_complaint ON tickets (complaint);
    "#,
    // 11: what the practice's statistics still lacked (docs/adr/0024, 0025): product and
    // module, time and parts, reassignments and rejections. Filled from the documents on open.
    r#"
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
    // 12 (11 is the statistics' index columns, merged before this): the service reports'
    // per-ticket facts, folded once per ticket version (docs/adr/0028).
    r#"
    CREATE TABLE report_facts (
        ticket_id TEXT PRIMARY KEY,
        seq       INTEGER NOT NULL,
        facts     TEXT    NOT NULL
    ) STRICT;
    "#,
    // 13: the heads of each ticket's
    // stored document, written with its chunks, so that a device holding nothing of a ticket is
    // sent the stored bytes without loading them (docs/adr/0030). NULL in rows written before:
    // those are loaded as they always were.
    "ALTER TABLE tickets ADD COLUMN heads BLOB;",
    // 14: an engineer's sync asks which of its tickets changed after its cursor by assignee, by
    // the pool and by the tickets the device holds; each of those three now finds only the rows
    // past the cursor in an index, instead of reading every pooled and every held ticket's row
    // to compare its sequence (docs/adr/0026).
    r#"
    DROP INDEX tickets_by_status;
    CREATE INDEX tickets_by_status ON tickets (status, changed_seq);
    CREATE INDEX tickets_by_id_seq ON tickets (id, changed_seq);
    "#,
];

/// Brings the schema up to the newest migration in one transaction with the project's one
/// migration runner; returns the version found. A newer version is refused untouched.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, StorageError> {
    fieldsync_core::store::run_numbered(conn, MIGRATIONS).map_err(|e| match e {
        StoreError::NewerSchema { found, supported } => StorageError::NewerSchema { found, supported },
        other => StorageError::Backend(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SqliteStorage, Storage, TicketFilter};

    fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// The schema exactly as version `version` left it, with a user, a device and a ticket
    /// written under it.
    fn old_database(path: &std::path::Path, version: usize) {
        let mut conn = Connection::open(path).expect("open old");
        let tx = conn.transaction().expect("tx");
        for step in &MIGRATIONS[..version] {
            tx.execute_batch(step).expect("old step");
        }
        tx.pragma_update(None, "user_version", version as i64).expect("version");
        if version >= 1 {
            tx.execute_batch(
                "INSERT INTO users (id, name, role) VALUES ('dana', 'dana', 'dispatcher');
                 INSERT INTO devices (id, user_id, token_sha256) VALUES ('d1', 'dana', x'01');
                 INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ('t1', 1, 'change', x'00');
                 INSERT INTO tickets (id, title, status, priority, customer_name, customer_address,
                                      updated_at, changed_seq, version)
                 VALUES ('t1', 'Boiler leaks', 'dispatched', 'high', 'Acme', 'Main St 1', 1, 1, 1);",
            )
            .expect("old data");
        }
        tx.commit().expect("commit");
    }

    /// Every schema the server ever shipped opens with today's opener into exactly a fresh
    /// database's schema, and what was written under it is still read by today's code.
    #[test]
    fn every_older_schema_migrates_to_the_fresh_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh_path = dir.path().join("fresh.sqlite");
        drop(SqliteStorage::open(&fresh_path).expect("open fresh"));
        let fresh = schema_of(&Connection::open(&fresh_path).expect("reopen fresh"));
        assert!(fresh.iter().any(|(kind, name, _)| kind == "table" && name == "tickets"));

        for version in 0..MIGRATIONS.len() {
            let path = dir.path().join(format!("v{version}.sqlite"));
            old_database(&path, version);
            let storage = SqliteStorage::open(&path).unwrap_or_else(|e| panic!("migrating from v{version}: {e}"));
            if version >= 1 {
                let dana = storage.user("dana").expect("read user").expect("user kept");
                assert_eq!(dana.name, "dana", "v{version}");
                let rows = storage.list_tickets(&TicketFilter::default()).expect("list");
                assert_eq!(rows.len(), 1, "the ticket written under v{version} is listed");
                assert_eq!(rows[0].title, "Boiler leaks");
            }
            drop(storage);
            let conn = Connection::open(&path).expect("reopen");
            assert_eq!(schema_of(&conn), fresh, "schema after migrating from v{version}");
            let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
            assert_eq!(user_version, MIGRATIONS.len() as i64);
        }
    }

    /// A ticket document with something in every kind of index column: a classified job for
    /// a customer record that one engineer gave back and another worked on (time and parts).
    fn ticket_document() -> automerge::Automerge {
        use fieldsync_core::model::doc::{self, EventDraft, Stamp};
        use fieldsync_core::model::{Classification, Customer, Identity, NewTicket};
        use fieldsync_core::workflow::{EventKind, Role};

        let dana = Identity { user_id: "dana".into(), device_id: "d1".into(), role: Role::Dispatcher };
        let eli = Identity { user_id: "eli".into(), device_id: "e1".into(), role: Role::Engineer };
        let ana = Identity { user_id: "ana".into(), device_id: "a1".into(), role: Role::Engineer };
        let new = NewTicket {
            title: "Boiler leaks".into(),
            customer: Customer {
                name: "Acme".into(),
                id: "cust-1".into(),
                site_id: "site-2".into(),
                ..Default::default()
            },
            classification: Classification {
                ticket_type: "repair".into(),
                product: "boiler".into(),
                module: "valve".into(),
                ..Default::default()
            },
            assignee: Some("eli".into()),
            ..Default::default()
        };
        let at = 1_700_000_000_000;
        let stamp = |n: i64, who| Stamp { id: format!("e{n}"), at: at + n, identity: who };
        let mut document = automerge::Automerge::new();
        doc::edit(&mut document, at, "create", |tx| doc::create(tx, "t1", &new, &stamp(0, &dana))).expect("create");
        let reject = EventDraft { reason: Some("no parts".into()), ..EventDraft::of(EventKind::Rejected) };
        doc::edit(&mut document, at + 1, "reject", |tx| doc::append_event(tx, &reject, &stamp(1, &eli)))
            .expect("reject");
        let to_ana = EventDraft { assignee: Some("ana".into()), ..EventDraft::of(EventKind::Reassigned) };
        doc::edit(&mut document, at + 2, "reassign", |tx| doc::append_event(tx, &to_ana, &stamp(2, &dana)))
            .expect("reassign");
        doc::edit(&mut document, at + 3, "time", |tx| doc::append_time(tx, 50, "labour", &stamp(3, &ana)))
            .expect("time");
        doc::edit(&mut document, at + 4, "part", |tx| doc::append_part(tx, "VALVE-22", 2, &stamp(4, &ana)))
            .expect("part");
        document
    }

    /// Whatever schema a database was last written under, its rows hold after opening what
    /// their documents say for every index column (docs/adr/0025): columns added since are
    /// filled by the reindex on open, not left at their defaults.
    #[test]
    fn rows_of_every_older_schema_are_reindexed_from_their_documents() {
        use fieldsync_core::model::TicketIndex;
        use fieldsync_core::model::doc;

        let document = ticket_document();
        let expected = TicketIndex::of(&document, &doc::derive(&document));
        assert_eq!(
            (expected.customer_id.as_str(), expected.module.as_str(), expected.minutes_worked, expected.rejected_count),
            ("cust-1", "valve", 50, 1),
            "the document says something the defaults do not"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        for version in 1..=MIGRATIONS.len() {
            let path = dir.path().join(format!("v{version}.sqlite"));
            {
                let mut conn = Connection::open(&path).expect("open old");
                let tx = conn.transaction().expect("tx");
                for step in &MIGRATIONS[..version] {
                    tx.execute_batch(step).expect("old step");
                }
                tx.pragma_update(None, "user_version", version as i64).expect("version");
                tx.execute(
                    "INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ('t1', 1, 'snapshot', ?1)",
                    [document.save()],
                )
                .expect("chunk");
                // The row as the first schema's columns hold it: the rest at their defaults.
                tx.execute_batch(
                    "INSERT INTO tickets (id, title, status, priority, customer_name, customer_address,
                                          updated_at, changed_seq, version)
                     VALUES ('t1', 'Boiler leaks', 'dispatched', 'normal', 'Acme', '', 7, 1, 1);",
                )
                .expect("old row");
                tx.commit().expect("commit");
            }
            let storage = SqliteStorage::open(&path).unwrap_or_else(|e| panic!("opening v{version}: {e}"));
            let row = storage.ticket_row("t1").expect("read").expect("row");
            assert_eq!(row.index, expected, "the index after opening a v{version} database");
            assert_eq!((row.updated_at, row.changed_seq), (7, 1), "the row's own columns are kept");
        }
    }

    /// Every index column the core declares is in the fresh schema: a field declared without
    /// its migration fails here, not at the first write.
    #[test]
    fn the_fresh_schema_has_every_index_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fresh.sqlite");
        drop(SqliteStorage::open(&path).expect("open"));
        let conn = Connection::open(&path).expect("reopen");
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('tickets')").expect("prepare");
        let names: Vec<String> =
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("names");
        for column in fieldsync_core::model::INDEX_COLUMNS.iter() {
            assert!(names.iter().any(|n| n == column.name), "the server's tickets table lacks {}", column.name);
        }
    }
}
