//! PostgreSQL storage, for several server instances sharing one database (docs/adr/0006).
//!
//! Same semantics as [`super::SqliteStorage`], through the sync `postgres` client and a small
//! pool of connections (callers are already on blocking threads):
//!
//! - A push's write is one statement that commits by itself and checks the version itself: in
//!   its snapshot, and again on the row's latest committed version (`ON CONFLICT … WHERE`);
//!   two writers of one ticket that race number the same change chunk and the second fails on
//!   its key. A stale version fails the whole statement (nothing of it stays) and is a
//!   [`StorageError::VersionConflict`]. A compaction is one transaction under the ticket's
//!   transaction-level advisory lock (compactions take turns; a push racing one fails as
//!   above).
//! - The global change sequence is a row in `counters`, incremented with
//!   `UPDATE ... RETURNING` near the end of the write. The row lock it takes is held until
//!   commit, so sequence numbers are handed out and committed in the same order: once a
//!   reader sees seq `n` committed, every lower seq is committed too (or was never taken, as a
//!   rolled-back increment is rolled back with its write). A cursor never skips a change.
//! - The same write sends `NOTIFY fieldsync_tickets` with the change; PostgreSQL delivers
//!   it to every listening session at commit, in commit order. [`PostgresStorage::listen`]
//!   turns those into [`TicketNotice`]s on every instance
//!   ([`Storage::watch_changes`]).
//! - Multi-statement reads run in one `REPEATABLE READ` read-only transaction (one snapshot);
//!   a single statement runs on its own (atomic, one snapshot), without `BEGIN` and `COMMIT`.
//!   The hot path of a sync is written to take few round trips: each one is awaited.
//! - Migrations are numbered and recorded in `schema_version`, applied in one transaction under
//!   an advisory lock, so instances starting together migrate once.
//!
//! Everything here blocks: never call it on an async worker thread (`spawn_blocking`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Role;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{IsolationLevel, Row};

use super::{
    ActorRecord, ChangeLogRow, DeviceInfo, DeviceRecord, HashBytes, IndexRow, Principal, ROW_COLUMNS, Saved, Scope,
    SessionRecord, Storage, StorageError, StoredTicket, SyncReads, SyncReadsQuery, SyncState, TicketFilter,
    TicketNotice, TicketWrite, UserRecord, heads_from_blob, heads_to_blob, i64_of, stored_heads, stored_heads_blob,
    ticket_filter, u64_of,
};

mod actors;
mod customers;
mod listen;
mod manager;
mod pool;
mod report_facts;
mod rows;
mod schema;
mod statistics;
mod sync_reads;
mod tracking;
mod uploads;
mod webhooks;

use listen::CHANNEL;
pub use listen::Listener;
pub use pool::url_of_database;
use pool::{Autocommit, Conn, Plans, Pool, Tx, parse_config};
use rows::query_rows_alone;
pub use schema::LATEST_VERSION;

/// A ticket's version, its next chunk number and how many change chunks follow its last
/// snapshot, in one round trip (read by a compaction under the ticket's lock).
const CHUNK_STATE_SQL: &str = "SELECT (SELECT version FROM tickets WHERE id = $1),
        (SELECT (COALESCE(MAX(seq), 0) + 1)::BIGINT FROM doc_chunks WHERE ticket_id = $1)";

/// What `write` records beside its row, and its change chunk (if any), numbered `next_chunk`
/// when the writer knows its ticket's chunks.
fn records<'a>(write: &'a TicketWrite, chunk: Option<&'a Vec<u8>>, next_chunk: Option<i64>) -> rows::Records<'a> {
    rows::Records {
        hashes: write.change_log.iter().map(|r| r.change_hash.as_str()).collect(),
        devices: write.change_log.iter().map(|r| r.device_id.as_str()).collect(),
        times: write.change_log.iter().map(|r| r.received_at).collect(),
        expected: write.expected_version,
        chunk,
        // The pushing device's sync state too, when it holds what is written.
        holder: write.holder.as_deref(),
        confirmed: heads_to_blob(&write.heads),
        next_chunk,
    }
}

/// `write` at `version`: its version check, its `records`, the row, the sequence number and the
/// notification, in one statement.
fn save_row(
    tx: &mut impl pool::RunsStatements,
    write: &TicketWrite,
    version: i64,
    records: &rows::Records<'_>,
) -> Result<rows::RowSaved, StorageError> {
    // The records are keyed by the row's id: one ticket's.
    if write.index.id != write.ticket_id {
        return Err(StorageError::Backend(format!(
            "a write of ticket {} carries the row of {}",
            write.ticket_id, write.index.id
        )));
    }
    let payload = TicketNotice::payload_after_seq(write.index.status, &write.ticket_id);
    let heads = stored_heads_blob(&write.heads);
    rows::save(tx, CHANNEL, &payload, &write.index, version, heads.as_deref(), records)
}

/// First key of the two-key advisory locks on ticket ids.
const TICKET_LOCK_SPACE: i32 = 7;

/// PostgreSQL storage.
pub struct PostgresStorage {
    pool: Pool,
    /// The highest change sequence number this instance has seen (its reads, its writes, the
    /// notices of every instance's): how far a device's cursor is behind, as far as this
    /// instance knows, without asking (`sync_reads`).
    seen_seq: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, no TLS) and brings
    /// its schema up to date; a newer schema is refused. Blocking.
    pub fn open(url: &str) -> Result<PostgresStorage, StorageError> {
        let config = parse_config(url)?;
        let storage = PostgresStorage { pool: Pool::new(config), seen_seq: Arc::default() };
        storage.migrate()?;
        storage.seen_seq.store(storage.current_seq()?, Ordering::Relaxed);
        actors::bind_every_server_actor(&storage)?;
        Ok(storage)
    }

    /// How often PostgreSQL planned the sync's reads (both statements, ADR 0036) for each call
    /// (custom plans) and how often it reused one plan (generic), as the connection that ran
    /// them counts them: what shows
    /// that the read is planned once (docs/adr/0026). For tests: `None` before any sync read.
    #[cfg(feature = "conformance")]
    pub fn sync_read_plans(&self) -> Result<Option<(i64, i64)>, StorageError> {
        self.alone_planned(Some(sync_reads::PLANS), |s| {
            // Its two statements (sync_reads.rs), together.
            let row = s.query_one(
                "SELECT sum(custom_plans)::BIGINT, sum(generic_plans)::BIGINT FROM pg_prepared_statements
                  WHERE statement LIKE 'WITH asked%'",
                &[],
            )?;
            Ok(row.get::<_, Option<i64>>(0).map(|custom| (custom, row.get::<_, Option<i64>>(1).unwrap_or(0))))
        })
    }

    /// Runs `f` in a read-committed transaction and commits; an error rolls it back.
    fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let mut pooled = self.pool.get(Some(Plans::Auto))?;
        let Conn { client, statements, .. } =
            pooled.conn.as_mut().ok_or_else(|| StorageError::Backend("no connection".into()))?;
        let mut tx = Tx { tx: client.transaction()?, statements };
        let value = f(&mut tx)?;
        tx.tx.commit()?;
        Ok(value)
    }

    /// Runs `f`, which runs one statement, on its own: no transaction around it (one
    /// statement is atomic and reads one snapshot), so no `BEGIN` and `COMMIT` round trips.
    /// PostgreSQL plans it its own way ([`Plans::Auto`]).
    fn alone<T>(&self, f: impl FnOnce(&mut Autocommit<'_>) -> Result<T, StorageError>) -> Result<T, StorageError> {
        self.alone_planned(Some(Plans::Auto), f)
    }

    /// [`PostgresStorage::alone`] on a connection whose statements are planned as `plans` says
    /// (`None`: a lookup by key, planned alike either way, so any connection).
    fn alone_planned<T>(
        &self,
        plans: Option<Plans>,
        f: impl FnOnce(&mut Autocommit<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut pooled = self.pool.get(plans)?;
        let Conn { client, statements, .. } =
            pooled.conn.as_mut().ok_or_else(|| StorageError::Backend("no connection".into()))?;
        f(&mut Autocommit { client, statements })
    }

    /// A compaction: the snapshot, the removal of what it covers and the row in one
    /// transaction, under the ticket's transaction-level lock (compactions of one ticket take
    /// turns; a plain write racing one fails on the chunk key or the version, as two plain
    /// writes do).
    fn save_compacted(&self, write: &TicketWrite, snapshot: &[u8]) -> Result<Saved, StorageError> {
        self.write(|tx| {
            let id = write.ticket_id.as_str();
            tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&TICKET_LOCK_SPACE, &id])?;
            // Chunks known to the writer: the version is checked by the row's write below, which
            // fails the transaction whole (the snapshot and the removal with it).
            let (current, next_chunk): (Option<i64>, i64) = match write.chunks {
                Some(read) => (write.expected_version, read.last + 1),
                None => {
                    let row = tx.query_one(CHUNK_STATE_SQL, &[&id])?;
                    (row.get(0), row.get(1))
                }
            };
            if current != write.expected_version {
                return Err(StorageError::VersionConflict(id.to_owned()));
            }
            let version = current.unwrap_or(0) + 1;
            let inserted = tx.execute(
                "INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES ($1, $2, 'snapshot', $3)",
                &[&id, &next_chunk, &snapshot],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(StorageError::VersionConflict(id.to_owned())),
                other => other?,
            };
            tx.execute("DELETE FROM doc_chunks WHERE ticket_id = $1 AND seq < $2", &[&id, &next_chunk])?;
            // Nothing follows the new snapshot.
            let known = write.chunks.map(|_| next_chunk);
            let seq = save_row(tx, write, version, &records(write, None, known))?.seq;
            Ok(Saved { seq: u64_of(seq), version, chunks_since_snapshot: 0, last_chunk: next_chunk })
        })
        .inspect(|saved| {
            // Once committed.
            self.seen_seq.fetch_max(saved.seq, Ordering::Relaxed);
        })
    }

    /// Runs `f` in a read-only transaction on one snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let mut pooled = self.pool.get(Some(Plans::Auto))?;
        let Conn { client, statements, .. } =
            pooled.conn.as_mut().ok_or_else(|| StorageError::Backend("no connection".into()))?;
        let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
        let mut tx = Tx { tx, statements };
        let value = f(&mut tx)?;
        tx.tx.commit()?;
        Ok(value)
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A `(device id, user id, role, last_sync_at)` row as the caller it authenticates; `None` for
/// a role this version does not know.
fn principal_row(row: &Row) -> Option<Principal> {
    let role: String = row.get(2);
    Some(Principal { device_id: row.get(0), user_id: row.get(1), role: Role::parse(&role)?, last_sync_at: row.get(3) })
}

/// A filter's bound values as PostgreSQL parameters.
fn sql_params(values: Vec<ticket_filter::Bound>) -> Vec<Box<dyn ToSql + Sync>> {
    values
        .into_iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                ticket_filter::Bound::Text(text) => Box::new(text),
                ticket_filter::Bound::Int(n) => Box::new(n),
            }
        })
        .collect()
}

impl Storage for PostgresStorage {
    fn watch_changes(
        &self,
        on_change: Box<dyn Fn(TicketNotice) + Send>,
    ) -> Result<Option<super::ChangeWatch>, StorageError> {
        let listener = self.listen(on_change)?;
        Ok(Some(Box::new(listener)))
    }

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
        // A lookup by key: planned alike either way, so any connection serves it.
        self.alone_planned(None, |tx| {
            let row = tx.query_opt(
                "SELECT d.id, u.id, u.role, d.last_sync_at FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE d.token_sha256 = $1 AND NOT d.revoked",
                &[&token_sha256.as_slice()],
            )?;
            Ok(row.as_ref().and_then(principal_row))
        })
    }

    fn record_sync(&self, device_id: &str, at: Millis) -> Result<(), StorageError> {
        self.alone_planned(None, |tx| {
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
        self.alone(|tx| {
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
            let Some(row) =
                tx.query_opt("SELECT version, changed_seq, heads FROM tickets WHERE id = $1", &[&ticket_id])?
            else {
                return Ok(None);
            };
            let (version, seq, heads): (i64, i64, Option<&[u8]>) = (row.get(0), row.get(1), row.get(2));
            let since: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM doc_chunks WHERE ticket_id = $1 AND kind = 'snapshot'",
                    &[&ticket_id],
                )?
                .get(0);
            let rows = tx.query(
                "SELECT bytes, seq FROM doc_chunks WHERE ticket_id = $1 AND seq >= $2 ORDER BY seq",
                &[&ticket_id, &since],
            )?;
            let (mut bytes, mut last_chunk) = (Vec::new(), 0);
            for row in &rows {
                bytes.extend_from_slice(row.try_get::<_, &[u8]>(0)?);
                last_chunk = row.try_get(1)?;
            }
            let chunks = rows.len() as u64;
            // The snapshot itself (when there is one) is not a change chunk.
            let chunks_since_snapshot = if since > 0 { chunks.saturating_sub(1) } else { chunks };
            Ok(Some(StoredTicket {
                bytes,
                version,
                chunks_since_snapshot,
                last_chunk,
                seq: u64_of(seq),
                heads: stored_heads(heads),
            }))
        })
    }

    fn load_tickets(&self, ticket_ids: &[String]) -> Result<Vec<(String, StoredTicket)>, StorageError> {
        // One statement (one snapshot, one round trip): each ticket's row joined to its newest
        // snapshot and the chunks after it, in order.
        let rows = self.alone(|s| {
            Ok(s.query(
                "SELECT t.id, t.version, t.changed_seq, t.heads, c.kind, c.bytes, c.seq
                 FROM tickets t LEFT JOIN doc_chunks c ON c.ticket_id = t.id AND c.seq >= (
                     SELECT COALESCE(MAX(n.seq), 0) FROM doc_chunks n WHERE n.ticket_id = t.id AND n.kind = 'snapshot')
                 WHERE t.id = ANY($1)
                 ORDER BY t.id, c.seq",
                &[&ticket_ids],
            )?)
        })?;
        let mut by_id: HashMap<String, StoredTicket> = HashMap::new();
        for row in &rows {
            let id: String = row.try_get(0)?;
            let stored = by_id.entry(id).or_insert_with(|| StoredTicket {
                bytes: Vec::new(),
                version: row.get(1),
                chunks_since_snapshot: 0,
                last_chunk: 0,
                seq: u64_of(row.get(2)),
                heads: stored_heads(row.get(3)),
            });
            let (kind, chunk): (Option<&str>, Option<&[u8]>) = (row.try_get(4)?, row.try_get(5)?);
            if let Some(chunk) = chunk {
                stored.bytes.extend_from_slice(chunk);
                stored.last_chunk = row.try_get(6)?;
                // The snapshot itself (when there is one) is not a change chunk.
                if kind != Some("snapshot") {
                    stored.chunks_since_snapshot += 1;
                }
            }
        }
        // In the order asked, like SQLite.
        Ok(ticket_ids.iter().filter_map(|id| by_id.remove(id).map(|stored| (id.clone(), stored))).collect())
    }

    fn save_ticket(&self, write: &TicketWrite) -> Result<Saved, StorageError> {
        if let Some(snapshot) = &write.snapshot {
            return self.save_compacted(write, snapshot);
        }
        // One statement checks the version and writes everything, committing by itself: no
        // lock, no transaction, one round trip (docs/adr/0033).
        let version = write.expected_version.unwrap_or(0) + 1;
        let chunk = (!write.changes.is_empty()).then_some(&write.changes);
        let next_chunk = write.chunks.map(|read| read.last + 1);
        let records = records(write, chunk, next_chunk);
        let saved = self.alone_planned(None, |s| save_row(s, write, version, &records))?;
        self.seen_seq.fetch_max(u64_of(saved.seq), Ordering::Relaxed);
        let before = match write.chunks {
            Some(read) => read.since_snapshot,
            None => u64_of(saved.chunks_before),
        };
        Ok(Saved {
            seq: u64_of(saved.seq),
            version,
            chunks_since_snapshot: before + u64::from(chunk.is_some()),
            last_chunk: if chunk.is_some() { saved.next_chunk } else { saved.next_chunk - 1 },
        })
    }

    fn ticket_row(&self, ticket_id: &str) -> Result<Option<IndexRow>, StorageError> {
        self.alone(|tx| {
            let sql = format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.id = $1");
            Ok(query_rows_alone(tx, &sql, &[&ticket_id])?.pop())
        })
    }

    fn list_tickets(&self, filter: &TicketFilter) -> Result<Vec<IndexRow>, StorageError> {
        let query = ticket_filter::list(filter, &ticket_filter::POSTGRES);
        let params = sql_params(query.values);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        // One statement: one snapshot without a transaction's BEGIN and COMMIT round trips.
        self.alone(|s| query_rows_alone(s, &query.sql, &params))
    }

    fn count_tickets(&self, filter: &TicketFilter) -> Result<u64, StorageError> {
        let query = ticket_filter::count(filter, &ticket_filter::POSTGRES);
        let params = sql_params(query.values);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let count: i64 = self.alone(|s| Ok(s.query_one(&query.sql, &params)?.get(0)))?;
        Ok(u64_of(count))
    }

    fn changed_since(&self, cursor: u64, scope: &Scope) -> Result<Vec<IndexRow>, StorageError> {
        let cursor = i64_of(cursor);
        self.alone(|tx| match scope {
            Scope::All => query_rows_alone(
                tx,
                &format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.changed_seq > $1 ORDER BY t.changed_seq"),
                &[&cursor],
            ),
            // The scope as the sync's read says it (sync_reads.rs).
            Scope::Engineer { user_id, device_id } => query_rows_alone(
                tx,
                &format!(
                    "{} ORDER BY changed_seq",
                    sync_reads::engineer_changed(&ROW_COLUMNS.to_string(), "$1", None, "$2", "$3")
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
        self.alone(|tx| {
            query_rows_alone(
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
        let seq = self.alone(|tx| {
            let value: i64 = tx.query_one("SELECT value FROM counters WHERE name = 'change_seq'", &[])?.get(0);
            Ok(u64_of(value))
        })?;
        self.seen_seq.fetch_max(seq, Ordering::Relaxed);
        Ok(seq)
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
        self.alone(|tx| {
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

    fn sync_reads(&self, query: &SyncReadsQuery<'_>) -> Result<SyncReads, StorageError> {
        self.alone_planned(Some(sync_reads::PLANS), |s| sync_reads::all(s, query, &self.seen_seq))
    }

    fn put_sync_states(&self, device_id: &str, states: &[(String, SyncState)]) -> Result<(), StorageError> {
        if states.is_empty() {
            return Ok(());
        }
        // One statement for every ticket (one round trip); a ticket named twice keeps its last
        // state, as one upsert after another would.
        let mut last: HashMap<&str, &SyncState> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (ticket_id, state) in states {
            if last.insert(ticket_id.as_str(), state).is_none() {
                order.push(ticket_id.as_str());
            }
        }
        let (mut tickets, mut confirmed, mut cursors, mut pending, mut evicted) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ticket_id in order {
            let state = last[ticket_id];
            tickets.push(ticket_id);
            confirmed.push(heads_to_blob(&state.confirmed));
            cursors.push(state.pending.as_ref().map(|(c, _)| i64_of(*c)));
            pending.push(state.pending.as_ref().map(|(_, h)| heads_to_blob(h)));
            evicted.push(state.evicted_at.map(i64_of));
        }
        self.alone(|tx| {
            tx.execute(
                "INSERT INTO sync_state (device_id, ticket_id, confirmed, pending_cursor, pending_heads, evicted_at)
                 SELECT $1, t, c, pc, ph, e
                 FROM UNNEST($2::TEXT[], $3::BYTEA[], $4::BIGINT[], $5::BYTEA[], $6::BIGINT[]) AS s (t, c, pc, ph, e)
                 ON CONFLICT (device_id, ticket_id) DO UPDATE SET confirmed = excluded.confirmed,
                    pending_cursor = excluded.pending_cursor, pending_heads = excluded.pending_heads,
                    evicted_at = excluded.evicted_at",
                &[&device_id, &tickets, &confirmed, &cursors, &pending, &evicted],
            )?;
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
