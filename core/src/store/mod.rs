//! The durable local store: one SQLite file per signed-in user.
//!
//! - One opener ([`Store::open`]): WAL, `synchronous=FULL` by default (docs/adr/0001), numbered
//!   migrations on `PRAGMA user_version`, a newer schema refused, a file SQLite reports as
//!   corrupt moved aside (never deleted).
//! - One writer connection and a few readers; [`Store::write`] and [`Store::read`] hand a
//!   closure a transaction they own, so no caller can hold a write transaction across I/O it
//!   does not see.
//! - Ticket documents are stored as chunks (see [`tickets`]).

pub mod blobs;
mod migrations;
pub mod tickets;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

pub use migrations::{LATEST_VERSION, run_numbered};

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
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The filesystem failed (moving a corrupt file aside, creating the folder).
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// A lock was poisoned by a panic on another thread.
    #[error("store lock poisoned")]
    Poisoned,
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
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating, migrating) the store at `path`. A file SQLite reports as corrupt or not
    /// a database is moved aside to `<path>.corrupt-<millis>` and a fresh store is created; the
    /// report says so. Any other error is returned and the file is left as it is.
    pub fn open(path: &Path, durability: Durability) -> Result<(Store, OpenReport), StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match Self::open_once(path, durability) {
            Err(StoreError::Sqlite(e)) if is_corruption(&e) => {
                let moved = move_aside(path)?;
                let (store, mut report) = Self::open_once(path, durability)?;
                report.moved_aside = Some(moved);
                Ok((store, report))
            }
            other => other,
        }
    }

    fn open_once(path: &Path, durability: Durability) -> Result<(Store, OpenReport), StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer, durability)?;
        // journal_mode is persistent and needs no transaction; set it once, on the writer.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        debug_assert_eq!(mode, "wal");
        let migrated_from = migrations::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                configure(&reader, durability)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let store = Store { path: path.to_owned(), writer: Mutex::new(writer), readers };
        Ok((store, OpenReport { migrated_from, moved_aside: None }))
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an IMMEDIATE write transaction and commits it if `f` returns `Ok`; the commit
    /// is durable when this returns.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs `f` in a read transaction on a reader connection (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        // Take whichever reader is free; wait on the first when all are busy.
        let mut conn = match self.readers.iter().find_map(|r| r.try_lock().ok()) {
            Some(conn) => conn,
            None => self.readers[0].lock().map_err(|_| StoreError::Poisoned)?,
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(StoreError::from)?;
        let value = f(&tx)?;
        // Read-only: ending it either way releases the snapshot.
        tx.finish().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs SQLite's own integrity check; `Ok(())` when it says "ok".
    pub fn integrity_check(&self) -> Result<(), String> {
        let conn = self.writer.lock().map_err(|_| "store lock poisoned".to_owned())?;
        let verdict: String =
            conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(|e| e.to_string())?;
        if verdict == "ok" { Ok(()) } else { Err(verdict) }
    }
}

fn configure(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", durability.pragma())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Query-plan stability: otherwise a statement whose plan could depend on a bound value is
    // re-parsed and re-planned at every execution instead of reusing its cached plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// SQLite's own words for "this file is damaged": the only errors that move a store aside.
fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = crate::time::now_ms();
    let target = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display()))?;
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests;
