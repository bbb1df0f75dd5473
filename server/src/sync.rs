//! `POST /v1/sync`: merge what a device pushes, answer what it lacks (docs/adr/0003).
//!
//! Server state per (device, ticket): the heads the device is known to have (`confirmed`),
//! and the heads sent in the last response (`pending`, with that response's cursor). A request
//! whose cursor is at least the pending cursor proves the device applied that response, so the
//! pending heads become confirmed. A device's pushed heads are on the device, so they are
//! confirmed as soon as the push is merged. What a device lacks is then
//! `get_changes(confirmed)`, and a ticket nobody changed since the device's cursor is not even
//! looked at: a no-op sync reads one index range and answers a few bytes.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fieldsync_core::model::doc;
use fieldsync_core::protocol::{self, Push, Rejection, SyncRequest, SyncResponse, Update};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{Role, Status};
use futures_util::FutureExt;
use serde_bytes::ByteBuf;

use crate::access;
use crate::auth::Caller;
use crate::documents::whole::WholeTickets;
use crate::documents::{self, WRITE_ATTEMPTS};
use crate::error::body_rejection;
use crate::storage::{HashBytes, IndexRow, Principal, Scope, SyncReadsQuery, SyncState, same_heads};
use crate::{AppError, AppState, blocking};
use crate::{limits, rules};

/// Longest ticket id accepted in a push.
const MAX_TICKET_ID: usize = 128;
/// Most heads a push may claim: one per concurrent branch the device holds (a handful); the
/// server keeps them as what the device has.
const MAX_PUSH_HEADS: usize = 256;
/// `last_sync_at` is written at most this often per device (no write per no-op sync).
const RECORD_SYNC_EVERY_MS: Millis = 60_000;

/// `POST /v1/sync`: one trip to the blocking pool per sync when the body has come in by the
/// time the caller is authenticated (a small sync's has), where it was two (each trip is a
/// thread woken and a task woken back: docs/adr/0026). The body is asked for once before the
/// trip, without waiting: that is what makes hyper read it off the connection while the trip
/// runs. In the trip the caller is authenticated before anything of the body is looked at, so a
/// request with an unknown or revoked token is refused whatever its body, which is never waited
/// for; a request without a token is refused before the trip. A body still on its way is
/// awaited on the async side, never on a blocking thread (a slow sender would hold one), and
/// the sync makes a second trip.
pub(crate) async fn handler(State(state): State<AppState>, http: Request) -> Result<Response, AppError> {
    let hash = crate::auth::bearer_hash(http.headers())?;
    let body_state = state.clone();
    let body = SyncBody::Reading(Box::pin(async move { Bytes::from_request(http, &body_state).await })).poll_once();
    let first = blocking(move || {
        let caller = crate::auth::authenticate(&state, &hash)?;
        match body.poll_once() {
            SyncBody::Read(read) => serve(&state, &caller, read).map(Trip::Served),
            SyncBody::Reading(reading) => Ok(Trip::Waiting { state, caller, reading }),
        }
    })
    .await?;
    let response = match first {
        Trip::Served(response) => response,
        Trip::Waiting { state, caller, reading } => {
            let read = reading.await;
            blocking(move || serve(&state, &caller, read)).await?
        }
    };
    Ok(([(header::CONTENT_TYPE, protocol::CONTENT_TYPE)], response.encode()).into_response())
}

/// The body of a sync request being read.
type BodyRead = std::pin::Pin<Box<dyn Future<Output = Result<Bytes, BytesRejection>> + Send>>;

/// A sync request's body: read (or refused by its limit), or still being read.
enum SyncBody {
    Read(Result<Bytes, BytesRejection>),
    Reading(BodyRead),
}

impl SyncBody {
    /// Reads on if it is being read, without waiting: nothing is woken when more arrives (the
    /// handler polls again, or awaits it).
    fn poll_once(self) -> SyncBody {
        match self {
            SyncBody::Reading(mut reading) => match reading.as_mut().now_or_never() {
                Some(read) => SyncBody::Read(read),
                None => SyncBody::Reading(reading),
            },
            read => read,
        }
    }
}

/// Where the handler's first trip to the blocking pool ended.
enum Trip {
    Served(SyncResponse),
    Waiting { state: AppState, caller: Caller, reading: BodyRead },
}

/// Decodes a read body and serves it. Blocking.
fn serve(state: &AppState, caller: &Caller, read: Result<Bytes, BytesRejection>) -> Result<SyncResponse, AppError> {
    let body = read.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let request = SyncRequest::decode_bounded(&body, state.config().limits.max_request_items)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    // The decoded request holds every byte the body did: do not keep both while it is served.
    drop(body);
    sync(state, &caller.0, request)
}

/// One sync exchange, blocking. Each push is dropped once it is merged: the request is not held
/// while the answer is built.
pub(crate) fn sync(state: &AppState, who: &Principal, request: SyncRequest) -> Result<SyncResponse, AppError> {
    let now = state.now();
    // The skill groups whose pools an engineer may claim from (docs/adr/0028), for the pushes'
    // claims: read once, and only for a push to a ticket that may be in a pool (`apply_push`);
    // what the answer sends reads them itself, after its own reads.
    let mut groups = None;
    let mut rejections = Vec::new();
    let mut pushed: Vec<(String, Vec<HashBytes>)> = Vec::new();
    let mut seen = HashSet::new();
    // What the whole request may add (the documents it writes stay cached): pushes past that
    // are refused before anything of them is parsed.
    let over_budget = limits::over_request_budget(&request.pushes, &state.config().limits);
    // Pushes cut by the budget go again in the same sync when this request made progress (a
    // device with an older or larger budget than the server's); `more` tells it to.
    let cut_by_budget = over_budget.iter().any(Option::is_some) && over_budget.first().is_some_and(Option::is_none);
    let mut pushes = request.pushes;
    // The refused pushes' bytes are not held while the others are merged.
    for (push, over) in pushes.iter_mut().zip(&over_budget) {
        if over.is_some() {
            push.changes = Vec::new();
        }
    }
    for (mut push, over) in pushes.into_iter().zip(over_budget) {
        if let Some(reason) = over {
            rejections.push(Rejection::not_stored(&push.ticket_id, reason));
            continue;
        }
        if !seen.insert(push.ticket_id.clone()) {
            rejections.push(Rejection::not_stored(&push.ticket_id, "ticket pushed twice in one request"));
            continue;
        }
        let heads: Vec<HashBytes> = push.heads.iter().map(|h| h.into_array()).collect();
        match apply_push(state, who, &mut groups, &mut push, now) {
            Ok(compensated) => {
                pushed.push((push.ticket_id.clone(), heads));
                // Merged but undone: the update carries the compensation, this says why.
                if let Some(reason) = compensated {
                    rejections.push(Rejection::compensated(&push.ticket_id, reason));
                }
            }
            // Nothing of it was stored: the device keeps it pending and sends it again.
            Err(PushError::Rejected(reason)) => rejections.push(Rejection::not_stored(&push.ticket_id, reason)),
            Err(PushError::Internal(e)) => {
                // One bad ticket never blocks the others; the device retries it next time.
                eprintln!("fieldsync-server: push of ticket {} failed: {e}", push.ticket_id);
                rejections.push(Rejection::not_stored(
                    &push.ticket_id,
                    "the server could not store this ticket now; it will be retried",
                ));
            }
        }
    }
    if who.last_sync_at.is_none_or(|last| now - last >= RECORD_SYNC_EVERY_MS) {
        state.storage().record_sync(&who.device_id, now)?;
    }
    let mut response = updates(state, who, request.cursor, &pushed, now)?;
    response.rejections = rejections;
    response.more |= cut_by_budget;
    Ok(response)
}

enum PushError {
    Rejected(String),
    Internal(AppError),
}

impl From<AppError> for PushError {
    fn from(e: AppError) -> Self {
        PushError::Internal(e)
    }
}

impl From<crate::storage::StorageError> for PushError {
    fn from(e: crate::storage::StorageError) -> Self {
        PushError::Internal(e.into())
    }
}

fn reject<T>(reason: impl Into<String>) -> Result<T, PushError> {
    Err(PushError::Rejected(reason.into()))
}

/// Checks and merges one push. A push that cannot be this device's part of the ticket's
/// history (another device's actor, not this ticket, not assigned) is refused and nothing of
/// it is stored. A push that breaks a rule of what its user may edit is merged and undone by
/// one compensating server change; its reason comes back as `Ok(Some(reason))`.
/// The push's change bytes are taken once parsed (the parsed changes hold a copy). `groups`
/// are the pusher's skill groups (a claim from outside a pool's group is refused), read into
/// it when first needed.
fn apply_push(
    state: &AppState,
    who: &Principal,
    groups: &mut Option<Vec<String>>,
    push: &mut Push,
    now: Millis,
) -> Result<Option<String>, PushError> {
    let id = push.ticket_id.as_str();
    if id.is_empty() || id.len() > MAX_TICKET_ID {
        return reject("invalid ticket id");
    }
    if push.heads.len() > MAX_PUSH_HEADS {
        return reject(format!("{} heads in one push is above the limit of {MAX_PUSH_HEADS}", push.heads.len()));
    }
    // Sizes and op counts are checked before automerge parses (and would inflate) anything.
    let limits = &state.config().limits;
    let changes = limits::parse_push(&std::mem::take(&mut push.changes), limits).or_else(reject)?;
    let pushed_heads: Vec<HashBytes> = push.heads.iter().map(|h| h.into_array()).collect();
    for _ in 0..WRITE_ATTEMPTS {
        // The cached document when there is one: a stale one fails the write's version check,
        // which drops it, and the next attempt reads storage.
        let loaded = documents::load_for_write(state, id)?;
        access::may_push(who, loaded.as_ref()).map_err(PushError::Rejected)?;
        // A new ticket's base: made only then (`Automerge::new` draws a random actor).
        let mut fresh = None;
        let base: &Automerge = match &loaded {
            Some(l) => &l.doc,
            None => fresh.insert(Automerge::new()),
        };
        let new: Vec<Change> =
            changes.iter().filter(|c| base.get_change_meta_by_hash(&c.hash()).is_none()).cloned().collect();
        if new.is_empty() {
            // A replay, or changes the server already has: nothing to do (a compensation made
            // the first time is already in the history, and reaches the device as an update).
            // Judged before the document is taken: a replay costs nothing of the cache.
            return Ok(None);
        }
        limits::check_document(base, &new, limits).or_else(reject)?;
        let mut actors: Vec<String> = new.iter().map(|c| c.actor_id().to_hex_string()).collect();
        actors.sort();
        actors.dedup();
        // Reserved actors (the compensation actor, this device's server actor) are the
        // server's own; other devices' server actors are bound to them and refused below.
        if let Some(reason) = actors.iter().find_map(|a| crate::actors::reserved(a, &who.device_id)) {
            return reject(reason);
        }
        let bound = crate::actors::bound_devices(state, &actors)?;
        if bound.iter().any(|(_, device_id)| *device_id != who.device_id) {
            return reject("change from another device's actor");
        }
        if let Some(why) = crate::op_numbers::misnumbered(base, &new) {
            return reject(why);
        }
        if let Some(why) = crate::op_places::misplaced(base, &new) {
            return reject(why);
        }
        // Written on in place from here (docs/adr/0026): read at `before`, the document is
        // still the ticket as the server had it.
        let (mut document, replaced) = match loaded {
            Some(loaded) => {
                let (document, replaced) = documents::take_for_write(state, id, loaded);
                (document, Some(replaced))
            }
            None => (fresh.unwrap_or_else(Automerge::new), None),
        };
        let before = document.get_heads();
        // One change (the common push) is applied with its patches logged: its frame's diff
        // when it was written on the server's heads (rules/causal.rs).
        // Automerge asserts what it expects of a change as it applies it; what the checks
        // above do not rule out yet is refused too, not answered with a 500 (a device would
        // send the same push again at every sync). The document is dropped either way.
        let applied = std::panic::catch_unwind(AssertUnwindSafe(|| match new.as_slice() {
            [one] => documents::batched::apply_one_logged(&mut document, one.clone()).map(Some),
            _ => documents::batched::apply(&mut document, new.iter().cloned()).map(|()| None),
        }));
        let applied = match applied {
            Ok(Ok(applied)) => applied,
            Ok(Err(e)) => return reject(format!("changes cannot be applied: {e}")),
            Err(_) => {
                eprintln!(
                    "fieldsync-server: ticket {id}: Automerge failed applying a push from device {}",
                    who.device_id
                );
                return reject("changes cannot be applied");
            }
        };
        if !document.get_missing_deps(&[]).is_empty() {
            return reject("changes depend on changes the server does not have");
        }
        if let Some(why) = crate::op_numbers::not_as_written(&document, &new) {
            return reject(why);
        }
        let roots = new.iter().filter(|c| c.deps().is_empty()).count();
        let one_history = if replaced.is_some() { roots == 0 } else { roots == 1 };
        if !one_history || !doc::ticket_id(&document).is_ok_and(|found| found == id) {
            return reject("changes are not this ticket's history");
        }
        // Each change is judged against the ticket as its author had seen it (rules/causal.rs).
        // A claim is judged against the ticket as the server has it: only a ticket the server
        // may have in a pool needs the pusher's groups (the state it wrote, else assume so).
        let maybe_pooled =
            replaced.as_ref().is_some_and(|r| r.known.as_ref().is_none_or(|k| k.state.status == Status::Pooled));
        if who.role == Role::Engineer && maybe_pooled && groups.is_none() {
            *groups = Some(crate::manage::routing(state)?.value.groups_of(&who.user_id));
        }
        let groups = groups.as_deref().unwrap_or_default();
        let pusher = rules::Pusher { user_id: &who.user_id, device_id: &who.device_id, role: who.role, groups };
        let known = replaced.as_ref().and_then(|r| r.known.as_deref()).map(|k| (&k.state, k.events));
        let frames = rules::causal::frames(&document, &new, rules::causal::Base { heads: &before, known, applied });
        if rules::causal::knew_not_assignee(&frames, &pusher) {
            return reject("ticket is no longer assigned to you");
        }
        for actor in actors.iter().filter(|a| !bound.iter().any(|(bound, _)| bound == *a)) {
            if crate::actors::register(state, actor, &who.device_id)? != who.device_id {
                return reject("change from another device's actor");
            }
        }
        // A push that breaks a rule is kept (one history with the device) and undone by one
        // server change, which also carries what the server corrects (times, distances).
        let diff = rules::causal::push_diff(&document, &before, &frames);
        let mut verdict = rules::check(&document, &before, &new, &diff, &pusher);
        // A note, a photo, a checklist tick, a signature: nothing the index or the state reads.
        let index_neutral =
            diff.iter().all(|p| rules::root_key(p).is_some_and(|k| doc::INDEX_NEUTRAL_KEYS.contains(&k)));
        drop(diff);
        let base_assignee = replaced.as_ref().and_then(documents::Replaced::assignee);
        rules::causal::judge(&document, &frames, &pusher, &before, base_assignee, now, &mut verdict);
        // Each frame holds what its change did: not kept through the write.
        drop(frames);
        let mut stored = new;
        let hash = rules::compensate(&mut document, &before, &verdict, now)
            .map_err(|e| AppError::Internal(format!("compensating a push to ticket {id} failed: {e}")))?;
        if let Some(change) = hash.and_then(|h| document.get_change_by_hash(&h)) {
            stored.push(change);
        }
        if !verdict.not_undone.is_empty() {
            eprintln!("fieldsync-server: ticket {id}: a push could not be fully undone: {}", verdict.reason());
        }
        let refused = (!verdict.is_clean()).then(|| verdict.reason());
        // Undone in part (a compensation voids records) or not: only a clean push keeps them.
        let index_unchanged = index_neutral && hash.is_none();
        let written = documents::Written {
            document,
            changes: &stored,
            device_id: &who.device_id,
            at: now,
            index_unchanged,
            holder: Some((&who.device_id, &pushed_heads)),
        };
        if documents::commit_written(state, id, replaced.as_ref(), written)?.is_some() {
            return Ok(refused);
        }
        // Someone wrote the ticket meanwhile: reload and merge again.
    }
    Err(PushError::Internal(AppError::Internal(format!("ticket {id} kept changing during the push"))))
}

fn to_heads(hashes: &[HashBytes]) -> Vec<ChangeHash> {
    hashes.iter().map(|h| ChangeHash(*h)).collect()
}

fn from_heads(heads: &[ChangeHash]) -> Vec<HashBytes> {
    heads.iter().map(|h| h.0).collect()
}

/// What the device lacks of a loaded document: the changes after `known`, or the whole document
/// when the device claims heads the server does not know. A device that holds nothing of a
/// ticket is sent its stored bytes instead ([`WholeTickets`]), without loading it.
fn data_for(document: &Automerge, known: &[HashBytes]) -> Vec<ByteBuf> {
    let heads = to_heads(known);
    if !known.is_empty() && heads.iter().all(|h| document.get_change_meta_by_hash(h).is_some()) {
        document.get_changes(&heads).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect()
    } else {
        vec![ByteBuf::from(document.save())]
    }
}

fn update_size(update: &Update) -> usize {
    update.ticket_id.len() + update.heads.len() * 34 + update.data.iter().map(|d| d.len() + 5).sum::<usize>() + 16
}

/// Brings the device's state for a ticket to what this request's cursor proves: an answer it
/// covers was received (its heads are confirmed); an eviction it covers was applied, and a
/// cursor of 0 (a device starting from nothing) holds nothing. Returns whether an eviction was
/// applied.
fn as_of_cursor(st: &mut SyncState, cursor: u64) -> bool {
    if let Some((sent_at, heads)) = &st.pending {
        if cursor >= *sent_at {
            st.confirmed = heads.clone();
            st.pending = None;
        }
    }
    let eviction_applied = st.evicted_at.is_some_and(|at| cursor >= at);
    if eviction_applied || cursor == 0 {
        // The device dropped the ticket, or starts from nothing: it has none of it.
        st.confirmed.clear();
    }
    eviction_applied
}

/// Whether two states say the same (heads in any order).
fn same_state(a: &SyncState, b: &SyncState) -> bool {
    let same_pending = match (&a.pending, &b.pending) {
        (None, None) => true,
        (Some((a_cursor, a_heads)), Some((b_cursor, b_heads))) => a_cursor == b_cursor && same_heads(a_heads, b_heads),
        _ => false,
    };
    same_pending && a.evicted_at == b.evicted_at && same_heads(&a.confirmed, &b.confirmed)
}

/// Why a ticket is considered in this response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    Pushed,
    Changed,
    Expired,
}

fn updates(
    state: &AppState,
    who: &Principal,
    cursor: u64,
    pushed: &[(String, Vec<HashBytes>)],
    now: Millis,
) -> Result<SyncResponse, AppError> {
    let storage = state.storage();
    let config = state.config();
    let scope = match who.role {
        // A complaint handler is assigned nothing: their device holds no tickets, they act
        // through the API (docs/adr/0019).
        Role::Engineer | Role::ComplaintHandler => {
            Scope::Engineer { user_id: who.user_id.clone(), device_id: who.device_id.clone() }
        }
        Role::Dispatcher | Role::Admin => Scope::All,
    };
    let retention = i64::try_from(config.completed_retention.as_millis()).unwrap_or(i64::MAX);
    let expired_before = now.saturating_sub(retention);
    let pushed_ids: Vec<String> = pushed.iter().map(|(id, _)| id.clone()).collect();
    // Every read of the answer in one call: one snapshot, one round trip (docs/adr/0026).
    let reads = storage.sync_reads(&SyncReadsQuery {
        device_id: &who.device_id,
        pushed: &pushed_ids,
        cursor,
        scope: &scope,
        expired_before,
    })?;
    let current = reads.current_seq;

    let mut candidates: Vec<(String, Reason, Option<IndexRow>)> = Vec::new();
    let mut listed = HashSet::new();
    for (id, row) in pushed_ids.into_iter().zip(reads.pushed) {
        if listed.insert(id.clone()) {
            candidates.push((id, Reason::Pushed, row));
        }
    }
    for row in reads.changed {
        if listed.insert(row.id.clone()) {
            candidates.push((row.id.clone(), Reason::Changed, Some(row)));
        }
    }
    for row in reads.held {
        if listed.insert(row.id.clone()) {
            candidates.push((row.id.clone(), Reason::Expired, Some(row)));
        }
    }
    if candidates.is_empty() {
        return Ok(SyncResponse { cursor: current, ..Default::default() });
    }
    let mut states: HashMap<String, SyncState> = reads.states.into_iter().collect();
    // As read: a state the answer leaves as it was is not written again.
    let read_states = states.clone();
    // Read after the answer's reads, so a membership change whose resequenced pool they saw is
    // the membership judged here (docs/adr/0028); read at all only for a group's pooled ticket.
    let mut groups = access::SkillGroups::of(state, who);
    let pushed_heads: HashMap<&str, &Vec<HashBytes>> = pushed.iter().map(|(id, h)| (id.as_str(), h)).collect();
    // The tickets the device holds nothing of (not pushed in this request) and should hold are
    // sent as stored, read a batch at a time in the order below (docs/adr/0030). Only those:
    // a batch read for tickets the loop then skips (another group's pool, another engineer's
    // ticket) would load bytes nobody is sent.
    let mut holds_nothing: Vec<String> = Vec::new();
    for (id, reason, row) in &candidates {
        let Some(row) = row.as_ref().filter(|_| *reason != Reason::Pushed) else { continue };
        let mut st = states.get(id).cloned().unwrap_or_default();
        as_of_cursor(&mut st, cursor);
        if st.confirmed.is_empty()
            && access::should_hold(who, row, expired_before)
            && (row.status != Status::Pooled || access::may_take_from_pool(state, &mut groups, row)?)
        {
            holds_nothing.push(id.clone());
        }
    }
    let mut whole = WholeTickets::new(storage, holds_nothing);

    let mut response = SyncResponse::default();
    let mut touched: Vec<(String, SyncState, bool)> = Vec::new();
    let mut size = 0usize;
    let mut included_unpushed = false;
    let mut cut_at: Option<u64> = None;
    let mut last_included_seq = cursor;
    for (id, reason, row) in candidates {
        let Some(row) = row else { continue };
        let existed = states.contains_key(&id);
        let mut st = states.remove(&id).unwrap_or_default();
        let eviction_applied = as_of_cursor(&mut st, cursor);
        let is_pushed = reason == Reason::Pushed;
        let holds = is_pushed || (existed && !eviction_applied);
        let hold = access::should_hold(who, &row, expired_before)
            && (row.status != Status::Pooled || access::may_take_from_pool(state, &mut groups, &row)?);
        if !hold && !holds {
            // Not this device's business, and it does not have it.
            if reason == Reason::Changed {
                last_included_seq = last_included_seq.max(row.changed_seq);
            }
            continue;
        }
        if !hold {
            // Reads follow access: a device that should no longer hold the ticket gets no part of
            // it, only the eviction, and, for what it pushed (stored), the acknowledgement.
            if let Some(heads) = pushed_heads.get(id.as_str()) {
                response.updates.push(Update {
                    ticket_id: id.clone(),
                    data: Vec::new(),
                    heads: protocol::to_wire(&to_heads(heads)),
                });
            }
            if reason == Reason::Changed {
                last_included_seq = last_included_seq.max(row.changed_seq);
            }
            st.pending = None;
            st.confirmed.clear();
            response.evictions.push(id.clone());
            touched.push((id, st, true));
            continue;
        }
        let stored = if is_pushed || !st.confirmed.is_empty() { None } else { whole.take(&id)? };
        let (covered_by, server_heads, data) = match stored {
            // The device holds nothing of it: the stored bytes are its whole history.
            Some(stored) => (stored.seq, stored.heads, vec![ByteBuf::from(stored.bytes)]),
            None => {
                let Some(loaded) = documents::load_at(state, &id, row.changed_seq)? else { continue };
                let document = loaded.doc;
                let server_heads = from_heads(&document.get_heads());
                if let Some(heads) = pushed_heads.get(id.as_str()) {
                    if to_heads(heads).iter().all(|h| document.get_change_meta_by_hash(h).is_some()) {
                        st.confirmed = (*heads).clone();
                    }
                }
                if !is_pushed && st.evicted_at.is_none() && same_heads(&st.confirmed, &server_heads) {
                    // The device has it all already.
                    if reason == Reason::Changed {
                        last_included_seq = last_included_seq.max(row.changed_seq);
                    }
                    continue;
                }
                // A push of exactly the server's heads is answered with no changes: not even
                // asked of the document (its `get_changes` walks the history to say so).
                let data = if same_heads(&st.confirmed, &server_heads) {
                    Vec::new()
                } else {
                    data_for(&document, &st.confirmed)
                };
                (loaded.seq, server_heads, data)
            }
        };
        let update = Update { ticket_id: id.clone(), data, heads: protocol::to_wire(&to_heads(&server_heads)) };
        let this_size = update_size(&update);
        if !is_pushed {
            if included_unpushed && size + this_size > config.sync_budget_bytes {
                cut_at = Some(last_included_seq);
                break;
            }
            included_unpushed = true;
        }
        size += this_size;
        if reason == Reason::Changed {
            last_included_seq = last_included_seq.max(row.changed_seq);
        }
        response.updates.push(update);
        if is_pushed && pushed_heads.get(id.as_str()).is_some_and(|heads| same_heads(heads, &server_heads)) {
            // The device pushed exactly what the server has: it holds it all, answer or not
            // (the ticket's write stored this state already: `TicketWrite::holder`).
            st.confirmed = server_heads;
            st.pending = None;
        } else {
            // Confirmed only by a cursor that covers this version of the document: two answers
            // with the same cursor (a duplicated request, a budget cut) may carry different heads.
            st.pending = Some((covered_by, server_heads));
        }
        st.evicted_at = None;
        touched.push((id, st, false));
    }
    response.cursor = match cut_at {
        Some(seq) => {
            response.more = true;
            seq
        }
        None => current.max(last_included_seq),
    };
    let states: Vec<(String, SyncState)> = touched
        .into_iter()
        .map(|(id, mut st, evict)| {
            if let Some(pending) = st.pending.as_mut() {
                pending.0 = pending.0.max(response.cursor);
            }
            if evict {
                st.evicted_at = Some(response.cursor);
            }
            (id, st)
        })
        .filter(|(id, st)| read_states.get(id).is_none_or(|read| !same_state(read, st)))
        .collect();
    storage.put_sync_states(&who.device_id, &states)?;
    Ok(response)
}
