//! The end-to-end harness: a real fieldsync server bound to port 0 on a temporary SQLite
//! file, a dispatcher speaking its REST API, and engineer devices made of a real store and a
//! real sync engine; [`proxy`], the fault-injecting proxy of the chaos harness.

pub mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use automerge::{Automerge, ChangeHash};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{Identity, NewTicket, TicketSummary};
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncReport};
use fieldsync_core::{Client, Role};
use fieldsync_server::{AppState, ServerConfig};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and the folder it keeps its data in.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    data: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with its data in `data`.
    pub async fn start(data: &Path) -> TestServer {
        Self::start_on(data, "127.0.0.1:0".parse().expect("address")).await
    }

    async fn start_on(data: &Path, addr: SocketAddr) -> TestServer {
        let state = AppState::open(data, ServerConfig::default()).expect("server state");
        // Bound before serving: requests queue in the backlog until the server accepts them.
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(fieldsync_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer { addr, data: data.to_owned(), stop: Some(stop), task: Some(task) }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }

    /// Stops the server and starts a new one on the same data and the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        *self = Self::start_on(&self.data.clone(), self.addr).await;
    }

    /// Adds a user; returns (user id, device id, token).
    pub fn add_user(&self, name: &str, role: Role) -> (String, String, String) {
        let state = AppState::open(&self.data, ServerConfig::default()).expect("state");
        state.add_user(name, role).expect("add user")
    }

    /// Issues another device token for an existing user; returns (user id, device id, token).
    pub fn add_device(&self, user_id: &str) -> (String, String, String) {
        let (device_id, token) = self.state().add_device(user_id).expect("add device");
        (user_id.to_owned(), device_id, token)
    }

    /// A second handle on the running server's data (same SQLite file), to look at what it
    /// recorded: devices, per-device sync states.
    pub fn state(&self) -> AppState {
        AppState::open(&self.data, ServerConfig::default()).expect("state")
    }
}

/// A dispatcher at the REST API.
pub struct Dispatcher {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Dispatcher {
    /// A dispatcher with `token` at `server`.
    pub fn new(server: &TestServer, token: &str) -> Dispatcher {
        Self::at(&server.url(), token)
    }

    /// A dispatcher with `token` at the server with base URL `base` (any process).
    pub fn at(base: &str, token: &str) -> Dispatcher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Dispatcher {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, (u16, String)> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| (0, e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| (status, e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err((status, String::from_utf8_lossy(&body).into_owned()));
        }
        serde_json::from_slice(&body).map_err(|e| (status, e.to_string()))
    }

    /// Creates a ticket; returns its id.
    pub async fn create(&self, new: &NewTicket) -> String {
        let request = self.http.post(format!("{}/v1/tickets", self.base)).json_body(new);
        let created: serde_json::Value = self.call(request).await.expect("create ticket");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Runs an action; the server's refusal comes back as (status, body).
    pub async fn act(&self, id: &str, command: &Command) -> Result<(), (u16, String)> {
        let request = self.http.post(format!("{}/v1/tickets/{id}/actions", self.base)).json_body(command);
        self.call::<serde_json::Value>(request).await.map(|_| ())
    }

    /// Posts JSON to `path` (`/v1/...`); the server's refusal comes back as (status, body).
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, (u16, String)> {
        self.call(self.http.post(format!("{}{path}", self.base)).json_body(body)).await
    }

    /// Every ticket's summary.
    pub async fn list(&self) -> Vec<TicketSummary> {
        self.call(self.http.get(format!("{}/v1/tickets", self.base))).await.expect("list")
    }

    /// A ticket's detail as JSON.
    pub async fn detail(&self, id: &str) -> serde_json::Value {
        self.call(self.http.get(format!("{}/v1/tickets/{id}", self.base))).await.expect("detail")
    }

    /// A blob's bytes as the server serves them.
    pub async fn blob(&self, sha256: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!("{}/v1/blobs/{sha256}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("blob");
        assert!(response.status().is_success(), "blob {sha256}: {}", response.status());
        response.bytes().await.expect("bytes").to_vec()
    }

    /// A blob's bytes, or `None` when the server does not serve it (missing, incomplete).
    pub async fn fetch_blob(&self, sha256: &str) -> Option<Vec<u8>> {
        let response =
            self.http.get(format!("{}/v1/blobs/{sha256}", self.base)).bearer_auth(&self.token).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.bytes().await.ok().map(|b| b.to_vec())
    }

    /// Sends one upload chunk with another token (a device's), as the device engine would;
    /// returns the HTTP status.
    pub async fn patch_blob(
        &self,
        token: &str,
        sha256: &str,
        ticket: &str,
        offset: usize,
        total: usize,
        chunk: &[u8],
    ) -> u16 {
        self.http
            .patch(format!("{}/v1/blobs/{sha256}?ticket={ticket}", self.base))
            .bearer_auth(token)
            .header("Upload-Offset", offset.to_string())
            .header("Upload-Length", total.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch")
            .status()
            .as_u16()
    }

    /// The server's copy of a ticket's document.
    pub async fn document(&self, id: &str) -> Automerge {
        let response = self
            .http
            .get(format!("{}/v1/tickets/{id}/document", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("document");
        assert!(response.status().is_success(), "document: {}", response.status());
        Automerge::load(&response.bytes().await.expect("bytes")).expect("server document loads")
    }
}

trait JsonBody {
    fn json_body<T: serde::Serialize>(self, body: &T) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body<T: serde::Serialize>(self, body: &T) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json").body(serde_json::to_vec(body).expect("json"))
    }
}

/// An engineer's phone: a store file and a sync engine.
pub struct Device {
    /// The sync engine (and through it, the client).
    pub engine: SyncEngine,
    /// The store file.
    pub path: PathBuf,
    identity: Identity,
    config: SyncConfig,
}

impl Device {
    /// A new device for a user added with [`TestServer::add_user`].
    pub fn new(dir: &Path, server: &TestServer, user: &(String, String, String), role: Role) -> Device {
        let (user_id, device_id, token) = user.clone();
        let identity = Identity { user_id, device_id: device_id.clone(), role };
        let path = dir.join(format!("{device_id}.sqlite"));
        let config = SyncConfig::new(server.url(), token);
        let client = Client::open(&path, identity.clone()).expect("open store");
        let engine = SyncEngine::new(client, config.clone()).expect("engine");
        Device { engine, path, identity, config }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        self.engine.client()
    }

    /// Syncs once and panics on failure.
    pub async fn sync(&self) -> SyncReport {
        self.engine.sync_now().await.expect("sync")
    }

    /// Closes the store and opens it again (as after an app restart).
    pub fn reopen(&mut self) {
        // One client per store per process: the old one lets go of the store first.
        self.engine.client().close();
        let client = Client::open(&self.path, self.identity.clone()).expect("reopen store");
        self.engine = SyncEngine::new(client, self.config.clone()).expect("engine");
    }

    /// The heads of this device's copy of a ticket.
    pub fn heads(&self, id: &str) -> Vec<ChangeHash> {
        sorted_heads(&Automerge::load(&self.client().export(id).expect("export")).expect("load"))
    }
}

/// A document's heads, sorted for comparison.
pub fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
    let mut heads = doc.get_heads();
    heads.sort();
    heads
}

/// A camera-like JPEG (noise, so it does not compress to nothing); `seed` makes each one
/// different, so each is its own blob.
pub fn camera_jpeg(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    let mut state: u32 = seed | 1;
    for y in 0..height {
        for x in 0..width {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state & 0x3f) as u8;
            rgb.extend_from_slice(&[(x / 8) as u8 ^ noise, (y / 8) as u8, noise.wrapping_mul(3)]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 92).encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb).expect("jpeg");
    out
}
