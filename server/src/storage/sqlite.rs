//! The default storage: one SQLite file (WAL, `synchronous=FULL`), one writer connection and a
//! few readers.
//!
//! Writes are group-committed by their callers ([`writer`]): concurrent writes share one
//! transaction and one fsync, and each is acknowledged only once it is durable.
//!
//! Bookkeeping the server can lose without harm (what a device is known to hold: lost, the
//! server merely sends a device some changes again) is written "relaxed": a group made only of
//! relaxed jobs commits with `synchronous=NORMAL` (in the WAL, no fsync of its own; the next
//! durable group's fsync covers it). Ticket changes are never relaxed.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use fieldsync_core::store::sql_tx::{Begin, Tx};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Role;
use rusqlite::config::DbConfig;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use super::{
    ActorRecord, ChangeLogRow, ChunkState, DeviceInfo, DeviceRecord, HashBytes, IndexRow, Principal, Saved, Scope,
    SessionRecord, Storage, StorageError, StoredTicket, SyncReads, SyncReadsQuery, SyncState, TicketFilter,
    TicketWrite, UserRecord, heads_to_blob, i64_of, migrations, stored_heads, stored_heads_blob, ticket_filter, u64_of,
};

mod actors;
pub(crate) mod customers;
mod index;
pub(crate) mod manager;
mod report_facts;
mod statistics;
mod sync_reads;
pub(crate) mod tracking;
pub(crate) mod uploads;
mod webhooks;
mod writer;

use writer::Writer;

const READERS: usize = 4;

/// SQLite storage.
pub struct SqliteStorage {
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
}

/// Writes what device `device_id` holds of ticket `ticket_id`.
fn upsert_sync_state(tx: &Connection, device_id: &str, ticket_id: &str, state: &SyncState) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO sync_state (device_id, ticket_id, confirmed, pending_cursor, pending_heads, evicted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id, ticket_id) DO UPDATE SET confirmed = excluded.confirmed,
            pending_cursor = excluded.pending_cursor, pending_heads = excluded.pending_heads,
            evicted_at = excluded.evicted_at",
    )?
    .execute(params![
        device_id,
        ticket_id,
        heads_to_blob(&state.confirmed),
        state.pending.as_ref().map(|(c, _)| i64_of(*c)),
        state.pending.as_ref().map(|(_, h)| heads_to_blob(h)),
        state.evicted_at.map(i64_of),
    ])?;
    Ok(())
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

/// How much of the database file the writer maps (`PRAGMA mmap_size`): address space, not
/// memory; pages are shared with the OS's file cache. The writer's page cache survives its own
/// commits, so its mapping stays. Readers do not map: in WAL mode a reader drops its page cache
/// — and, when mapped, unmaps the whole file (`munmap`, with the TLB flush of every core) —
/// whenever another connection has written since its last read, which under load is every read
/// transaction; reading its pages again with `pread` costs less (docs/adr/0026, tenth pass).
const WRITER_MMAP_BYTES: i64 = 1 << 30;

/// WAL pages after which a commit copies the WAL into the database (SQLite's default is
/// 1,000). A sync rewrites the same few hot pages (the counter, the index's and the change
/// log's last pages, the syncing device's states), and a checkpoint copies each distinct page
/// once however often it was written since the last: a longer WAL copies fewer pages per
/// commit (the checkpoint was 4.4% of the server's CPU in the server benchmark at 1,000).
/// 8,192 pages of 4 KiB keep the WAL near 32 MiB.
const WAL_CHECKPOINT_PAGES: i64 = 8_192;

fn configure(conn: &Connection) -> Result<(), StorageError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Query-plan stability: without it, a statement whose plan could depend on a bound value
    // (a join on a bound key, a LIKE) is re-parsed and re-planned at every execution — 10% of
    // the server's CPU per sync went to re-preparing the token lookup and the index queries.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Every statement of the storage's (~70, transactions' own BEGIN and COMMIT among them) stays
    // prepared: rusqlite's default of 16 would evict a sync's statements whenever the console
    // or a webhook ran others, and parse them again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

impl SqliteStorage {
    /// Opens (creating and migrating) the database at `path`; a newer schema is refused.
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::Backend(e.to_string()))?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "mmap_size", WRITER_MMAP_BYTES)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        migrations::migrate(&mut conn)?;
        // Rows computed under an older index get their new columns from their documents.
        index::reindex_if_stale(&mut conn)?;
        actors::bind_every_server_actor(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                configure(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(SqliteStorage { writer: Writer::new(conn), readers })
    }

    /// Runs `f` in a write transaction (shared with other queued writes) and returns its value
    /// once that transaction is committed. An error from `f` rolls back `f`'s writes only.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.writer.write(true, f)
    }

    /// [`SqliteStorage::write`] for bookkeeping that may be lost to a power cut (not to a
    /// crash of the process): committed without an fsync of its own (see the module docs).
    fn write_relaxed<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.writer.write(false, f)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let conn = self.reader()?;
        let tx = Tx::begin(&conn, Begin::Deferred)?;
        let value = f(&tx)?;
        tx.finish()?;
        Ok(value)
    }

    /// [`SqliteStorage::read`] for one statement, which reads one snapshot on its own: no
    /// transaction begun and ended around it (the token's lookup, once per request).
    fn read_statement<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let conn = self.reader()?;
        f(&conn)
    }

    /// A free reader, or the first one once it is free.
    fn reader(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        match self.readers.iter().find_map(|r| r.try_lock().ok()) {
            Some(conn) => Ok(conn),
            None => self.readers[0].lock().map_err(|_| StorageError::Backend("reader lock poisoned".into())),
        }
    }
}

/// A `(device id, user id, role, last_sync_at)` row as the caller it authenticates; `None` for
/// a role this version does not know.
fn principal_row(row: &Row<'_>) -> rusqlite::Result<Option<Principal>> {
    let role: String = row.get(2)?;
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    Ok(Some(Principal { device_id: row.get(0)?, user_id: row.get(1)?, role, last_sync_at: row.get(3)? }))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::ConstraintViolation))
}

/// Whether `e` is a key already taken (a primary key or unique index), not another constraint.
fn is_key_taken(e: &rusqlite::Error) -> bool {
    let rusqlite::Error::SqliteFailure(failure, _) = e else { return false };
    matches!(
        failure.extended_code,
        rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// A filter's bound values as SQLite's.
fn sql_values(values: Vec<ticket_filter::Bound>) -> Vec<SqlValue> {
    values
        .into_iter()
        .map(|v| match v {
            ticket_filter::Bound::Text(text) => SqlValue::Text(text),
            ticket_filter::Bound::Int(n) => SqlValue::Integer(n),
        })
        .collect()
}

fn query_rows(tx: &Connection, sql: &str, params: &[SqlValue]) -> Result<Vec<IndexRow>, StorageError> {
    index::query_rows(tx, sql, rusqlite::params_from_iter(params.iter()))
}

/// The newest chunk's number of `ticket_id` (0: none) and how many change chunks follow its
/// newest snapshot, from one walk down its chunks (at most a compaction's worth; their bytes are
/// not read). Two aggregate queries did this, and a third before the write.
fn chunks_after_snapshot(tx: &Connection, ticket_id: &str) -> Result<ChunkState, StorageError> {
    let mut stmt =
        tx.prepare_cached("SELECT seq, kind = 'snapshot' FROM doc_chunks WHERE ticket_id = ?1 ORDER BY seq DESC")?;
    let mut rows = stmt.query([ticket_id])?;
    let (mut last, mut after) = (None, 0);
    while let Some(row) = rows.next()? {
        last.get_or_insert(row.get::<_, i64>(0)?);
        if row.get::<_, bool>(1)? {
            break;
        }
        after += 1;
    }
    Ok(ChunkState { last: last.unwrap_or(0), since_snapshot: after })
}

/// A ticket's stored document in `tx`: its newest snapshot and the change chunks after it,
/// with the row's version, sequence number and heads.
fn stored_ticket(tx: &Connection, ticket_id: &str) -> Result<Option<StoredTicket>, StorageError> {
    let Some((version, seq, heads)) = tx
        .prepare_cached("SELECT version, changed_seq, heads FROM tickets WHERE id = ?1")?
        .query_row([ticket_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, Option<Vec<u8>>>(2)?))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let since: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM doc_chunks WHERE ticket_id = ?1 AND kind = 'snapshot'")?
        .query_row([ticket_id], |row| row.get(0))?;
    let mut stmt =
        tx.prepare_cached("SELECT bytes, seq FROM doc_chunks WHERE ticket_id = ?1 AND seq >= ?2 ORDER BY seq")?;
    let mut rows = stmt.query(params![ticket_id, since])?;
    let mut bytes = Vec::new();
    let (mut chunks, mut last_chunk): (u64, i64) = (0, 0);
    while let Some(row) = rows.next()? {
        let chunk = row.get_ref(0)?;
        bytes.extend_from_slice(chunk.as_blob().map_err(rusqlite::Error::from)?);
        chunks += 1;
        last_chunk = row.get(1)?;
    }
    // The snapshot itself (when there is one) is not a change chunk.
    let chunks_since_snapshot = if since > 0 { chunks.saturating_sub(1) } else { chunks };
    Ok(Some(StoredTicket {
        bytes,
        version,
        chunks_since_snapshot,
        last_chunk,
        seq: u64_of(seq),
        heads: stored_heads(heads.as_deref()),
    }))
}

impl Storage for SqliteStorage {
    fn create_user(&self, user: &UserRecord) -> Result<(), StorageError> {
        let user = user.clone();
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO users (id, name, role) VALUES (?1, ?2, ?3)",
                params![user.id, user.name, user.role.as_str()],
            ) {
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate(format!("user {}", user.id))),
                other => other.map(|_| ()).map_err(StorageError::from),
            }
        })
    }

    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StorageError> {
        self.read(|tx| {
            let row = tx
                .query_row("SELECT id, name, role FROM users WHERE id = ?1", [user_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                })
                .optional()?;
            Ok(row.and_then(|(id, name, role)| Some(UserRecord { id, name, role: Role::parse(&role)? })))
        })
    }

    fn create_device(&self, device: &DeviceRecord) -> Result<(), StorageError> {
        let device = device.clone();
        self.write(move |tx| {
            let user_exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)", [&device.user_id], |r| r.get(0))?;
            if !user_exists {
                return Err(StorageError::NotFound(format!("user {}", device.user_id)));
            }
            match tx.execute(
                "INSERT INTO devices (id, user_id, token_sha256) VALUES (?1, ?2, ?3)",
                params![device.id, device.user_id, device.token_sha256.as_slice()],
            ) {
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate(format!("device {}", device.id))),
                // Bound with the device, so no push can claim it first.
                other => other
                    .map_err(StorageError::from)
                    .and_then(|_| actors::bind_server_actor(tx, &device.id).map(|_| ())),
            }
        })
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool, StorageError> {
        let device_id = device_id.to_owned();
        self.write(move |tx| Ok(tx.execute("UPDATE devices SET revoked = 1 WHERE id = ?1", [device_id])? > 0))
    }

    fn authenticate(&self, token_sha256: &HashBytes) -> Result<Option<Principal>, StorageError> {
        self.read_statement(|tx| {
            let row = tx
                .prepare_cached(
                    "SELECT d.id, u.id, u.role, d.last_sync_at FROM devices d JOIN users u ON u.id = d.user_id
                     WHERE d.token_sha256 = ?1 AND d.revoked = 0",
                )?
                .query_row([token_sha256.as_slice()], principal_row)
                .optional()?;
            Ok(row.flatten())
        })
    }

    fn record_sync(&self, device_id: &str, at: Millis) -> Result<(), StorageError> {
        let device_id = device_id.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("UPDATE devices SET last_sync_at = ?2 WHERE id = ?1")?.execute(params![device_id, at])?;
            Ok(())
        })
    }

    fn list_users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT id, name, role FROM users ORDER BY id")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })?;
            let mut users = Vec::new();
            for row in rows {
                let (id, name, role) = row?;
                // A role from a newer version is left out rather than guessed.
                if let Some(role) = Role::parse(&role) {
                    users.push(UserRecord { id, name, role });
                }
            }
            Ok(users)
        })
    }

    fn list_devices(&self) -> Result<Vec<DeviceInfo>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT id, user_id, revoked, last_sync_at FROM devices ORDER BY user_id, id")?;
            let rows = stmt.query_map([], |row| {
                Ok(DeviceInfo {
                    id: row.get(0)?,
                    user_id: row.get(1)?,
                    revoked: row.get::<_, i64>(2)? != 0,
                    last_sync_at: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn create_session(&self, session: &SessionRecord) -> Result<(), StorageError> {
        let session = session.clone();
        self.write(move |tx| {
            let device_exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?1)", [&session.device_id], |r| r.get(0))?;
            if !device_exists {
                return Err(StorageError::NotFound(format!("device {}", session.device_id)));
            }
            tx.execute("DELETE FROM console_sessions WHERE expires_at <= ?1", [session.created_at])?;
            match tx.execute(
                "INSERT INTO console_sessions (token_sha256, device_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![session.token_sha256.as_slice(), session.device_id, session.created_at, session.expires_at],
            ) {
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate("session".into())),
                other => other.map(|_| ()).map_err(StorageError::from),
            }
        })
    }

    fn session(&self, token_sha256: &HashBytes, now: Millis) -> Result<Option<Principal>, StorageError> {
        self.read_statement(|tx| {
            let row = tx
                .prepare_cached(
                    "SELECT d.id, u.id, u.role, d.last_sync_at FROM console_sessions s
                     JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
                     WHERE s.token_sha256 = ?1 AND s.expires_at > ?2 AND d.revoked = 0",
                )?
                .query_row(params![token_sha256.as_slice(), now], principal_row)
                .optional()?;
            Ok(row.flatten())
        })
    }

    fn delete_session(&self, token_sha256: &HashBytes) -> Result<bool, StorageError> {
        let hash = *token_sha256;
        self.write(move |tx| {
            Ok(tx.execute("DELETE FROM console_sessions WHERE token_sha256 = ?1", [hash.as_slice()])? > 0)
        })
    }

    fn register_actor(&self, actor: &str, device_id: &str) -> Result<String, StorageError> {
        let (actor, device_id) = (actor.to_owned(), device_id.to_owned());
        self.write(move |tx| {
            tx.prepare_cached("INSERT OR IGNORE INTO actors (actor_hex, device_id) VALUES (?1, ?2)")?
                .execute(params![actor, device_id])?;
            Ok(tx.query_row("SELECT device_id FROM actors WHERE actor_hex = ?1", [actor], |row| row.get(0))?)
        })
    }

    fn actors(&self, actors: &[String]) -> Result<Vec<ActorRecord>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT a.actor_hex, a.device_id, d.user_id FROM actors a JOIN devices d ON d.id = a.device_id
                 WHERE a.actor_hex = ?1",
            )?;
            let mut found = Vec::new();
            for actor in actors {
                if let Some(record) = stmt
                    .query_row([actor], |row| {
                        Ok(ActorRecord { actor: row.get(0)?, device_id: row.get(1)?, user_id: row.get(2)? })
                    })
                    .optional()?
                {
                    found.push(record);
                }
            }
            Ok(found)
        })
    }

    fn load_ticket(&self, ticket_id: &str) -> Result<Option<StoredTicket>, StorageError> {
        self.read(|tx| stored_ticket(tx, ticket_id))
    }

    fn load_tickets(&self, ticket_ids: &[String]) -> Result<Vec<(String, StoredTicket)>, StorageError> {
        // One read transaction: one snapshot, one reader for the lot.
        self.read(|tx| {
            let mut found = Vec::with_capacity(ticket_ids.len());
            for id in ticket_ids {
                if let Some(stored) = stored_ticket(tx, id)? {
                    found.push((id.clone(), stored));
                }
            }
            Ok(found)
        })
    }

    fn save_ticket(&self, write: &TicketWrite) -> Result<Saved, StorageError> {
        let write = write.clone();
        self.write(move |tx| {
            let id = write.ticket_id.as_str();
            let current: Option<i64> = tx
                .prepare_cached("SELECT version FROM tickets WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            if current != write.expected_version {
                return Err(StorageError::VersionConflict(id.to_owned()));
            }
            let version = current.unwrap_or(0) + 1;
            let seq: i64 = tx
                .prepare_cached("UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value")?
                .query_row([], |row| row.get(0))?;
            let ChunkState { last: last_chunk, since_snapshot: mut chunks } = match write.chunks {
                Some(read) => read,
                None => chunks_after_snapshot(tx, id)?,
            };
            let next_chunk = last_chunk + 1;
            let mut insert = tx.prepare_cached("INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES (?1, ?2, ?3, ?4)")?;
            // A number taken: the writer's chunks were not the ticket's (`TicketWrite::chunks`).
            let taken = |e: rusqlite::Error| {
                if is_key_taken(&e) { StorageError::VersionConflict(id.to_owned()) } else { e.into() }
            };
            match &write.snapshot {
                // One transaction: the snapshot and the removal of what it covers commit together.
                Some(snapshot) => {
                    insert.execute(params![id, next_chunk, "snapshot", snapshot]).map_err(taken)?;
                    tx.prepare_cached("DELETE FROM doc_chunks WHERE ticket_id = ?1 AND seq < ?2")?
                        .execute(params![id, next_chunk])?;
                    chunks = 0;
                }
                None if !write.changes.is_empty() => {
                    insert.execute(params![id, next_chunk, "change", write.changes]).map_err(taken)?;
                    chunks += 1;
                }
                None => {}
            }
            let heads = stored_heads_blob(&write.heads);
            let row = &write.index;
            if !(write.index_unchanged
                && current.is_some()
                && index::save_own_columns(tx, id, row.updated_at, seq, version, heads.as_deref())?)
            {
                index::save(tx, row, seq, version, heads.as_deref())?;
            }
            let mut log = tx.prepare_cached(
                "INSERT OR IGNORE INTO change_log (ticket_id, change_hash, device_id, received_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for row in &write.change_log {
                log.execute(params![id, row.change_hash, row.device_id, row.received_at])?;
            }
            if let Some(device_id) = &write.holder {
                upsert_sync_state(tx, device_id, id, &SyncState { confirmed: write.heads.clone(), ..Default::default() })?;
            }
            let last_chunk = if write.snapshot.is_some() || !write.changes.is_empty() { next_chunk } else { last_chunk };
            Ok(Saved { seq: u64_of(seq), version, chunks_since_snapshot: chunks, last_chunk })
        })
    }

    fn ticket_row(&self, ticket_id: &str) -> Result<Option<IndexRow>, StorageError> {
        self.read(|tx| sync_reads::ticket_row(tx, ticket_id))
    }

    fn list_tickets(&self, filter: &TicketFilter) -> Result<Vec<IndexRow>, StorageError> {
        let query = ticket_filter::list(filter, &ticket_filter::SQLITE);
        let values = sql_values(query.values);
        self.read(|tx| query_rows(tx, &query.sql, &values))
    }

    fn count_tickets(&self, filter: &TicketFilter) -> Result<u64, StorageError> {
        let query = ticket_filter::count(filter, &ticket_filter::SQLITE);
        let values = sql_values(query.values);
        let count: i64 =
            self.read(|tx| Ok(tx.query_row(&query.sql, rusqlite::params_from_iter(values.iter()), |row| row.get(0))?))?;
        Ok(u64_of(count))
    }

    fn changed_since(&self, cursor: u64, scope: &Scope) -> Result<Vec<IndexRow>, StorageError> {
        self.read(|tx| sync_reads::changed_since(tx, cursor, scope, sync_reads::current_seq(tx)?))
    }

    fn held_completed_before(
        &self,
        device_id: &str,
        resolved_before: Millis,
        cursor: u64,
    ) -> Result<Vec<IndexRow>, StorageError> {
        self.read(|tx| sync_reads::held_completed_before(tx, device_id, resolved_before, cursor))
    }

    fn current_seq(&self) -> Result<u64, StorageError> {
        self.read(sync_reads::current_seq)
    }

    fn change_log(&self, ticket_id: &str) -> Result<Vec<ChangeLogRow>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT change_hash, device_id, received_at FROM change_log WHERE ticket_id = ?1 ORDER BY received_at, change_hash",
            )?;
            let rows = stmt.query_map([ticket_id], |row| {
                Ok(ChangeLogRow { change_hash: row.get(0)?, device_id: row.get(1)?, received_at: row.get(2)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn sync_states(&self, device_id: &str, ticket_ids: &[String]) -> Result<Vec<(String, SyncState)>, StorageError> {
        self.read(|tx| sync_reads::sync_states(tx, device_id, ticket_ids))
    }

    fn sync_reads(&self, query: &SyncReadsQuery<'_>) -> Result<SyncReads, StorageError> {
        self.read(|tx| sync_reads::all(tx, query))
    }

    fn put_sync_states(&self, device_id: &str, states: &[(String, SyncState)]) -> Result<(), StorageError> {
        if states.is_empty() {
            return Ok(());
        }
        let (device_id, states) = (device_id.to_owned(), states.to_vec());
        // What a device holds: lost, the server sends it those changes again (docs/adr/0003).
        self.write_relaxed(move |tx| {
            for (ticket_id, state) in states {
                upsert_sync_state(tx, &device_id, &ticket_id, &state)?;
            }
            Ok(())
        })
    }

    fn link_blob(&self, sha256: &str, ticket_id: &str, device_id: &str, at: Millis) -> Result<bool, StorageError> {
        let (sha256, ticket_id, device_id) = (sha256.to_owned(), ticket_id.to_owned(), device_id.to_owned());
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO blob_links (sha256, ticket_id, device_id, linked_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![sha256, ticket_id, device_id, at])?;
            Ok(inserted > 0)
        })
    }

    fn blob_tickets(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare_cached("SELECT ticket_id FROM blob_links WHERE sha256 = ?1 ORDER BY ticket_id")?;
            let rows = stmt.query_map([sha256], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(tx: &Connection) -> Result<i64, StorageError> {
        Ok(tx.query_row("PRAGMA synchronous", [], |row| row.get(0))?)
    }

    /// A group of relaxed jobs alone commits without its own fsync; the next durable write is
    /// back to `synchronous=FULL`.
    #[test]
    fn relaxed_groups_skip_the_fsync_and_durable_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(&dir.path().join("server.sqlite")).expect("open");
        assert_eq!(storage.write(synchronous).expect("durable"), 2, "FULL");
        assert_eq!(storage.write_relaxed(synchronous).expect("relaxed"), 1, "NORMAL");
        assert_eq!(storage.write(synchronous).expect("durable"), 2, "FULL again");
    }

    /// The writer maps the file and checkpoints a long WAL; readers, whose page cache every
    /// other write voids, do not map.
    #[test]
    fn the_writer_maps_the_file_and_readers_do_not() {
        fn mapped(tx: &Connection) -> Result<i64, StorageError> {
            Ok(tx.query_row("PRAGMA mmap_size", [], |row| row.get(0))?)
        }
        fn checkpoint_pages(tx: &Connection) -> Result<i64, StorageError> {
            Ok(tx.query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))?)
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(&dir.path().join("server.sqlite")).expect("open");
        assert_eq!(storage.write(mapped).expect("writer"), WRITER_MMAP_BYTES);
        assert_eq!(storage.read(mapped).expect("reader"), 0);
        assert_eq!(storage.write(checkpoint_pages).expect("writer"), WAL_CHECKPOINT_PAGES);
    }
}
