//! A real server on 127.0.0.1:0 and small HTTP helpers for the tests.
#![allow(dead_code, missing_docs)]

use std::path::Path;

use automerge::{Automerge, ReadDoc};
use fieldsync_core::model::Identity;
use fieldsync_core::protocol::{self, ApiError, Push, SyncRequest, SyncResponse};
use fieldsync_core::{Client, Role};
use fieldsync_server::{AppState, ServerConfig};
use serde_bytes::ByteBuf;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub dir: TempDir,
    pub config: ServerConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct Device {
    pub user_id: String,
    pub device_id: String,
    pub token: String,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Server {
        Server::start_in(tempfile::tempdir().expect("temp dir"), config).await
    }

    /// A server on an existing data directory (what a restart finds).
    pub async fn start_in(dir: TempDir, config: ServerConfig) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = AppState::open(dir.path(), config.clone()).expect("open state");
        // Bound before serve starts: requests just work, no waiting.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(fieldsync_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        // No pooled connections: a request the server refuses before reading its body (413)
        // ends that connection, and a pooled one could be picked up by the next request just
        // as it closes ("connection closed before message completed" under load).
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("http client");
        Server { base, state, http, dir, config, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server gracefully and starts a new one on the same data directory (on a new
    /// port: use the new `base`).
    pub async fn restart(mut self) -> Server {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server io");
        }
        let Server { dir, config, state, .. } = self;
        drop(state);
        Server::start_in(dir, config).await
    }

    /// Like [`Server::restart`], running `between` on the data directory while no server is
    /// running (to leave what an older version would have left there).
    pub async fn restart_after(mut self, between: impl FnOnce(&Path)) -> Server {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server io");
        }
        let Server { dir, config, state, .. } = self;
        drop(state);
        between(dir.path());
        Server::start_in(dir, config).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server io");
        }
    }

    pub fn user(&self, name: &str, role: Role) -> Device {
        let (user_id, device_id, token) = self.state.add_user(name, role).expect("add user");
        Device { user_id, device_id, token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status of a sync body the server must refuse before reading it (413), or `None`
    /// when the server closed the connection while a body larger than the socket buffers was
    /// still being written (the client then sees a reset, not the answer): both are a refusal.
    pub async fn refused_sync_status(&self, token: &str, body: Vec<u8>) -> Option<u16> {
        let sent = self
            .http
            .post(self.url("/v1/sync"))
            .bearer_auth(token)
            .header("content-type", protocol::CONTENT_TYPE)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => Some(response.status().as_u16()),
            Err(e) if e.is_request() || e.is_body() => None,
            Err(e) => panic!("send sync: {e}"),
        }
    }

    pub async fn sync_raw(&self, token: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(self.url("/v1/sync"))
            .bearer_auth(token)
            .header("content-type", protocol::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .expect("send sync")
    }

    /// One sync exchange; returns the response and the size of its body.
    pub async fn sync(&self, token: &str, request: &SyncRequest) -> (SyncResponse, usize) {
        let response = self.sync_raw(token, request.encode()).await;
        let status = response.status();
        let body = response.bytes().await.expect("body");
        assert_eq!(status, 200, "sync failed: {}", String::from_utf8_lossy(&body));
        (SyncResponse::decode(&body).expect("decode response"), body.len())
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("get");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    pub async fn post_json(&self, token: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    /// Creates a ticket through REST; returns its id.
    pub async fn create_ticket(&self, token: &str, title: &str, assignee: Option<&str>) -> String {
        // NewTicket has no serde defaults: send every field.
        let new = fieldsync_core::NewTicket {
            title: title.to_owned(),
            assignee: assignee.map(str::to_owned),
            ..Default::default()
        };
        let body = serde_json::to_value(&new).expect("json");
        let (status, body) = self.post_json(token, "/v1/tickets", &body).await;
        assert_eq!(status, 201, "create: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn act(&self, token: &str, id: &str, command: serde_json::Value) -> (u16, serde_json::Value) {
        self.post_json(token, &format!("/v1/tickets/{id}/actions"), &command).await
    }
}

pub fn api_error(value: &serde_json::Value) -> ApiError {
    serde_json::from_value(value.clone()).expect("an ApiError body")
}

/// A device store for a user.
pub fn open_client(dir: &Path, device: &Device, role: Role) -> Client {
    Client::open(
        dir.join(format!("{}.sqlite", device.device_id)),
        Identity { user_id: device.user_id.clone(), device_id: device.device_id.clone(), role },
    )
    .expect("open client")
}

/// Applies a response's updates to a client store.
pub fn apply(client: &Client, response: &SyncResponse) {
    for update in &response.updates {
        for data in &update.data {
            client.merge_remote(&update.ticket_id, data).expect("merge update");
        }
    }
}

/// The client's whole document of a ticket.
pub fn document(client: &Client, id: &str) -> Automerge {
    Automerge::load(&client.export(id).expect("export")).expect("load export")
}

/// A push of every change the client has for the ticket (the server ignores what it has).
pub fn push_all(client: &Client, id: &str) -> Push {
    let doc = document(client, id);
    Push {
        ticket_id: id.to_owned(),
        changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        heads: protocol::to_wire(&doc.get_heads()),
    }
}

/// A push of the changes made in `after` since `before_heads`.
pub fn push_since(after: &Automerge, before_heads: &[automerge::ChangeHash], id: &str) -> Push {
    Push {
        ticket_id: id.to_owned(),
        changes: after.get_changes(before_heads).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        heads: protocol::to_wire(&after.get_heads()),
    }
}

/// Reads a ticket's title from a document.
pub fn title(doc: &Automerge) -> String {
    match doc.get(automerge::ROOT, "title") {
        Ok(Some((automerge::Value::Scalar(s), _))) => s.to_string().trim_matches('"').to_owned(),
        _ => String::new(),
    }
}

/// Makes the ticket's document reference blob `sha` as a photo: a dispatcher's change pushed
/// through sync (downloads need a ticket whose document references the blob).
pub async fn reference(server: &Server, dispatcher: &str, ticket: &str, sha: &str) {
    reference_at(&server.http, &server.base, dispatcher, ticket, sha).await;
}

/// [`reference`] on the server at `base`.
pub async fn reference_at(http: &reqwest::Client, base: &str, dispatcher: &str, ticket: &str, sha: &str) {
    use automerge::transaction::Transactable;
    let exchange = |request: SyncRequest| async move {
        let response = http
            .post(format!("{base}/v1/sync"))
            .bearer_auth(dispatcher)
            .header("content-type", protocol::CONTENT_TYPE)
            .body(request.encode())
            .send()
            .await
            .expect("sync");
        assert_eq!(response.status(), 200);
        SyncResponse::decode(&response.bytes().await.expect("body")).expect("response")
    };
    let answer = exchange(SyncRequest { cursor: 0, pushes: vec![] }).await;
    let update = answer.updates.iter().find(|u| u.ticket_id == ticket).expect("the ticket");
    let mut doc = Automerge::load(&update.data[0]).expect("document").with_actor(automerge::ActorId::random());
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    let photos = match tx.get(automerge::ROOT, "photos").expect("read") {
        Some((automerge::Value::Object(automerge::ObjType::Map), photos)) => photos,
        _ => tx.put_object(automerge::ROOT, "photos", automerge::ObjType::Map).expect("photos"),
    };
    let photo = tx.put_object(&photos, sha, automerge::ObjType::Map).expect("photo");
    tx.put(&photo, "by", "dana").expect("by");
    tx.commit();
    let answer = exchange(SyncRequest { cursor: 0, pushes: vec![push_since(&doc, &before, ticket)] }).await;
    assert!(answer.rejections.is_empty(), "{:?}", answer.rejections);
}
