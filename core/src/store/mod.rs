//! The durable local store: one SQLite file per signed-in user.
//!
//! - One opener ([`Store::open`]): WAL, `synchronous=FULL` by default (docs/adr/0001), numbered
//!   migrations on `PRAGMA user_version`, a newer schema refused, a file SQLite reports as
//!   corrupt moved aside (never deleted); optionally encrypted with a key (docs/adr/0011), and a
//!   wrong or missing key is an error that leaves the file alone.
//! - One writer connection and a few readers; [`Store::write`] and [`Store::read`] hand a
//!   closure a transaction they own, so no caller can hold a write transaction across I/O it
//!   does not see.
//! - Ticket documents are stored as chunks (see [`tickets`]).

pub mod blobs;
mod checkpointer;
pub mod claims;
pub mod encryption;
pub mod index_sql;
mod migrations;
pub mod sql_tx;
pub mod tickets;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use checkpointer::{CheckpointPolicy, Checkpointer};
use encryption::Unreadable;
pub use encryption::{StoreKey, encrypt_existing};
pub use migrations::{LATEST_VERSION, run_numbered};
use sql_tx::{Begin, Tx};

/// How many reader connections a store keeps.
const READERS: usize = 2;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file was written by a newer version of fieldsync; this one will not touch it.
    #[error(
        "the store was written by a newer fieldsync (schema {found}, this version knows up to {supported}): update the app"
    )]
    NewerSchema {
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The store belongs to another user.
    #[error("this store belongs to another user")]
    WrongUser,
    /// The store belongs to another device of this user (its changes are bound to that
    /// device on the server): open it with that device's identity.
    #[error("this store belongs to another device")]
    WrongDevice,
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The filesystem failed (moving a corrupt file aside, creating the folder).
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// A lock was poisoned by a panic on another thread.
    #[error("store lock poisoned")]
    Poisoned,
    /// The key does not open this encrypted store. The file was not changed.
    #[error("the store key does not open this store (wrong key); the store was left as it is")]
    WrongKey,
    /// The store is encrypted and no key was given. The file was not changed.
    #[error("this store is encrypted: open it with its key; the store was left as it is")]
    KeyRequired,
    /// A key was given for a store that is not encrypted. The file was not changed.
    #[error("this store is not encrypted: encrypt it once (encrypt_existing) before opening it with a key")]
    NotEncrypted,
    /// The key is malformed (length, digits).
    #[error("invalid store key: {0}")]
    InvalidKey(String),
    /// This build's SQLite cannot encrypt (SQLCipher is not linked in); nothing was written.
    #[error("this build cannot encrypt stores (SQLCipher is missing)")]
    EncryptionUnavailable,
    /// The encrypted copy made by `encrypt_existing` did not match the plaintext store; the
    /// plaintext store is unchanged and the copy was removed.
    #[error("encrypting the store failed verification; the plaintext store is unchanged")]
    EncryptionFailed,
    /// The store is open elsewhere (another client of this process, or another process while
    /// it is being encrypted): close that client first; nothing was changed.
    #[error("the store is in use: close it first")]
    InUse,
}

/// When a committed action is safe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk before the call returns: survives the app being killed, the OS crashing and the
    /// battery dying (`synchronous=FULL`: one fsync per action). The default.
    #[default]
    PowerLoss,
    /// Survives the app being killed; the last actions may be lost if the OS crashes or power
    /// fails before the OS writes them out (`synchronous=NORMAL`: no fsync per action).
    AppCrash,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::PowerLoss => "FULL",
            Durability::AppCrash => "NORMAL",
        }
    }
}

/// What happened while opening, for the app to tell the user or log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The schema version the file had before opening (0 for a new file).
    pub migrated_from: i64,
    /// Where a corrupt store file was moved (a fresh store was created in its place).
    pub moved_aside: Option<PathBuf>,
}

/// The local store.
pub struct Store {
    path: PathBuf,
    durability: Durability,
    /// Declared first, so it is stopped and joined before the connections close (the writer,
    /// closing last, makes the final checkpoint as it always has).
    checkpointer: Checkpointer,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating, migrating) the store at `path`, encrypted with `key` when one is given
    /// (a new store is created encrypted). A file SQLite reports as corrupt or not a database
    /// is moved aside to `<path>.corrupt-<millis>` and a fresh store is created; the report says
    /// so. But an encrypted store opened without its key or with a wrong one, and a plaintext
    /// store opened with a key, look "not a database" to SQLite too: those are
    /// [`StoreError::KeyRequired`], [`StoreError::WrongKey`] and [`StoreError::NotEncrypted`],
    /// and the file is left exactly as it was. Any other error is returned and the file is left
    /// as it is.
    pub fn open(
        path: &Path,
        durability: Durability,
        key: Option<&StoreKey>,
    ) -> Result<(Store, OpenReport), StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match Self::open_once(path, durability, key, CheckpointPolicy::default()) {
            Err(StoreError::Sqlite(e)) if is_corruption(&e) => {
                match (encryption::inspect(path)?, key) {
                    (Unreadable::Plaintext, Some(_)) => return Err(StoreError::NotEncrypted),
                    (Unreadable::LooksEncrypted, None) => return Err(StoreError::KeyRequired),
                    // The key opens the first page: the damage is real, and moved aside below.
                    (Unreadable::LooksEncrypted, Some(key)) => encryption::check_key(path, key)?,
                    (Unreadable::Plaintext | Unreadable::Garbage, _) => {}
                }
                let moved = move_aside(path)?;
                let (store, mut report) = Self::open_once(path, durability, key, CheckpointPolicy::default())?;
                report.moved_aside = Some(moved);
                Ok((store, report))
            }
            other => other,
        }
    }

    fn open_once(
        path: &Path,
        durability: Durability,
        key: Option<&StoreKey>,
        checkpoints: CheckpointPolicy,
    ) -> Result<(Store, OpenReport), StoreError> {
        let mut writer = Connection::open(path)?;
        // Until the file has proved readable, closing this connection must not checkpoint a WAL
        // it found into the file: a failed open leaves every byte as it was.
        writer.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        if let Some(key) = key {
            encryption::apply_key(&writer, key)?;
        }
        configure(&writer, durability)?;
        // journal_mode is persistent and needs no transaction; set it once, on the writer.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        debug_assert_eq!(mode, "wal");
        let migrated_from = migrations::migrate(&mut writer)?;
        // Rows written under an older index get their new columns from their documents.
        write_on(&mut writer, tickets::reindex_if_stale)?;
        writer.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                if let Some(key) = key {
                    encryption::apply_key(&reader, key)?;
                }
                configure(&reader, durability)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let checkpointing = Connection::open(path)?;
        if let Some(key) = key {
            encryption::apply_key(&checkpointing, key)?;
        }
        configure(&checkpointing, durability)?;
        let checkpointer = Checkpointer::start(&mut writer, checkpointing, checkpoints)?;
        let store = Store { path: path.to_owned(), durability, checkpointer, writer: Mutex::new(writer), readers };
        Ok((store, OpenReport { migrated_from, moved_aside: None }))
    }

    /// A store with its own checkpoint thresholds, for tests of the checkpointer.
    #[cfg(test)]
    pub(crate) fn open_with_checkpoints(
        path: &Path,
        durability: Durability,
        checkpoints: CheckpointPolicy,
    ) -> Result<Store, StoreError> {
        Ok(Self::open_once(path, durability, None, checkpoints)?.0)
    }

    /// Whether every background checkpoint asked for so far has run.
    #[cfg(test)]
    pub(crate) fn checkpoints_settled(&self) -> bool {
        self.checkpointer.settled()
    }

    /// How many checkpoints the background thread has run since the store was opened.
    pub fn background_checkpoints(&self) -> u64 {
        self.checkpointer.checkpoints_done()
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an IMMEDIATE write transaction and commits it if `f` returns `Ok`; the commit
    /// is durable when this returns.
    pub fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        write_on(&mut conn, f)
    }

    /// [`Store::write`] for what the server can give back: a sync response (changes it sent,
    /// what it holds, the cursor). Committed atomically and safe from the app being killed, but
    /// without waiting for an fsync of its own even under [`Durability::PowerLoss`]: a power cut
    /// right after may roll the whole transaction back, and the next sync fetches it again
    /// (docs/adr/0001). Local actions never go through here.
    pub fn write_relaxed<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if self.durability == Durability::AppCrash {
            return self.write(f);
        }
        let mut conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        conn.pragma_update(None, "synchronous", Durability::AppCrash.pragma()).map_err(StoreError::from)?;
        let outcome = write_on(&mut conn, f);
        // Back to the store's setting before any other write can take the connection.
        let restored = conn.pragma_update(None, "synchronous", self.durability.pragma());
        let value = outcome?;
        restored.map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs `f` in a read transaction on the writer's connection: for the read half of a
    /// read-modify-write (an action loading the document it is about to change). A commit
    /// empties every other connection's page cache, but not the writer's own, so reading
    /// here costs no page reads from the file for what the last writes touched. It waits
    /// while a write is in progress; queries that need not wait use [`Store::read`].
    pub fn read_for_write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        read_on(&mut conn, f)
    }

    /// Runs `f` in a read transaction on a reader connection (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        // Take whichever reader is free; wait on the first when all are busy.
        let mut conn = match self.readers.iter().find_map(|r| r.try_lock().ok()) {
            Some(conn) => conn,
            None => self.readers[0].lock().map_err(|_| StoreError::Poisoned)?,
        };
        read_on(&mut conn, f)
    }

    /// Runs SQLite's own integrity check; `Ok(())` when it says "ok".
    pub fn integrity_check(&self) -> Result<(), String> {
        let conn = self.writer.lock().map_err(|_| "store lock poisoned".to_owned())?;
        let verdict: String =
            conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(|e| e.to_string())?;
        if verdict == "ok" { Ok(()) } else { Err(verdict) }
    }
}

/// Runs `f` in a read (DEFERRED) transaction on `conn`.
fn read_on<T, E>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
where
    E: From<StoreError>,
{
    let tx = Tx::begin(conn, Begin::Deferred).map_err(StoreError::from)?;
    let value = f(&tx)?;
    // Read-only: ending it either way releases the snapshot.
    tx.finish().map_err(StoreError::from)?;
    Ok(value)
}

/// Runs `f` in an IMMEDIATE transaction on the writer and commits it if `f` returns `Ok`.
fn write_on<T, E>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
where
    E: From<StoreError>,
{
    let tx = Tx::begin(conn, Begin::Immediate).map_err(StoreError::from)?;
    let value = f(&tx)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(value)
}

fn configure(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", durability.pragma())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Query-plan stability: otherwise a statement whose plan could depend on a bound value is
    // re-parsed and re-planned at every execution instead of reusing its cached plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Every statement of the store's (~30, transactions' own BEGIN and COMMIT among them) stays
    // prepared: rusqlite's default of 16 would parse some again at every action or sync.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// SQLite's own words for "this file is damaged": the only errors that move a store aside.
fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = crate::time::now_ms();
    let target = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = encryption::sibling(path, suffix);
        if side.exists() {
            std::fs::rename(&side, encryption::sibling(&target, suffix))?;
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests;
