//! fieldsync-ffi: the Kotlin and Swift face of `fieldsync_core`, through uniffi proc-macros.
//!
//! No logic lives here: every method is one line over [`fieldsync_core::Client`] or
//! [`SyncEngine`]; every action is one method, [`FieldsyncClient::perform`], over the core's own
//! [`Command`] (derived there behind its `uniffi` feature, docs/adr/0032), and the records and enums
//! are the core's own too (the few the boundary adds are in [`types`]); errors are mapped in [`error`]. The plumbing the platforms need is here too: one tokio runtime the library owns
//! (the sync loop, `sync_now`, photo processing and the subscriptions run on it, never on the
//! caller's thread) and the listener tasks behind `subscribe_*`.
//!
//! Generate the bindings from the unstripped library (see bindings/README.md):
//! `target/debug/uniffi-bindgen generate --library target/debug/libfieldsync_ffi.so --language kotlin --out-dir OUT`.

use std::sync::{Arc, Mutex, OnceLock};

pub use fieldsync_core::actions::Command;
use fieldsync_core::model::ListFilter as CoreListFilter;
use fieldsync_core::store::StoreKey;
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncLoop};
use fieldsync_core::{Client, OpenOptions};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

mod error;
mod lifecycle;
mod logging;
mod media;
mod observe;
mod testing;
mod transport;
mod types;

pub use error::{FieldsyncError, SyncFailureKind};
pub use lifecycle::{Cancellation, SyncOutcome};
pub use logging::{FieldsyncLogger, LogLevel, clear_logger, set_logger};
pub use media::{JobSummary, SummaryPart, SummaryTime, UploadProgress};
pub use observe::{ObservationHandle, TicketObserver, TicketQuery, TicketSort, TicketsObserver, TicketsUpdate};
pub use testing::SeedTicket;
pub use transport::{HttpTransport, TransportError, TransportHeader, TransportRequest, TransportResponse};
pub use types::*;

uniffi::setup_scaffolding!();

/// The library's runtime, made on first use: two worker threads, plus tokio's blocking pool
/// for SQLite and photo work.
fn runtime() -> Result<&'static Runtime, FieldsyncError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fieldsync")
        .enable_all()
        .build()
        .map_err(|e| FieldsyncError::Storage { reason: format!("cannot start the library's threads: {}", e.kind()) })?;
    // Two first calls at once: one runtime wins, the other is dropped unused.
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Asks the server who a token belongs to: how a device learns its identity at first sign-in.
/// The request goes through `transport`, the platform's HTTP client (docs/adr/0015); without
/// one, [`FieldsyncError::InvalidInput`].
#[uniffi::export(default(transport = None))]
pub async fn who_am_i(
    server: ServerConfig,
    transport: Option<Arc<dyn HttpTransport>>,
) -> Result<Identity, FieldsyncError> {
    let transport = transport::required(transport)?;
    let me = runtime()?
        .spawn(async move { fieldsync_core::sync::who_am_i_with(transport.as_ref(), &server.url, &server.token).await })
        .await??;
    Ok(Identity { user_id: me.user_id, device_id: me.device_id, role: me.role })
}

/// Encrypts the plaintext store at `store_path` with `store_key`, in place, once: for an app
/// that starts encrypting the stores it already has. The store must not be open. Crash-safe:
/// the plaintext store is replaced only by a complete, verified encrypted copy (docs/adr/0011).
#[uniffi::export]
pub fn encrypt_existing_store(store_path: String, store_key: Vec<u8>) -> Result<(), FieldsyncError> {
    Ok(fieldsync_core::store::encrypt_existing(std::path::Path::new(&store_path), &StoreKey::from_bytes(&store_key)?)?)
}

/// Receives the ticket list: the current one at once, then again after every change.
#[uniffi::export(with_foreign)]
pub trait TicketsListener: Send + Sync {
    /// The tickets on this device, as they stand now. Called off the main thread, in order.
    fn on_tickets(&self, tickets: Vec<TicketSummary>);
}

/// Receives the sync status: the current one at once, then every change.
#[uniffi::export(with_foreign)]
pub trait SyncStatusListener: Send + Sync {
    /// The status now. Called off the main thread, in order.
    fn on_status(&self, status: SyncStatus);
}

/// A running subscription. It stops when [`TaskHandle::cancel`] is called or when the handle
/// is dropped (Kotlin `close()`, Swift deinit).
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<JoinHandle<()>>>,
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the subscription. A listener call already under way finishes; no other follows.
    pub fn cancel(&self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
    }

    /// Whether the subscription is still running.
    pub fn is_active(&self) -> bool {
        self.task.lock().map(|t| t.as_ref().is_some_and(|t| !t.is_finished())).unwrap_or(false)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A signed-in user's tickets on this device, with the sync engine that keeps them in step
/// with the server. Opening starts the background sync loop (offline until
/// [`FieldsyncClient::set_online`]); dropping the client stops it.
#[derive(uniffi::Object)]
pub struct FieldsyncClient {
    engine: SyncEngine,
    sync_loop: Mutex<Option<SyncLoop>>,
}

impl FieldsyncClient {
    fn client(&self) -> &Client {
        self.engine.client()
    }
}

#[uniffi::export]
impl FieldsyncClient {
    /// Opens (or creates) the store at `store_path` for `identity`, syncing with `server`.
    /// `store_key`: the 32-byte key the store is encrypted with, from the platform keystore
    /// (docs/adr/0011); a wrong or missing key is [`FieldsyncError::WrongKey`] and changes nothing.
    /// `transport`: the platform's HTTP client (docs/adr/0015); the Kotlin layer always gives
    /// OkHttp, the Swift layer URLSession. Without one, [`FieldsyncError::InvalidInput`]: the
    /// library has no HTTP client of its own (docs/adr/0020).
    /// Blocking for a few milliseconds (SQLite): call it off the main thread.
    #[uniffi::constructor(default(store_key = None, transport = None))]
    pub fn open(
        store_path: String,
        identity: Identity,
        server: ServerConfig,
        store_key: Option<Vec<u8>>,
        transport: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Arc<Self>, FieldsyncError> {
        let runtime = runtime()?;
        let _context = runtime.enter();
        let options = OpenOptions {
            store_key: store_key.as_deref().map(StoreKey::from_bytes).transpose()?,
            ..Default::default()
        };
        let engine = SyncEngine::with_transport(
            Client::open_with(store_path, identity, options)?,
            SyncConfig::new(server.url, server.token),
            transport::required(transport)?,
        )?;
        let sync_loop = engine.start();
        Ok(Arc::new(FieldsyncClient { engine, sync_loop: Mutex::new(Some(sync_loop)) }))
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// Ticket summaries matching `filter` (no document is loaded).
    pub fn list(&self, filter: ListFilter) -> Result<Vec<TicketSummary>, FieldsyncError> {
        Ok(self.client().list(&filter)?)
    }

    /// The full view of one ticket.
    pub fn get(&self, ticket_id: String) -> Result<Ticket, FieldsyncError> {
        Ok(self.client().get(&ticket_id)?.without_voided())
    }

    /// Ticket summaries matching `query`'s filter, in its order, at most its limit.
    pub fn query(&self, query: TicketQuery) -> Result<Vec<TicketSummary>, FieldsyncError> {
        Ok(self.client().query(&query.into())?)
    }

    /// How many tickets are in each status.
    pub fn counts(&self) -> Result<Vec<StatusCount>, FieldsyncError> {
        let counts = self.client().counts()?;
        Ok(counts.into_iter().map(|(status, count)| StatusCount { status, count }).collect())
    }

    // -----------------------------------------------------------------------------------------
    // Actions: each is on disk when it returns, and syncs later.

    /// Performs one action on a ticket: any [`Command`] the core declares, checked by the
    /// workflow as on every device and the server. On disk when it returns; syncs later.
    /// Runs on the library's blocking pool, so the generated Kotlin is `suspend` and the
    /// Swift `async`: an action added to the core reaches both with no wrapper edit
    /// (docs/adr/0032).
    pub async fn perform(&self, ticket_id: String, command: Command) -> Result<(), FieldsyncError> {
        let client = self.client().clone();
        Ok(runtime()?.spawn_blocking(move || client.perform(&ticket_id, command)).await??)
    }

    /// Renders and records the customer's signature (once), bound to the job summary.
    pub fn capture_signature(
        &self,
        ticket_id: String,
        signer: String,
        strokes: Vec<Vec<StrokePoint>>,
    ) -> Result<SignatureMeta, FieldsyncError> {
        Ok(self.client().capture_signature(&ticket_id, &signer, &strokes)?)
    }

    /// What the customer is shown before signing, with the exact text the signature binds
    /// (`text`; a signature captured now records `sha256` as its `summary_sha256`).
    pub fn job_summary(&self, ticket_id: String) -> Result<JobSummary, FieldsyncError> {
        Ok(self.client().signed_summary(&ticket_id)?.into())
    }

    /// A photo, thumbnail or signature PNG (by its SHA-256) as a file for an image loader
    /// (Coil, AsyncImage): written once into a folder beside the store, then only read. None
    /// when this device does not have it. Blocking for a moment the first time.
    pub fn media_file(&self, sha256: String) -> Result<Option<String>, FieldsyncError> {
        Ok(self.client().media_file(&sha256)?.map(|path| path.to_string_lossy().into_owned()))
    }

    /// Processes a photo file (orientation, metadata stripped, resized, thumbnail) and adds
    /// it to the ticket; it uploads with the next sync. Runs on the library's threads.
    pub async fn add_photo(&self, ticket_id: String, photo: NewPhoto) -> Result<PhotoMeta, FieldsyncError> {
        let client = self.client().clone();
        let meta = runtime()?.spawn(async move { client.add_photo(&ticket_id, photo.into()).await }).await??;
        Ok(meta)
    }

    /// Writes the ticket's service report PDF (offline, from this device's copy and photos) and
    /// returns the file's path: in `options.out_dir`, else in a `reports` folder beside the
    /// store file. Runs on the library's threads (a second or so: the font is read and subset).
    pub async fn service_report(&self, ticket_id: String, options: ReportOptions) -> Result<String, FieldsyncError> {
        let client = self.client().clone();
        let path = runtime()?.spawn_blocking(move || client.service_report(&ticket_id, &options.into())).await??;
        Ok(path.to_string_lossy().into_owned())
    }

    // -----------------------------------------------------------------------------------------
    // Sync

    /// Syncs now (even when offline was reported) and reports what moved. Cancelled when the
    /// awaiting coroutine is, or when `cancellation` is cancelled: the sync stops at its next
    /// step and the next sync carries on (docs/adr/0021).
    #[uniffi::method(default(cancellation = None))]
    pub async fn sync_now(&self, cancellation: Option<Arc<Cancellation>>) -> Result<SyncReport, FieldsyncError> {
        let engine = self.engine.clone();
        lifecycle::cancellable(cancellation, async move { Ok(engine.sync_now().await?.into()) }).await
    }

    /// One sync bounded by `timeout_ms` (the time a background task is granted), sorted into
    /// synced, retry later, or failed: what WorkManager's `Result` and BGTaskScheduler's
    /// `setTaskCompleted` need. Never throws; cancellable like [`FieldsyncClient::sync_now`]
    /// (a cancelled one says `Failed` with kind `Stopped`).
    #[uniffi::method(default(cancellation = None))]
    pub async fn sync_once(&self, timeout_ms: u64, cancellation: Option<Arc<Cancellation>>) -> SyncOutcome {
        let engine = self.engine.clone();
        let timeout = std::time::Duration::from_millis(timeout_ms);
        let outcome = async move { Ok(SyncOutcome::from(engine.sync_once(timeout).await)) };
        lifecycle::cancellable(cancellation, outcome).await.unwrap_or_else(|e| {
            let kind = e.sync_failure_kind();
            SyncOutcome::Failed { kind, reason: e.to_string(), needs_sign_in: kind.needs_sign_in() }
        })
    }

    /// Closes the client: a sync under way stops, the background loop ends, an action under
    /// way finishes, every subscription ends, and the store is released (it may be opened
    /// again at once). Later calls are [`FieldsyncError::Closed`]. The wrappers' `close()`.
    pub async fn shutdown(&self) -> Result<(), FieldsyncError> {
        self.stop_sync();
        let engine = self.engine.clone();
        runtime()?.spawn(async move { engine.close().await }).await?;
        Ok(())
    }

    /// The app's connectivity callback: going online syncs at once.
    pub fn set_online(&self, online: bool) {
        self.engine.set_online(online)
    }

    /// Stops the background sync loop for good (the Swift layer's `close()`); `sync_now` still
    /// works. Dropping the client stops it too.
    pub fn stop_sync(&self) {
        if let Ok(mut sync_loop) = self.sync_loop.lock() {
            sync_loop.take();
        }
    }

    /// The sync status now.
    pub fn sync_status(&self) -> SyncStatus {
        self.engine.status().into()
    }

    // -----------------------------------------------------------------------------------------
    // Subscriptions

    /// Pushes the ticket list to `listener` now and after every change, until the handle is
    /// cancelled or dropped.
    pub fn subscribe_tickets(&self, listener: Arc<dyn TicketsListener>) -> Result<Arc<TaskHandle>, FieldsyncError> {
        let client = self.client().clone();
        let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
        let subscription = client.subscribe(move |_| {
            let _ = changed.send(());
        });
        let task = runtime()?.spawn(async move {
            let _subscription = subscription;
            loop {
                let (client, listener) = (client.clone(), listener.clone());
                // On the blocking pool: a slow listener never holds up the runtime. A listener
                // that throws ends that call only.
                let _ = tokio::task::spawn_blocking(move || {
                    if let Ok(tickets) = client.list(&CoreListFilter::default()) {
                        listener.on_tickets(tickets);
                    }
                })
                .await;
                if changes.recv().await.is_none() {
                    return;
                }
                // Several changes while the listener ran: one list says it all.
                while changes.try_recv().is_ok() {}
            }
        });
        Ok(Arc::new(TaskHandle { task: Mutex::new(Some(task)) }))
    }

    /// Pushes the full view of `ticket_id` to `observer` now and after every change to it
    /// (`None` once it is gone), until the handle is cancelled or dropped.
    pub fn observe_ticket(&self, ticket_id: String, observer: Arc<dyn TicketObserver>) -> Arc<ObservationHandle> {
        let subscription =
            self.client().observe_ticket(&ticket_id, move |t| observer.on_ticket(t.map(Ticket::without_voided)));
        Arc::new(ObservationHandle::new(subscription))
    }

    /// Pushes `query`'s result to `observer` now and whenever a change alters it, with the ids
    /// that changed, until the handle is cancelled or dropped.
    pub fn observe_tickets(&self, query: TicketQuery, observer: Arc<dyn TicketsObserver>) -> Arc<ObservationHandle> {
        let subscription = self.client().observe_tickets(query.into(), move |u| observer.on_tickets(u.into()));
        Arc::new(ObservationHandle::new(subscription))
    }

    /// Pushes the sync status to `listener` now and after every change, until the handle is
    /// cancelled or dropped.
    pub fn subscribe_sync_status(
        &self,
        listener: Arc<dyn SyncStatusListener>,
    ) -> Result<Arc<TaskHandle>, FieldsyncError> {
        let mut statuses = self.engine.watch_status();
        let task = runtime()?.spawn(async move {
            loop {
                let status: SyncStatus = statuses.borrow_and_update().clone().into();
                let listener = listener.clone();
                let _ = tokio::task::spawn_blocking(move || listener.on_status(status)).await;
                if statuses.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Arc::new(TaskHandle { task: Mutex::new(Some(task)) }))
    }
}
