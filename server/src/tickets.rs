//! Ticket documents on the server (load, commit) and the dispatcher REST API and live events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use automerge::{ActorId, Automerge, Change, ReadDoc};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fieldsync_core::actions::{self, Command};
use fieldsync_core::model::{NewTicket, Ticket, TicketSummary, doc};
use fieldsync_core::time::{Millis, now_ms};
use fieldsync_core::workflow::Status;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::Caller;
use crate::error::body_rejection;
use crate::storage::{ChangeLogRow, IndexRow, Saved, StorageError, TicketFilter, TicketWrite};
use crate::{AppError, AppState, TicketChanged, blocking};

/// Compact a ticket into one snapshot once this many change chunks follow the last one.
const COMPACT_AFTER_CHUNKS: u64 = 64;
/// How often a write that raced another one is retried.
pub(crate) const WRITE_ATTEMPTS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Documents

/// A ticket document as loaded, with the version to write against.
pub(crate) struct Loaded {
    pub doc: Arc<Automerge>,
    pub version: i64,
    /// The ticket's `changed_seq` at this version: the cursor that covers this document.
    pub seq: u64,
    pub chunks_since_snapshot: u64,
    /// The ticket's assignee at this version when this server wrote it (`None`: unassigned, or
    /// not known without deriving the document): lets a sync authorize the common case, the
    /// assignee pushing, without folding the ticket's events.
    pub assignee: Option<String>,
}

/// How many parsed documents the server keeps in memory.
const CACHED_DOCUMENTS: usize = 4096;

/// Parsed ticket documents as last loaded or written by this server, so a sync does not read
/// and parse a document from storage each time. An entry is the document at one storage
/// `version` (and `changed_seq`). Readers that must be current compare the sequence with the
/// index row they read; writers use it optimistically: a stale entry (another server instance
/// wrote the ticket) makes `save_ticket` fail with a version conflict, and the retry reloads
/// from storage.
#[derive(Default)]
pub(crate) struct DocCache {
    entries: Mutex<CacheEntries>,
}

#[derive(Default)]
struct CacheEntries {
    map: HashMap<String, Cached>,
    tick: u64,
}

struct Cached {
    doc: Arc<Automerge>,
    version: i64,
    seq: u64,
    chunks_since_snapshot: u64,
    assignee: Option<String>,
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
            chunks_since_snapshot: cached.chunks_since_snapshot,
            assignee: cached.assignee.clone(),
        })
    }

    fn put(&self, ticket_id: &str, loaded: &Loaded) {
        let Loaded { doc, version, seq, chunks_since_snapshot, assignee } = loaded;
        let (version, seq, chunks_since_snapshot) = (*version, *seq, *chunks_since_snapshot);
        let mut entries = self.entries();
        if let Some(old) = entries.map.get(ticket_id) {
            if old.version > version {
                return;
            }
        }
        if entries.map.len() >= CACHED_DOCUMENTS && !entries.map.contains_key(ticket_id) {
            // Drop the least recently used eighth at once, so eviction stays rare.
            let mut ages: Vec<u64> = entries.map.values().map(|c| c.used).collect();
            let cut = ages.len() / 8;
            let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut);
            entries.map.retain(|_, c| c.used > oldest_kept);
        }
        entries.tick += 1;
        let used = entries.tick;
        let (doc, assignee) = (Arc::clone(doc), assignee.clone());
        entries.map.insert(ticket_id.to_owned(), Cached { doc, version, seq, chunks_since_snapshot, assignee, used });
    }

    fn forget(&self, ticket_id: &str) {
        self.entries().map.remove(ticket_id);
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
    let doc = Automerge::load(&stored.bytes)
        .map_err(|e| AppError::Internal(format!("stored document of ticket {ticket_id} does not load: {e}")))?;
    let loaded = Loaded {
        doc: Arc::new(doc),
        version: stored.version,
        seq: stored.seq,
        chunks_since_snapshot: stored.chunks_since_snapshot,
        assignee: None,
    };
    state.docs().put(ticket_id, &loaded);
    Ok(Some(loaded))
}

/// The index row of a document.
pub(crate) fn index_row(document: &Automerge, at: Millis) -> Result<IndexRow, AppError> {
    let derived = doc::derive(document);
    let summary = doc::summarize_derived(document, &derived, at, false)
        .map_err(|e| AppError::BadRequest(format!("not a ticket document: {e}")))?;
    Ok(IndexRow {
        id: summary.id,
        title: summary.title,
        status: summary.status,
        assignee: summary.assignee,
        priority: summary.priority,
        customer_name: summary.customer_name,
        customer_address: summary.customer_address,
        sla: summary.sla,
        sla_due_at: summary.sla_due_at,
        conflicts: summary.conflicts,
        resolved_at: derived.state.resolved_at,
        updated_at: at,
        changed_seq: 0,
        ticket_type: summary.ticket_type,
        escalated: doc::is_escalated(document),
    })
}

/// Stores `new_changes` (already applied to `document`) atomically with the new index row and
/// their receive records, bumps the ticket's `changed_seq` and publishes the change.
/// The written document becomes the cached one. [`StorageError::VersionConflict`] comes back
/// as `Ok(None)` (and the cached document is dropped): load again and retry.
pub(crate) fn commit(
    state: &AppState,
    ticket_id: &str,
    loaded: Option<&Loaded>,
    document: Automerge,
    new_changes: &[Change],
    device_id: &str,
    at: Millis,
) -> Result<Option<(Saved, IndexRow)>, AppError> {
    let index = index_row(&document, at)?;
    let mut changes = Vec::new();
    for change in new_changes {
        changes.extend_from_slice(change.raw_bytes());
    }
    let compact = loaded.is_some_and(|l| l.chunks_since_snapshot + 1 > COMPACT_AFTER_CHUNKS);
    let write = TicketWrite {
        ticket_id: ticket_id.to_owned(),
        expected_version: loaded.map(|l| l.version),
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
    };
    match state.storage().save_ticket(&write) {
        Ok(saved) => {
            // Right after the commit, never failing it (docs/adr/0008).
            crate::webhooks::enqueue_new_events(state, ticket_id, loaded.map(|l| &*l.doc), &document, at);
            let written = Loaded {
                doc: Arc::new(document),
                version: saved.version,
                seq: saved.seq,
                chunks_since_snapshot: saved.chunks_since_snapshot,
                assignee: index.assignee.clone(),
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
fn server_actor(state: &AppState, device_id: &str) -> Result<ActorId, AppError> {
    let actor = crate::actors::server_actor(device_id);
    // Bound already; registering again is a no-op that also reports a binding gone wrong.
    let owner = state.storage().register_actor(&actor.to_hex_string(), device_id)?;
    if owner != device_id {
        return Err(AppError::Internal(format!("server actor of device {device_id} is bound to {owner}")));
    }
    Ok(actor)
}

// ---------------------------------------------------------------------------------------------
// REST

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(value)| value).map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))
}

/// `{ "id": ... }`
#[derive(Serialize)]
struct Created {
    id: String,
}

/// `POST /v1/tickets`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewTicket>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let new = json_body(body)?;
    let id = blocking(move || create_ticket(&state, &caller, &new)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(Created { id })).into_response())
}

/// Creates a ticket on behalf of a dispatcher (the REST API and the console); returns its id.
/// Blocking.
pub(crate) fn create_ticket(state: &AppState, caller: &Caller, new: &NewTicket) -> Result<String, AppError> {
    caller.require_dispatcher()?;
    let identity = caller.identity();
    let actor = server_actor(state, &identity.device_id)?;
    let at = now_ms();
    let new = crate::manage::prepare_new_ticket(state, new, at)?;
    let (id, document, _) = actions::create(actor, &identity, &new, at)?;
    let changes = document.get_changes(&[]);
    match commit(state, &id, None, document, &changes, &identity.device_id, at)? {
        Some(_) => Ok(id),
        None => Err(AppError::Internal(format!("new ticket id {id} already taken"))),
    }
}

/// `POST /v1/tickets/{id}/actions`.
pub(crate) async fn act(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Command>, JsonRejection>,
) -> Result<Json<TicketSummary>, AppError> {
    caller.require_dispatcher()?;
    let command = json_body(body)?;
    let summary = blocking(move || perform(&state, &caller, &id, &command)).await?;
    Ok(Json(summary))
}

/// Performs a dispatcher's action on a ticket (the REST API and the console), retrying when
/// another writer raced it. Blocking.
pub(crate) fn perform(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: &Command,
) -> Result<TicketSummary, AppError> {
    caller.require_dispatcher()?;
    if let Command::Reclassify { classification } = command {
        let taxonomy = crate::manage::taxonomy(state)?.value;
        taxonomy.check(classification).map_err(|e| AppError::BadRequest(e.0))?;
    }
    let identity = caller.identity();
    let actor = server_actor(state, &identity.device_id)?;
    for _ in 0..WRITE_ATTEMPTS {
        let loaded = load_for_write(state, id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
        let mut document = loaded.doc.fork().with_actor(actor.clone());
        let at = now_ms();
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

fn summary_of(row: IndexRow) -> TicketSummary {
    TicketSummary {
        id: row.id,
        title: row.title,
        status: row.status,
        assignee: row.assignee,
        priority: row.priority,
        ticket_type: row.ticket_type,
        customer_name: row.customer_name,
        customer_address: row.customer_address,
        sla: row.sla,
        sla_due_at: row.sla_due_at,
        conflicts: row.conflicts,
        updated_at: row.updated_at,
        pending: false,
        quarantined: None,
        rejected: None,
    }
}

/// Query of `GET /v1/tickets`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    sla_due_before: Option<Millis>,
    text: Option<String>,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
}

/// `GET /v1/tickets?status=a,b&assignee=x&sla_due_before=ms&text=...&type=...`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TicketSummary>>, AppError> {
    caller.require_dispatcher()?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut statuses = Vec::new();
    for name in query.status.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        statuses.push(Status::parse(name).ok_or_else(|| AppError::BadRequest(format!("unknown status {name:?}")))?);
    }
    let filter = TicketFilter {
        statuses,
        assignee: query.assignee.filter(|a| !a.is_empty()),
        sla_due_before: query.sla_due_before,
        text: query.text.filter(|t| !t.is_empty()),
        ticket_type: query.ticket_type.filter(|t| !t.is_empty()),
    };
    let rows = blocking(move || Ok(state.storage().list_tickets(&filter)?)).await?;
    Ok(Json(rows.into_iter().map(summary_of).collect()))
}

/// One entry of a ticket's audit trail: one Automerge change.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryEntry {
    pub hash: String,
    pub actor: String,
    pub device_id: Option<String>,
    pub user_id: Option<String>,
    pub message: Option<String>,
    /// Written by the server itself: a compensation undoing a push that broke a rule, or an
    /// escalation.
    pub server: bool,
    pub device_time: Millis,
    pub server_received_at: Option<Millis>,
}

/// `GET /v1/tickets/{id}`: the ticket and its audit trail.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub history: Vec<HistoryEntry>,
}

/// `GET /v1/tickets/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Detail>, AppError> {
    caller.require_dispatcher()?;
    let detail = blocking(move || detail_of(&state, &id)).await?;
    Ok(Json(detail))
}

/// A ticket and its audit trail (the REST API and the console). Blocking.
pub(crate) fn detail_of(state: &AppState, id: &str) -> Result<Detail, AppError> {
    let loaded = load(state, id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
    let ticket = doc::read_ticket(&loaded.doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let changes = loaded.doc.get_changes(&[]);
    let compensation = crate::rules::compensation_actor();
    let escalation = crate::escalator::escalation_actor();
    let mut actors: Vec<String> = changes.iter().map(|c| c.actor_id().to_hex_string()).collect();
    actors.sort();
    actors.dedup();
    let owners: HashMap<String, (String, String)> =
        state.storage().actors(&actors)?.into_iter().map(|a| (a.actor, (a.device_id, a.user_id))).collect();
    let received: HashMap<String, Millis> =
        state.storage().change_log(id)?.into_iter().map(|row| (row.change_hash, row.received_at)).collect();
    let history = changes
        .iter()
        .map(|change| {
            let actor = change.actor_id().to_hex_string();
            let hash = change.hash().to_string();
            let owner = owners.get(&actor);
            HistoryEntry {
                device_id: owner.map(|o| o.0.clone()),
                user_id: owner.map(|o| o.1.clone()),
                message: change.message().map(str::to_owned),
                server: *change.actor_id() == compensation || *change.actor_id() == escalation,
                device_time: change.timestamp(),
                server_received_at: received.get(&hash).copied(),
                hash,
                actor,
            }
        })
        .collect();
    Ok(Detail { ticket, history })
}

/// `GET /v1/tickets/{id}/document`: the whole saved Automerge document.
pub(crate) async fn document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let bytes = blocking(move || {
        let loaded = load(&state, &id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
        Ok(loaded.doc.save())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Bytes::from(bytes)).into_response())
}

/// `GET /v1/events`: one SSE event per ticket change (`event: ticket`, data
/// `{"id":..,"status":..,"seq":..}`). A client that falls behind gets `event: lagged` and
/// should reload its list.
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    caller.require_dispatcher()?;
    Ok(event_stream(&state))
}

/// The live ticket changes as SSE (the REST API and the console), ending at shutdown.
pub(crate) fn event_stream(state: &AppState) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let mut shutdown = state.inner.shutdown.subscribe();
    let stream = BroadcastStream::new(state.subscribe())
        .map(|item| {
            Ok(match item {
                Ok(change) => Event::default().event("ticket").data(serde_json::to_string(&change).unwrap_or_default()),
                Err(_lagged) => Event::default().event("lagged").data("{}"),
            })
        })
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    // The first comment makes the response start at once, so a client knows it is subscribed.
    let opening = futures_util::stream::once(async { Ok(Event::default().comment("subscribed")) });
    Sse::new(opening.chain(stream)).keep_alive(KeepAlive::default())
}
