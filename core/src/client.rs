//! The facade apps and bindings use: open a store for a user, act on tickets, query, subscribe.
//!
//! Every action follows one path ([`Client::run`]): load the document, check the action
//! against the workflow, edit the document, then in one SQLite transaction append the change
//! and rewrite the ticket's index row. When the call returns, the action is on disk.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};

use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, LoadOptions, OnPartialLoad, ReadDoc, VerificationMode,
};

use crate::actions::{self, Command, Performed};
use crate::error::Error;
use crate::media::{self, PhotoOptions, PhotoSource, SignatureOptions, StrokePoint};
use crate::model::doc;
use crate::model::{
    Classification, Identity, JobSummary, ListFilter, Location, NewPhoto, NewTicket, PhotoInput, PhotoMeta,
    SignatureMeta, Ticket, TicketSummary,
};
use crate::protocol::{self, Push, RequestBudget, SyncRequest, SyncResponse};
use crate::store::blobs::{self, Upload};
use crate::store::tickets::{self, ChunkKind};
use crate::store::{Durability, OpenReport, Store, StoreError, StoreKey};
use crate::time::{Millis, now_ms};
use crate::workflow::Status;
use crate::workflow::{self, Action, Actor, Derived};
use serde_bytes::ByteBuf;

/// Tuning for [`Client::open_with`].
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Compact a ticket into a snapshot once this many change chunks follow the last one.
    pub compact_after_changes: usize,
    /// How many ticket documents to keep loaded in memory at most.
    pub doc_cache_capacity: usize,
    /// How much memory the loaded documents may take, estimated from their operations
    /// (≈ 16 KB per ticket plus 64 bytes per operation, measured with Automerge 0.12): a
    /// ticket with a long history takes the room of many short ones (1,000 changes: ≈ 360 KB,
    /// twenty times a new ticket). Checked whenever a document is loaded; the one just loaded
    /// always stays.
    pub doc_cache_bytes: usize,
    /// What "durable" means when an action returns (docs/adr/0001).
    pub durability: Durability,
    /// How photos are processed.
    pub photo: PhotoOptions,
    /// The key the store is encrypted with (docs/adr/0011), from the platform's keystore; `None`
    /// for a plaintext store. A wrong or missing key is an error and leaves the file alone.
    pub store_key: Option<StoreKey>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            compact_after_changes: 64,
            doc_cache_capacity: 128,
            doc_cache_bytes: 16 << 20,
            durability: Durability::default(),
            photo: PhotoOptions::default(),
            store_key: None,
        }
    }
}

/// A signed-in user's view of their tickets, backed by one store file. Cheap to clone; every
/// clone shares the same store and subscriptions.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    identity: Identity,
    actor: ActorId,
    options: OpenOptions,
    report: OpenReport,
    docs: Mutex<DocCache>,
    subscribers: Arc<Subscribers>,
    changed: mpsc::Sender<Vec<String>>,
    local_changes: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("store", &self.inner.store).field("identity", &self.inner.identity).finish()
    }
}

const META_SYNC_CURSOR: &str = "sync_cursor";
const META_LAST_SYNC: &str = "last_sync_at";

impl Client {
    /// Opens (or creates) the store at `store_path` for `identity`, with default options.
    pub fn open(store_path: impl AsRef<Path>, identity: Identity) -> Result<Client, Error> {
        Self::open_with(store_path, identity, OpenOptions::default())
    }

    /// Opens (or creates) the store at `store_path` for `identity`. A store that belongs to
    /// another user or device is refused (`owner`); a store written by a newer version is
    /// refused; a store whose key is wrong or missing is refused and left as it is.
    pub fn open_with(store_path: impl AsRef<Path>, identity: Identity, options: OpenOptions) -> Result<Client, Error> {
        if identity.user_id.is_empty() || identity.device_id.is_empty() {
            return Err(Error::InvalidInput("user id and device id must not be empty".into()));
        }
        // The key is needed only to open; the client does not keep it (dropping wipes it).
        let mut options = options;
        let key = options.store_key.take();
        let (store, report) = Store::open(store_path.as_ref(), options.durability, key.as_ref())?;
        drop(key);
        let actor = store.write(|tx| owner::claim(tx, &identity))?;
        let subscribers = Arc::new(Subscribers::default());
        let changed = spawn_notifier(Arc::downgrade(&subscribers))?;
        let docs = Mutex::new(DocCache::new(options.doc_cache_capacity, options.doc_cache_bytes));
        let local_changes = Arc::new(tokio::sync::Notify::new());
        Ok(Client {
            inner: Arc::new(Inner {
                store,
                identity,
                actor,
                options,
                report,
                docs,
                subscribers,
                changed,
                local_changes,
            }),
        })
    }

    /// Who this client acts as.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// What happened while opening (migration, a corrupt file moved aside).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The underlying store (for the sync engine, tools and benchmarks).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    // -----------------------------------------------------------------------------------------
    // Dispatcher actions

    /// Creates a ticket (dispatchers and admins); dispatches it at once when `new.assignee` is
    /// set. Returns its id.
    pub fn create_ticket(&self, new: &NewTicket) -> Result<String, Error> {
        let at = now_ms();
        let (ticket_id, document, performed) =
            actions::create(self.inner.actor.clone(), &self.inner.identity, new, at)?;
        let summary = doc::summarize_derived(&document, &performed.derived, at, true)?;
        let mut docs = self.lock_docs()?;
        self.persist(&ticket_id, &document, &performed, &summary, |_| Ok(()))?;
        docs.insert(ticket_id.clone(), document);
        docs.remember(&ticket_id, Known { derived: Some(performed.derived), summary });
        drop(docs);
        self.inner.local_changes.notify_one();
        self.notify(vec![ticket_id.clone()]);
        Ok(ticket_id)
    }

    /// Assigns a new ticket, or reassigns one, to `engineer` (back to dispatched).
    pub fn assign(&self, ticket_id: &str, engineer: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Assign { engineer: engineer.to_owned() })
    }

    /// Cancels a ticket that is not completed or cancelled.
    pub fn cancel(&self, ticket_id: &str, reason: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Cancel { reason: reason.to_owned() })
    }

    /// Reopens a completed or cancelled ticket (back to dispatched, same engineer).
    pub fn reopen(&self, ticket_id: &str, reason: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Reopen { reason: reason.to_owned() })
    }

    /// Changes the ticket's type, product, module and version (dispatchers and admins).
    pub fn reclassify(&self, ticket_id: &str, classification: &Classification) -> Result<(), Error> {
        self.run(ticket_id, Command::Reclassify { classification: classification.clone() })
    }

    // -----------------------------------------------------------------------------------------
    // Engineer actions

    /// Accepts a dispatched ticket.
    pub fn accept(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Accept)
    }

    /// Rejects a dispatched (or accepted, not yet started) ticket, with a reason.
    pub fn reject(&self, ticket_id: &str, reason: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Reject { reason: reason.to_owned() })
    }

    /// Starts travelling to the site.
    pub fn start_travel(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::StartTravel { eta: None })
    }

    /// Starts travelling and shares an estimated arrival (UTC ms, now to a day ahead) that the
    /// customer sees on the tracking page.
    pub fn start_travel_with_eta(&self, ticket_id: &str, eta: Millis) -> Result<(), Error> {
        self.run(ticket_id, Command::StartTravel { eta: Some(eta) })
    }

    /// Checks in on site with a GPS fix; records the distance to the site and whether the fix
    /// is inside the site radius.
    pub fn check_in(&self, ticket_id: &str, location: Location) -> Result<(), Error> {
        self.run(ticket_id, Command::CheckIn { location })
    }

    /// Starts work once on site.
    pub fn start_work(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::StartWork)
    }

    /// Pauses work.
    pub fn pause(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Pause)
    }

    /// Resumes paused work.
    pub fn resume(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Resume)
    }

    /// Completes the job with a summary of the work done. A ticket that requires the
    /// customer's signature cannot be completed without one.
    pub fn complete(&self, ticket_id: &str, summary: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Complete { summary: summary.to_owned() })
    }

    /// Adds a note (the assignee while the job is active; dispatchers at any time).
    pub fn add_note(&self, ticket_id: &str, text: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::AddNote { text: text.to_owned() })
    }

    /// Adds a note the customer sees on the tracking page (an answer to their message).
    pub fn add_public_note(&self, ticket_id: &str, text: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::AddPublicNote { text: text.to_owned() })
    }

    /// Records a part used.
    pub fn add_part(&self, ticket_id: &str, sku: &str, qty: u32) -> Result<(), Error> {
        self.run(ticket_id, Command::AddPart { sku: sku.to_owned(), qty })
    }

    /// Logs time worked (`kind`: "labour", "travel", ...).
    pub fn log_time(&self, ticket_id: &str, minutes: u32, kind: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::LogTime { minutes, kind: kind.to_owned() })
    }

    /// Ticks or unticks a checklist item.
    pub fn set_checklist_item(&self, ticket_id: &str, item: &str, done: bool) -> Result<(), Error> {
        self.run(ticket_id, Command::SetChecklistItem { item: item.to_owned(), done })
    }

    /// Records the customer's feedback: a rating from 1 to 5 and a comment.
    pub fn record_feedback(&self, ticket_id: &str, rating: u8, comment: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::RecordFeedback { rating, comment: comment.to_owned() })
    }

    // -----------------------------------------------------------------------------------------
    // Photos and signatures

    /// Processes a photo (sniff, size limits, EXIF orientation, every metadata block dropped,
    /// 1600 px JPEG + 320 px thumbnail) and adds it to the ticket: both images stored as blobs,
    /// queued for upload, and the metadata written into the ticket, in one transaction. The
    /// same photo added twice is one blob and one entry. Blocking for ~0.1 s: call it off the
    /// UI thread, or use [`Client::add_photo`].
    pub fn add_photo_blocking(&self, ticket_id: &str, photo: &NewPhoto) -> Result<PhotoMeta, Error> {
        // Refuse before spending the processing time.
        self.check_content(ticket_id, Action::AddPhoto)?;
        let source = match &photo.source {
            PhotoInput::Path(path) => PhotoSource::Path(path),
            PhotoInput::Bytes(bytes) => PhotoSource::Bytes(bytes),
        };
        let processed = media::process_photo(source, &self.inner.options.photo)?;
        let meta = PhotoMeta {
            sha256: processed.sha256.clone(),
            width: processed.width,
            height: processed.height,
            bytes: processed.jpeg.len() as u64,
            caption: photo.caption.clone(),
            taken_at: photo.taken_at,
            by: self.inner.identity.user_id.clone(),
            location: photo.location,
            thumbnail_sha256: processed.thumbnail_sha256.clone(),
        };
        // Already there: one lookup in the document, not a whole view of the ticket.
        let already_there = {
            let mut docs = self.lock_docs()?;
            doc::has_photo(self.loaded(&mut docs, ticket_id)?, &meta.sha256)
        };
        if already_there {
            return Ok(meta);
        }
        let now = now_ms();
        self.run_with(ticket_id, Command::AddPhoto { photo: meta.clone() }, |tx| {
            for (sha256, bytes) in
                [(&processed.sha256, &processed.jpeg), (&processed.thumbnail_sha256, &processed.thumbnail)]
            {
                blobs::put_blob(tx, sha256, bytes, "image/jpeg", now)?;
                blobs::queue_upload(tx, sha256, ticket_id, bytes.len() as u64, now)?;
            }
            Ok(())
        })?;
        Ok(meta)
    }

    /// [`Client::add_photo_blocking`] on tokio's blocking pool.
    pub async fn add_photo(&self, ticket_id: &str, photo: NewPhoto) -> Result<PhotoMeta, Error> {
        let (client, ticket_id) = (self.clone(), ticket_id.to_owned());
        tokio::task::spawn_blocking(move || client.add_photo_blocking(&ticket_id, &photo))
            .await
            .map_err(|e| Error::InvalidInput(format!("photo processing stopped: {e}")))?
    }

    /// The job summary the customer is shown before signing; its SHA-256 is bound into the
    /// signature.
    pub fn job_summary(&self, ticket_id: &str) -> Result<JobSummary, Error> {
        Ok(JobSummary::of(&self.get(ticket_id)?))
    }

    /// Renders the customer's strokes to a PNG, stores it (queued for upload) and records the
    /// signature once, bound to the SHA-256 of the job summary the customer saw. A second
    /// signature is refused.
    pub fn capture_signature(
        &self,
        ticket_id: &str,
        signer: &str,
        strokes: &[Vec<StrokePoint>],
    ) -> Result<SignatureMeta, Error> {
        self.check_content(ticket_id, Action::CaptureSignature)?;
        let png = media::render_signature(strokes, &SignatureOptions::default())?;
        let png_sha256 = JobSummary::sha256_hex(&png);
        let summary_sha256 = self.job_summary(ticket_id)?.sha256();
        let signature = SignatureMeta {
            signer: signer.to_owned(),
            signed_at: now_ms(),
            png_sha256: png_sha256.clone(),
            summary_sha256,
        };
        let strokes_json = serde_json::to_string(strokes).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let now = now_ms();
        self.run_with(ticket_id, Command::CaptureSignature { signature: signature.clone(), strokes_json }, |tx| {
            blobs::put_blob(tx, &png_sha256, &png, "image/png", now)?;
            blobs::queue_upload(tx, &png_sha256, ticket_id, png.len() as u64, now)?;
            Ok(())
        })?;
        Ok(signature)
    }

    /// A stored blob (a photo, thumbnail or signature image).
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.store.read(|tx| Ok(blobs::blob(tx, sha256)?))
    }

    /// Every blob upload and where it stands.
    pub fn uploads(&self) -> Result<Vec<Upload>, Error> {
        self.inner.store.read(|tx| Ok(blobs::uploads(tx)?))
    }

    /// Pending uploads: how many, and how many bytes are left to send.
    pub fn pending_upload_totals(&self) -> Result<(u64, u64), Error> {
        self.inner.store.read(|tx| Ok(blobs::pending_upload_totals(tx)?))
    }

    /// Uploads still to do, oldest first (for the sync engine).
    pub(crate) fn pending_uploads(&self) -> Result<Vec<Upload>, Error> {
        self.inner.store.read(|tx| Ok(blobs::pending_uploads(tx)?))
    }

    /// Records an upload's progress (for the sync engine).
    pub(crate) fn record_upload(
        &self,
        upload: &Upload,
        sent: u64,
        state: &str,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let now = now_ms();
        self.inner.store.write(|tx| -> Result<(), Error> {
            Ok(blobs::set_upload(tx, &upload.sha256, &upload.ticket_id, sent, state, reason, now)?)
        })
    }

    fn check_content(&self, ticket_id: &str, action: Action) -> Result<(), Error> {
        let mut docs = self.lock_docs()?;
        let document = self.loaded(&mut docs, ticket_id)?;
        let state = doc::derive(document).state;
        let actor = Actor { user: &self.inner.identity.user_id, role: Some(self.inner.identity.role) };
        Ok(workflow::check_content(&state, action, &actor)?)
    }

    // -----------------------------------------------------------------------------------------
    // Receiving

    /// Merges Automerge changes or a saved document received for `ticket_id` (from the server,
    /// or an export): the new changes are stored and the index row rewritten in one
    /// transaction, and subscribers hear of it. Returns whether anything was new. Bytes that do
    /// not parse, or that hold another ticket, are refused and change nothing.
    pub fn merge_remote(&self, ticket_id: &str, bytes: &[u8]) -> Result<bool, Error> {
        let mut docs = self.lock_docs()?;
        let Some(merged) = self.merged(&mut docs, ticket_id, bytes)? else {
            return Ok(false);
        };
        let pending = self
            .inner
            .store
            .read(|tx| -> Result<_, Error> { Ok(tickets::summary(tx, ticket_id)?.is_some_and(|s| s.pending)) })?;
        let summary = doc::summarize(&merged.document, now_ms(), pending)?;
        self.inner.store.write(|tx| -> Result<(), Error> {
            tickets::append_chunk(tx, ticket_id, ChunkKind::Change, &merged.new_changes)?;
            tickets::upsert_summary(tx, &summary)?;
            Ok(())
        })?;
        docs.insert(ticket_id.to_owned(), merged.document);
        drop(docs);
        self.notify(vec![ticket_id.to_owned()]);
        Ok(true)
    }

    /// The ticket's document with `bytes` merged in, on a copy (the cached document is left as
    /// it is), with the new changes' bytes; `None` when nothing was new.
    fn merged(&self, docs: &mut DocCache, ticket_id: &str, bytes: &[u8]) -> Result<Option<Merged>, Error> {
        check_parses(bytes)?;
        let exists = self.inner.store.read(|tx| -> Result<_, Error> { Ok(tickets::exists(tx, ticket_id)?) })?;
        let mut document = if exists {
            self.loaded(docs, ticket_id)?.fork().with_actor(self.inner.actor.clone())
        } else {
            Automerge::new().with_actor(self.inner.actor.clone())
        };
        let before = document.get_heads();
        document.load_incremental(bytes).map_err(|e| {
            Error::InvalidInput(format!("received bytes cannot be merged into ticket {ticket_id}: {e}"))
        })?;
        if document.get_heads() == before {
            return Ok(None);
        }
        let received = document.get_changes(&before);
        // Every ticket's history grows from its one creation change; a second root means the
        // bytes belong to another document.
        let roots = received.iter().filter(|change| change.deps().is_empty()).count();
        let one_history = if exists { roots == 0 } else { roots == 1 };
        if !one_history || !doc::ticket_id(&document).is_ok_and(|id| id == ticket_id) {
            return Err(Error::InvalidInput(format!("received bytes are not ticket {ticket_id}")));
        }
        let mut new_changes = Vec::new();
        for change in &received {
            new_changes.extend_from_slice(change.raw_bytes());
        }
        Ok(Some(Merged { document, new_changes }))
    }

    // -----------------------------------------------------------------------------------------
    // Sync hooks (driven by crate::sync)

    /// Wakes when a local action is stored: the sync engine's trigger.
    pub(crate) fn local_changes(&self) -> Arc<tokio::sync::Notify> {
        self.inner.local_changes.clone()
    }

    /// The next sync request: the cursor, and every pending ticket's changes the server has
    /// not acknowledged. Reads only; nothing is held while the request travels.
    #[cfg(test)]
    pub(crate) fn sync_request(&self) -> Result<SyncRequest, Error> {
        Ok(self.sync_request_within(&RequestBudget::DEVICE)?.0)
    }

    /// The next request within `budget`, and whether pending tickets were held back for the
    /// next round (the engine then goes again at once).
    pub(crate) fn sync_request_within(&self, budget: &RequestBudget) -> Result<(SyncRequest, bool), Error> {
        let (cursor, pending) = self.inner.store.read(|tx| -> Result<_, Error> {
            let cursor = tickets::get_meta(tx, META_SYNC_CURSOR)?.and_then(|c| c.parse().ok()).unwrap_or(0);
            Ok((cursor, tickets::pending_with_server_heads(tx)?))
        })?;
        let mut docs = self.lock_docs()?;
        let mut pushes = Vec::new();
        let (mut ops, mut bytes) = (0u64, 0usize);
        let mut held_back = false;
        for (ticket_id, server_heads) in pending {
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
    pub(crate) fn apply_sync_response(&self, response: &SyncResponse) -> Result<AppliedSync, Error> {
        let now = now_ms();
        let mut docs = self.lock_docs()?;
        let mut applied = AppliedSync::default();
        let mut staged = Vec::new();
        // The server will take the cursor as proof this device holds these updates: pending
        // makes the next request say what it really holds (`sync_request`).
        let mut unmerged = Vec::new();
        for update in &response.updates {
            let bytes: Vec<u8> = update.data.iter().flat_map(|d| d.iter().copied()).collect();
            let merged = if bytes.is_empty() { Ok(None) } else { self.merged(&mut docs, &update.ticket_id, &bytes) };
            let merged = match merged {
                Ok(merged) => merged,
                Err(e) => {
                    applied.failed.push((update.ticket_id.clone(), e.to_string()));
                    unmerged.push(update.ticket_id.clone());
                    continue;
                }
            };
            let server_heads = protocol::from_wire(&update.heads);
            let summary = match &merged {
                Some(m) => Some(doc::summarize(&m.document, now, false)?),
                None => None,
            };
            let local_heads = match &merged {
                Some(m) => m.document.get_heads(),
                None => match self.loaded(&mut docs, &update.ticket_id) {
                    Ok(document) => document.get_heads(),
                    Err(e) => {
                        applied.failed.push((update.ticket_id.clone(), e.to_string()));
                        continue;
                    }
                },
            };
            let pending = !same_heads(&local_heads, &server_heads);
            if merged.is_some() {
                applied.received.push(update.ticket_id.clone());
            }
            staged.push((update.ticket_id.clone(), merged, summary, server_heads, pending));
        }
        let cursor = response.cursor.to_string();
        // All of it comes again from the server if a power cut undoes it, except a refusal's
        // reason (a replayed push is not refused twice): that one waits for the disk.
        let write = |tx: &rusqlite::Transaction<'_>| -> Result<(), Error> {
            for (ticket_id, merged, summary, server_heads, pending) in &staged {
                if let (Some(merged), Some(summary)) = (merged, summary) {
                    tickets::append_chunk(tx, ticket_id, ChunkKind::Change, &merged.new_changes)?;
                    tickets::upsert_summary(tx, summary)?;
                }
                tickets::set_server_heads(tx, ticket_id, server_heads)?;
                tickets::set_sync_flags(tx, ticket_id, *pending, None)?;
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
                let pending = staged.iter().any(|(id, .., pending)| id == ticket_id && *pending);
                if !pending {
                    tickets::evict(tx, ticket_id)?;
                }
            }
            tickets::set_meta(tx, META_SYNC_CURSOR, &cursor)?;
            tickets::set_meta(tx, META_LAST_SYNC, &now.to_string())?;
            Ok(())
        };
        if response.rejections.is_empty() {
            self.inner.store.write_relaxed(write)?;
        } else {
            self.inner.store.write(write)?;
        }
        let mut changed: Vec<String> = Vec::new();
        for (ticket_id, merged, ..) in staged {
            if let Some(merged) = merged {
                docs.insert(ticket_id.clone(), merged.document);
            }
            changed.push(ticket_id);
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
        Ok(applied)
    }

    /// When a sync last completed on this store (any process), if ever.
    pub fn last_sync_at(&self) -> Result<Option<Millis>, Error> {
        self.inner.store.read(|tx| Ok(tickets::get_meta(tx, META_LAST_SYNC)?.and_then(|v| v.parse().ok())))
    }

    /// How many tickets have local changes the server has not acknowledged.
    pub fn pending_count(&self) -> Result<u64, Error> {
        self.inner.store.read(|tx| Ok(tickets::pending_count(tx)?))
    }

    /// [`Client::pending_count`] and [`Client::pending_upload_totals`] from one snapshot: the
    /// sync status after every sync.
    pub(crate) fn pending_totals(&self) -> Result<(u64, (u64, u64)), Error> {
        self.inner.store.read(|tx| Ok((tickets::pending_count(tx)?, blobs::pending_upload_totals(tx)?)))
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// Ticket summaries matching `filter`, from the index table (no document is loaded).
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TicketSummary>, Error> {
        self.inner.store.read(|tx| Ok(tickets::list(tx, filter)?))
    }

    /// How many tickets are in each status.
    pub fn counts(&self) -> Result<Vec<(Status, u64)>, Error> {
        self.inner.store.read(|tx| Ok(tickets::counts_by_status(tx)?))
    }

    /// The full view of one ticket.
    pub fn get(&self, ticket_id: &str) -> Result<Ticket, Error> {
        let mut docs = self.lock_docs()?;
        let document = self.loaded(&mut docs, ticket_id)?;
        Ok(doc::read_ticket(document)?)
    }

    /// The ticket's whole Automerge document, as bytes (for export and tools).
    pub fn export(&self, ticket_id: &str) -> Result<Vec<u8>, Error> {
        let mut docs = self.lock_docs()?;
        Ok(self.loaded(&mut docs, ticket_id)?.save())
    }

    // -----------------------------------------------------------------------------------------
    // Subscriptions

    /// Calls `callback` with the ids of tickets that changed, after each change is durable. The
    /// callback runs on a dedicated thread, so a slow callback never slows an action. Dropping
    /// the returned handle stops it.
    pub fn subscribe(&self, callback: impl Fn(&[String]) + Send + Sync + 'static) -> Subscription {
        let id = self.inner.subscribers.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.inner.subscribers.callbacks.lock() {
            map.insert(id, Arc::new(callback));
        }
        Subscription { subscribers: Arc::downgrade(&self.inner.subscribers), id }
    }

    fn notify(&self, ids: Vec<String>) {
        let listening = self.inner.subscribers.callbacks.lock().map(|map| !map.is_empty()).unwrap_or(false);
        if listening {
            // The notifier thread only stops when the client is dropped; nothing to do then.
            let _ = self.inner.changed.send(ids);
        }
    }

    // -----------------------------------------------------------------------------------------
    // The one write path

    /// The one write path: checks and applies `command` to the ticket's document, then stores
    /// the change and the new index row in one transaction.
    pub fn run(&self, ticket_id: &str, command: Command) -> Result<(), Error> {
        self.run_with(ticket_id, command, |_| Ok(()))
    }

    /// [`Client::run`], with more rows written in the same transaction (a photo's blobs).
    fn run_with(
        &self,
        ticket_id: &str,
        command: Command,
        also: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let at = now_ms();
        let mut docs = self.lock_docs()?;
        self.loaded(&mut docs, ticket_id)?;
        let known = docs.known(ticket_id);
        let document = docs.get_mut(ticket_id).ok_or_else(|| Error::NotFound(ticket_id.to_owned()))?;
        let (performed, summary) = match known {
            Some(Known { derived, summary: before }) => {
                let derived = derived.unwrap_or_else(|| doc::derive(document));
                let performed = actions::perform_on(document, derived, &self.inner.identity, &command, at)?;
                // A reclassification edits a dispatcher field the index holds (the type).
                let summary = if matches!(command, Command::Reclassify { .. }) {
                    doc::summarize_derived(document, &performed.derived, at, true)?
                } else {
                    doc::summary_after_action(&before, &performed.derived, at)
                };
                (performed, summary)
            }
            None => {
                let performed = actions::perform(document, &self.inner.identity, &command, at)?;
                let summary = doc::summarize_derived(document, &performed.derived, at, true)?;
                (performed, summary)
            }
        };
        if let Err(e) = self.persist(ticket_id, document, &performed, &summary, also) {
            // The in-memory document is ahead of the store: forget it, reload next time.
            docs.remove(ticket_id);
            return Err(e);
        }
        docs.remember(ticket_id, Known { derived: Some(performed.derived), summary });
        drop(docs);
        self.inner.local_changes.notify_one();
        self.notify(vec![ticket_id.to_owned()]);
        Ok(())
    }

    /// Appends the change `performed` made and writes the index row `summary` in one
    /// transaction; compacts the ticket afterwards when enough changes have piled up.
    fn persist(
        &self,
        ticket_id: &str,
        document: &Automerge,
        performed: &Performed,
        summary: &TicketSummary,
        also: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let change = document
            .get_change_by_hash(&performed.hash)
            .ok_or_else(|| Error::InvalidInput("the edit produced no change".into()))?;
        let appended = self.inner.store.write(|tx| -> Result<tickets::Appended, Error> {
            also(tx)?;
            let appended = tickets::append_chunk(tx, ticket_id, ChunkKind::Change, change.raw_bytes())?;
            tickets::upsert_summary(tx, summary)?;
            Ok(appended)
        })?;
        if usize::try_from(appended.changes_since_snapshot).unwrap_or(0) > self.inner.options.compact_after_changes {
            // The action is already durable; a failed compaction is retried after the next one.
            let _ = self.compact(ticket_id, document);
        }
        Ok(())
    }

    /// Writes a snapshot in one transaction, then deletes the chunks it covers in another.
    fn compact(&self, ticket_id: &str, document: &Automerge) -> Result<(), Error> {
        let snapshot = document.save();
        self.inner.store.write(|tx| -> Result<(), Error> {
            tickets::append_chunk(tx, ticket_id, ChunkKind::Snapshot, &snapshot)?;
            Ok(())
        })?;
        self.inner.store.write(|tx| -> Result<(), Error> {
            tickets::delete_chunks_before_snapshot(tx, ticket_id)?;
            Ok(())
        })
    }

    fn lock_docs(&self) -> Result<std::sync::MutexGuard<'_, DocCache>, Error> {
        self.inner.docs.lock().map_err(|_| Error::Store(StoreError::Poisoned))
    }

    /// The ticket's document, from memory or loaded from its chunks in one buffer. A document
    /// that fails to load is quarantined with the reason.
    fn loaded<'c>(&self, docs: &'c mut DocCache, ticket_id: &str) -> Result<&'c mut Automerge, Error> {
        if !docs.contains(ticket_id) {
            let (document, row) = self.load(ticket_id)?;
            docs.insert(ticket_id.to_owned(), document);
            if let Some(summary) = row {
                // The row was written from this document in the same transaction as its last
                // chunk: an action can start from it instead of reading the document's fields.
                docs.remember(ticket_id, Known { derived: None, summary });
            }
        }
        docs.get_mut(ticket_id).ok_or_else(|| Error::NotFound(ticket_id.to_owned()))
    }

    /// The stored document, with its index row when it has one.
    fn load(&self, ticket_id: &str) -> Result<(Automerge, Option<TicketSummary>), Error> {
        let (bytes, row) = self.inner.store.read_for_write(|tx| -> Result<_, Error> {
            Ok((tickets::load_bytes(tx, ticket_id)?, tickets::summary(tx, ticket_id)?))
        })?;
        if let Some(reason) = row.as_ref().and_then(|row| row.quarantined.clone()) {
            return Err(Error::Quarantined { id: ticket_id.to_owned(), reason });
        }
        let bytes = bytes.ok_or_else(|| Error::NotFound(ticket_id.to_owned()))?;
        let loaded =
            Automerge::load(&bytes).map_err(|e| e.to_string()).and_then(|document| match doc::ticket_id(&document) {
                Ok(id) if id == ticket_id => Ok(document),
                Ok(other) => Err(format!("document holds ticket {other}")),
                Err(e) => Err(e.to_string()),
            });
        match loaded {
            Ok(document) => Ok((document.with_actor(self.inner.actor.clone()), row)),
            Err(reason) => {
                let reason = format!("stored document cannot be loaded: {reason}");
                self.inner
                    .store
                    .write(|tx| -> Result<(), Error> { Ok(tickets::quarantine(tx, ticket_id, &reason, now_ms())?) })?;
                Err(Error::Quarantined { id: ticket_id.to_owned(), reason })
            }
        }
    }
}

/// A merge computed but not yet stored.
struct Merged {
    document: Automerge,
    new_changes: Vec<u8>,
}

/// What applying one sync response did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppliedSync {
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

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Automerge's incremental load skips what it cannot parse; received bytes must parse whole.
fn check_parses(bytes: &[u8]) -> Result<(), Error> {
    let strict =
        LoadOptions::new().on_partial_load(OnPartialLoad::Error).verification_mode(VerificationMode::DontCheck);
    match Automerge::load_with_options(bytes, strict) {
        // Changes whose dependencies live in our copy parse fine on their own.
        Ok(_) | Err(AutomergeError::MissingDeps) => Ok(()),
        Err(e) => Err(Error::InvalidInput(format!("received bytes do not parse: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Document cache

/// Loaded documents, least recently used evicted first, each with what a local action needs
/// to know of it beforehand when that is known.
struct DocCache {
    capacity: usize,
    budget_bytes: usize,
    tick: u64,
    docs: HashMap<String, Cached>,
}

struct Cached {
    document: Automerge,
    used: u64,
    /// What was known of the document at these heads: any edit or merge moves the heads, so a
    /// stale entry is never used.
    known: Option<(Vec<ChangeHash>, Known)>,
}

/// What a local action needs to know of a document beforehand: the fold of its history (once
/// an action has made it) and its index row as stored.
#[derive(Clone)]
struct Known {
    derived: Option<Derived>,
    summary: TicketSummary,
}

impl DocCache {
    fn new(capacity: usize, budget_bytes: usize) -> Self {
        DocCache { capacity: capacity.max(1), budget_bytes, tick: 0, docs: HashMap::new() }
    }

    fn contains(&self, id: &str) -> bool {
        self.docs.contains_key(id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Automerge> {
        self.tick += 1;
        let tick = self.tick;
        self.docs.get_mut(id).map(|cached| {
            cached.used = tick;
            &mut cached.document
        })
    }

    /// What is known of the cached document, if it was recorded at its current heads.
    fn known(&self, id: &str) -> Option<Known> {
        let cached = self.docs.get(id)?;
        let (heads, known) = cached.known.as_ref()?;
        (*heads == cached.document.get_heads()).then(|| known.clone())
    }

    /// Records what is known of the cached document at its current heads.
    fn remember(&mut self, id: &str, known: Known) {
        if let Some(cached) = self.docs.get_mut(id) {
            cached.known = Some((cached.document.get_heads(), known));
        }
    }

    /// Caches `document`, then evicts the least recently used others until the cache is
    /// within its count and its memory budget (documents grow as actions land on them, so
    /// the sizes are taken now).
    fn insert(&mut self, id: String, document: Automerge) {
        self.tick += 1;
        self.docs.insert(id.clone(), Cached { document, used: self.tick, known: None });
        let mut bytes = self.estimated_bytes();
        while self.docs.len() > self.capacity || (bytes > self.budget_bytes && self.docs.len() > 1) {
            let oldest = self
                .docs
                .iter()
                .filter(|(cached_id, _)| **cached_id != id)
                .min_by_key(|(_, cached)| cached.used)
                .map(|(cached_id, _)| cached_id.clone());
            let Some(evicted) = oldest.and_then(|oldest| self.docs.remove(&oldest)) else { break };
            bytes = bytes.saturating_sub(estimated_document_bytes(&evicted.document));
        }
    }

    /// The estimated memory of the loaded documents.
    fn estimated_bytes(&self) -> usize {
        self.docs.values().map(|cached| estimated_document_bytes(&cached.document)).sum()
    }

    /// How many documents are loaded, and their estimated memory.
    #[cfg(test)]
    fn footprint(&self) -> (usize, usize) {
        (self.docs.len(), self.estimated_bytes())
    }

    fn remove(&mut self, id: &str) {
        self.docs.remove(id);
    }
}

/// The memory a loaded document takes, estimated from its operation count: measured with
/// Automerge 0.12 (RSS of 200 loaded copies), a ticket takes ≈ 16 KB plus ≈ 57 bytes per
/// operation (36 operations: 18 KB; 6,030 operations, 1,000 changes: 361 KB).
pub(crate) fn estimated_document_bytes(document: &Automerge) -> usize {
    let ops = usize::try_from(document.stats().num_ops).unwrap_or(usize::MAX);
    (16usize << 10).saturating_add(ops.saturating_mul(64))
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

type Callback = Arc<dyn Fn(&[String]) + Send + Sync>;

#[derive(Default)]
struct Subscribers {
    next: AtomicU64,
    callbacks: Mutex<BTreeMap<u64, Callback>>,
}

/// A live subscription; dropping it stops the callback.
pub struct Subscription {
    subscribers: Weak<Subscribers>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(subscribers) = self.subscribers.upgrade() {
            if let Ok(mut map) = subscribers.callbacks.lock() {
                map.remove(&self.id);
            }
        }
    }
}

/// One thread delivers change notifications in order; it ends when the client is dropped.
fn spawn_notifier(subscribers: Weak<Subscribers>) -> Result<mpsc::Sender<Vec<String>>, Error> {
    let (sender, receiver) = mpsc::channel::<Vec<String>>();
    std::thread::Builder::new()
        .name("fieldsync-notify".into())
        .spawn(move || {
            for ids in receiver {
                let Some(subscribers) = subscribers.upgrade() else { return };
                let callbacks: Vec<Callback> = match subscribers.callbacks.lock() {
                    Ok(map) => map.values().cloned().collect(),
                    Err(_) => return,
                };
                for callback in callbacks {
                    // A panicking app callback must not stop notifications for the others.
                    let _ = catch_unwind(AssertUnwindSafe(|| callback(&ids)));
                }
            }
        })
        .map_err(StoreError::Io)?;
    Ok(sender)
}

mod owner;
#[cfg(feature = "report")]
mod report;
#[cfg(feature = "report")]
pub use report::ReportRequest;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
