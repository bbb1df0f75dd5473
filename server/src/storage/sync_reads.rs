//! Everything one sync answer reads, asked for in one call (docs/adr/0026): the answer's
//! cursor, the index rows of the tickets it considers and the device's sync states of them.
//! Asked one by one they were five reads (five reader transactions on SQLite, five round trips
//! to PostgreSQL); a backend answers them together, on one snapshot.

use fieldsync_core::time::Millis;

use super::{IndexRow, Scope, Storage, StorageError, SyncState};

/// An engineer's rows changed since a device's cursor are found one of two ways, the same rows
/// either way: by walking every row changed since the cursor, each tested against the scope
/// (cheap when few changes separate the cursor from now), or by the scope's own indexes (their
/// tickets by assignee, the pools by status, each ticket the device holds probed by id), which
/// never visit everyone else's rows (cheap for a device back from hours offline, or on a busy
/// server). A probe costs about as much as sixteen walked rows (docs/adr/0026, ninth pass: on
/// 100,000 tickets the two cross at ~600 changes for a device holding 40, ~4,500 for one
/// holding 300), so the rows are walked while the distance is at most [`WALK_AT_LEAST`] or
/// [`WALK_PER_HELD`] per ticket held, whichever is more.
///
/// The storage conformance suite (the `conformance` feature, and this crate's tests) runs
/// with the line at 2 changes and none per ticket, so that its few writes cross it.
pub(crate) const WALK_AT_LEAST: u64 = if cfg!(any(test, feature = "conformance")) { 2 } else { 64 };
/// See [`WALK_AT_LEAST`].
pub(crate) const WALK_PER_HELD: u64 = if cfg!(any(test, feature = "conformance")) { 0 } else { 16 };

/// Whether an engineer's changed rows are walked ([`WALK_AT_LEAST`]): `distance` changes since
/// the cursor, `held` tickets held by the device.
pub(crate) fn walk_changed(distance: u64, held: u64) -> bool {
    distance <= WALK_AT_LEAST.max(WALK_PER_HELD.saturating_mul(held))
}

/// What [`Storage::sync_reads`] is asked.
#[derive(Clone, Copy, Debug)]
pub struct SyncReadsQuery<'a> {
    /// The syncing device.
    pub device_id: &'a str,
    /// The tickets this request pushed and the server stored, in push order.
    pub pushed: &'a [String],
    /// The device's cursor.
    pub cursor: u64,
    /// Which changed tickets the device may see.
    pub scope: &'a Scope,
    /// Completed tickets resolved before this are the device's to drop.
    pub expired_before: Millis,
}

/// What [`Storage::sync_reads`] answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReads {
    /// [`Storage::current_seq`].
    pub current_seq: u64,
    /// [`Storage::ticket_row`] of each pushed ticket, in push order.
    pub pushed: Vec<Option<IndexRow>>,
    /// [`Storage::changed_since`] the cursor in the scope.
    pub changed: Vec<IndexRow>,
    /// [`Storage::held_completed_before`] for the device, the expiry and the cursor.
    pub held: Vec<IndexRow>,
    /// [`Storage::sync_states`] of the device for every ticket named above, each once, in the
    /// order first named (pushed, changed, held).
    pub states: Vec<(String, SyncState)>,
}

impl SyncReads {
    /// Every ticket id named by the pushes and the rows, each once, in the order first named.
    pub fn ticket_ids(query: &SyncReadsQuery<'_>, changed: &[IndexRow], held: &[IndexRow]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let names = query.pushed.iter().chain(changed.iter().chain(held).map(|row| &row.id));
        names.filter(|id| seen.insert(id.as_str())).cloned().collect()
    }
}

/// [`Storage::sync_reads`] made of the single reads, one after the other (the default, and
/// what the backends' own answers are checked against).
pub fn separately<S: Storage + ?Sized>(storage: &S, query: &SyncReadsQuery<'_>) -> Result<SyncReads, StorageError> {
    let current_seq = storage.current_seq()?;
    let pushed = query.pushed.iter().map(|id| storage.ticket_row(id)).collect::<Result<_, _>>()?;
    let changed = storage.changed_since(query.cursor, query.scope)?;
    let held = storage.held_completed_before(query.device_id, query.expired_before, query.cursor)?;
    let ids = SyncReads::ticket_ids(query, &changed, &held);
    let states = if ids.is_empty() { Vec::new() } else { storage.sync_states(query.device_id, &ids)? };
    Ok(SyncReads { current_seq, pushed, changed, held, states })
}
