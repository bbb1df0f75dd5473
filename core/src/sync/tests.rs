//! The engine with in-memory transports: what it does when a transport panics, never answers,
//! or cannot trust the server.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::Identity;
use crate::workflow::Role;

/// Answers every request by running `answer`.
struct Fake<F>(F);

impl<F> HttpTransport for Fake<F>
where
    F: Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync + 'static,
{
    fn send(&self, request: HttpRequest) -> transport::TransportFuture<'_> {
        let answer = (self.0)(&request);
        Box::pin(async move { answer })
    }
}

/// Never answers.
struct Silent;

impl HttpTransport for Silent {
    fn send(&self, _: HttpRequest) -> transport::TransportFuture<'_> {
        Box::pin(std::future::pending())
    }
}

fn engine(dir: &std::path::Path, transport: Arc<dyn HttpTransport>) -> SyncEngine {
    let identity = Identity { user_id: "eli".into(), device_id: "eli-phone".into(), role: Role::Engineer };
    let client = Client::open(dir.join("store.sqlite"), identity).expect("open");
    let mut config = SyncConfig::new("https://fieldsync.invalid", "token");
    config.request_timeout = Duration::from_millis(200);
    SyncEngine::with_transport(client, config, transport).expect("engine")
}

#[tokio::test]
async fn a_panicking_transport_ends_the_sync_with_an_internal_error_on_the_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(
        dir.path(),
        Arc::new(Fake(|_: &HttpRequest| -> Result<HttpResponse, TransportError> { panic!("transport bug") })),
    );
    let err = engine.sync_now().await.expect_err("the sync fails");
    assert!(matches!(&err, SyncError::Internal(m) if m.contains("transport bug")), "{err:?}");
    let status = engine.status();
    assert!(!status.syncing, "the sync is over, not stuck");
    assert_eq!(status.last_error, Some(err.to_string()));
    assert_eq!(status.last_failure, Some(err.clone()), "typed, for the app to decide on");
    // The engine still works: the next sync runs (and panics again, reported again).
    assert!(matches!(engine.sync_now().await, Err(SyncError::Internal(_))));
}

#[tokio::test]
async fn a_transport_that_never_answers_times_out_as_a_network_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Arc::new(Silent));
    let err = tokio::time::timeout(Duration::from_secs(10), engine.sync_now())
        .await
        .expect("the engine's own timeout ends the wait")
        .expect_err("no answer");
    assert!(matches!(err, SyncError::Network(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_that_waits_for_a_fix_not_a_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine =
        engine(dir.path(), Arc::new(Fake(|_: &HttpRequest| Err(TransportError::Tls("unknown issuer".into())))));
    let err = engine.sync_now().await.expect_err("refused");
    assert_eq!(err, SyncError::Tls("unknown issuer".into()));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn every_request_carries_the_token_and_the_protocol_content_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let engine = engine(
        dir.path(),
        Arc::new(Fake(move |request: &HttpRequest| {
            log.lock().expect("log").push(request.clone());
            let body = if request.url.ends_with("/v1/me") {
                br#"{"user_id":"eli","device_id":"eli-phone","role":"engineer"}"#.to_vec()
            } else {
                SyncResponse { cursor: 1, ..Default::default() }.encode()
            };
            Ok(HttpResponse { status: 200, headers: Vec::new(), body })
        })),
    );
    let report = engine.sync_now().await.expect("sync");
    assert_eq!(report.round_trips, 1);
    let seen = seen.lock().expect("log");
    assert_eq!(seen.len(), 2, "who am I, then one sync: {seen:?}");
    assert_eq!((seen[0].method, seen[0].url.as_str()), (Method::Get, "https://fieldsync.invalid/v1/me"));
    assert_eq!((seen[1].method, seen[1].url.as_str()), (Method::Post, "https://fieldsync.invalid/v1/sync"));
    for request in seen.iter() {
        assert!(request.headers.contains(&("Authorization".into(), "Bearer token".into())), "{request:?}");
    }
    assert!(seen[1].headers.contains(&("Content-Type".into(), protocol::CONTENT_TYPE.into())));
}
