//! The device's sync engine: one loop that pushes local changes and pulls the server's.
//!
//! [`SyncEngine::sync_now`] runs one full sync: it drives the client's sans-IO
//! [`Exchange`](crate::client::Exchange) (build the request from the store, apply the response
//! in one write transaction, repeat while the server says more is waiting) over an
//! [`HttpTransport`]; no transaction is open while a request travels. The transport is the
//! engine's only I/O: reqwest by default, the app's own platform client on phones
//! (docs/adr/0015). A panic anywhere in a sync is caught and reported as
//! [`SyncError::Internal`] on the status, never a silently dead loop. [`SyncEngine::start`] runs
//! the background loop: it syncs when a local action is stored, when the app reports that the
//! device is online, and periodically; after a failure it waits with exponential backoff and
//! jitter. The status (pending changes, last success, last error) is pushed to subscribers.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::FutureExt;
use tokio::sync::{Notify, watch};

use crate::client::{Client, Exchange, Pending, Waiting};
use crate::error::Error;
use crate::protocol::{self, ApiError, DecodeError, SyncRequest, SyncResponse, WhoAmI};
use crate::time::Millis;

mod identity;
mod log;
#[cfg(feature = "reqwest-transport")]
mod reqwest_transport;
pub mod transport;
mod uploads;
#[cfg(feature = "reqwest-transport")]
pub use identity::who_am_i;
pub use identity::who_am_i_with;
#[cfg(feature = "reqwest-transport")]
pub use reqwest_transport::ReqwestTransport;
pub use transport::{
    BlockingTransport, HttpRequest, HttpResponse, HttpTransport, Method, TransportError, on_blocking_pool,
};
pub use uploads::{CHUNK_BYTES, UploadReport};

/// Where and how to sync.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The server's base URL, e.g. `https://fieldsync.example.com`.
    pub server_url: String,
    /// This device's bearer token.
    pub token: String,
    /// First wait after a failure.
    pub min_backoff: Duration,
    /// Longest wait after repeated failures.
    pub max_backoff: Duration,
    /// Sync this often even when nothing happens locally (to hear of dispatcher changes).
    pub poll_interval: Duration,
    /// Give up on one request after this long.
    pub request_timeout: Duration,
    /// Bytes per upload request for photos and signatures (an interrupted upload re-sends at
    /// most one of these).
    pub upload_chunk_bytes: usize,
}

impl SyncConfig {
    /// A configuration with the usual timings.
    pub fn new(server_url: impl Into<String>, token: impl Into<String>) -> Self {
        SyncConfig {
            server_url: server_url.into(),
            token: token.into(),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            poll_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            upload_chunk_bytes: uploads::CHUNK_BYTES,
        }
    }
}

/// Why a sync failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    /// The app said the device is offline.
    #[error("offline")]
    Offline,
    /// The server could not be reached, the connection broke, or no answer came in time.
    #[error("network: {0}")]
    Network(String),
    /// The server's certificate was not trusted, or the TLS handshake failed: the server's
    /// certificate or the device's trust settings must change first.
    #[error("TLS: {0}")]
    Tls(String),
    /// The token was refused: sign in again.
    #[error("the server refused this device's token")]
    Unauthorized,
    /// The server answered with an error.
    #[error("server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server's answer could not be read.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The local store failed.
    #[error("local store: {0}")]
    Local(String),
    /// A bug: a library task panicked. Reported instead of ending the sync loop silently.
    #[error("internal error: {0}")]
    Internal(String),
    /// The client was closed while the sync waited or ran; the sync stopped where it was (an
    /// answer not yet applied is asked for again by the next sync of a reopened client).
    #[error("the client is closed")]
    Closed,
    /// The token belongs to another user or device than this store: nothing was sent and
    /// nothing in the store changed. Sync it with its own user's token on its own device.
    #[error(
        "this token belongs to {token_user} (device {token_device}), not to this store's owner {store_user} \
         (device {store_device}): nothing was sent; sign in as {store_user} on this device"
    )]
    ForeignToken {
        /// The user the token belongs to.
        token_user: String,
        /// The device the token was issued to.
        token_device: String,
        /// The user the store belongs to.
        store_user: String,
        /// The device the store belongs to.
        store_device: String,
    },
}

impl SyncError {
    /// Worth retrying later by itself (network trouble, server overloaded).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Network(_) | SyncError::Offline => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

impl From<Error> for SyncError {
    fn from(e: Error) -> Self {
        match e {
            Error::Closed => SyncError::Closed,
            e => SyncError::Local(e.to_string()),
        }
    }
}

impl From<TransportError> for SyncError {
    fn from(e: TransportError) -> Self {
        match e {
            // A request that could not be made (a malformed URL, a transport that threw) says
            // why in its message; it is retried with backoff like any failed request.
            TransportError::Network(m) | TransportError::Timeout(m) | TransportError::Request(m) => {
                SyncError::Network(m)
            }
            TransportError::Tls(m) => SyncError::Tls(m),
        }
    }
}

impl From<DecodeError> for SyncError {
    fn from(e: DecodeError) -> Self {
        SyncError::Protocol(e.to_string())
    }
}

/// What one [`SyncEngine::sync_now`] moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Tickets whose local changes were sent.
    pub pushed: Vec<String>,
    /// Tickets that received changes from the server.
    pub received: Vec<String>,
    /// Tickets the server refused, with the reason.
    pub rejected: Vec<(String, String)>,
    /// Of the refused tickets, those the server stored nothing of: their changes stay pending
    /// and go again with the next sync. The others were stored and undone (final).
    pub retrying: Vec<String>,
    /// Tickets removed from this device.
    pub evicted: Vec<String>,
    /// Tickets whose server update could not be merged, with the reason (the rest synced).
    pub failed: Vec<(String, String)>,
    /// HTTP round trips.
    pub round_trips: u32,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// The photo and signature uploads done after the documents.
    pub uploads: UploadReport,
}

/// What one bounded sync ([`SyncEngine::sync_once`]) came to, in the terms of the platforms'
/// background schedulers: WorkManager's `Result.success()` / `retry()` / `failure()`,
/// BGTaskScheduler's `setTaskCompleted(success:)` and whether to schedule the next request soon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOnce {
    /// Everything went both ways: documents, and every upload that could go.
    Synced(SyncReport),
    /// It did not finish, for a reason that passes by itself (no network, a server error
    /// 5xx/429, the time was up, uploads cut short): try again later.
    Retry(SyncError),
    /// Retrying will not help until something changes (the token refused: sign in again; a
    /// certificate not trusted; the store or the client closed).
    Failed(SyncError),
}

/// The engine's state, for a status bar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Whether the app reports connectivity.
    pub online: bool,
    /// A sync is running.
    pub syncing: bool,
    /// Tickets with local changes the server has not acknowledged.
    pub pending_tickets: u64,
    /// When the last sync succeeded.
    pub last_success_at: Option<Millis>,
    /// The last failure, cleared by a success, as text.
    pub last_error: Option<String>,
    /// The last failure, cleared by a success: what an app decides on (sign in again, offline,
    /// a certificate the device does not trust, a bug).
    pub last_failure: Option<SyncError>,
    /// Blobs (photos, signatures) waiting to upload.
    pub pending_uploads: u64,
    /// Bytes of those blobs not yet on the server.
    pub pending_upload_bytes: u64,
    /// Each upload waiting or under way, with the bytes the server has confirmed (`sent` of
    /// `size`), updated after every chunk: per-photo progress.
    pub uploads: Vec<crate::store::blobs::Upload>,
}

/// The sync engine of one [`Client`]. Cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    client: Client,
    config: SyncConfig,
    transport: Arc<dyn HttpTransport>,
    status: watch::Sender<SyncStatus>,
    online_changed: Notify,
    /// One sync at a time: the loop and `sync_now` callers take turns.
    running: tokio::sync::Mutex<()>,
    /// Whom `config.token` belongs to, asked once (a token never changes owner).
    token_owner: tokio::sync::OnceCell<WhoAmI>,
    last_report: Mutex<Option<SyncReport>>,
    /// Set by [`SyncEngine::close`]: a sync under way stops, the loop ends, no sync starts.
    closed: watch::Sender<bool>,
}

impl SyncError {
    /// The error an unsuccessful answer means: 401 is [`SyncError::Unauthorized`], anything
    /// else [`SyncError::Server`] with the server's message. The one reading of a server's
    /// refusal, for the sync engine and for the CLI's dispatcher commands alike.
    pub fn from_response(status: u16, body: &[u8]) -> SyncError {
        server_error(status, body)
    }
}

fn server_error(status: u16, body: &[u8]) -> SyncError {
    if status == 401 {
        return SyncError::Unauthorized;
    }
    let message = serde_json::from_slice::<ApiError>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    SyncError::Server { status, message }
}

impl SyncStatus {
    fn set_pending(&mut self, pending: Pending) {
        self.pending_tickets = pending.tickets;
        self.pending_uploads = pending.uploads;
        self.pending_upload_bytes = pending.upload_bytes;
    }
}

/// Runs `step` on the exchange on tokio's blocking pool (it reads and writes SQLite), and hands
/// the exchange back.
async fn off_thread<T: Send + 'static>(
    mut exchange: Exchange,
    step: impl FnOnce(&mut Exchange) -> T + Send + 'static,
) -> Result<(Exchange, T), SyncError> {
    tokio::task::spawn_blocking(move || {
        let out = step(&mut exchange);
        (exchange, out)
    })
    .await
    .map_err(joined)
}

/// A blocking task that did not finish: it panicked (or the runtime is shutting down).
fn joined(e: tokio::task::JoinError) -> SyncError {
    match e.try_into_panic() {
        Ok(panic) => SyncError::Internal(panic_message(panic.as_ref())),
        Err(e) => SyncError::Local(e.to_string()),
    }
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said =
        panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned());
    format!("a sync task panicked: {}", said.unwrap_or_else(|| "no message".into()))
}

impl SyncEngine {
    /// An engine for `client`, talking to `config.server_url`. Starts offline until the app
    /// calls [`SyncEngine::set_online`] (or [`SyncEngine::sync_now`], which always tries).
    /// Over the built-in client (feature `reqwest-transport`).
    #[cfg(feature = "reqwest-transport")]
    pub fn new(client: Client, config: SyncConfig) -> Result<SyncEngine, SyncError> {
        let transport = ReqwestTransport::new(config.request_timeout)?;
        Self::with_transport(client, config, Arc::new(transport))
    }

    /// An engine that sends every request through `transport` (an app's own HTTP client).
    pub fn with_transport(
        client: Client,
        config: SyncConfig,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<SyncEngine, SyncError> {
        let mut status = SyncStatus::default();
        let (pending, uploads) = client.waiting()?;
        status.set_pending(pending);
        status.uploads = uploads;
        let (status, _) = watch::channel(status);
        Ok(SyncEngine {
            inner: Arc::new(EngineInner {
                client,
                config,
                transport,
                status,
                online_changed: Notify::new(),
                running: tokio::sync::Mutex::new(()),
                token_owner: tokio::sync::OnceCell::new(),
                last_report: Mutex::new(None),
                closed: watch::channel(false).0,
            }),
        })
    }

    /// An engine with no server, for a temporary store ([`Client::open_temporary`]): the
    /// status, the loop and `sync_now` are the real ones, and every sync fails as if the
    /// network were down ([`TransportError::Network`], "no server").
    pub fn without_server(client: Client) -> Result<SyncEngine, SyncError> {
        Self::with_transport(client, SyncConfig::new("", ""), Arc::new(transport::NoServer))
    }

    /// The client this engine syncs.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.inner.status.borrow().clone()
    }

    /// A receiver that sees every status change (the current value first).
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// What the last sync moved.
    pub fn last_report(&self) -> Option<SyncReport> {
        self.inner.last_report.lock().ok().and_then(|r| r.clone())
    }

    /// The app's connectivity callback: going online wakes the loop at once.
    pub fn set_online(&self, online: bool) {
        self.inner.status.send_modify(|s| s.online = online);
        self.inner.online_changed.notify_one();
    }

    /// Runs one full sync now (several round trips only if the server has more than one
    /// response's worth), and reports what moved.
    ///
    /// Cancel-safe: dropping the future (a cancelled coroutine or Swift task, a timeout) stops
    /// the sync at its next step. Nothing is left half-applied: each answer is applied in one
    /// transaction or not at all, and what the server took but this device did not hear back
    /// about is sent again, idempotently, by the next sync. The status stops saying `syncing`.
    pub async fn sync_now(&self) -> Result<SyncReport, SyncError> {
        let mut closed = self.inner.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(SyncError::Closed);
        }
        tokio::select! {
            result = self.sync_turn() => result,
            _ = closed.wait_for(|closed| *closed) => Err(SyncError::Closed),
        }
    }

    /// One bounded sync for a background task (WorkManager, BGTaskScheduler): [`SyncEngine::sync_now`]
    /// stopped after `timeout` (the time the platform grants), with its result sorted into
    /// done, try again later, or give up ([`SyncOnce`]).
    pub async fn sync_once(&self, timeout: Duration) -> SyncOnce {
        match tokio::time::timeout(timeout, self.sync_now()).await {
            Ok(Ok(report)) => match &report.uploads.interrupted {
                Some(why) => SyncOnce::Retry(SyncError::Network(format!("uploads cut short: {why}"))),
                None => SyncOnce::Synced(report),
            },
            Ok(Err(e)) if e.is_transient() => SyncOnce::Retry(e),
            Ok(Err(e)) => SyncOnce::Failed(e),
            Err(_) => SyncOnce::Retry(SyncError::Network(format!(
                "the sync did not finish within {} s; it stopped and goes on next time",
                timeout.as_secs_f32()
            ))),
        }
    }

    /// Stops this engine for good: a sync under way stops at its next step, the background
    /// loop ends, later syncs are [`SyncError::Closed`], and then the client closes
    /// ([`Client::close`]: an action under way finishes first, and the store is released).
    pub async fn close(&self) {
        self.inner.closed.send_replace(true);
        // Taken once the sync under way has seen `closed` and stopped.
        let _turn = self.inner.running.lock().await;
        let client = self.inner.client.clone();
        // Waits for an action under way (a blocking step of the stopped sync, too): off the runtime.
        let _ = tokio::task::spawn_blocking(move || client.close()).await;
    }

    /// Whether [`SyncEngine::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    async fn sync_turn(&self) -> Result<SyncReport, SyncError> {
        let _turn = self.inner.running.lock().await;
        self.inner.status.send_modify(|s| s.syncing = true);
        let started = std::time::Instant::now();
        // However this sync ends (also when its future is dropped), the status stops saying so.
        let _syncing = SyncingFlag(&self.inner.status);
        // What waits to go as the attempt starts is read in the exchange's first trip to the
        // blocking pool (one trip fewer per sync), and said then; here when no trip was made.
        let mut started_said = false;
        // A panic in any step (ours, a transport's) ends this sync with a typed error; the
        // loop and the app carry on.
        let result = match AssertUnwindSafe(self.sync_rounds(&mut started_said)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(SyncError::Internal(panic_message(panic.as_ref()))),
        };
        if !started_said {
            self.attempt_started(self.waiting().await.ok());
        }
        // What still waits: as the sync read it last when nothing was uploaded after, else
        // read again.
        let (result, waiting) = match result {
            Ok((report, Some(waiting))) => (Ok(report), Some(waiting)),
            Ok((report, None)) => (Ok(report), self.waiting().await.ok()),
            Err(e) => (Err(e), self.waiting().await.ok()),
        };
        let finished_at = self.inner.client.now();
        self.inner.status.send_modify(|s| {
            s.syncing = false;
            if let Some((pending, uploads)) = waiting {
                s.set_pending(pending);
                s.uploads = uploads;
            }
            match &result {
                Ok(_) => {
                    s.last_success_at = Some(finished_at);
                    s.last_error = None;
                    s.last_failure = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_failure = Some(e.clone());
                }
            }
        });
        if let (Ok(report), Ok(mut last)) = (&result, self.inner.last_report.lock()) {
            *last = Some(report.clone());
        }
        log::outcome(&result, started.elapsed());
        result
    }

    /// The status's counts as the attempt starts (local actions do not touch the status), and
    /// the attempt's log line.
    fn attempt_started(&self, waiting: Option<Waiting>) {
        if let Some((pending, uploads)) = waiting {
            self.inner.status.send_modify(|s| {
                s.set_pending(pending);
                s.uploads = uploads;
            });
        }
        log::attempt(&self.inner.status.borrow());
    }

    /// The exchange, then the uploads; with what waits after them when the last read of the
    /// store still says so (no upload went after it). Says the attempt started
    /// ([`SyncEngine::attempt_started`]) from its first trip to the blocking pool, and sets
    /// `started_said` then.
    async fn sync_rounds(&self, started_said: &mut bool) -> Result<(SyncReport, Option<Waiting>), SyncError> {
        self.check_token().await?;
        let mut report = SyncReport::default();
        let mut exchange = self.inner.client.exchange();
        // What waits once the exchange is over, when the trip that applied its last answer
        // read it too.
        let mut waiting_after = None;
        // A finished exchange builds no request: no trip to the blocking pool to learn so.
        while !exchange.is_done() {
            // The first trip only: the store, to read what waited as the attempt started.
            let first = (!*started_said).then(|| self.inner.client.clone());
            let (next, (request, waiting)) = off_thread(exchange, move |exchange| {
                // Read before the request is built.
                let waiting = first.map(|client| client.waiting().ok());
                (exchange.next_request(), waiting)
            })
            .await?;
            if let Some(waiting) = waiting {
                self.attempt_started(waiting);
                *started_said = true;
            }
            exchange = next;
            let Some(request) = request? else { break };
            let response = self.exchange(&request, &mut report).await?;
            // The last answer's write also reads what then waits.
            let (next, received) = off_thread(exchange, move |exchange| exchange.receive_counting(&response)).await?;
            exchange = next;
            waiting_after = received?.1;
        }
        let exchanged = exchange.finish();
        report.pushed = exchanged.pushed;
        let applied = exchanged.applied;
        report.received = applied.received;
        report.rejected = applied.rejected;
        report.retrying = applied.retrying;
        report.evicted = applied.evicted;
        report.failed = applied.failed;
        // Documents first; blobs after, so a stuck photo never holds up a ticket. One read
        // gives the queue and, when it is empty, the status's counts.
        let waiting = match waiting_after {
            Some(waiting) => Ok(waiting),
            None => self.waiting().await,
        };
        match waiting {
            Ok((pending, uploads)) if uploads.is_empty() => Ok((report, Some((pending, uploads)))),
            Ok((_, uploads)) => {
                report.uploads = self.upload_pending(uploads).await;
                Ok((report, None))
            }
            Err(e) => {
                report.uploads.interrupted = Some(e.to_string());
                Ok((report, None))
            }
        }
    }

    /// What waits to go, from one read of the store on the blocking pool: the counts the
    /// status shows and the queued uploads.
    async fn waiting(&self) -> Result<Waiting, SyncError> {
        let client = self.inner.client.clone();
        tokio::task::spawn_blocking(move || client.waiting()).await.map_err(joined)?.map_err(SyncError::from)
    }

    /// Refuses a token of anyone but the store's owner before the first request that carries
    /// the store's data (`identity` module). Only a successful answer is kept: a network
    /// failure is asked again next time.
    async fn check_token(&self) -> Result<(), SyncError> {
        let config = &self.inner.config;
        let owner = self
            .inner
            .token_owner
            .get_or_try_init(|| async {
                let response = self.send_checked(identity::request(&config.server_url, &config.token)).await?;
                identity::read(&response)
            })
            .await?;
        identity::check_owner(self.inner.client.identity(), owner)
    }

    /// Sends one sync request and reads the answer.
    async fn exchange(&self, request: &SyncRequest, report: &mut SyncReport) -> Result<SyncResponse, SyncError> {
        let body = request.encode();
        report.bytes_sent += body.len() as u64;
        report.round_trips += 1;
        let url = format!("{}/v1/sync", self.inner.config.server_url.trim_end_matches('/'));
        let request = self.authorized(Method::Post, url).header("Content-Type", protocol::CONTENT_TYPE).body(body);
        let sent = request.body.len();
        let response = self.send(request).await?;
        report.bytes_received += response.body.len() as u64;
        log::round_trip(report.round_trips, sent, response.body.len());
        if !response.is_success() {
            return Err(server_error(response.status, &response.body));
        }
        Ok(SyncResponse::decode(&response.body)?)
    }

    /// A request to `url` carrying this device's token.
    fn authorized(&self, method: Method, url: String) -> HttpRequest {
        HttpRequest::new(method, url).header("Authorization", format!("Bearer {}", self.inner.config.token))
    }

    /// Sends `request` through the transport, bounded by the request timeout whatever the
    /// transport does.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        let timeout = self.inner.config.request_timeout;
        // The transport's own timeout says more (connect or read); this one is the backstop.
        let backstop = timeout + Duration::from_secs(2);
        match tokio::time::timeout(backstop, self.inner.transport.send(request.timeout(timeout))).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(SyncError::Network(format!("no answer within {} s", timeout.as_secs_f32()))),
        }
    }

    /// [`SyncEngine::send`], with an error status as an error.
    async fn send_checked(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        let response = self.send(request).await?;
        if !response.is_success() {
            return Err(server_error(response.status, &response.body));
        }
        Ok(response)
    }

    /// Starts the background loop on the current tokio runtime. It runs until the returned
    /// handle is aborted or dropped with [`SyncLoop`].
    pub fn start(&self) -> SyncLoop {
        let engine = self.clone();
        SyncLoop { task: tokio::spawn(async move { engine.run_loop().await }) }
    }

    async fn run_loop(self) {
        let mut closed = self.inner.closed.subscribe();
        tokio::select! {
            _ = self.run_rounds() => {}
            _ = closed.wait_for(|closed| *closed) => {}
        }
    }

    async fn run_rounds(&self) {
        let local_changes = self.inner.client.local_changes();
        let backoff_builder = ExponentialBuilder::default()
            .with_min_delay(self.inner.config.min_backoff)
            .with_max_delay(self.inner.config.max_backoff)
            .with_jitter()
            .without_max_times();
        let mut backoff = backoff_builder.build();
        loop {
            if !self.status().online {
                // Offline: wait for the app to say otherwise.
                self.inner.online_changed.notified().await;
                continue;
            }
            let wait = match self.sync_now().await {
                Ok(_) => {
                    backoff = backoff_builder.build();
                    self.inner.config.poll_interval
                }
                Err(e) if e.is_transient() => backoff.next().unwrap_or(self.inner.config.max_backoff),
                // A refused token or a protocol mismatch will not fix itself by retrying soon.
                Err(_) => self.inner.config.max_backoff,
            };
            tokio::select! {
                _ = local_changes.notified() => {}
                _ = self.inner.online_changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Clears `syncing` on the status when a sync ends, however it ends.
struct SyncingFlag<'a>(&'a watch::Sender<SyncStatus>);

impl Drop for SyncingFlag<'_> {
    fn drop(&mut self) {
        // Still `syncing` here only when the sync did not run to its end: it was dropped.
        if self.0.send_if_modified(|s| std::mem::replace(&mut s.syncing, false)) {
            log::cancelled();
        }
    }
}

/// The running background loop; dropping it stops the loop.
pub struct SyncLoop {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SyncLoop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests;
