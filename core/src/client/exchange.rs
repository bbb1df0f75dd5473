//! The device half of the sync protocol, without I/O (as automerge's `sync` module and samod
//! are built): an [`Exchange`] produces the next request from the store and the documents and
//! applies the server's response; whoever drives it moves the bytes. The sync engine
//! (`crate::sync`) drives it over HTTP; protocol tests drive it against the server's exchange
//! function in one process.
//!
//! ```text
//! let mut exchange = client.exchange();
//! while let Some(request) = exchange.next_request()? {
//!     let response = /* send `request`, however */;
//!     exchange.receive(&response)?;
//! }
//! let done = exchange.finish();
//! ```
//!
//! Both steps read and write the local store (SQLite) and may take a while on a large
//! response: call them off an async runtime's worker threads.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use automerge::{Automerge, ChangeHash, LoadOptions, OnPartialLoad, ReadDoc, VerificationMode};
use serde_bytes::ByteBuf;

use super::{Client, META_LAST_SYNC, META_SYNC_CURSOR};
use crate::error::Error;
use crate::model::{TicketSummary, doc};
use crate::protocol::{self, Push, RequestBudget, SyncRequest, SyncResponse};
use crate::store::blobs::{self, Upload};
use crate::store::tickets::{self, ChunkKind};
use crate::time::Millis;

/// A server that keeps saying "more" cannot keep one exchange going forever.
pub const MAX_ROUNDS: u32 = 64;

/// One sync of a device's documents with the server, as a value: ask it for the next request,
/// give it the response. No transaction is open between the two, so nothing is held while a
/// request travels. Created by [`Client::exchange`].
pub struct Exchange {
    client: Client,
    /// Requests produced so far.
    rounds: u32,
    /// A request was produced and its response not yet received.
    awaiting: bool,
    /// The server said nothing more is waiting (or the rounds ran out).
    done: bool,
    /// The last request left pending tickets out to stay within its budget: the exchange goes
    /// on until they are sent, whatever the server says.
    held_back: bool,
    /// What one request may carry.
    budget: RequestBudget,
    exchanged: Exchanged,
}

/// What an exchange moved, over all its rounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchanged {
    /// Tickets whose local changes were sent (sorted, once each).
    pub pushed: Vec<String>,
    /// Requests produced (round trips, when each got its response).
    pub rounds: u32,
    /// What the responses did, all rounds together.
    pub applied: Applied,
}

/// What applying one sync response did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Tickets that received new changes.
    pub received: Vec<String>,
    /// Tickets the server refused, with the reason.
    pub rejected: Vec<(String, String)>,
    /// Of those, the ones the server stored nothing of: still pending, sent again.
    pub retrying: Vec<String>,
    /// Tickets removed from this device.
    pub evicted: Vec<String>,
    /// Tickets whose update could not be merged, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Applied {
    fn extend(&mut self, more: Applied) {
        self.received.extend(more.received);
        self.rejected.extend(more.rejected);
        self.retrying.extend(more.retrying);
        self.evicted.extend(more.evicted);
        self.failed.extend(more.failed);
    }
}

/// What waits to go to the server, from one snapshot of the store: the sync status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Tickets with local changes the server has not acknowledged.
    pub tickets: u64,
    /// Blobs (photos, signatures) waiting to upload.
    pub uploads: u64,
    /// Bytes of those blobs not yet on the server.
    pub upload_bytes: u64,
}

impl Client {
    /// A new exchange of this client's documents with the server (see [`Exchange`]).
    pub fn exchange(&self) -> Exchange {
        self.exchange_within(RequestBudget::DEVICE)
    }

    /// An exchange whose requests carry at most `budget` each (tests use a small one).
    pub fn exchange_within(&self, budget: RequestBudget) -> Exchange {
        Exchange {
            client: self.clone(),
            rounds: 0,
            awaiting: false,
            done: false,
            held_back: false,
            budget,
            exchanged: Exchanged::default(),
        }
    }
}

impl Exchange {
    /// The next request to send, or `None` when the exchange is over: after a response that
    /// says nothing more is waiting, or after [`MAX_ROUNDS`]. The first request always goes,
    /// even with nothing to push: it asks what the server has. Calling it again before
    /// [`Exchange::receive`] builds the request again (a resend after a lost answer).
    pub fn next_request(&mut self) -> Result<Option<SyncRequest>, Error> {
        if self.done {
            return Ok(None);
        }
        let (request, held_back) = self.client.build_request(&self.budget)?;
        self.held_back = held_back;
        if !self.awaiting {
            self.rounds += 1;
            self.awaiting = true;
        }
        self.exchanged.pushed.extend(request.pushes.iter().map(|p| p.ticket_id.clone()));
        Ok(Some(request))
    }

    /// Applies the server's response in one write transaction: merges updates, records what
    /// the server has, marks refusals, evicts, and advances the cursor. A ticket whose update
    /// cannot be merged is skipped (and reported) without holding back the others. Returns what
    /// this response did.
    pub fn receive(&mut self, response: &SyncResponse) -> Result<Applied, Error> {
        Ok(self.receive_counting(response)?.0)
    }

    /// [`Exchange::receive`], and when that ends the exchange, what then waits to go
    /// ([`Client::waiting`]) read at the end of the response's own write transaction: the
    /// writer's pages are current, where a read transaction begun after it would take the
    /// WAL's read lock and reload the pages the write changed.
    pub fn receive_counting(&mut self, response: &SyncResponse) -> Result<(Applied, Option<Waiting>), Error> {
        // More to receive, or pushes the budget held back for the next round.
        let last = !(response.more || self.held_back) || self.rounds >= MAX_ROUNDS;
        let (applied, waiting) = self.client.apply_response(response, last)?;
        self.awaiting = false;
        if last {
            self.done = true;
        }
        self.exchanged.applied.extend(applied.clone());
        Ok((applied, waiting))
    }

    /// Whether the exchange is over (no further request is due).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What the exchange moved.
    pub fn finish(mut self) -> Exchanged {
        self.exchanged.pushed.sort();
        self.exchanged.pushed.dedup();
        self.exchanged.rounds = self.rounds;
        self.exchanged
    }

    /// The client whose documents this exchange syncs.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The device's blob uploads as the protocol sees them: what is queued, and progress.
impl Client {
    /// Uploads still to do, oldest first.
    pub fn pending_uploads(&self) -> Result<Vec<Upload>, Error> {
        self.live_store()?.read(|tx| Ok(blobs::pending_uploads(tx)?))
    }

    /// Records an upload's progress: `sent` bytes confirmed, `state` `pending`, `done` or
    /// `failed` (with the `reason`).
    pub fn record_upload(&self, upload: &Upload, sent: u64, state: &str, reason: Option<&str>) -> Result<(), Error> {
        let now = self.now();
        self.live_store()?.write(|tx| -> Result<(), Error> {
            Ok(blobs::set_upload(tx, &upload.sha256, &upload.ticket_id, sent, state, reason, now)?)
        })
    }

    /// Pending tickets and uploads from one snapshot of the store.
    pub fn pending(&self) -> Result<Pending, Error> {
        let (tickets, (uploads, upload_bytes)) = self
            .live_store()?
            .read(|tx| -> Result<_, Error> { Ok((tickets::pending_count(tx)?, blobs::pending_upload_totals(tx)?)) })?;
        Ok(Pending { tickets, uploads, upload_bytes })
    }

    /// What waits to go, from one snapshot of the store: the counts ([`Client::pending`]) and
    /// the queued uploads themselves ([`Client::pending_uploads`]). One read transaction, not
    /// two: each one begun after a write takes the WAL's read lock and reloads the pages the
    /// write changed, and the sync engine asks this at both ends of every turn.
    pub fn waiting(&self) -> Result<Waiting, Error> {
        self.live_store()?.read(waiting_in)
    }

    /// Wakes when a local action is stored: what a sync loop waits on.
    pub fn local_changes(&self) -> Arc<tokio::sync::Notify> {
        self.inner.local_changes.clone()
    }
}

impl Client {
    /// The next sync request: the cursor, and every pending ticket's changes the server has
    /// not acknowledged. Reads only; nothing is held while the request travels.
    /// The next request within `budget`, and whether pending tickets were held back for the
    /// next round (so that no request costs the server more than a few MiB: issue 13). A
    /// ticket larger than the whole budget goes alone.
    pub(crate) fn build_request(&self, budget: &RequestBudget) -> Result<(SyncRequest, bool), Error> {
        let (cursor, pending) = self.live_store()?.read(|tx| -> Result<_, Error> {
            let cursor = tickets::get_meta(tx, META_SYNC_CURSOR)?.and_then(|c| c.parse().ok()).unwrap_or(0);
            Ok((cursor, tickets::pending_with_server_heads(tx)?))
        })?;
        let mut docs = self.lock_docs()?;
        let mut pushes = Vec::new();
        let (mut ops, mut bytes) = (0u64, 0usize);
        let mut held_back = false;
        for (ticket_id, server_heads) in pending {
            // A full request takes no more tickets: the rest are not even loaded this round.
            if pushes.len() >= budget.pushes {
                held_back = true;
                break;
            }
            // A set-aside ticket cannot be read; the others still sync.
            let Ok(document) = self.loaded(&mut docs, &ticket_id) else { continue };
            let missing = document.get_changes(&server_heads);
            let push_ops: u64 = missing.iter().map(|c| c.len() as u64).sum();
            let push_bytes: usize = missing.iter().map(|c| c.raw_bytes().len()).sum();
            if !budget.fits((pushes.len(), ops, bytes), push_ops, push_bytes) {
                held_back = true;
                continue;
            }
            ops += push_ops;
            bytes += push_bytes;
            let changes: Vec<ByteBuf> = missing.iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
            // Pending with nothing to send: an update this device could not merge. The heads
            // alone tell the server what the device really holds, so it sends the rest again.
            pushes.push(Push { ticket_id, changes, heads: protocol::to_wire(&document.get_heads()) });
        }
        Ok((SyncRequest { cursor, pushes }, held_back))
    }

    /// Applies a server response in one transaction: merges updates, records what the server
    /// has, marks refusals, evicts, and advances the cursor. A ticket whose update cannot be
    /// merged is skipped (and reported) without holding back the others.
    /// With `count_waiting`, also what waits to go once it is written ([`Client::waiting`]),
    /// read in the same transaction.
    pub(super) fn apply_response(
        &self,
        response: &SyncResponse,
        count_waiting: bool,
    ) -> Result<(Applied, Option<Waiting>), Error> {
        let now = self.now();
        let mut docs = self.lock_docs()?;
        let mut applied = Applied::default();
        let mut staged: Vec<Staged> = Vec::with_capacity(response.updates.len());
        // The server will take the cursor as proof this device holds these updates: pending
        // makes the next request say what it really holds (`build_request`).
        let mut unmerged = Vec::new();
        // Which of the updated tickets the store holds, in one read: one it holds nothing of is
        // taken whole, as the server sent it (docs/adr/0030).
        let held = self.inner.store.read(|tx| -> Result<HashSet<String>, Error> {
            let mut held = HashSet::new();
            for update in response.updates.iter().filter(|u| !u.data.is_empty()) {
                if tickets::exists(tx, &update.ticket_id)? {
                    held.insert(update.ticket_id.clone());
                }
            }
            Ok(held)
        })?;
        for update in &response.updates {
            let bytes: Vec<u8> = update.data.iter().flat_map(|d| d.iter().copied()).collect();
            let id = update.ticket_id.as_str();
            // Automerge asserts what it expects of the bytes it applies; bytes it panics on (a
            // ticket a hostile device poisoned on a server without today's checks) fail that
            // ticket, as bytes that do not parse do, not the whole answer: the other tickets
            // still merge, and this one stays as the device held it. What panicked worked on a
            // fork or a new document, never on the cached one.
            let received = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if bytes.is_empty() {
                    Ok(None)
                } else if !held.contains(id) && !docs.contains(id) {
                    received_whole(id, bytes, now).map(Some)
                } else {
                    self.merged(&mut docs, id, &bytes, held.contains(id)).and_then(|merged| {
                        let Some(merged) = merged else { return Ok(None) };
                        let summary = doc::summarize(&merged.document, now, false)?;
                        let heads = merged.document.get_heads();
                        let chunk = NewChunk { kind: ChunkKind::Change, bytes: merged.new_changes, summary };
                        Ok(Some(Received { chunk, heads, document: Some(merged.document) }))
                    })
                }
            }))
            .unwrap_or_else(|_| Err(super::automerge_failed(id)));
            let received = match received {
                Ok(received) => received,
                Err(e) => {
                    applied.failed.push((update.ticket_id.clone(), e.to_string()));
                    unmerged.push(update.ticket_id.clone());
                    continue;
                }
            };
            let server_heads = protocol::from_wire(&update.heads);
            let local_heads = match &received {
                Some(received) => received.heads.clone(),
                None => match self.loaded(&mut docs, id) {
                    Ok(document) => document.get_heads(),
                    Err(e) => {
                        applied.failed.push((update.ticket_id.clone(), e.to_string()));
                        continue;
                    }
                },
            };
            let pending = !same_heads(&local_heads, &server_heads);
            if received.is_some() {
                applied.received.push(update.ticket_id.clone());
            }
            staged.push(Staged { ticket_id: update.ticket_id.clone(), received, server_heads, pending });
        }
        let cursor = response.cursor.to_string();
        // All of it comes again from the server if a power cut undoes it, except a refusal's
        // reason (a replayed push is not refused twice): that one waits for the disk.
        let write = |tx: &rusqlite::Connection| -> Result<Option<Waiting>, Error> {
            for staged in &staged {
                if let Some(Received { chunk, .. }) = &staged.received {
                    tickets::append_chunk(tx, &staged.ticket_id, chunk.kind, &chunk.bytes)?;
                    tickets::upsert_summary(tx, &chunk.summary)?;
                }
                tickets::set_server_heads(tx, &staged.ticket_id, &staged.server_heads)?;
                tickets::set_sync_flags(tx, &staged.ticket_id, staged.pending, None)?;
            }
            for ticket_id in &unmerged {
                tickets::set_pending(tx, ticket_id)?;
            }
            // Pending follows the server's heads (the updates above), never the refusal: a push
            // refused unstored goes again, a stored and compensated one is settled by its update.
            for rejection in &response.rejections {
                tickets::set_rejected(tx, &rejection.ticket_id, &rejection.reason)?;
            }
            for ticket_id in &response.evictions {
                let pending = staged.iter().any(|s| &s.ticket_id == ticket_id && s.pending);
                if !pending {
                    tickets::evict(tx, ticket_id)?;
                }
            }
            tickets::set_meta(tx, META_SYNC_CURSOR, &cursor)?;
            tickets::set_meta(tx, META_LAST_SYNC, &now.to_string())?;
            count_waiting.then(|| waiting_in(tx)).transpose()
        };
        let waiting = if response.rejections.is_empty() {
            self.inner.store.write_relaxed(write)?
        } else {
            self.inner.store.write(write)?
        };
        let mut changed: Vec<String> = Vec::new();
        for staged in staged {
            if let Some(document) = staged.received.and_then(|r| r.document) {
                docs.insert(staged.ticket_id.clone(), document);
            }
            changed.push(staged.ticket_id);
        }
        for ticket_id in &response.evictions {
            docs.remove(ticket_id);
            changed.push(ticket_id.clone());
        }
        changed.extend(response.rejections.iter().map(|r| r.ticket_id.clone()));
        applied.rejected = response.rejections.iter().map(|r| (r.ticket_id.clone(), r.reason.clone())).collect();
        applied.retrying = response.rejections.iter().filter(|r| !r.stored).map(|r| r.ticket_id.clone()).collect();
        applied.evicted = response.evictions.clone();
        drop(docs);
        changed.sort();
        changed.dedup();
        if !changed.is_empty() {
            self.notify(changed);
        }
        Ok((applied, waiting))
    }
}

/// One update of a response, ready for the response's write transaction.
struct Staged {
    ticket_id: String,
    /// What was new in it, if anything.
    received: Option<Received>,
    /// The heads the server has.
    server_heads: Vec<ChangeHash>,
    /// The device's heads differ from the server's after it.
    pending: bool,
}

/// What an update brought that the store did not hold.
struct Received {
    chunk: NewChunk,
    /// The device's heads after it.
    heads: Vec<ChangeHash>,
    /// The merged document, cached once written. `None` for a ticket received whole: a
    /// bootstrap of thousands does not churn the cache (nor hold them all until the write).
    document: Option<Automerge>,
}

/// A chunk to append to a ticket, and the ticket's index row after it.
struct NewChunk {
    kind: ChunkKind,
    bytes: Vec<u8>,
    summary: TicketSummary,
}

/// A ticket this device holds nothing of, received whole (the server sends its stored bytes:
/// the newest snapshot and the change chunks after it, docs/adr/0030). Loaded once, strictly:
/// every chunk must parse, every dependency be there, a snapshot's heads match its changes; the
/// history must have one root and be this ticket. The bytes are kept as they came (a whole
/// history: a snapshot chunk), not taken apart and re-encoded change by change.
fn received_whole(ticket_id: &str, bytes: Vec<u8>, now: Millis) -> Result<Received, Error> {
    let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error).verification_mode(VerificationMode::Check);
    let document = Automerge::load_with_options(&bytes, strict)
        .map_err(|e| Error::InvalidInput(format!("received bytes of ticket {ticket_id} do not load: {e}")))?;
    // A snapshot first lets changes with missing dependencies wait in a queue instead of failing.
    if !document.get_missing_deps(&[]).is_empty() {
        return Err(Error::InvalidInput(format!("received bytes lack part of ticket {ticket_id}'s history")));
    }
    let roots = document.get_changes_meta(&[]).iter().filter(|change| change.deps.is_empty()).count();
    if roots != 1 || !doc::ticket_id(&document).is_ok_and(|id| id == ticket_id) {
        return Err(Error::InvalidInput(format!("received bytes are not ticket {ticket_id}")));
    }
    let summary = doc::summarize(&document, now, false)?;
    Ok(Received {
        chunk: NewChunk { kind: ChunkKind::Snapshot, bytes, summary },
        heads: document.get_heads(),
        document: None,
    })
}

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Pending tickets and uploads, and the queued uploads themselves.
pub type Waiting = (Pending, Vec<Upload>);

/// [`Client::waiting`] in the transaction `tx` (a read, or the end of the answer's write).
fn waiting_in(tx: &rusqlite::Connection) -> Result<Waiting, Error> {
    let tickets = tickets::pending_count(tx)?;
    let uploads = blobs::pending_uploads(tx)?;
    // As `blobs::pending_upload_totals` sums them, from the same rows.
    let bytes: i64 = uploads.iter().map(|u| i64_from(u.size).saturating_sub(i64_from(u.sent))).sum();
    let pending = Pending {
        tickets,
        uploads: u64::try_from(uploads.len()).unwrap_or(u64::MAX),
        upload_bytes: u64::try_from(bytes).unwrap_or(0),
    };
    Ok((pending, uploads))
}

/// A stored byte count as SQLite summed it (its integers are signed).
fn i64_from(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
