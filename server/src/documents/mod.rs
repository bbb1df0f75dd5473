//! The documents service: every handler that reads or writes a ticket document goes through
//! here (sync, REST, uploads, console). It loads (from the cache or storage), commits (one
//! atomic write of the changes, the index row and their receive records, with a version check
//! against concurrent writers), and publishes (webhook outbox, the live event stream, the
//! cache). Who may do what is `crate::access`; what a pushed change may mean is
//! `crate::rules`, a pure judge.

pub(crate) mod batched;
pub(crate) mod whole;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use fieldsync_core::actions::{self, Command};
use fieldsync_core::model::{NewTicket, TicketIndex, TicketSummary, doc};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::TicketState;

use crate::auth::Caller;
use crate::storage::{ChangeLogRow, ChunkState, HashBytes, IndexRow, Saved, StorageError, TicketWrite, same_heads};
use crate::{AppError, AppState, TicketChanged};

/// Compact a ticket into one snapshot once this many change chunks follow the last one.
const COMPACT_AFTER_CHUNKS: u64 = 64;
/// How often a write that raced another one is retried.
pub(crate) const WRITE_ATTEMPTS: usize = 8;

/// A ticket document as loaded, with the version to write against.
pub(crate) struct Loaded {
    pub doc: Arc<Automerge>,
    pub version: i64,
    /// The ticket's `changed_seq` at this version: the cursor that covers this document.
    pub seq: u64,
    /// Its chunks in storage at this version, for the write on it.
    pub chunks: ChunkState,
    /// The ticket's state and event count at this version, when this server wrote it: a push
    /// written on this version is judged from them without folding the history again.
    pub known: Option<Arc<Known>>,
}

/// What the server derived of a document it wrote (docs/adr/0026).
pub(crate) struct Known {
    /// The state after every accepted event.
    pub state: TicketState,
    /// How many events the history holds.
    pub events: usize,
    /// The index this server computed of this version (its listed fields).
    pub index: TicketIndex,
}

impl Loaded {
    /// The ticket's assignee at this version when this server wrote it (`None`: unassigned, or
    /// not known without deriving the document): lets a sync authorize the common case, the
    /// assignee pushing, without folding the ticket's events.
    pub fn assignee(&self) -> Option<&str> {
        self.known.as_ref()?.state.assignee.as_deref()
    }

    /// This version as the one a write replaces.
    pub fn replaced(&self) -> Replaced {
        Replaced { version: self.version, chunks: self.chunks, known: self.known.clone(), heads: self.doc.get_heads() }
    }
}

/// The stored version a write replaces: what its version check, its compaction and the work
/// after its commit need of it. The written document holds this version's history, so read
/// at `heads` it is the replaced document (docs/adr/0026).
pub(crate) struct Replaced {
    pub version: i64,
    pub chunks: ChunkState,
    /// What this server derived of this version, when it wrote it.
    pub known: Option<Arc<Known>>,
    /// This version's heads.
    pub heads: Vec<ChangeHash>,
}

impl Replaced {
    /// [`Loaded::assignee`] of the replaced version.
    pub fn assignee(&self) -> Option<&str> {
        self.known.as_ref()?.state.assignee.as_deref()
    }
}

/// A loaded document to be written on in place, and the version it replaces. It is taken out
/// of the cache first: a write that is refused or loses a race after changing it leaves no
/// half-written document there (the next load reads storage). It is copied only when another
/// reader still holds it (a sync building its answer); otherwise a push costs no copy of the
/// document and no drop of the one it replaces (docs/adr/0026).
pub(crate) fn take_for_write(state: &AppState, ticket_id: &str, loaded: Loaded) -> (Automerge, Replaced) {
    state.docs().take(ticket_id, loaded)
}

/// How many parsed documents the server keeps in memory.
const CACHED_DOCUMENTS: usize = 4096;
/// How much memory the cached documents may take, estimated from their op counts
/// ([`estimated_bytes`]): without it, 4,096 documents at the 25,000-op cap would hold ~6 GB.
const CACHED_BYTES: usize = 256 * 1024 * 1024;

/// The memory a loaded document takes, estimated from its operation count (the device's
/// measurement with Automerge 0.12: ≈ 16 KB plus ≈ 57 bytes per operation, rounded up).
fn estimated_bytes(document: &Automerge) -> usize {
    let ops = usize::try_from(document.stats().num_ops).unwrap_or(usize::MAX);
    (16usize << 10).saturating_add(ops.saturating_mul(64))
}

/// Parsed ticket documents as last loaded or written by this server, so a sync does not read
/// and parse a document from storage each time. An entry is the document at one storage
/// `version` (and `changed_seq`). Readers that must be current compare the sequence with the
/// index row they read; writers use it optimistically: a stale entry (another server instance
/// wrote the ticket) makes `save_ticket` fail with a version conflict, and the retry reloads
/// from storage.
pub(crate) struct DocCache {
    entries: Mutex<CacheEntries>,
    budget_bytes: usize,
}

impl Default for DocCache {
    fn default() -> Self {
        DocCache { entries: Mutex::default(), budget_bytes: CACHED_BYTES }
    }
}

#[derive(Default)]
struct CacheEntries {
    map: HashMap<String, Cached>,
    tick: u64,
    /// The estimated bytes of every cached document.
    bytes: usize,
}

struct Cached {
    doc: Arc<Automerge>,
    bytes: usize,
    version: i64,
    seq: u64,
    chunks: ChunkState,
    known: Option<Arc<Known>>,
    used: u64,
}

impl DocCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        // The map holds no invariant a panic could break halfway.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached document, if it is at `seq` (any sequence when `None`).
    fn get(&self, ticket_id: &str, seq: Option<u64>) -> Option<Loaded> {
        let mut entries = self.entries();
        entries.tick += 1;
        let tick = entries.tick;
        let cached = entries.map.get_mut(ticket_id)?;
        if seq.is_some_and(|seq| seq != cached.seq) {
            return None;
        }
        cached.used = tick;
        Some(Loaded {
            doc: Arc::clone(&cached.doc),
            version: cached.version,
            seq: cached.seq,
            chunks: cached.chunks,
            known: cached.known.clone(),
        })
    }

    fn put(&self, ticket_id: &str, loaded: &Loaded) {
        let Loaded { doc, version, seq, chunks, known } = loaded;
        let (version, seq, chunks) = (*version, *seq, *chunks);
        let mut entries = self.entries();
        if let Some(old) = entries.map.get(ticket_id) {
            if old.version > version {
                return;
            }
        }
        let bytes = estimated_bytes(doc);
        if let Some(old) = entries.map.remove(ticket_id) {
            entries.bytes = entries.bytes.saturating_sub(old.bytes);
        }
        let budget = self.budget_bytes;
        if entries.map.len() >= CACHED_DOCUMENTS || entries.bytes.saturating_add(bytes) > budget {
            // Drop the least recently used eighth at once, so eviction stays rare; then more
            // while the bytes do not fit.
            let mut ages: Vec<u64> = entries.map.values().map(|c| c.used).collect();
            if !ages.is_empty() {
                let cut = ages.len() / 8;
                let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut);
                entries.map.retain(|_, c| c.used > oldest_kept);
            }
            let mut by_age: Vec<(u64, String)> = entries.map.iter().map(|(id, c)| (c.used, id.clone())).collect();
            by_age.sort_unstable();
            let mut total: usize = entries.map.values().map(|c| c.bytes).sum();
            for (_, id) in by_age {
                if total.saturating_add(bytes) <= budget {
                    break;
                }
                if let Some(gone) = entries.map.remove(&id) {
                    total = total.saturating_sub(gone.bytes);
                }
            }
            entries.bytes = total;
        }
        entries.tick += 1;
        let used = entries.tick;
        let (doc, known) = (Arc::clone(doc), known.clone());
        entries.bytes = entries.bytes.saturating_add(bytes);
        entries.map.insert(ticket_id.to_owned(), Cached { doc, bytes, version, seq, chunks, known, used });
    }

    /// [`take_for_write`].
    fn take(&self, ticket_id: &str, loaded: Loaded) -> (Automerge, Replaced) {
        let replaced = loaded.replaced();
        self.forget_this(ticket_id, &loaded.doc);
        let document = Arc::try_unwrap(loaded.doc).unwrap_or_else(|shared| Automerge::clone(&shared));
        (document, replaced)
    }

    /// Forgets the cached document if it is `doc` (not a newer one put meanwhile).
    fn forget_this(&self, ticket_id: &str, doc: &Arc<Automerge>) {
        let mut entries = self.entries();
        if entries.map.get(ticket_id).is_some_and(|c| Arc::ptr_eq(&c.doc, doc)) {
            if let Some(gone) = entries.map.remove(ticket_id) {
                entries.bytes = entries.bytes.saturating_sub(gone.bytes);
            }
        }
    }

    fn forget(&self, ticket_id: &str) {
        let mut entries = self.entries();
        if let Some(gone) = entries.map.remove(ticket_id) {
            entries.bytes = entries.bytes.saturating_sub(gone.bytes);
        }
    }
}

/// Loads a ticket's document from storage; `None` when the ticket does not exist.
pub(crate) fn load(state: &AppState, ticket_id: &str) -> Result<Option<Loaded>, AppError> {
    load_stored(state, ticket_id)
}

/// A ticket's document as of the index row with `changed_seq = seq` (or newer, when it was
/// written meanwhile): from the cache when it holds exactly that, else from storage.
pub(crate) fn load_at(state: &AppState, ticket_id: &str, seq: u64) -> Result<Option<Loaded>, AppError> {
    if let Some(cached) = state.docs().get(ticket_id, Some(seq)) {
        return Ok(Some(cached));
    }
    load_stored(state, ticket_id)
}

/// A ticket's document to write against: the cached one if any (a stale one is caught by the
/// version check of the write; call [`reload`] then), else from storage.
pub(crate) fn load_for_write(state: &AppState, ticket_id: &str) -> Result<Option<Loaded>, AppError> {
    if let Some(cached) = state.docs().get(ticket_id, None) {
        return Ok(Some(cached));
    }
    load_stored(state, ticket_id)
}

/// Forgets the cached document after a version conflict, so the next load reads storage.
pub(crate) fn reload(state: &AppState, ticket_id: &str) {
    state.docs().forget(ticket_id);
}

fn load_stored(state: &AppState, ticket_id: &str) -> Result<Option<Loaded>, AppError> {
    let Some(stored) = state.storage().load_ticket(ticket_id)? else {
        return Ok(None);
    };
    // In bounded batches: `Automerge::load` would apply every change chunk at once (batched.rs).
    let doc = batched::load(&stored.bytes)
        .map_err(|e| AppError::Internal(format!("stored document of ticket {ticket_id} does not load: {e}")))?;
    let loaded =
        Loaded { doc: Arc::new(doc), version: stored.version, seq: stored.seq, chunks: stored.chunks(), known: None };
    state.docs().put(ticket_id, &loaded);
    Ok(Some(loaded))
}

/// The index row of a document (the core's [`TicketIndex`] of it, stamped with the server's
/// time) and the derived state it was made from.
fn index_row(document: &Automerge, at: Millis) -> Result<(IndexRow, TicketState), AppError> {
    let id = doc::ticket_id(document).map_err(|e| AppError::BadRequest(format!("not a ticket document: {e}")))?;
    let derived = doc::derive(document);
    let index = TicketIndex::of(document, &derived);
    Ok((IndexRow { id, index, updated_at: at, changed_seq: 0 }, derived.state))
}

/// Stores `new_changes` (already applied to `document`, a copy of `loaded`'s) atomically with
/// the new index row and their receive records, bumps the ticket's `changed_seq` and publishes
/// the change. The written document becomes the cached one. [`StorageError::VersionConflict`]
/// comes back as `Ok(None)` (and the cached document is dropped): load again and retry.
pub(crate) fn commit(
    state: &AppState,
    ticket_id: &str,
    loaded: Option<&Loaded>,
    document: Automerge,
    new_changes: &[Change],
    device_id: &str,
    at: Millis,
) -> Result<Option<(Saved, IndexRow)>, AppError> {
    let write = Written { document, changes: new_changes, device_id, at, index_unchanged: false, holder: None };
    commit_written(state, ticket_id, loaded.map(Loaded::replaced).as_ref(), write)
}

/// What a write stores: the document with its new changes applied, who wrote them, when.
pub(crate) struct Written<'a> {
    pub document: Automerge,
    pub changes: &'a [Change],
    pub device_id: &'a str,
    pub at: Millis,
    /// The changes touched only [`doc::INDEX_NEUTRAL_KEYS`] (their patches say so): the index
    /// and state this server knew of the replaced version are this one's too, not read again.
    pub index_unchanged: bool,
    /// The pushing device and the heads it says it holds: when they are the written
    /// document's heads, its sync state is written with the ticket ([`TicketWrite::holder`]).
    pub holder: Option<(&'a str, &'a [HashBytes])>,
}

/// [`commit`] of a [`Written`] over the version it `replaced` (`None`: a new ticket).
pub(crate) fn commit_written(
    state: &AppState,
    ticket_id: &str,
    replaced: Option<&Replaced>,
    written: Written<'_>,
) -> Result<Option<(Saved, IndexRow)>, AppError> {
    let Written { document, changes: new_changes, device_id, at, index_unchanged, holder } = written;
    let known = replaced.and_then(|r| r.known.as_deref()).filter(|_| index_unchanged);
    let (index, derived_state) = match known {
        Some(known) => (
            IndexRow { id: ticket_id.to_owned(), index: known.index.clone(), updated_at: at, changed_seq: 0 },
            known.state.clone(),
        ),
        None => index_row(&document, at)?,
    };
    let mut changes = Vec::new();
    for change in new_changes {
        changes.extend_from_slice(change.raw_bytes());
    }
    let compact = replaced.is_some_and(|r| r.chunks.since_snapshot + 1 > COMPACT_AFTER_CHUNKS);
    let heads: Vec<HashBytes> = document.get_heads().iter().map(|h| h.0).collect();
    let holder = holder.filter(|(_, held)| same_heads(held, &heads)).map(|(device, _)| device.to_owned());
    let write = TicketWrite {
        ticket_id: ticket_id.to_owned(),
        expected_version: replaced.map(|r| r.version),
        snapshot: compact.then(|| document.save()),
        changes,
        index: index.clone(),
        change_log: new_changes
            .iter()
            .map(|c| ChangeLogRow {
                change_hash: c.hash().to_string(),
                device_id: device_id.to_owned(),
                received_at: at,
            })
            .collect(),
        // Kept with the chunks: a device that holds nothing of the ticket is sent them as they
        // are, without loading the document (docs/adr/0030).
        heads,
        holder,
        index_unchanged: known.is_some(),
        // Read with the replaced version; a new ticket has none.
        chunks: Some(replaced.map_or_else(ChunkState::default, |r| r.chunks)),
    };
    match state.storage().save_ticket(&write) {
        Ok(saved) => {
            let events = known.map_or_else(|| doc::event_count(&document), |k| k.events);
            // Most writes (notes, parts, photos, time) add no event: nothing to link or deliver.
            let events_before = replaced
                .map(|r| r.known.as_ref().map_or_else(|| doc::event_count_at(&document, &r.heads), |k| k.events));
            if events_before != Some(events) {
                // Right after the commit, never failing it (docs/adr/0008).
                // The link first: the dispatch notification carries it.
                let before = replaced.map(|r| r.heads.as_slice());
                crate::tracking::after_commit(state, ticket_id, before, &document);
                crate::webhooks::enqueue_new_events(state, ticket_id, before, &document, at);
            }
            let written = Loaded {
                doc: Arc::new(document),
                version: saved.version,
                seq: saved.seq,
                chunks: saved.chunks(),
                known: Some(Arc::new(Known { state: derived_state, events, index: index.index.clone() })),
            };
            state.docs().put(ticket_id, &written);
            state.publish(TicketChanged { id: ticket_id.to_owned(), status: index.status, seq: saved.seq });
            Ok(Some((saved, IndexRow { changed_seq: saved.seq, ..index })))
        }
        Err(StorageError::VersionConflict(_)) => {
            reload(state, ticket_id);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The server's own Automerge actor for a dispatcher device's REST actions (derived from the
/// device id, bound to that device when the device was created: `crate::actors`).
pub(crate) fn server_actor(state: &AppState, device_id: &str) -> Result<ActorId, AppError> {
    let actor = crate::actors::server_actor(device_id);
    // Bound already; registering again is a no-op that also reports a binding gone wrong.
    let owner = crate::actors::register(state, &actor.to_hex_string(), device_id)?;
    if owner != device_id {
        return Err(AppError::Internal(format!("server actor of device {device_id} is bound to {owner}")));
    }
    Ok(actor)
}

/// Creates a ticket on behalf of a dispatcher (the REST API and the console); returns its id.
/// Blocking.
pub(crate) fn create_ticket(state: &AppState, caller: &Caller, new: &NewTicket) -> Result<String, AppError> {
    caller.require_dispatcher()?;
    let identity = caller.identity();
    let actor = server_actor(state, &identity.device_id)?;
    let at = state.now();
    let prepared = crate::manage::prepare_new_ticket(state, new, at)?;
    let (id, mut document, _) = actions::create(actor, &identity, &prepared.ticket, at)?;
    if let Some(group) = prepared.pool_group {
        // A rule put it in a skill group's pool: the same action a dispatcher gives.
        actions::perform(&mut document, &identity, &Command::Pool { group: Some(group) }, at)?;
    }
    let changes = document.get_changes(&[]);
    match commit(state, &id, None, document, &changes, &identity.device_id, at)? {
        Some(_) => Ok(id),
        None => Err(AppError::Internal(format!("new ticket id {id} already taken"))),
    }
}

/// Performs a dispatcher's action on a ticket (the REST API and the console), retrying when
/// another writer raced it. Blocking.
pub(crate) fn perform(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: &Command,
) -> Result<TicketSummary, AppError> {
    // Which commands a complaint handler may give is the workflow's rule (`complaints`); the
    // handlers ask `access::may_act` first.
    if !caller.0.role.handles_complaints() {
        caller.require_dispatcher()?;
    }
    if let Command::Reclassify { classification } = command {
        let taxonomy = crate::manage::taxonomy(state)?.value;
        taxonomy.check(classification).map_err(|e| AppError::BadRequest(e.0))?;
    }
    let identity = caller.identity();
    let actor = server_actor(state, &identity.device_id)?;
    for _ in 0..WRITE_ATTEMPTS {
        let loaded = load_for_write(state, id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
        let mut document = loaded.doc.fork().with_actor(actor.clone());
        let at = state.now();
        let performed = actions::perform(&mut document, &identity, command, at)?;
        let change = document
            .get_change_by_hash(&performed.hash)
            .ok_or_else(|| AppError::Internal("the action produced no change".into()))?;
        if let Some((_, row)) = commit(state, id, Some(&loaded), document, &[change], &identity.device_id, at)? {
            return Ok(summary_of(row));
        }
    }
    Err(AppError::Conflict(format!("ticket {id} is busy, try again")))
}

/// The listed fields of an index row, as a device's list shows them.
pub(crate) fn summary_of(row: IndexRow) -> TicketSummary {
    TicketSummary {
        id: row.id,
        index: row.index,
        updated_at: row.updated_at,
        pending: false,
        quarantined: None,
        rejected: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn document(ops: usize) -> Arc<Automerge> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        for k in 0..ops {
            tx.put(automerge::ROOT, format!("k{k}"), k as i64).expect("put");
        }
        tx.commit();
        Arc::new(doc)
    }

    fn loaded(doc: &Arc<Automerge>, version: i64) -> Loaded {
        Loaded { doc: Arc::clone(doc), version, seq: 1, chunks: ChunkState::default(), known: None }
    }

    /// A write takes its document out of the cache and writes on it in place: until the write
    /// puts its result back, nothing half-written is cached, a newer version put meanwhile
    /// stays, and a reader holding the document keeps it as it was.
    #[test]
    fn a_write_takes_its_document_out_of_the_cache_and_never_changes_a_readers() {
        let cache = DocCache::default();
        cache.put("a", &loaded(&document(3), 1));
        let reader = cache.get("a", None).expect("cached");
        let heads = reader.doc.get_heads();
        let (mut taken, replaced) = cache.take("a", cache.get("a", None).expect("cached"));
        assert!(cache.get("a", None).is_none(), "taken out");
        assert_eq!((replaced.version, replaced.heads.as_slice()), (1, heads.as_slice()));
        let mut tx = taken.transaction();
        tx.put(automerge::ROOT, "more", 1).expect("put");
        tx.commit();
        assert_ne!(taken.get_heads(), heads);
        assert_eq!(reader.doc.get_heads(), heads, "the reader's document is not the one written on");
        assert!(reader.doc.get(automerge::ROOT, "more").expect("read").is_none());

        // Taken alone: moved out of the cache without a copy; a newer version put meanwhile stays.
        cache.put("b", &loaded(&document(3), 1));
        let stale = cache.get("b", None).expect("cached");
        cache.put("b", &loaded(&document(4), 2));
        let (_, replaced) = cache.take("b", stale);
        assert_eq!(replaced.version, 1);
        assert_eq!(cache.get("b", None).map(|l| l.version), Some(2), "the newer version is kept");
        assert_eq!(cache.entries().bytes, estimated_bytes(&document(4)));
    }

    #[test]
    fn the_cache_keeps_its_estimated_bytes_under_its_budget_least_recently_used_out_first() {
        let big = document(10_000);
        let one = estimated_bytes(&big);
        let cache = DocCache { entries: Mutex::default(), budget_bytes: one * 3 };
        for (n, id) in ["a", "b", "c"].iter().enumerate() {
            cache.put(id, &loaded(&big, n as i64));
        }
        assert!(cache.get("a", None).is_some(), "three fit; a is now the most recently used");
        cache.put("d", &loaded(&big, 9));
        assert!(cache.get("b", None).is_none(), "the least recently used went");
        assert!(cache.get("a", None).is_some() && cache.get("d", None).is_some());
        assert!(cache.entries().bytes <= one * 3, "{} > {}", cache.entries().bytes, one * 3);
        // Replacing an entry counts it once.
        cache.put("d", &loaded(&big, 10));
        assert!(cache.entries().bytes <= one * 3);
        cache.forget("d");
        cache.forget("a");
        cache.forget("c");
        assert_eq!(cache.entries().bytes, 0);
    }
}
