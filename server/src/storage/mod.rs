//! Server storage behind one trait, so a PostgreSQL implementation can slot in beside SQLite.
//!
//! The trait speaks bytes and plain rows, never Automerge documents: the sync and REST layers
//! load, merge and check documents; storage keeps them durable. Every write of a ticket is one
//! call ([`Storage::save_ticket`]) that appends the new change bytes, rewrites the index row,
//! takes the next global change sequence number and records the server receive time of each
//! change, atomically. Writes are optimistic: a caller passes the document version it loaded
//! and gets [`StorageError::VersionConflict`] when someone else wrote in between, then reloads,
//! re-merges and tries again. That works the same on one SQLite file and on several server
//! instances sharing one PostgreSQL database.
//!
//! `conformance::run` is the shared test suite every implementation must pass; it is test code,
//! compiled only for tests and with the `conformance` feature (server/tests turn it on).

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod customers;
pub mod manager;
mod migrations;
pub mod postgres;
pub mod report_facts;
pub mod sqlite;
pub mod statistics;
pub mod sync_reads;
mod ticket_filter;
pub mod tracking;
pub mod uploads;
pub mod webhooks;

use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use fieldsync_core::model::{INDEX_COLUMNS, TicketIndex, doc};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{Role, Status};

pub use customers::CustomerStorage;
pub use manager::ManagerStorage;
pub use postgres::PostgresStorage;
pub use report_facts::ReportFactsStorage;
pub use sqlite::SqliteStorage;
pub use statistics::StatisticsStorage;
pub use sync_reads::{SyncReads, SyncReadsQuery};
pub use tracking::TrackingStorage;
pub use uploads::UploadStorage;
pub use webhooks::WebhookStorage;

/// A change hash as stored: 32 bytes.
pub type HashBytes = [u8; 32];

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A row with this key already exists (a user id, a device id, a token).
    #[error("{0} already exists")]
    Duplicate(String),
    /// The referenced row does not exist (the user of a new device).
    #[error("{0} not found")]
    NotFound(String),
    /// The ticket was written by someone else since it was loaded: reload and retry.
    #[error("ticket {0} changed concurrently")]
    VersionConflict(String),
    /// The database was written by a newer server version.
    #[error("the database schema is {found}, this server knows up to {supported}")]
    NewerSchema {
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The backend failed (I/O, SQL, a poisoned lock).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The user id (engineers are assigned by it).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// A device token as stored: only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device id.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// SHA-256 of the bearer token.
    pub token_sha256: HashBytes,
}

/// Who a valid token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user id.
    pub user_id: String,
    /// The device id.
    pub device_id: String,
    /// The user's role.
    pub role: Role,
    /// When the device last synced (UTC ms), if ever.
    pub last_sync_at: Option<Millis>,
}

/// A device as the console lists it (never its token hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device id.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// Whether its token was revoked.
    pub revoked: bool,
    /// When it last synced (UTC ms), if ever.
    pub last_sync_at: Option<Millis>,
}

/// A console sign-in session (docs/adr/0007): stored by the SHA-256 of its cookie value only,
/// bound to the device whose token signed in, so revoking that device ends the session too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session cookie's value.
    pub token_sha256: HashBytes,
    /// The device whose token was exchanged for the session.
    pub device_id: String,
    /// When it was made (UTC ms).
    pub created_at: Millis,
    /// When it stops working (UTC ms).
    pub expires_at: Millis,
}

/// An Automerge actor and the device (and user) it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorRecord {
    /// The actor id, hex.
    pub actor: String,
    /// The device it belongs to.
    pub device_id: String,
    /// That device's user.
    pub user_id: String,
}

/// A ticket's stored document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTicket {
    /// Bytes `Automerge::load` reads: the newest snapshot and the change chunks after it.
    pub bytes: Vec<u8>,
    /// The write version, for [`TicketWrite::expected_version`].
    pub version: i64,
    /// How many change chunks follow the newest snapshot (the compaction trigger).
    pub chunks_since_snapshot: u64,
    /// The newest chunk's number (0: none), for [`TicketWrite::chunks`].
    pub last_chunk: i64,
    /// The ticket's `changed_seq` at this version (read in the same transaction).
    pub seq: u64,
    /// The heads of the document `bytes` hold, as the write that made them recorded them
    /// (`None`: written before heads were kept, docs/adr/0030): with them a whole ticket is
    /// sent as it is stored, without loading it.
    pub heads: Option<Vec<HashBytes>>,
}

/// A ticket's index row: what lists, sync decisions and statistics read without loading
/// documents — the ticket's [`TicketIndex`] (the core's one declaration of the listed fields
/// and their columns, docs/adr/0025) and what only the server keeps of it. Reads of the
/// index's fields go through to it (`row.status`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexRow {
    /// Ticket id.
    pub id: String,
    /// The listed fields, computed from the document.
    pub index: TicketIndex,
    /// When the server last changed the ticket (UTC ms).
    pub updated_at: Millis,
    /// The global change sequence number of the ticket's last change (set by storage).
    pub changed_seq: u64,
}

impl std::ops::Deref for IndexRow {
    type Target = TicketIndex;
    fn deref(&self) -> &TicketIndex {
        &self.index
    }
}

impl std::ops::DerefMut for IndexRow {
    fn deref_mut(&mut self) -> &mut TicketIndex {
        &mut self.index
    }
}

impl IndexRow {
    /// The row with its index changed by `edit` (rows made by hand: tests, tools).
    pub fn with(mut self, edit: impl FnOnce(&mut TicketIndex)) -> IndexRow {
        edit(&mut self.index);
        self
    }
}

/// One change's arrival at the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeLogRow {
    /// Change hash, hex.
    pub change_hash: String,
    /// The device that sent it (or on whose behalf the server made it).
    pub device_id: String,
    /// Server receive time, UTC ms.
    pub received_at: Millis,
}

/// One atomic write of a ticket.
#[derive(Clone, Debug)]
pub struct TicketWrite {
    /// The ticket.
    pub ticket_id: String,
    /// The version loaded (`None`: the ticket must not exist yet).
    pub expected_version: Option<i64>,
    /// New Automerge change chunks, concatenated.
    pub changes: Vec<u8>,
    /// A whole saved document that replaces every earlier chunk (compaction), if any.
    pub snapshot: Option<Vec<u8>>,
    /// The new index row (`changed_seq` is ignored: storage assigns the next sequence number).
    pub index: IndexRow,
    /// Receive records of the new changes; a hash already logged for the ticket is kept as is.
    pub change_log: Vec<ChangeLogRow>,
    /// The heads of the document after this write, kept with the chunks (see
    /// [`StoredTicket::heads`]); empty: not known.
    pub heads: Vec<HashBytes>,
    /// The device whose push this write stores, when that device now holds exactly `heads`:
    /// its sync state for the ticket is written with the ticket (confirmed `heads`, nothing
    /// pending, not evicted), so the answer to its sync has no state left to write
    /// (docs/adr/0003, docs/adr/0026).
    pub holder: Option<String>,
    /// The caller's promise that `index` is what the stored row already lists (a note, a photo:
    /// docs/adr/0026): only the row's own columns (`updated_at`, `changed_seq`, `version`, the
    /// heads) need writing. SQLite then leaves the index's columns alone, which spares the
    /// B-trees of every index on them (it rewrites each index whose column a statement sets);
    /// a backend may write them anyway. Ignored for a ticket not stored yet.
    pub index_unchanged: bool,
    /// The ticket's chunks as the writer read them at `expected_version` (`None`: not known,
    /// the backend reads them). Every write that changes a ticket's chunks changes its version,
    /// so the write's version check is what keeps them true: the backend numbers the new chunk
    /// after them without reading them again (docs/adr/0036). A stale version fails the write
    /// whatever the chunks say; a number already taken fails it too, as a version conflict on
    /// the chunk's key.
    pub chunks: Option<ChunkState>,
}

/// A ticket's change chunks as a write finds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkState {
    /// The newest chunk's number (0: none).
    pub last: i64,
    /// How many change chunks follow the newest snapshot.
    pub since_snapshot: u64,
}

impl StoredTicket {
    /// Its chunks, for a write on this version.
    pub fn chunks(&self) -> ChunkState {
        ChunkState { last: self.last_chunk, since_snapshot: self.chunks_since_snapshot }
    }
}

impl Saved {
    /// The ticket's chunks after this write, for the next write on it.
    pub fn chunks(&self) -> ChunkState {
        ChunkState { last: self.last_chunk, since_snapshot: self.chunks_since_snapshot }
    }
}

/// What [`Storage::save_ticket`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// The ticket's new `changed_seq`.
    pub seq: u64,
    /// The ticket's new version.
    pub version: i64,
    /// How many change chunks follow the newest snapshot now (the compaction trigger).
    pub chunks_since_snapshot: u64,
    /// The newest chunk's number now.
    pub last_chunk: i64,
}

/// Which tickets a device may see in [`Storage::changed_since`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every ticket (dispatchers and admins).
    All,
    /// Tickets assigned to `user_id`, plus tickets `device_id` has been sent and not had
    /// evicted (candidates for eviction).
    Engineer {
        /// The engineer.
        user_id: String,
        /// Their device.
        device_id: String,
    },
}

/// List filters for the dispatcher API; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only these statuses.
    pub statuses: Vec<Status>,
    /// Only this assignee.
    pub assignee: Option<String>,
    /// Only tickets with an unmet SLA deadline before this time.
    pub sla_due_before: Option<Millis>,
    /// Title or customer name contains this (case-insensitive).
    pub text: Option<String>,
    /// Only tickets of this type.
    pub ticket_type: Option<String>,
    /// Only tickets with a revisit due (completed, not revisited, a target set).
    pub revisit_due: bool,
    /// Only tickets revisited at least once (the first-time-fix population).
    pub revisited: bool,
    /// Only complaints.
    pub complaint: bool,
    /// Only tickets of this priority (its wire name, `Priority::as_str`).
    pub priority: Option<String>,
    /// At most this many rows (the most recently changed; `None`: all).
    pub limit: Option<usize>,
}

/// What the server remembers about one ticket on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Heads the device is known to have.
    pub confirmed: Vec<HashBytes>,
    /// Heads sent in the response with this cursor, confirmed once a request carries a cursor
    /// at least as high.
    pub pending: Option<(u64, Vec<HashBytes>)>,
    /// The ticket was evicted in the response with this cursor.
    pub evicted_at: Option<u64>,
}

/// A ticket change as every server instance sharing one storage learns of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketNotice {
    /// The ticket.
    pub id: String,
    /// Its derived status after the change.
    pub status: Status,
    /// Its `changed_seq`.
    pub seq: u64,
}

/// Keeps [`Storage::watch_changes`] delivering while held; dropping it stops the delivery.
pub type ChangeWatch = Box<dyn std::any::Any + Send + Sync>;

/// Server storage. Synchronous: async handlers call it inside `spawn_blocking`. Webhook
/// subscriptions and deliveries are the [`WebhookStorage`] part, who sent which blob's bytes
/// the [`UploadStorage`] part, tracking links and follow-ups the [`TrackingStorage`] part,
/// the manager's settings and escalation claims the [`ManagerStorage`] part.
pub trait Storage:
    Send
    + Sync
    + WebhookStorage
    + UploadStorage
    + TrackingStorage
    + ManagerStorage
    + CustomerStorage
    + StatisticsStorage
    + ReportFactsStorage
{
    /// For a storage several server instances share: calls `on_change` (on a thread of its own,
    /// in commit order) for every ticket change any instance commits, from when this returns,
    /// until the returned guard is dropped. `None`, the default, for a storage one process
    /// owns: its own writes are all there is to see, and it publishes them itself.
    fn watch_changes(&self, on_change: Box<dyn Fn(TicketNotice) + Send>) -> Result<Option<ChangeWatch>, StorageError> {
        let _ = on_change;
        Ok(None)
    }

    /// Creates a user; [`StorageError::Duplicate`] if the id is taken.
    fn create_user(&self, user: &UserRecord) -> Result<(), StorageError>;
    /// A user by id.
    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StorageError>;
    /// Creates a device token for an existing user.
    fn create_device(&self, device: &DeviceRecord) -> Result<(), StorageError>;
    /// Revokes a device's token; `false` when there is no such device.
    fn revoke_device(&self, device_id: &str) -> Result<bool, StorageError>;
    /// Who the token with this SHA-256 belongs to, unless unknown or revoked.
    fn authenticate(&self, token_sha256: &HashBytes) -> Result<Option<Principal>, StorageError>;
    /// Records that the device synced at `at`.
    fn record_sync(&self, device_id: &str, at: Millis) -> Result<(), StorageError>;
    /// Every user, by id.
    fn list_users(&self) -> Result<Vec<UserRecord>, StorageError>;
    /// Every device (revoked ones too), by user, then id.
    fn list_devices(&self) -> Result<Vec<DeviceInfo>, StorageError>;

    /// Stores a console session for an existing device (sessions expired at
    /// `session.created_at` are dropped on the way); [`StorageError::NotFound`] for an
    /// unknown device.
    fn create_session(&self, session: &SessionRecord) -> Result<(), StorageError>;
    /// Who the session with this SHA-256 belongs to, unless unknown, expired at `now`, or its
    /// device revoked.
    fn session(&self, token_sha256: &HashBytes, now: Millis) -> Result<Option<Principal>, StorageError>;
    /// Ends a session; `false` when there was none.
    fn delete_session(&self, token_sha256: &HashBytes) -> Result<bool, StorageError>;

    /// Binds `actor` to `device_id` unless it is bound already; returns the device it is bound to.
    fn register_actor(&self, actor: &str, device_id: &str) -> Result<String, StorageError>;
    /// The bindings of the given actors that exist.
    fn actors(&self, actors: &[String]) -> Result<Vec<ActorRecord>, StorageError>;

    /// A ticket's document, if it exists.
    fn load_ticket(&self, ticket_id: &str) -> Result<Option<StoredTicket>, StorageError>;
    /// Several tickets' documents in one call (on one snapshot, and where the backend can in
    /// one round trip), in the order asked; tickets that do not exist are left out. What a
    /// bootstrap sends as stored (docs/adr/0030). The default loads them in turn.
    fn load_tickets(&self, ticket_ids: &[String]) -> Result<Vec<(String, StoredTicket)>, StorageError> {
        let mut found = Vec::with_capacity(ticket_ids.len());
        for id in ticket_ids {
            if let Some(stored) = self.load_ticket(id)? {
                found.push((id.clone(), stored));
            }
        }
        Ok(found)
    }
    /// Writes a ticket atomically (see [`TicketWrite`]).
    fn save_ticket(&self, write: &TicketWrite) -> Result<Saved, StorageError>;
    /// A ticket's index row.
    fn ticket_row(&self, ticket_id: &str) -> Result<Option<IndexRow>, StorageError>;
    /// Index rows matching `filter`, most recently changed first.
    fn list_tickets(&self, filter: &TicketFilter) -> Result<Vec<IndexRow>, StorageError>;
    /// How many rows `filter` matches, its `limit` ignored.
    fn count_tickets(&self, filter: &TicketFilter) -> Result<u64, StorageError>;
    /// Index rows in `scope` with `changed_seq > cursor`, lowest `changed_seq` first.
    fn changed_since(&self, cursor: u64, scope: &Scope) -> Result<Vec<IndexRow>, StorageError>;
    /// Index rows of completed tickets resolved before `resolved_before` that `device_id` was
    /// sent and that were not evicted from it in a response with a cursor `<= cursor`.
    fn held_completed_before(
        &self,
        device_id: &str,
        resolved_before: Millis,
        cursor: u64,
    ) -> Result<Vec<IndexRow>, StorageError>;
    /// The highest change sequence number handed out (0 at first).
    fn current_seq(&self) -> Result<u64, StorageError>;
    /// The receive records of a ticket's changes.
    fn change_log(&self, ticket_id: &str) -> Result<Vec<ChangeLogRow>, StorageError>;

    /// The sync states of `device_id` for the given tickets (absent: never sent).
    fn sync_states(&self, device_id: &str, ticket_ids: &[String]) -> Result<Vec<(String, SyncState)>, StorageError>;
    /// Everything one sync answer reads, in one call (see [`SyncReads`]): on one snapshot and,
    /// where the backend can, in one round trip. The default makes the single reads in turn.
    fn sync_reads(&self, query: &SyncReadsQuery<'_>) -> Result<SyncReads, StorageError> {
        sync_reads::separately(self, query)
    }
    /// Writes sync states of `device_id`, one transaction.
    fn put_sync_states(&self, device_id: &str, states: &[(String, SyncState)]) -> Result<(), StorageError>;

    /// Links a blob (its SHA-256, lowercase hex) to a ticket, recording the device that uploaded
    /// it for that ticket; a link that exists is kept as is. Returns whether it was new.
    fn link_blob(&self, sha256: &str, ticket_id: &str, device_id: &str, at: Millis) -> Result<bool, StorageError>;
    /// The tickets a blob is linked to, sorted.
    fn blob_tickets(&self, sha256: &str) -> Result<Vec<String>, StorageError>;
}

// Helpers both SQL implementations share: heads as one blob of 32-byte hashes, SQL's signed
// integers, and the index-row columns in the order their row readers expect.

pub(crate) fn heads_to_blob(heads: &[HashBytes]) -> Vec<u8> {
    heads.concat()
}

/// Whether `a` and `b` are the same heads, in any order.
pub(crate) fn same_heads(a: &[HashBytes], b: &[HashBytes]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

pub(crate) fn heads_from_blob(blob: &[u8]) -> Vec<HashBytes> {
    blob.chunks_exact(32).filter_map(|c| <HashBytes>::try_from(c).ok()).collect()
}

/// A write's heads as stored with the ticket's row: `NULL` when not known.
pub(crate) fn stored_heads_blob(heads: &[HashBytes]) -> Option<Vec<u8>> {
    (!heads.is_empty()).then(|| heads_to_blob(heads))
}

/// The heads stored with a ticket's row; `None` when not known (`NULL`, or not whole hashes).
pub(crate) fn stored_heads(blob: Option<&[u8]>) -> Option<Vec<HashBytes>> {
    blob.filter(|b| !b.is_empty() && b.len() % 32 == 0).map(heads_from_blob)
}

pub(crate) fn u64_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The columns an [`IndexRow`] is read from (table alias `t`): the row's own, then the
/// index's, made from [`fieldsync_core::model::INDEX_COLUMNS`]. Shown with `{ROW_COLUMNS}` in
/// a `format!`.
pub(crate) const ROW_COLUMNS: RowColumns = RowColumns;

/// See [`ROW_COLUMNS`].
pub(crate) struct RowColumns;

impl std::fmt::Display for RowColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static TEXT: LazyLock<String> = LazyLock::new(|| {
            let index: Vec<String> = INDEX_COLUMNS.iter().map(|c| format!("t.{}", c.name)).collect();
            format!("t.id, t.updated_at, t.changed_seq, {}", index.join(", "))
        });
        f.write_str(&TEXT)
    }
}

/// The `counters` row holding the fingerprint of the index the rows were computed under.
pub(crate) const INDEX_FINGERPRINT_COUNTER: &str = "index_fingerprint";

/// A stored ticket's index, from its chunks in order (a snapshot and the changes after it);
/// `None` when they do not load as a ticket: its row is then left as it was.
pub(crate) fn index_of_stored(chunks: &[u8]) -> Option<TicketIndex> {
    let document = automerge::Automerge::load(chunks).ok()?;
    doc::ticket_id(&document).ok()?;
    Some(TicketIndex::of(&document, &doc::derive(&document)))
}

/// `mutex` locked even when a holder panicked: for state a panic cannot leave half-changed
/// (each caller says why), so a panic elsewhere never stops every later caller too.
pub(crate) fn lock_unpoisoned<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
