//! fieldsync-server: the hub devices sync with and dispatchers work through.
//!
//! - [`storage`]: one [`storage::Storage`] trait (SQLite by default, PostgreSQL for several
//!   instances: [`AppState::open_postgres`], docs/adr/0006), with a shared conformance suite.
//! - `POST /v1/sync`: the sync endpoint (protocol in `fieldsync_core::protocol`, server state in
//!   docs/adr/0003): one round trip moves changes both ways; a no-op costs a few bytes.
//! - The dispatcher REST API (`/v1/tickets...`) and live events (`GET /v1/events`, SSE).
//! - The dispatcher console (`/console`): server-rendered pages, live over SSE, signed in with a
//!   session cookie (docs/adr/0007).
//! - Bearer tokens per device, bound to a user and a role, stored as SHA-256 only.
//! - [`blobs`]: content-addressed photos and signatures, uploaded resumably in chunks
//!   (`HEAD`/`PATCH`/`GET /v1/blobs/{sha256}`, docs/adr/0004), behind one
//!   [`blobs::BlobStore`] trait (files under `data_dir/blobs` by default).
//! - [`tracking`]: the customer's tracking page (`/t/{token}`, no account, live over SSE), their
//!   messages and rating, and the follow-ups of bad ratings (docs/adr/0012).
//! - [`webhooks`]: customer progress notifications, signed webhook deliveries per workflow
//!   event kind from a stored outbox, retried with backoff, with a delivery log (docs/adr/0008).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fieldsync_server::{AppState, ServerConfig};
//! let state = AppState::open(std::path::Path::new("data"), ServerConfig::default())?;
//! let (_user, _device, token) = state.add_user("dana", fieldsync_core::Role::Dispatcher)?;
//! println!("token: {token}");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! fieldsync_server::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod access;
pub mod actors;
mod auth;
pub mod blobs;
pub mod check;
pub mod complaints;
mod console;
pub mod customers;
mod documents;
mod error;
pub mod escalator;
pub mod limits;
pub mod manage;
mod op_numbers;
mod op_places;
mod report;
pub mod routing;
mod rules;
pub mod sla;
pub mod statistics;
pub mod storage;
mod sync;
mod tickets;
pub mod tls;
pub mod tracking;
mod uploads;
pub mod webhooks;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use blobs::{BlobStore, FsBlobStore};
use fieldsync_core::workflow::Role;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use auth::Caller;
pub use error::AppError;
use storage::{DeviceRecord, PostgresStorage, SqliteStorage, Storage, StorageError, UserRecord};

/// Server tuning.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body accepted on the REST, console and webhook routes (413 beyond).
    /// Default 1 MiB: their largest honest body is a signature's strokes (at most 256 KiB).
    /// `POST /v1/sync` has its own, [`limits::PushLimits::max_request_bytes`]; blob chunks
    /// `max_chunk_bytes`.
    pub max_body_bytes: usize,
    /// How long a completed ticket stays on devices after completion. Default 7 days.
    pub completed_retention: Duration,
    /// Roughly how many bytes of updates one sync response carries before it is cut and
    /// `more` is set. Default 2 MiB (the response is held twice while it is encoded).
    pub sync_budget_bytes: usize,
    /// Largest blob (photo, signature) accepted: a larger `Upload-Length` is answered 413.
    /// Default 25 MiB.
    pub max_blob_bytes: u64,
    /// Largest chunk of one blob upload request (413 beyond). Default 4 MiB.
    pub max_chunk_bytes: usize,
    /// Webhook delivery: timeout, attempts, backoff (docs/adr/0008).
    pub webhooks: webhooks::WebhookConfig,
    /// Whether webhooks may reach loopback and private addresses (RFC 1918, fc00::/7, CGNAT):
    /// for on-premises receivers and tests' loopback receivers. Off by default, because a
    /// webhook URL would otherwise let a dispatcher probe the server's own network
    /// ([`webhooks::target`]). Link-local (cloud metadata), multicast, broadcast and unspecified
    /// addresses stay refused either way. `fieldsync serve --allow-private-webhooks`.
    pub allow_private_webhooks: bool,
    /// Whether the console's cookies carry `Secure` (browsers then send them over HTTPS only).
    /// The server speaks plain HTTP itself, so it cannot see whether the browser used TLS to
    /// the proxy in front of it, and a client's `X-Forwarded-Proto` is not to be believed
    /// unless a trusted proxy set it: whoever puts the server behind HTTPS says so here
    /// (docs/adr/0007). Off by default, so the console works at `http://127.0.0.1:7878`.
    /// `fieldsync serve --secure-cookies`.
    pub secure_cookies: bool,
    /// Caps on what one pushed change, push and ticket document may cost (issue 13).
    pub limits: limits::PushLimits,
    /// The customers' tracking page: link lifetime, zone, language, rate limits (issue 15).
    pub tracking: tracking::TrackingConfig,
    /// The escalation evaluator: interval, lease (docs/adr/0014).
    pub escalation: escalator::EscalationConfig,
    /// The font service reports are set in (docs/adr/0013): a CJK font for Chinese text.
    /// `None`: the first known system path that exists (Debian: `fonts-noto-cjk`). Devices
    /// that must make the same bytes use the same font file. `fieldsync serve --report-font`.
    pub report_font: Option<std::path::PathBuf>,
    /// Where the server reads "now": receive times, the clamping of device times, SLA clocks,
    /// escalations, revisit due dates, webhook leases, the console's "now" (docs/adr/0029).
    /// The system clock by default; the demo shares a manual one with its devices to make its
    /// history in the past.
    pub clock: fieldsync_core::time::Clock,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            completed_retention: Duration::from_secs(7 * 24 * 60 * 60),
            sync_budget_bytes: 2 * 1024 * 1024,
            max_blob_bytes: 25 * 1024 * 1024,
            max_chunk_bytes: 4 * 1024 * 1024,
            webhooks: webhooks::WebhookConfig::default(),
            allow_private_webhooks: false,
            secure_cookies: false,
            limits: limits::PushLimits::default(),
            tracking: tracking::TrackingConfig::default(),
            escalation: escalator::EscalationConfig::default(),
            report_font: None,
            clock: fieldsync_core::time::Clock::system(),
        }
    }
}

/// One ticket change, as published on `GET /v1/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TicketChanged {
    /// The ticket.
    pub id: String,
    /// Its derived status after the change.
    pub status: fieldsync_core::Status,
    /// Its new `changed_seq`.
    pub seq: u64,
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn Storage>,
    blobs: Arc<dyn BlobStore>,
    config: ServerConfig,
    events: broadcast::Sender<TicketChanged>,
    shutdown: watch::Sender<bool>,
    docs: documents::DocCache,
    /// Set when events come from the storage (every instance's commits, [`Storage::watch_changes`])
    /// rather than from this process's own writes; dropping it stops that delivery.
    watch: Option<storage::ChangeWatch>,
    webhooks: webhooks::Runtime,
    tracking: tracking::Runtime,
    report_fonts: report::FontCache,
    actor_bindings: actors::Bindings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens (creating, migrating) the SQLite storage at `data_dir/server.sqlite` and the blob
    /// store under `data_dir/blobs`.
    pub fn open(data_dir: &Path, config: ServerConfig) -> Result<AppState, StorageError> {
        let storage = SqliteStorage::open(&data_dir.join("server.sqlite"))?;
        let blobs = FsBlobStore::open(&data_dir.join("blobs")).map_err(|e| StorageError::Backend(e.to_string()))?;
        Ok(AppState::with_storage(Arc::new(storage), Arc::new(blobs), config))
    }

    /// Connects to PostgreSQL at `database_url` (migrating it) and opens the blob store under
    /// `data_dir/blobs`. Several instances may share one database: each publishes on
    /// `GET /v1/events` the changes every instance commits (LISTEN/NOTIFY, docs/adr/0006), and
    /// instances on one machine share blobs by sharing `data_dir`. Blocking: from async code,
    /// call it inside `spawn_blocking`.
    pub fn open_postgres(database_url: &str, data_dir: &Path, config: ServerConfig) -> Result<AppState, StorageError> {
        let storage = PostgresStorage::open(database_url)?;
        let blobs = FsBlobStore::open(&data_dir.join("blobs")).map_err(|e| StorageError::Backend(e.to_string()))?;
        AppState::with_shared_storage(Arc::new(storage), Arc::new(blobs), config)
    }

    /// A state over a storage other server instances may share: live events come from the
    /// storage's own change delivery ([`Storage::watch_changes`]) when it has one, so every
    /// instance publishes every instance's commits; otherwise as [`AppState::with_storage`].
    pub fn with_shared_storage(
        storage: Arc<dyn Storage>,
        blobs: Arc<dyn BlobStore>,
        config: ServerConfig,
    ) -> Result<AppState, StorageError> {
        let (events, _) = broadcast::channel(1024);
        let sender = events.clone();
        let watch = storage.watch_changes(Box::new(move |notice| {
            // Nobody listening is fine.
            let _ = sender.send(TicketChanged { id: notice.id, status: notice.status, seq: notice.seq });
        }))?;
        Ok(AppState::build(storage, blobs, config, events, watch))
    }

    /// A state over any storage and blob store implementations.
    pub fn with_storage(storage: Arc<dyn Storage>, blobs: Arc<dyn BlobStore>, config: ServerConfig) -> AppState {
        let (events, _) = broadcast::channel(1024);
        AppState::build(storage, blobs, config, events, None)
    }

    fn build(
        storage: Arc<dyn Storage>,
        blobs: Arc<dyn BlobStore>,
        config: ServerConfig,
        events: broadcast::Sender<TicketChanged>,
        watch: Option<storage::ChangeWatch>,
    ) -> AppState {
        let (shutdown, _) = watch::channel(false);
        let docs = documents::DocCache::default();
        let webhooks = webhooks::Runtime::default();
        let tracking = tracking::Runtime::default();
        let report_fonts = report::FontCache::default();
        AppState {
            inner: Arc::new(Inner {
                storage,
                blobs,
                config,
                events,
                shutdown,
                docs,
                watch,
                webhooks,
                tracking,
                report_fonts,
                actor_bindings: actors::Bindings::default(),
            }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &dyn Storage {
        self.inner.storage.as_ref()
    }

    /// The blob store.
    pub fn blobs(&self) -> &dyn BlobStore {
        self.inner.blobs.as_ref()
    }

    /// Now, by the server's clock ([`ServerConfig::clock`]).
    pub fn now(&self) -> fieldsync_core::time::Millis {
        self.inner.config.clock.now()
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Live ticket changes (what `GET /v1/events` streams).
    pub fn subscribe(&self) -> broadcast::Receiver<TicketChanged> {
        self.inner.events.subscribe()
    }

    /// Parsed ticket documents this server last read or wrote.
    pub(crate) fn docs(&self) -> &documents::DocCache {
        &self.inner.docs
    }

    /// The actor bindings this server has read or made.
    pub(crate) fn actor_bindings(&self) -> &actors::Bindings {
        &self.inner.actor_bindings
    }

    pub(crate) fn report_fonts(&self) -> &report::FontCache {
        &self.inner.report_fonts
    }

    pub(crate) fn webhook_runtime(&self) -> &webhooks::Runtime {
        &self.inner.webhooks
    }

    pub(crate) fn tracking_runtime(&self) -> &tracking::Runtime {
        &self.inner.tracking
    }

    pub(crate) fn publish(&self, change: TicketChanged) {
        if self.inner.watch.is_some() {
            // The database's notification brings it, to every instance (this one included).
            return;
        }
        // Nobody listening is fine.
        let _ = self.inner.events.send(change);
    }

    /// Creates a user (user id = `name`, refused if taken) and a first device token for them.
    /// Returns `(user_id, device_id, token)`; the token is shown once and stored only hashed.
    pub fn add_user(&self, name: &str, role: Role) -> Result<(String, String, String), AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(AppError::BadRequest("a user name must be 1 to 128 printable characters".into()));
        }
        self.storage().create_user(&UserRecord { id: name.to_owned(), name: name.to_owned(), role })?;
        let (device_id, token) = self.add_device(name)?;
        Ok((name.to_owned(), device_id, token))
    }

    /// Issues a new device token for an existing user (a second phone, a replaced one).
    /// Returns `(device_id, token)`; [`AppError::NotFound`] for an unknown user.
    pub fn add_device(&self, user_id: &str) -> Result<(String, String), AppError> {
        if self.storage().user(user_id)?.is_none() {
            return Err(AppError::NotFound(format!("no user {user_id:?}: add them with `user add` first")));
        }
        let device_id = fieldsync_core::model::ids::new_id();
        let token = auth::new_token();
        self.create_device(user_id, &device_id, &token)?;
        Ok((device_id, token))
    }

    /// Stores device `device_id` of `user_id` with `token`. Creating it binds its server actor
    /// to it, taking the actor back from a device that claimed it first by pushing: this
    /// server's bindings are told (`actors::bound_at_creation`).
    pub(crate) fn create_device(&self, user_id: &str, device_id: &str, token: &str) -> Result<(), AppError> {
        self.storage().create_device(&DeviceRecord {
            id: device_id.to_owned(),
            user_id: user_id.to_owned(),
            token_sha256: auth::token_hash(token),
        })?;
        actors::bound_at_creation(self, device_id);
        Ok(())
    }

    /// One sync exchange for the device whose token is `token`, in process: what `POST /v1/sync`
    /// does once it has authenticated the caller and decoded the body (the same checks, merges
    /// and answer), without HTTP. For protocol tests that drive a device's
    /// `fieldsync_core::client::Exchange` directly. [`AppError::Unauthorized`] for an unknown or
    /// revoked token. Blocking.
    pub fn sync_device(
        &self,
        token: &str,
        request: &fieldsync_core::protocol::SyncRequest,
    ) -> Result<fieldsync_core::protocol::SyncResponse, AppError> {
        let caller = self.storage().authenticate(&auth::token_hash(token))?.ok_or(AppError::Unauthorized)?;
        sync::sync(self, &caller, request.clone())
    }

    /// Every device: its user, whether revoked, when it last synced. The operator's view (the
    /// CLI); no caller is checked.
    pub fn devices(&self) -> Result<Vec<storage::DeviceInfo>, AppError> {
        Ok(self.storage().list_devices()?)
    }

    /// Revokes a device's token at once; `false` when there is no such device. The operator's
    /// own power (the CLI, tests): no caller is checked. A request revokes through
    /// [`AppState::revoke_device_as`].
    pub fn revoke_device(&self, device_id: &str) -> Result<bool, AppError> {
        Ok(self.storage().revoke_device(device_id)?)
    }

    /// Revokes a device's token on `caller`'s behalf: [`AppError::Forbidden`] unless the caller
    /// may manage the device's user (admins everyone, dispatchers engineers and themselves);
    /// `false` when there is no such device. Blocking.
    pub fn revoke_device_as(&self, caller: &Caller, device_id: &str) -> Result<bool, AppError> {
        // Devices are few (one or two per person); listing them avoids a storage method that
        // every backend would need just for this.
        let Some(device) = self.storage().list_devices()?.into_iter().find(|d| d.id == device_id) else {
            return Ok(false);
        };
        // A device whose user is gone is treated as an admin's: only admins may touch it.
        let owner_role = self.storage().user(&device.user_id)?.map_or(Role::Admin, |u| u.role);
        auth::may_manage(caller.0.role, &caller.0.user_id, owner_role, &device.user_id)?;
        self.revoke_device(device_id)
    }
}

/// The HTTP routes.
pub fn app(state: AppState) -> Router {
    let limit = state.inner.config.max_body_bytes;
    let chunk_limit = state.inner.config.max_chunk_bytes;
    let sync_limit = state.inner.config.limits.max_request_bytes;
    Router::new()
        .route("/v1/me", get(auth::me))
        .route("/v1/sync", post(sync::handler).layer(DefaultBodyLimit::max(sync_limit)))
        .route("/v1/tickets", post(tickets::create).get(tickets::list))
        .route("/v1/tickets/{id}", get(tickets::detail))
        .route("/v1/tickets/{id}/actions", post(tickets::act))
        .route("/v1/tickets/{id}/document", get(tickets::document))
        .route("/v1/tickets/{id}/report.pdf", get(report::download))
        .route("/v1/events", get(tickets::events))
        .route("/v1/customers", post(customers::api::create).get(customers::api::search))
        .route("/v1/customers/{id}", get(customers::api::detail).put(customers::api::update))
        .route("/v1/taxonomy", get(manage::get_taxonomy).put(manage::put_taxonomy))
        .route("/v1/sla-policy", get(manage::get_sla_policy).put(manage::put_sla_policy))
        .route("/v1/sla-policy/changes", get(manage::get_policy_changes))
        .route("/v1/escalation-rules", get(manage::get_escalation_rules).put(manage::put_escalation_rules))
        .route("/v1/escalations", get(manage::get_escalations))
        .route("/v1/routing", get(manage::get_routing).put(manage::put_routing))
        .route("/v1/webhooks", post(webhooks::api::create).get(webhooks::api::list))
        .route("/v1/webhooks/{id}", get(webhooks::api::one).patch(webhooks::api::patch).delete(webhooks::api::delete))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::api::deliveries))
        .route("/v1/webhooks/{id}/log", get(webhooks::api::log))
        .route("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", post(webhooks::api::redeliver))
        .route(
            "/v1/blobs/{sha256}",
            get(uploads::download)
                .head(uploads::status)
                .patch(uploads::upload)
                // The upload reads its body itself, bounded by `max_chunk_bytes`; this makes
                // extractors on the route agree instead of applying the sync limit.
                .layer(DefaultBodyLimit::max(chunk_limit)),
        )
        .merge(console::routes())
        .merge(tracking::routes())
        .fallback(|| async { AppError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The peer's address of a connection, over plain TCP or TLS alike (axum only knows how to
/// take it from its own `TcpListener`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// Serves [`app`] on `listener` and delivers webhooks until `shutdown` completes, then
/// finishes the requests in flight (live event streams end), stops delivering (webhook
/// requests in flight are abandoned and sent again later) and returns. `listener`: a
/// `tokio::net::TcpListener` for HTTP, a [`tls::TlsListener`] for HTTPS.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    for<'a> PeerAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let stop = state.inner.shutdown.clone();
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let deliveries = tokio::spawn(webhooks::delivery::run(state.clone(), state.inner.shutdown.subscribe()));
    let escalations = tokio::spawn(escalator::run(state.clone(), state.inner.shutdown.subscribe()));
    // With the peer's address: the tracking page limits requests per IP address.
    let service = app(state).into_make_service_with_connect_info::<PeerAddr>();
    let served = axum::serve(listener, service).with_graceful_shutdown(signal).await;
    // Stopped by the same signal; an error serving stops it here.
    stop_deliveries(&served, deliveries).await;
    stop_deliveries(&served, escalations).await;
    served
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await?
}

async fn stop_deliveries(served: &std::io::Result<()>, deliveries: tokio::task::JoinHandle<()>) {
    if served.is_err() {
        deliveries.abort();
    }
    let _ = deliveries.await;
}
