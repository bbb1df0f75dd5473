//! The fuzz harness of the server's request bodies (cargo-fuzz target `http_bodies`).
//!
//! The same function runs under libFuzzer (fuzz/fuzz_targets/http_bodies.rs includes this
//! file) and in `cargo test` (tests/suite/fuzz_regressions.rs feeds it every file under
//! tests/fuzz-regressions/http_bodies/). It must return: a panic, or a 5xx answer to a body a
//! client sent, is a finding; 4xx is the expected answer to most inputs.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fieldsync_core::actions::Command;
use fieldsync_core::model::NewTicket;
use fieldsync_core::protocol::{self, SyncRequest};
use fieldsync_core::workflow::Role;
use fieldsync_server::{AppState, ServerConfig};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// A server state on a temp dir with a dispatcher, an engineer and one ticket assigned to the
/// engineer, and a runtime to drive its router without a socket.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    dispatcher: String,
    engineer: String,
    ticket: String,
    _dir: tempfile::TempDir,
}

/// The one harness of this process (state grows as inputs create tickets and blobs: each
/// input is answered on its own, so that does not matter).
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config =
            ServerConfig { max_body_bytes: 1024 * 1024, max_chunk_bytes: 1024 * 1024, ..ServerConfig::default() };
        let state = AppState::open(dir.path(), config).unwrap();
        let (_, _, dispatcher) = state.add_user("dana", Role::Dispatcher).unwrap();
        let (_, _, engineer) = state.add_user("eli", Role::Engineer).unwrap();
        let router = fieldsync_server::app(state);
        let new = serde_json::json!({ "title": "Boiler leaks", "assignee": "eli", "checklist": ["valve"] });
        let (status, body) = runtime.block_on(send(
            &router,
            Method::POST,
            "/v1/tickets",
            &dispatcher,
            "application/json",
            serde_json::to_vec(&new).unwrap(),
        ));
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let ticket = created["id"].as_str().unwrap().to_owned();
        Harness { runtime, router, dispatcher, engineer, ticket, _dir: dir }
    })
}

async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    send_with(
        router,
        Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, content_type),
        token,
        body,
    )
    .await
}

async fn send_with(
    router: &Router,
    request: axum::http::request::Builder,
    token: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = request
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, bytes.to_vec())
}

/// The bytes as every request body the server takes from clients: the JSON of a new ticket
/// and of an action (parsed alone, then posted), a sync envelope (decoded alone, then posted
/// by the engineer), and a blob chunk (uploaded by the engineer for the ticket).
pub fn http_bodies(data: &[u8]) {
    let _ = serde_json::from_slice::<NewTicket>(data);
    let _ = serde_json::from_slice::<Command>(data);
    let _ = SyncRequest::decode(data);

    let h = harness();
    let actions = format!("/v1/tickets/{}/actions", h.ticket);
    let blob = format!("/v1/blobs/{}?ticket={}", hex::encode(Sha256::digest(data)), h.ticket);
    h.runtime.block_on(async {
        let requests = [
            (Method::POST, "/v1/tickets", &h.dispatcher, "application/json"),
            (Method::POST, actions.as_str(), &h.dispatcher, "application/json"),
            (Method::POST, "/v1/sync", &h.engineer, protocol::CONTENT_TYPE),
        ];
        for (method, uri, token, content_type) in requests {
            let (status, body) = send(&h.router, method.clone(), uri, token, content_type, data.to_vec()).await;
            assert!(!status.is_server_error(), "{method} {uri}: {status} {}", String::from_utf8_lossy(&body));
        }
        let upload = Request::builder()
            .method(Method::PATCH)
            .uri(&blob)
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("upload-length", data.len());
        let (status, body) = send_with(&h.router, upload, &h.engineer, data.to_vec()).await;
        assert!(!status.is_server_error(), "PATCH {blob}: {status} {}", String::from_utf8_lossy(&body));
    });
}
