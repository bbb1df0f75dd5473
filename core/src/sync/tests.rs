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

/// Cancelling (issue 14, Deliver 5; docs/adr/0021): a sync whose future is dropped while the
/// transport stalls stops, the status stops saying `syncing`, and the engine syncs again.
#[tokio::test]
async fn a_cancelled_sync_stops_and_the_next_one_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut engine = engine(dir.path(), Arc::new(Silent));
    let mut config = engine.inner.config.clone();
    config.request_timeout = Duration::from_secs(3600);
    engine = SyncEngine::with_transport(engine.client().clone(), config, Arc::new(Silent)).expect("engine");
    let mut statuses = engine.watch_status();
    let mut sync = Box::pin(engine.sync_now());
    // Runs until it is waiting on the stalled request, then is dropped.
    tokio::select! {
        _ = &mut sync => panic!("a stalled transport cannot finish the sync"),
        _ = statuses.wait_for(|s| s.syncing) => {}
    }
    drop(sync);
    assert!(!engine.status().syncing, "a cancelled sync does not stay `syncing`");
    assert_eq!(engine.status().last_failure, None, "cancelling is not a failure");
    // The turn was given back: the next sync runs (and times out against this transport).
    let outcome = engine.sync_once(Duration::from_millis(100)).await;
    assert!(matches!(&outcome, SyncOnce::Retry(SyncError::Network(m)) if m.contains("did not finish")), "{outcome:?}");
    assert!(!engine.status().syncing);
}

#[tokio::test]
async fn sync_once_sorts_outcomes_for_background_schedulers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = engine(
        dir.path().join("a").as_path(),
        Arc::new(Fake(|_: &HttpRequest| Ok(HttpResponse { status: 401, ..Default::default() }))),
    );
    assert_eq!(refused.sync_once(Duration::from_secs(10)).await, SyncOnce::Failed(SyncError::Unauthorized));
    let busy = engine(
        dir.path().join("b").as_path(),
        Arc::new(Fake(|_: &HttpRequest| Ok(HttpResponse { status: 503, ..Default::default() }))),
    );
    assert!(matches!(
        busy.sync_once(Duration::from_secs(10)).await,
        SyncOnce::Retry(SyncError::Server { status: 503, .. })
    ));
    let untrusted =
        engine(dir.path().join("c").as_path(), Arc::new(Fake(|_: &HttpRequest| Err(TransportError::Tls("x".into())))));
    assert!(matches!(untrusted.sync_once(Duration::from_secs(10)).await, SyncOnce::Failed(SyncError::Tls(_))));
}

#[tokio::test]
async fn closing_stops_a_sync_under_way_and_the_loop_and_releases_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut engine = engine(dir.path(), Arc::new(Silent));
    let mut config = engine.inner.config.clone();
    config.request_timeout = Duration::from_secs(3600);
    engine = SyncEngine::with_transport(engine.client().clone(), config, Arc::new(Silent)).expect("engine");
    let sync_loop = engine.start();
    engine.set_online(true);
    let mut statuses = engine.watch_status();
    statuses.wait_for(|s| s.syncing).await.expect("the loop syncs");
    let waiting = tokio::spawn({
        let engine = engine.clone();
        async move { engine.sync_now().await }
    });
    tokio::time::timeout(Duration::from_secs(10), engine.close()).await.expect("close does not wait for the stall");
    let stopped = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("ends").expect("joined");
    assert_eq!(stopped, Err(SyncError::Closed), "a sync waiting for its turn ends as closed");
    assert!(!engine.status().syncing);
    assert_eq!(engine.sync_now().await, Err(SyncError::Closed));
    assert!(engine.client().is_closed());
    let identity = Identity { user_id: "eli".into(), device_id: "eli-phone".into(), role: Role::Engineer };
    Client::open(dir.path().join("store.sqlite"), identity).expect("the store is free again");
    drop(sync_loop);
}

/// Answers who-am-I for `identity` and never answers a sync.
struct StallsSyncs(&'static str);

impl HttpTransport for StallsSyncs {
    fn send(&self, request: HttpRequest) -> transport::TransportFuture<'_> {
        if request.url.ends_with("/v1/me") {
            let body = self.0.as_bytes().to_vec();
            return Box::pin(async move { Ok(HttpResponse { status: 200, headers: Vec::new(), body }) });
        }
        Box::pin(std::future::pending())
    }
}

/// What waits to go is read in the exchange's first trip to the blocking pool, not a trip of
/// its own: the status still shows it while the first request is under way.
#[tokio::test]
async fn the_status_counts_what_waits_while_the_first_request_is_under_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = Identity { user_id: "disp".into(), device_id: "disp-laptop".into(), role: Role::Dispatcher };
    let client = Client::open(dir.path().join("store.sqlite"), identity).expect("open");
    let mut config = SyncConfig::new("https://fieldsync.invalid", "token");
    config.request_timeout = Duration::from_secs(3600);
    let me = r#"{"user_id":"disp","device_id":"disp-laptop","role":"dispatcher"}"#;
    let engine = SyncEngine::with_transport(client, config, Arc::new(StallsSyncs(me))).expect("engine");
    for n in 0..2 {
        let new = crate::model::NewTicket { title: format!("job {n}"), ..Default::default() };
        engine.client().create_ticket(&new).expect("create");
    }
    assert_eq!(engine.status().pending_tickets, 0, "local actions do not touch the status");
    let mut statuses = engine.watch_status();
    let sync = engine.sync_now();
    tokio::select! {
        _ = sync => panic!("a stalled transport cannot finish the sync"),
        // The status's guard is let go at once: the sync's own drop writes the status.
        seen = tokio::time::timeout(
            Duration::from_secs(10),
            async { statuses.wait_for(|s| s.syncing && s.pending_tickets == 2).await.is_ok() },
        ) => assert_eq!(seen, Ok(true), "the status while the request is under way: {:?}", engine.status()),
    }
}
