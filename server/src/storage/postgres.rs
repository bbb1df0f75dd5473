//! PostgreSQL storage, for several server instances sharing one database (docs/adr/0006).
//!
//! Same semantics as [`super::SqliteStorage`], through the sync `postgres` client and a small
//! pool of connections (callers are already on blocking threads):
//!
//! - A ticket write is one transaction. It first takes a transaction-scoped advisory lock on
//!   the ticket id, so two writers of one ticket (on any instance) run one after the other and
//!   the second sees the first's version: the optimistic version check cannot miss a write.
//! - The global change sequence is a row in `counters`, incremented with
//!   `UPDATE ... RETURNING` near the end of the transaction. The row lock it takes is held
//!   until commit, so sequence numbers are handed out and committed in the same order: once a
//!   reader sees seq `n` committed, every lower seq is committed too (or was never taken, as a
//!   rolled-back increment is rolled back with its transaction). A cursor never skips a change.
//! - The same transaction sends `NOTIFY fieldsync_tickets` with the change; PostgreSQL delivers
//!   it to every listening session at commit, in commit order. [`PostgresStorage::listen`]
//!   turns those into [`TicketNotice`]s on every instance.
//! - Multi-statement reads run in one `REPEATABLE READ` read-only transaction (one snapshot).
//! - Migrations are numbered and recorded in `schema_version`, applied in one transaction under
//!   an advisory lock, so instances starting together migrate once.
//!
//! Everything here blocks: never call it on an async worker thread (`spawn_blocking`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fieldsync_core::model::{Priority, Sla};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{Role, Status};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement};

use super::{
    ActorRecord, ChangeLogRow, DeviceInfo, DeviceRecord, HashBytes, IndexRow, Principal, ROW_COLUMNS, Saved, Scope,
    SessionRecord, Storage, StorageError, StoredTicket, SyncState, TicketFilter, TicketWrite, UserRecord,
    heads_from_blob, heads_to_blob, i64_of, u64_of,
};

mod actors;
mod customers;
mod manager;
mod statistics;
mod tracking;
mod uploads;
mod webhooks;

/// At most this many connections per storage (the listener has one more).
const POOL_SIZE: usize = 8;
/// The channel ticket changes are notified on.
const CHANNEL: &str = "fieldsync_tickets";
/// Advisory lock key of migrations (the one-key form; tickets use the two-key form).
const MIGRATION_LOCK: i64 = 0x6669_656c_6473_796e; // "fieldsyn"
/// First key of the two-key advisory locks on ticket ids.
const TICKET_LOCK_SPACE: i32 = 7;

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
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Backend(match e.as_db_error() {
            Some(db) => format!("postgres: {}", db.message()),
            None => format!("postgres: {e}"),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool's state is a list and a count: a panic elsewhere cannot leave it half-changed.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One pooled connection with its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A few connections, opened on demand and reused.
struct Pool {
    config: postgres::Config,
    state: Mutex<PoolState>,
    returned: Condvar,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics on an async thread (the
        // last `AppState` may well be dropped on one): close them on a thread of their own.
        let idle = std::mem::take(&mut lock(&self.state).idle);
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("fieldsync-pg-close".into()).spawn(move || drop(idle));
        }
    }
}

/// A connection taken from the pool; returned to it on drop.
struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.pool.state);
        match self.conn.take() {
            Some(conn) if !conn.client.is_closed() => state.idle.push(conn),
            _ => state.open -= 1,
        }
        drop(state);
        self.pool.returned.notify_one();
    }
}

impl Pool {
    fn get(&self) -> Result<Pooled<'_>, StorageError> {
        let mut state = lock(&self.state);
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    // The server went away meanwhile: open a new one instead.
                    state.open -= 1;
                    continue;
                }
                return Ok(Pooled { pool: self, conn: Some(conn) });
            }
            if state.open < POOL_SIZE {
                state.open += 1;
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled { pool: self, conn: Some(Conn { client, statements: HashMap::new() }) }),
                    Err(e) => {
                        lock(&self.state).open -= 1;
                        self.returned.notify_one();
                        Err(e.into())
                    }
                };
            }
            state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A transaction with the connection's statement cache.
struct Tx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params)
    }
}

/// PostgreSQL storage.
pub struct PostgresStorage {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

fn parse_config(url: &str) -> Result<postgres::Config, StorageError> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StorageError::Backend(format!("bad database URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("fieldsync-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// The URL of database `dbname` on the cluster `url` names (same host, port, user and
/// password): how tests and benchmarks reach the throwaway databases they create.
pub fn url_of_database(url: &str, dbname: &str) -> Result<String, StorageError> {
    let config: postgres::Config = url.parse().map_err(|e| StorageError::Backend(format!("bad database URL: {e}")))?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
    Ok(format!("postgres://{user}{password}@{host}:{port}/{dbname}"))
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, no TLS) and brings
    /// its schema up to date; a newer schema is refused. Blocking.
    pub fn open(url: &str) -> Result<PostgresStorage, StorageError> {
        let config = parse_config(url)?;
        let storage = PostgresStorage {
            pool: Pool { config, state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }), returned: Condvar::new() },
        };
        storage.migrate()?;
        actors::bind_every_server_actor(&storage)?;
        Ok(storage)
    }

    fn migrate(&self) -> Result<i64, StorageError> {
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
            Ok(found)
        })
    }

    /// Runs `f` in a read-committed transaction and commits; an error rolls it back.
    fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let mut pooled = self.pool.get()?;
        let Conn { client, statements } =
            pooled.conn.as_mut().ok_or_else(|| StorageError::Backend("no connection".into()))?;
        let mut tx = Tx { tx: client.transaction()?, statements };
        let value = f(&mut tx)?;
        tx.tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in a read-only transaction on one snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let mut pooled = self.pool.get()?;
        let Conn { client, statements } =
            pooled.conn.as_mut().ok_or_else(|| StorageError::Backend("no connection".into()))?;
        let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
        let mut tx = Tx { tx, statements };
        let value = f(&mut tx)?;
        tx.tx.commit()?;
        Ok(value)
    }

    /// Starts listening for ticket changes committed by any instance: `on_change` is called
    /// (on a thread of its own) once per change, in commit order. Returns once the listener is
    /// subscribed, so every change committed after this returns is seen. A dropped
    /// connection is reopened, and the changes committed meanwhile are caught up from the
    /// ticket index (the latest change of each ticket). Dropping the [`Listener`] stops it.
    pub fn listen(&self, on_change: impl Fn(TicketNotice) + Send + 'static) -> Result<Listener, StorageError> {
        let config = self.pool.config.clone();
        let (client, last_seq) = subscribe(&config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("fieldsync-pg-listen".into())
            .spawn(move || run_listener(config, client, last_seq, &stopping, &on_change))
            .map_err(|e| StorageError::Backend(format!("listener thread: {e}")))?;
        Ok(Listener { stop })
    }
}

/// A ticket change committed by some instance, as notified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketNotice {
    /// The ticket.
    pub id: String,
    /// Its derived status after the change.
    pub status: Status,
    /// Its `changed_seq`.
    pub seq: u64,
}

impl TicketNotice {
    fn payload(&self) -> String {
        format!("{} {} {}", self.seq, self.status.as_str(), self.id)
    }

    fn parse(payload: &str) -> Option<TicketNotice> {
        let mut parts = payload.splitn(3, ' ');
        let seq = parts.next()?.parse().ok()?;
        let status = Status::parse(parts.next()?)?;
        Some(TicketNotice { id: parts.next()?.to_owned(), status, seq })
    }
}

/// Stops the listener thread when dropped.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A connection that listens, and the highest seq committed when it started to.
fn subscribe(config: &postgres::Config) -> Result<(Client, u64), StorageError> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    let seq: i64 = client.query_one("SELECT value FROM counters WHERE name = 'change_seq'", &[])?.get(0);
    Ok((client, u64_of(seq)))
}

fn run_listener(
    config: postgres::Config,
    mut client: Client,
    mut last_seq: u64,
    stop: &AtomicBool,
    on_change: &dyn Fn(TicketNotice),
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let next = client.notifications().timeout_iter(Duration::from_millis(250)).next();
        match next {
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                if let Some(notice) = TicketNotice::parse(notification.payload()) {
                    // A notice already caught up after a reconnect is not repeated.
                    if notice.seq > last_seq {
                        last_seq = notice.seq;
                        on_change(notice);
                    }
                }
                continue;
            }
            Ok(None) if !client.is_closed() => continue,
            Ok(None) | Err(_) => {}
        }
        // The connection broke: reconnect, then publish what was committed meanwhile.
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            let Ok((mut fresh, _)) = subscribe(&config) else { continue };
            let Ok(rows) = fresh.query(
                "SELECT id, status, changed_seq FROM tickets WHERE changed_seq > $1 ORDER BY changed_seq",
                &[&i64_of(last_seq)],
            ) else {
                continue;
            };
            for row in rows {
                let (id, status, seq): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
                if let Some(status) = Status::parse(&status) {
                    on_change(TicketNotice { id, status, seq: u64_of(seq) });
                }
                last_seq = last_seq.max(u64_of(seq));
            }
            client = fresh;
            break;
        }
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn index_row(row: &Row) -> Result<IndexRow, postgres::Error> {
    let status: String = row.try_get(2)?;
    let priority: String = row.try_get(4)?;
    let conflicts: i64 = row.try_get(11)?;
    Ok(IndexRow {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        status: Status::parse(&status).unwrap_or_default(),
        assignee: row.try_get(3)?,
        priority: Priority::parse(&priority).unwrap_or_default(),
        customer_name: row.try_get(5)?,
        customer_address: row.try_get(6)?,
        sla: Sla { respond_by: row.try_get(7)?, arrive_by: row.try_get(8)?, resolve_by: row.try_get(9)? },
        sla_due_at: row.try_get(10)?,
        conflicts: u32::try_from(conflicts).unwrap_or(u32::MAX),
        resolved_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        changed_seq: u64_of(row.try_get(14)?),
        ticket_type: row.try_get(15)?,
        escalated: row.try_get(16)?,
        customer_id: row.try_get(17)?,
        site_id: row.try_get(18)?,
        created_at: row.try_get(19)?,
        responded_at: row.try_get(20)?,
        arrived_at: row.try_get(21)?,
        revisit_due_at: row.try_get(22)?,
        revisited_at: row.try_get(23)?,
        first_time_fix: row.try_get(24)?,
        customer_rating: row.try_get::<_, Option<i16>>(25)?.and_then(|n| u8::try_from(n).ok()),
        complaint: row.try_get(26)?,
        complaint_level: row.try_get(27)?,
        complaint_unit: row.try_get(28)?,
        complaint_product: row.try_get(29)?,
        complaint_tier: row.try_get(30)?,
    })
}

fn query_rows(tx: &mut Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<IndexRow>, StorageError> {
    Ok(tx.query(sql, params)?.iter().map(index_row).collect::<Result<_, _>>()?)
}

/// A `(device id, user id, role, last_sync_at)` row as the caller it authenticates; `None` for
/// a role this version does not know.
fn principal_row(row: &Row) -> Option<Principal> {
    let role: String = row.get(2);
    Some(Principal { device_id: row.get(0), user_id: row.get(1), role: Role::parse(&role)?, last_sync_at: row.get(3) })
}

impl Storage for PostgresStorage {
    fn create_user(&self, user: &UserRecord) -> Result<(), StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO users (id, name, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&user.id, &user.name, &user.role.as_str()],
            )?;
            if inserted == 0 {
                return Err(StorageError::Duplicate(format!("user {}", user.id)));
            }
            Ok(())
        })
    }

    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt("SELECT id, name, role FROM users WHERE id = $1", &[&user_id])?;
            Ok(row.and_then(|row| {
                let role: String = row.get(2);
                Some(UserRecord { id: row.get(0), name: row.get(1), role: Role::parse(&role)? })
            }))
        })
    }

    fn create_device(&self, device: &DeviceRecord) -> Result<(), StorageError> {
        self.write(|tx| {
            let user_exists: bool =
                tx.query_one("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", &[&device.user_id])?.get(0);
            if !user_exists {
                return Err(StorageError::NotFound(format!("user {}", device.user_id)));
            }
            // Either key (the id, the token) taken is a duplicate.
            match tx.execute(
                "INSERT INTO devices (id, user_id, token_sha256) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&device.id, &device.user_id, &device.token_sha256.as_slice()],
            ) {
                Ok(0) => Err(StorageError::Duplicate(format!("device {}", device.id))),
                // Bound with the device, so no push can claim it first.
                Ok(_) => actors::bind_server_actor(tx, &device.id).map(|_| ()),
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate(format!("device {}", device.id))),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool, StorageError> {
        self.write(|tx| Ok(tx.execute("UPDATE devices SET revoked = TRUE WHERE id = $1", &[&device_id])? > 0))
    }

    fn authenticate(&self, token_sha256: &HashBytes) -> Result<Option<Principal>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(
                "SELECT d.id, u.id, u.role, d.last_sync_at FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE d.token_sha256 = $1 AND NOT d.revoked",
                &[&token_sha256.as_slice()],
            )?;
            Ok(row.as_ref().and_then(principal_row))
        })
    }

    fn record_sync(&self, device_id: &str, at: Millis) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute("UPDATE devices SET last_sync_at = $2 WHERE id = $1", &[&device_id, &at])?;
            Ok(())
        })
    }

    fn list_users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.read(|tx| {
            let rows = tx.query("SELECT id, name, role FROM users ORDER BY id", &[])?;
            Ok(rows
                .iter()
                .filter_map(|row| {
                    let role: String = row.get(2);
                    // A role from a newer version is left out rather than guessed.
                    Some(UserRecord { id: row.get(0), name: row.get(1), role: Role::parse(&role)? })
                })
                .collect())
        })
    }

    fn list_devices(&self) -> Result<Vec<DeviceInfo>, StorageError> {
        self.read(|tx| {
            let rows = tx.query("SELECT id, user_id, revoked, last_sync_at FROM devices ORDER BY user_id, id", &[])?;
            Ok(rows
                .iter()
                .map(|row| DeviceInfo {
                    id: row.get(0),
                    user_id: row.get(1),
                    revoked: row.get(2),
                    last_sync_at: row.get(3),
                })
                .collect())
        })
    }

    fn create_session(&self, session: &SessionRecord) -> Result<(), StorageError> {
        self.write(|tx| {
            let device_exists: bool =
                tx.query_one("SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1)", &[&session.device_id])?.get(0);
            if !device_exists {
                return Err(StorageError::NotFound(format!("device {}", session.device_id)));
            }
            tx.execute("DELETE FROM console_sessions WHERE expires_at <= $1", &[&session.created_at])?;
            match tx.execute(
                "INSERT INTO console_sessions (token_sha256, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&session.token_sha256.as_slice(), &session.device_id, &session.created_at, &session.expires_at],
            ) {
                Ok(0) => Err(StorageError::Duplicate("session".into())),
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn session(&self, token_sha256: &HashBytes, now: Millis) -> Result<Option<Principal>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(
                "SELECT d.id, u.id, u.role, d.last_sync_at FROM console_sessions s
                 JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
                 WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND NOT d.revoked",
                &[&token_sha256.as_slice(), &now],
            )?;
            Ok(row.as_ref().and_then(principal_row))
        })
    }

    fn delete_session(&self, token_sha256: &HashBytes) -> Result<bool, StorageError> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM console_sessions WHERE token_sha256 = $1", &[&token_sha256.as_slice()])? > 0)
        })
    }

    fn register_actor(&self, actor: &str, device_id: &str) -> Result<String, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO actors (actor_hex, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&actor, &device_id],
            )?;
            Ok(tx.query_one("SELECT device_id FROM actors WHERE actor_hex = $1", &[&actor])?.get(0))
        })
    }

    fn actors(&self, actors: &[String]) -> Result<Vec<ActorRecord>, StorageError> {
        if actors.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let rows = tx.query(
                "SELECT a.actor_hex, a.device_id, d.user_id FROM actors a JOIN devices d ON d.id = a.device_id
                 WHERE a.actor_hex = ANY($1)",
                &[&actors],
            )?;
            let mut found: HashMap<String, ActorRecord> = rows
                .into_iter()
                .map(|row| {
                    let record = ActorRecord { actor: row.get(0), device_id: row.get(1), user_id: row.get(2) };
                    (record.actor.clone(), record)
                })
                .collect();
            // In the order asked, like SQLite.
            Ok(actors.iter().filter_map(|a| found.remove(a)).collect())
        })
    }

    fn load_ticket(&self, ticket_id: &str) -> Result<Option<StoredTicket>, StorageError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt("SELECT version, changed_seq FROM tickets WHERE id = $1", &[&ticket_id])?
            else {
                return Ok(None);
            };
            let (version, seq): (i64, i64) = (row.get(0), row.get(1));
            let since: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM doc_chunks WHERE ticket_id = $1 AND kind = 'snapshot'",
                    &[&ticket_id],
                )?
                .get(0);
            let rows = tx.query(
                "SELECT bytes FROM doc_chunks WHERE ticket_id = $1 AND seq >= $2 ORDER BY seq",
                &[&ticket_id, &since],
            )?;
            let mut bytes = Vec::new();
            for row in &rows {
                bytes.extend_from_slice(row.try_get::<_, &[u8]>(0)?);
            }
            let chunks = rows.len() as u64;
            // The snapshot itself (when there is one) is not a change chunk.
            let chunks_since_snapshot = if since > 0 { chunks.saturating_sub(1) } else { chunks };
            Ok(Some(StoredTicket { bytes, version, chunks_since_snapshot, seq: u64_of(seq) }))
        })
    }

    fn save_ticket(&self, write: &TicketWrite) -> Result<Saved, StorageError> {
        self.write(|tx| {
            let id = write.ticket_id.as_str();
            // Writers of one ticket take turns (on every instance): the version read next is
            // the latest committed one, so the check below cannot miss a concurrent write.
            tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&TICKET_LOCK_SPACE, &id])?;
            let current: Option<i64> =
                tx.query_opt("SELECT version FROM tickets WHERE id = $1", &[&id])?.map(|row| row.get(0));
            if current != write.expected_version {
                return Err(StorageError::VersionConflict(id.to_owned()));
            }
            let version = current.unwrap_or(0) + 1;
            let next_chunk: i64 = tx
                .query_one("SELECT (COALESCE(MAX(seq), 0) + 1)::BIGINT FROM doc_chunks WHERE ticket_id = $1", &[&id])?
                .get(0);
            const INSERT_CHUNK: &str = "INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ($1, $2, $3, $4)";
            match &write.snapshot {
                // One transaction: the snapshot and the removal of what it covers commit together.
                Some(snapshot) => {
                    tx.execute(INSERT_CHUNK, &[&id, &next_chunk, &"snapshot", snapshot])?;
                    tx.execute("DELETE FROM doc_chunks WHERE ticket_id = $1 AND seq < $2", &[&id, &next_chunk])?;
                }
                None if !write.changes.is_empty() => {
                    tx.execute(INSERT_CHUNK, &[&id, &next_chunk, &"change", &write.changes])?;
                }
                None => {}
            }
            if !write.change_log.is_empty() {
                let hashes: Vec<&str> = write.change_log.iter().map(|r| r.change_hash.as_str()).collect();
                let devices: Vec<&str> = write.change_log.iter().map(|r| r.device_id.as_str()).collect();
                let times: Vec<i64> = write.change_log.iter().map(|r| r.received_at).collect();
                tx.execute(
                    "INSERT INTO change_log (ticket_id, change_hash, device_id, received_at)
                     SELECT $1, h, d, r FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS l (h, d, r)
                     ON CONFLICT DO NOTHING",
                    &[&id, &hashes, &devices, &times],
                )?;
            }
            let chunks: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM doc_chunks WHERE ticket_id = $1 AND seq > (SELECT COALESCE(MAX(seq), 0)
                     FROM doc_chunks WHERE ticket_id = $1 AND kind = 'snapshot')",
                    &[&id],
                )?
                .get(0);
            // Last, so the lock on the counter row (held to commit) is held briefly: it makes
            // commits come in sequence order, which the cursors rely on (docs/adr/0006).
            let seq: i64 = tx
                .query_one("UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value", &[])?
                .get(0);
            let r = &write.index;
            let conflicts = i64::from(r.conflicts);
            tx.execute(
                "INSERT INTO tickets (id, title, status, assignee, priority, customer_name, customer_address,
                                      respond_by, arrive_by, resolve_by, sla_due_at, conflicts, resolved_at,
                                      updated_at, changed_seq, version, ticket_type, escalated,
                                      customer_id, site_id, created_at, responded_at, arrived_at,
                                      revisit_due_at, revisited_at, first_time_fix, customer_rating,
                                      complaint, complaint_level, complaint_unit, complaint_product, complaint_tier)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                         $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)
                 ON CONFLICT (id) DO UPDATE SET
                    title = excluded.title, status = excluded.status, assignee = excluded.assignee,
                    priority = excluded.priority, customer_name = excluded.customer_name,
                    customer_address = excluded.customer_address, respond_by = excluded.respond_by,
                    arrive_by = excluded.arrive_by, resolve_by = excluded.resolve_by,
                    sla_due_at = excluded.sla_due_at, conflicts = excluded.conflicts,
                    resolved_at = excluded.resolved_at, updated_at = excluded.updated_at,
                    changed_seq = excluded.changed_seq, version = excluded.version,
                    ticket_type = excluded.ticket_type, escalated = excluded.escalated,
                    customer_id = excluded.customer_id, site_id = excluded.site_id,
                    created_at = excluded.created_at, responded_at = excluded.responded_at,
                    arrived_at = excluded.arrived_at,
                    revisit_due_at = excluded.revisit_due_at, revisited_at = excluded.revisited_at,
                    first_time_fix = excluded.first_time_fix, customer_rating = excluded.customer_rating,
                    complaint = excluded.complaint, complaint_level = excluded.complaint_level,
                    complaint_unit = excluded.complaint_unit, complaint_product = excluded.complaint_product,
                    complaint_tier = excluded.complaint_tier",
                &[
                    &id,
                    &r.title,
                    &r.status.as_str(),
                    &r.assignee,
                    &r.priority.as_str(),
                    &r.customer_name,
                    &r.customer_address,
                    &r.sla.respond_by,
                    &r.sla.arrive_by,
                    &r.sla.resolve_by,
                    &r.sla_due_at,
                    &conflicts,
                    &r.resolved_at,
                    &r.updated_at,
                    &seq,
                    &version,
                    &r.ticket_type,
                    &r.escalated,
                    &r.customer_id,
                    &r.site_id,
                    &r.created_at,
                    &r.responded_at,
                    &r.arrived_at,
                    &r.revisit_due_at,
                    &r.revisited_at,
                    &r.first_time_fix,
                    &r.customer_rating.map(i16::from),
                    &r.complaint,
                    &r.complaint_level,
                    &r.complaint_unit,
                    &r.complaint_product,
                    &r.complaint_tier,
                ],
            )?;
            // Delivered to every listening instance at commit, in commit order.
            let notice = TicketNotice { id: id.to_owned(), status: r.status, seq: u64_of(seq) };
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice.payload()])?;
            Ok(Saved { seq: u64_of(seq), version, chunks_since_snapshot: u64_of(chunks) })
        })
    }

    fn ticket_row(&self, ticket_id: &str) -> Result<Option<IndexRow>, StorageError> {
        self.read(|tx| {
            let sql = format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.id = $1");
            Ok(query_rows(tx, &sql, &[&ticket_id])?.pop())
        })
    }

    fn list_tickets(&self, filter: &TicketFilter) -> Result<Vec<IndexRow>, StorageError> {
        let mut clauses = Vec::new();
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let pattern = filter.text.as_deref().filter(|t| !t.is_empty()).map(|text| {
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if !statuses.is_empty() {
            params.push(&statuses);
            clauses.push(format!("t.status = ANY(${})", params.len()));
        }
        if let Some(assignee) = &filter.assignee {
            params.push(assignee);
            clauses.push(format!("t.assignee = ${}", params.len()));
        }
        if let Some(before) = &filter.sla_due_before {
            params.push(before);
            clauses.push(format!("t.sla_due_at < ${}", params.len()));
        }
        if let Some(ticket_type) = &filter.ticket_type {
            params.push(ticket_type);
            clauses.push(format!("t.ticket_type = ${}", params.len()));
        }
        if filter.revisit_due {
            clauses.push("t.revisit_due_at IS NOT NULL".to_owned());
        }
        if filter.revisited {
            clauses.push("t.first_time_fix IS NOT NULL".to_owned());
        }
        if filter.complaint {
            clauses.push("t.complaint".to_owned());
        }
        if let Some(pattern) = &pattern {
            params.push(pattern);
            let n = params.len();
            clauses.push(format!("(t.title ILIKE ${n} ESCAPE '\\' OR t.customer_name ILIKE ${n} ESCAPE '\\')"));
        }
        let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let sql = format!("SELECT {ROW_COLUMNS} FROM tickets t {filter_sql} ORDER BY t.changed_seq DESC");
        self.read(|tx| query_rows(tx, &sql, &params))
    }

    fn changed_since(&self, cursor: u64, scope: &Scope) -> Result<Vec<IndexRow>, StorageError> {
        let cursor = i64_of(cursor);
        self.read(|tx| match scope {
            Scope::All => query_rows(
                tx,
                &format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.changed_seq > $1 ORDER BY t.changed_seq"),
                &[&cursor],
            ),
            Scope::Engineer { user_id, device_id } => query_rows(
                tx,
                &format!(
                    "SELECT {ROW_COLUMNS} FROM tickets t WHERE t.changed_seq > $1
                     AND (t.assignee = $2 OR t.status = 'pooled' OR t.id IN (SELECT ticket_id FROM sync_state WHERE device_id = $3))
                     ORDER BY t.changed_seq"
                ),
                &[&cursor, user_id, device_id],
            ),
        })
    }

    fn held_completed_before(
        &self,
        device_id: &str,
        resolved_before: Millis,
        cursor: u64,
    ) -> Result<Vec<IndexRow>, StorageError> {
        let cursor = i64_of(cursor);
        self.read(|tx| {
            query_rows(
                tx,
                &format!(
                    "SELECT {ROW_COLUMNS} FROM sync_state s JOIN tickets t ON t.id = s.ticket_id
                     WHERE s.device_id = $1 AND t.status = 'completed' AND t.resolved_at < $2
                     AND (s.evicted_at IS NULL OR s.evicted_at > $3)
                     ORDER BY t.changed_seq"
                ),
                &[&device_id, &resolved_before, &cursor],
            )
        })
    }

    fn current_seq(&self) -> Result<u64, StorageError> {
        self.read(|tx| {
            let value: i64 = tx.query_one("SELECT value FROM counters WHERE name = 'change_seq'", &[])?.get(0);
            Ok(u64_of(value))
        })
    }

    fn change_log(&self, ticket_id: &str) -> Result<Vec<ChangeLogRow>, StorageError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT change_hash, device_id, received_at FROM change_log WHERE ticket_id = $1
                 ORDER BY received_at, change_hash",
                &[&ticket_id],
            )?;
            Ok(rows
                .iter()
                .map(|row| ChangeLogRow { change_hash: row.get(0), device_id: row.get(1), received_at: row.get(2) })
                .collect())
        })
    }

    fn sync_states(&self, device_id: &str, ticket_ids: &[String]) -> Result<Vec<(String, SyncState)>, StorageError> {
        if ticket_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let rows = tx.query(
                "SELECT ticket_id, confirmed, pending_cursor, pending_heads, evicted_at FROM sync_state
                 WHERE device_id = $1 AND ticket_id = ANY($2)",
                &[&device_id, &ticket_ids],
            )?;
            let mut found: HashMap<String, SyncState> = HashMap::new();
            for row in rows {
                let confirmed: &[u8] = row.try_get(1)?;
                let pending_cursor: Option<i64> = row.try_get(2)?;
                let pending_heads: Option<&[u8]> = row.try_get(3)?;
                let evicted_at: Option<i64> = row.try_get(4)?;
                let state = SyncState {
                    confirmed: heads_from_blob(confirmed),
                    pending: pending_cursor.map(|c| (u64_of(c), heads_from_blob(pending_heads.unwrap_or_default()))),
                    evicted_at: evicted_at.map(u64_of),
                };
                found.insert(row.try_get(0)?, state);
            }
            // In the order asked, like SQLite.
            Ok(ticket_ids.iter().filter_map(|id| found.remove(id).map(|s| (id.clone(), s))).collect())
        })
    }

    fn put_sync_states(&self, device_id: &str, states: &[(String, SyncState)]) -> Result<(), StorageError> {
        if states.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for (ticket_id, state) in states {
                tx.execute(
                    "INSERT INTO sync_state (device_id, ticket_id, confirmed, pending_cursor, pending_heads, evicted_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (device_id, ticket_id) DO UPDATE SET confirmed = excluded.confirmed,
                        pending_cursor = excluded.pending_cursor, pending_heads = excluded.pending_heads,
                        evicted_at = excluded.evicted_at",
                    &[
                        &device_id,
                        ticket_id,
                        &heads_to_blob(&state.confirmed),
                        &state.pending.as_ref().map(|(c, _)| i64_of(*c)),
                        &state.pending.as_ref().map(|(_, h)| heads_to_blob(h)),
                        &state.evicted_at.map(i64_of),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn link_blob(&self, sha256: &str, ticket_id: &str, device_id: &str, at: Millis) -> Result<bool, StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO blob_links (sha256, ticket_id, device_id, linked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&sha256, &ticket_id, &device_id, &at],
            )?;
            Ok(inserted > 0)
        })
    }

    fn blob_tickets(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT ticket_id FROM blob_links WHERE sha256 = $1 ORDER BY ticket_id COLLATE \"C\"",
                &[&sha256],
            )?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }
}
