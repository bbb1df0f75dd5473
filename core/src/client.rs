//! The facade apps and bindings use: open a store for a user, act on tickets, query, subscribe.
//!
//! Every action follows one path ([`Client::run`]): load the document, check the action
//! against the workflow, edit the document, then in one SQLite transaction append the change
//! and rewrite the ticket's index row. When the call returns, the action is on disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use automerge::{ActorId, Automerge, AutomergeError, LoadOptions, OnPartialLoad, ReadDoc, VerificationMode};

use crate::actions::{self, Command, Performed};
use crate::error::Error;
use crate::media::{self, PhotoOptions, PhotoSource, SignatureOptions, StrokePoint};
use crate::model::doc;
use crate::model::{
    Classification, Identity, JobSummary, ListFilter, Location, NewPhoto, NewTicket, PhotoInput, PhotoMeta,
    SignatureMeta, Ticket, TicketQuery, TicketSummary,
};
use crate::store::blobs::{self, Upload};
use crate::store::claims::{self, StoreClaim};
use crate::store::tickets::{self, ChunkKind};
use crate::store::{Durability, OpenReport, Store, StoreError, StoreKey};
use crate::time::{Clock, Millis};
use crate::workflow::Status;
use crate::workflow::{self, Action, Actor};
use cache::{DocCache, Known};
pub use exchange::{Applied, Exchange, Exchanged, MAX_ROUNDS, Pending, Waiting};
pub use observe::QueryUpdate;
use subscriptions::Notifier;
pub use subscriptions::Subscription;

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
    /// Where the client reads "now" for every stamp it writes (actions, syncs, quarantines);
    /// the system clock by default (docs/adr/0029).
    pub clock: Clock,
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
            clock: Clock::system(),
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
    notifier: Notifier,
    local_changes: Arc<tokio::sync::Notify>,
    /// This process's claim on the store file, released by [`Client::close`] or on drop.
    claim: Mutex<Option<StoreClaim>>,
    /// Set by [`Client::close`]: every call after it is [`Error::Closed`].
    closed: AtomicBool,
    /// The folder of a temporary store ([`Client::open_temporary`]), deleted when this drops:
    /// declared last, so the store's connections are closed by then.
    temporary: std::sync::OnceLock<temporary::TemporaryFolder>,
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
    /// refused; a store whose key is wrong or missing is refused and left as it is. A store
    /// another client of this process has open is refused ([`StoreError::InUse`]) and not
    /// touched: one client per store per process (`store::claims`, docs/adr/0021).
    pub fn open_with(store_path: impl AsRef<Path>, identity: Identity, options: OpenOptions) -> Result<Client, Error> {
        if identity.user_id.is_empty() || identity.device_id.is_empty() {
            return Err(Error::InvalidInput("user id and device id must not be empty".into()));
        }
        let claim = claims::claim(store_path.as_ref())?;
        // The key is needed only to open; the client does not keep it (dropping wipes it).
        let mut options = options;
        let key = options.store_key.take();
        let (store, report) = Store::open(store_path.as_ref(), options.durability, key.as_ref())?;
        drop(key);
        let actor = store.write(|tx| owner::claim(tx, &identity))?;
        let notifier = Notifier::start()?;
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
                notifier,
                local_changes,
                claim: Mutex::new(Some(claim)),
                closed: AtomicBool::new(false),
                temporary: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Closes the client: waits for an action under way to finish, then every later call on
    /// it (or on any clone) is [`Error::Closed`], its subscriptions end, and the store is
    /// released, so it can be opened again at once. Idempotent. The SQLite connections close
    /// when the last clone is dropped; nothing writes through them after this returns.
    pub fn close(&self) {
        // Every write and every document read holds this lock: once taken, none is under way.
        let mut docs = self.inner.docs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner.closed.store(true, Ordering::SeqCst);
        docs.clear();
        drop(docs);
        self.inner.notifier.close();
        // Wakes a sync loop waiting for local changes, so that it notices.
        self.inner.local_changes.notify_one();
        if let Ok(mut claim) = self.inner.claim.lock() {
            claim.take();
        }
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// The store, unless the client is closed.
    fn live_store(&self) -> Result<&Store, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(&self.inner.store)
    }

    /// Who this client acts as.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// What happened while opening (migration, a corrupt file moved aside).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// Now, by this client's clock ([`OpenOptions::clock`]).
    pub fn now(&self) -> Millis {
        self.inner.options.clock.now()
    }

    /// The clock this client stamps with.
    pub fn clock(&self) -> &Clock {
        &self.inner.options.clock
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
        let at = self.now();
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

    /// Puts a new (or rejected) ticket into the shared pool, where engineers claim it, instead
    /// of assigning it (dispatchers and admins; docs/adr/0023).
    pub fn pool(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Pool { group: None })
    }

    /// Claims a pooled ticket for this device's engineer, offline too: it becomes theirs,
    /// accepted. When another engineer's claim reached the server first, the next sync reports
    /// the refusal ("cannot claim: claimed by someone else") and the ticket leaves this device.
    pub fn claim(&self, ticket_id: &str) -> Result<(), Error> {
        self.run(ticket_id, Command::Claim)
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
        let now = self.now();
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
            signed_at: self.now(),
            png_sha256: png_sha256.clone(),
            summary_sha256,
        };
        let strokes_json = serde_json::to_string(strokes).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let now = self.now();
        self.run_with(ticket_id, Command::CaptureSignature { signature: signature.clone(), strokes_json }, |tx| {
            blobs::put_blob(tx, &png_sha256, &png, "image/png", now)?;
            blobs::queue_upload(tx, &png_sha256, ticket_id, png.len() as u64, now)?;
            Ok(())
        })?;
        Ok(signature)
    }

    /// A stored blob (a photo, thumbnail or signature image).
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        self.live_store()?.read(|tx| Ok(blobs::blob(tx, sha256)?))
    }

    /// Every blob upload and where it stands.
    pub fn uploads(&self) -> Result<Vec<Upload>, Error> {
        self.live_store()?.read(|tx| Ok(blobs::uploads(tx)?))
    }

    /// Pending uploads: how many, and how many bytes are left to send.
    pub fn pending_upload_totals(&self) -> Result<(u64, u64), Error> {
        self.live_store()?.read(|tx| Ok(blobs::pending_upload_totals(tx)?))
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
        let exists = self.inner.store.read(|tx| -> Result<_, Error> { Ok(tickets::exists(tx, ticket_id)?) })?;
        // Caught here, while the documents' lock is held: a panic unwinding through it would
        // poison it, and every later read of every ticket would fail.
        let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let Some(merged) = self.merged(&mut docs, ticket_id, bytes, exists)? else { return Ok(None) };
            let pending = self
                .inner
                .store
                .read(|tx| -> Result<_, Error> { Ok(tickets::summary(tx, ticket_id)?.is_some_and(|s| s.pending)) })?;
            let summary = doc::summarize(&merged.document, self.now(), pending)?;
            Ok(Some((merged, summary)))
        }))
        .unwrap_or_else(|_| Err(automerge_failed(ticket_id)))?;
        let Some((merged, summary)) = merged else {
            return Ok(false);
        };
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
    /// it is), with the new changes' bytes; `None` when nothing was new. `exists`: the store
    /// holds the ticket.
    fn merged(
        &self,
        docs: &mut DocCache,
        ticket_id: &str,
        bytes: &[u8],
        exists: bool,
    ) -> Result<Option<Merged>, Error> {
        check_parses(bytes)?;
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
    // Sync state (the exchange itself: `exchange`)

    /// When a sync last completed on this store (any process), if ever.
    pub fn last_sync_at(&self) -> Result<Option<Millis>, Error> {
        self.live_store()?.read(|tx| Ok(tickets::get_meta(tx, META_LAST_SYNC)?.and_then(|v| v.parse().ok())))
    }

    /// How many tickets have local changes the server has not acknowledged.
    pub fn pending_count(&self) -> Result<u64, Error> {
        self.live_store()?.read(|tx| Ok(tickets::pending_count(tx)?))
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// Ticket summaries matching `filter`, from the index table (no document is loaded).
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TicketSummary>, Error> {
        self.live_store()?.read(|tx| Ok(tickets::list(tx, filter)?))
    }

    /// Ticket summaries matching `query`'s filter, in its order, at most its limit.
    pub fn query(&self, query: &TicketQuery) -> Result<Vec<TicketSummary>, Error> {
        self.live_store()?.read(|tx| Ok(tickets::query(tx, query)?))
    }

    /// How many tickets are in each status.
    pub fn counts(&self) -> Result<Vec<(Status, u64)>, Error> {
        self.live_store()?.read(|tx| Ok(tickets::counts_by_status(tx)?))
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
        self.inner.notifier.subscribe(callback)
    }

    fn notify(&self, ids: Vec<String>) {
        self.inner.notifier.notify(ids);
    }

    // -----------------------------------------------------------------------------------------
    // The one write path

    /// Performs an action an app names as data (the bindings' one `perform`, docs/adr/0032):
    /// [`Client::run`], except a photo or a signature, which come with what the command only
    /// points at (the image, the rendered strokes): [`Client::add_photo`] and
    /// [`Client::capture_signature`] make those.
    pub fn perform(&self, ticket_id: &str, command: Command) -> Result<(), Error> {
        match command {
            Command::AddPhoto { .. } => {
                Err(Error::InvalidInput("a photo is added with add_photo, which brings the image".into()))
            }
            Command::CaptureSignature { .. } => {
                Err(Error::InvalidInput("a signature is captured with capture_signature, which renders it".into()))
            }
            command => self.run(ticket_id, command),
        }
    }

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
        also: impl FnOnce(&rusqlite::Connection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let at = self.now();
        let mut docs = self.lock_docs()?;
        self.loaded(&mut docs, ticket_id)?;
        let known = docs.known(ticket_id);
        let document = docs.get_mut(ticket_id).ok_or_else(|| Error::NotFound(ticket_id.to_owned()))?;
        let (performed, summary) = match known {
            Some(Known { derived, summary: before }) => {
                let derived = derived.unwrap_or_else(|| doc::derive(document));
                let performed = actions::perform_on(document, derived, &self.inner.identity, &command, at)?;
                let summary =
                    doc::summary_after_action(&before, document, &performed.derived, performed.index_unchanged, at);
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
        also: impl FnOnce(&rusqlite::Connection) -> Result<(), Error>,
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

    /// The loaded documents, locked for one action; [`Error::Closed`] once the client is.
    fn lock_docs(&self) -> Result<std::sync::MutexGuard<'_, DocCache>, Error> {
        let docs = self.inner.docs.lock().map_err(|_| Error::Store(StoreError::Poisoned))?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(docs)
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
                self.inner.store.write(|tx| -> Result<(), Error> {
                    Ok(tickets::quarantine(tx, ticket_id, &reason, self.now())?)
                })?;
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

/// Automerge's incremental load skips what it cannot parse; received bytes must parse whole.
/// Received bytes Automerge panicked on: refused as bytes that do not parse are (a ticket a
/// hostile device poisoned on a server without the checks of docs/adr/0034).
pub(crate) fn automerge_failed(ticket_id: &str) -> Error {
    Error::InvalidInput(format!("received bytes for ticket {ticket_id} could not be merged: Automerge failed on them"))
}

fn check_parses(bytes: &[u8]) -> Result<(), Error> {
    let strict =
        LoadOptions::new().on_partial_load(OnPartialLoad::Error).verification_mode(VerificationMode::DontCheck);
    match Automerge::load_with_options(bytes, strict) {
        // Changes whose dependencies live in our copy parse fine on their own.
        Ok(_) | Err(AutomergeError::MissingDeps) => Ok(()),
        Err(e) => Err(Error::InvalidInput(format!("received bytes do not parse: {e}"))),
    }
}

mod cache;
mod exchange;
#[cfg(test)]
mod lifecycle_tests;
mod media_out;
#[cfg(test)]
mod media_out_tests;
pub use media_out::SignedSummary;
mod observe;
mod owner;
#[cfg(feature = "report")]
mod report;
#[cfg(feature = "report")]
pub use report::ReportRequest;
#[cfg(test)]
mod observe_tests;
mod subscriptions;
#[cfg(test)]
mod sync_tests;
mod temporary;
#[cfg(test)]
mod temporary_tests;
#[cfg(test)]
mod tests;
