//! Webhooks against real parts: a real server on port 0, real device engines, and a real
//! receiving HTTP server (axum on port 0) that can fail its first requests, be slow, never
//! answer, or be down; two instances sharing one PostgreSQL.
//!
//! Waits are for conditions (the receiver's request counter, the delivery log) with a generous
//! deadline that only turns a hang into a failure; no test measures speed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fieldsync_core::model::Customer;
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Location, Role};
use fieldsync_server::ServerConfig;
use fieldsync_server::storage::webhooks::DeliveryState;
use fieldsync_server::webhooks::WebhookConfig;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::common::{Device, Server, open_client};
use crate::postgres::{Instance, TestDatabases};

/// Long enough for any honest wait on this machine; reaching it means something hangs.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);
const SECRET: &str = "s3cret-for-the-receiver";

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) delivery_id: String,
    pub(crate) attempt: u32,
    pub(crate) signature: String,
    pub(crate) body: Bytes,
    pub(crate) answered: u16,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// Take this long for this many requests first.
    slow_first: AtomicUsize,
    slow_for: Mutex<Duration>,
    /// Never answer.
    hang: AtomicBool,
}

/// A webhook receiver on 127.0.0.1.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    behaviour: Arc<Behaviour>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Bumped on every request (before it is answered).
    count: watch::Sender<usize>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        Receiver::serve_on(listener, Arc::default()).await
    }

    /// A receiver on `port`, for a test that first had it down.
    async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind receiver again");
        Receiver::serve_on(listener, Arc::default()).await
    }

    async fn serve_on(listener: tokio::net::TcpListener, behaviour: Arc<Behaviour>) -> Receiver {
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let receiver = Receiver { url, behaviour, received: Arc::default(), count: watch::channel(0).0 };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }

    /// Waits until `done` holds for what was received (re-checked on every request).
    pub(crate) async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let mut count = self.count.subscribe();
        let waited = tokio::time::timeout(DEADLINE, async {
            loop {
                // Marks the current count seen before checking, so no request slips between.
                count.borrow_and_update();
                if done(&self.received()) {
                    return;
                }
                count.changed().await.expect("receiver alive");
            }
        })
        .await;
        let received = self.received();
        assert!(waited.is_ok(), "the receiver never saw {what}: {received:#?}");
        received
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let behaviour = &receiver.behaviour;
    let take =
        |counter: &AtomicUsize| counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let hang = behaviour.hang.load(Ordering::SeqCst);
    let slow = !hang && take(&behaviour.slow_first);
    let answered = if !hang && !slow && take(&behaviour.fail_first) { 500 } else { 200 };
    receiver.received.lock().expect("received").push(Received {
        delivery_id: header("fieldsync-delivery"),
        attempt: header("fieldsync-attempt").parse().unwrap_or(0),
        signature: header("fieldsync-signature"),
        body,
        answered: if hang { 0 } else { answered },
    });
    receiver.count.send_modify(|n| *n += 1);
    if hang {
        std::future::pending::<()>().await;
    }
    if slow {
        let pause = *behaviour.slow_for.lock().expect("slow");
        tokio::time::sleep(pause).await;
    }
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}

/// Short delays, so retries happen within a test; private targets allowed, because the
/// receivers listen on 127.0.0.1 (the workplace's tests talk to loopback only).
pub(crate) fn fast(webhooks: WebhookConfig) -> ServerConfig {
    ServerConfig { webhooks, allow_private_webhooks: true, ..ServerConfig::default() }
}

pub(crate) fn quick() -> WebhookConfig {
    WebhookConfig {
        request_timeout: Duration::from_secs(5),
        max_attempts: 5,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        max_in_flight: 16,
    }
}

pub(crate) fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) async fn subscribe(server: &Server, token: &str, url: &str, events: &[&str]) -> String {
    let (status, body) =
        server.post_json(token, "/v1/webhooks", &json!({"url": url, "events": events, "secret": SECRET})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["secret"], SECRET, "the secret is shown at creation");
    body["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn create_ticket(server: &Server, token: &str, assignee: &str) -> String {
    let new = fieldsync_core::NewTicket {
        title: "Boiler leaks".into(),
        assignee: Some(assignee.to_owned()),
        customer: Customer {
            name: "ACME Bakery".into(),
            phone: "+31 20 555 0100".into(),
            address: "1 Main St".into(),
            tier: "gold".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let (status, body) = server.post_json(token, "/v1/tickets", &serde_json::to_value(&new).expect("json")).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// An engineer's phone syncing with `server`.
pub(crate) fn phone(server: &Server, dir: &std::path::Path, eli: &Device) -> (fieldsync_core::Client, SyncEngine) {
    let client = open_client(dir, eli, Role::Engineer);
    let engine =
        SyncEngine::new(client.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    (client, engine)
}

pub(crate) async fn sync(engine: &SyncEngine) {
    let report = tokio::time::timeout(DEADLINE, engine.sync_now()).await.expect("sync finished").expect("sync");
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
}

pub(crate) async fn log_of(server: &Server, token: &str, webhook: &str) -> Vec<Value> {
    let (status, body) = server.get_json(token, &format!("/v1/webhooks/{webhook}/log")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}

pub(crate) async fn deliveries_of(server: &Server, token: &str, webhook: &str) -> Vec<Value> {
    let (status, body) = server.get_json(token, &format!("/v1/webhooks/{webhook}/deliveries")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}

/// Waits until the storage-side state `done` holds (polled: there is nothing to be told by).
pub(crate) async fn wait_until<F, Fut>(what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(DEADLINE, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_arrive_signed_after_failures_and_the_log_has_every_attempt() {
    let server = Server::start_with(fast(quick())).await;
    let devices = tempfile::tempdir().expect("dir");
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;
    receiver.behaviour.fail_first.store(2, Ordering::SeqCst);
    let hook = subscribe(&server, &dana.token, &receiver.url, &["accepted", "checked_in", "completed"]).await;

    let id = create_ticket(&server, &dana.token, &eli.user_id).await;
    let (client, engine) = phone(&server, devices.path(), &eli);
    sync(&engine).await;
    client.accept(&id).expect("accept");
    client.check_in(&id, Location { lat: 52.37, lon: 4.9, accuracy_m: 8.0 }).expect("check in");
    sync(&engine).await;

    let delivered = |r: &[Received]| r.iter().filter(|r| r.answered == 200).count() == 2;
    let received = receiver.wait_for("two deliveries answered 200", delivered).await;
    assert_eq!(received.len(), 4, "two deliveries, two failures before them: {received:#?}");

    let mut by_delivery: HashMap<String, Vec<&Received>> = HashMap::new();
    for request in &received {
        assert_eq!(request.signature, format!("sha256={}", hmac_hex(SECRET, &request.body)), "signed body");
        assert!(fieldsync_server::webhooks::verify(SECRET, &request.body, &request.signature));
        let body = request.json();
        assert_eq!(body["delivery_id"], request.delivery_id.as_str(), "{body}");
        assert_eq!((body["version"].as_u64(), body["ticket_id"].as_str()), (Some(1), Some(id.as_str())), "{body}");
        assert_eq!(body["customer"]["name"], "ACME Bakery");
        assert_eq!(body["by"], eli.user_id.as_str());
        assert_eq!(body["ticket"]["title"], "Boiler leaks");
        let expected_status = match body["event"].as_str() {
            Some("accepted") => "accepted",
            Some("checked_in") => "on_site",
            other => panic!("an event nobody subscribed to: {other:?}"),
        };
        assert_eq!(body["status"], expected_status, "the status right after the event: {body}");
        by_delivery.entry(request.delivery_id.clone()).or_default().push(request);
    }
    assert_eq!(by_delivery.len(), 2, "one delivery per event");
    for requests in by_delivery.values() {
        let first = requests[0].body.clone();
        assert!(requests.iter().all(|r| r.body == first), "every attempt sends the same bytes");
        let attempts: Vec<u32> = requests.iter().map(|r| r.attempt).collect();
        assert_eq!(attempts, (1..=requests.len() as u32).collect::<Vec<_>>(), "attempts numbered in order");
    }

    // The log: one row per request, newest first, with what the receiver answered. An attempt
    // is logged once its answer is in, in the transaction that marks the delivery delivered.
    wait_until("both deliveries are marked delivered", || async {
        deliveries_of(&server, &dana.token, &hook).await.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    let log = log_of(&server, &dana.token, &hook).await;
    assert_eq!(log.len(), received.len(), "{log:#?}");
    let started: Vec<i64> = log.iter().map(|row| row["started_at"].as_i64().expect("started_at")).collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "newest first: {started:?}");
    for (delivery_id, requests) in &by_delivery {
        let mut rows: Vec<&Value> = log.iter().filter(|row| row["delivery_id"] == delivery_id.as_str()).collect();
        rows.reverse();
        let logged: Vec<(u64, u64)> =
            rows.iter().map(|r| (r["attempt"].as_u64().unwrap_or(0), r["status_code"].as_u64().unwrap_or(0))).collect();
        let answered: Vec<(u64, u64)> =
            requests.iter().map(|r| (u64::from(r.attempt), u64::from(r.answered))).collect();
        assert_eq!(logged, answered, "the log says what the receiver answered");
        for row in &rows {
            let retry = row["next_retry_at"].as_i64();
            if row["status_code"] == 200 {
                assert_eq!(retry, None, "{row}");
            } else {
                assert!(retry.is_some_and(|at| at > row["started_at"].as_i64().unwrap_or(i64::MAX)), "{row}");
            }
            assert!(row["duration_ms"].is_u64() && row["ticket_id"] == id.as_str(), "{row}");
        }
    }
    let deliveries = deliveries_of(&server, &dana.token, &hook).await;
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(delivery["state"], "delivered", "{delivery}");
        let sent = by_delivery.get(delivery["id"].as_str().expect("id")).map_or(0, Vec::len);
        assert_eq!(delivery["attempts"].as_u64(), Some(sent as u64));
    }

    // A redelivery sends the same delivery id and body again, as the next attempt.
    let again = deliveries[0]["id"].as_str().expect("id").to_owned();
    let attempts_before = deliveries[0]["attempts"].as_u64().expect("attempts");
    let (status, _) =
        server.post_json(&dana.token, &format!("/v1/webhooks/{hook}/deliveries/{again}/redeliver"), &json!({})).await;
    assert_eq!(status, 202);
    let received = receiver.wait_for("the redelivery", |r| r.len() == 5).await;
    let redelivered = &received[4];
    assert_eq!(redelivered.delivery_id, again);
    assert_eq!(u64::from(redelivered.attempt), attempts_before + 1);
    assert_eq!(redelivered.body, by_delivery[&again][0].body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_checks_its_input_and_callers_and_disabled_hooks_get_nothing() {
    let server = Server::start_with(fast(quick())).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;

    let (status, _) =
        server.post_json(&eli.token, "/v1/webhooks", &json!({"url": receiver.url, "events": ["accepted"]})).await;
    assert_eq!(status, 403, "engineers do not manage webhooks");
    let (status, _) = server.get_json(&eli.token, "/v1/webhooks").await;
    assert_eq!(status, 403);
    for (body, needle) in [
        (json!({"url": "ftp://example.test/x", "events": ["accepted"]}), "http"),
        (json!({"url": receiver.url, "events": ["exploded"]}), "exploded"),
        (json!({"url": receiver.url, "events": []}), "event kind"),
        (json!({"url": receiver.url, "events": ["accepted"], "secret": "short"}), "secret"),
        (json!({"url": receiver.url, "events": ["accepted"], "colour": "red"}), "colour"),
    ] {
        let (status, answer) = server.post_json(&dana.token, "/v1/webhooks", &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let error = crate::common::api_error(&answer);
        assert_eq!(error.error, "bad_request");
        assert!(error.message.contains(needle), "{body} -> {}", error.message);
    }

    // Generated secret; never listed.
    let (status, created) =
        server.post_json(&dana.token, "/v1/webhooks", &json!({"url": receiver.url, "events": ["dispatched"]})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["secret"].as_str().map(str::len), Some(64));
    assert_eq!(created["created_by"], "dana");
    let hook = created["id"].as_str().expect("id").to_owned();
    let (_, listed) = server.get_json(&dana.token, "/v1/webhooks").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(listed[0].get("secret").is_none(), "{listed}");

    // Disabled: an event enqueues nothing.
    let patch = server
        .http
        .patch(server.url(&format!("/v1/webhooks/{hook}")))
        .bearer_auth(&dana.token)
        .header("content-type", "application/json")
        .body(json!({"enabled": false}).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), 200);
    create_ticket(&server, &dana.token, &eli.user_id).await;
    assert!(deliveries_of(&server, &dana.token, &hook).await.is_empty(), "a disabled hook gets no deliveries");
    assert!(receiver.received().is_empty());

    let (status, _) =
        server.post_json(&dana.token, &format!("/v1/webhooks/{hook}/deliveries/nope/redeliver"), &json!({})).await;
    assert_eq!(status, 404);
    let deleted = server.http.delete(server.url(&format!("/v1/webhooks/{hook}"))).bearer_auth(&dana.token).send();
    assert_eq!(deleted.await.expect("delete").status(), 204);
    for path in [format!("/v1/webhooks/{hook}"), format!("/v1/webhooks/{hook}/log")] {
        let (status, body) = server.get_json(&dana.token, &path).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_up_no_sync_and_a_restart_sends_it_again() {
    // An hour-long timeout: the first request hangs for the whole test.
    let config = WebhookConfig { request_timeout: Duration::from_secs(3_600), ..quick() };
    let server = Server::start_with(fast(config)).await;
    let devices = tempfile::tempdir().expect("dir");
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;
    receiver.behaviour.hang.store(true, Ordering::SeqCst);
    let hook = subscribe(&server, &dana.token, &receiver.url, &["accepted"]).await;
    let id = create_ticket(&server, &dana.token, &eli.user_id).await;
    let (client, engine) = phone(&server, devices.path(), &eli);
    sync(&engine).await;
    client.accept(&id).expect("accept");
    sync(&engine).await;
    let hanging = receiver.wait_for("the accepted delivery", |r| r.len() == 1).await;

    // While that request hangs, the phone keeps syncing.
    client.check_in(&id, Location { lat: 52.37, lon: 4.9, accuracy_m: 8.0 }).expect("check in");
    sync(&engine).await;
    client.add_note(&id, "still syncing").expect("note");
    sync(&engine).await;
    assert_eq!(client.pending_count().expect("pending"), 0);
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(detail["status"], "on_site");
    let deliveries = deliveries_of(&server, &dana.token, &hook).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0]["state"].as_str(), deliveries[0]["attempts"].as_u64()), (Some("pending"), Some(1)));
    assert!(log_of(&server, &dana.token, &hook).await.is_empty(), "nothing logged while the request is in flight");

    // A graceful stop abandons the request and gives its lease back: the restarted server sends
    // it again at once (with a lease of an hour, it would otherwise wait that long).
    receiver.behaviour.hang.store(false, Ordering::SeqCst);
    let server = tokio::time::timeout(DEADLINE, server.restart()).await.expect("a hanging webhook does not block stop");
    let received = receiver.wait_for("the delivery after the restart", |r| r.iter().any(|r| r.answered == 200)).await;
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(received[1].delivery_id, hanging[0].delivery_id, "the same delivery");
    assert_eq!(received[1].attempt, 1, "the abandoned attempt was never finished, so it is not counted");
    wait_until("the attempt is logged", || async { !log_of(&server, &dana.token, &hook).await.is_empty() }).await;
    let log = log_of(&server, &dana.token, &hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0]["attempt"].as_u64(), log[0]["status_code"].as_u64()), (Some(1), Some(200)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_times_out_and_the_retry_delivers() {
    let config = WebhookConfig { request_timeout: Duration::from_millis(300), ..quick() };
    let server = Server::start_with(fast(config)).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;
    receiver.behaviour.slow_first.store(1, Ordering::SeqCst);
    *receiver.behaviour.slow_for.lock().expect("slow") = Duration::from_secs(10);
    let hook = subscribe(&server, &dana.token, &receiver.url, &["dispatched"]).await;
    create_ticket(&server, &dana.token, &eli.user_id).await;

    wait_until("the retry is logged as delivered", || async {
        log_of(&server, &dana.token, &hook).await.iter().any(|row| row["status_code"] == 200)
    })
    .await;
    let log = log_of(&server, &dana.token, &hook).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    let (timed_out, delivered) = (&log[1], &log[0]);
    assert_eq!(timed_out["attempt"], 1);
    assert!(timed_out["status_code"].is_null(), "{timed_out}");
    assert!(timed_out["error"].as_str().is_some_and(|e| e.contains("timed out")), "{timed_out}");
    assert!(timed_out["next_retry_at"].is_i64());
    assert_eq!((delivered["attempt"].as_u64(), delivered["status_code"].as_u64()), (Some(2), Some(200)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_a_restart_and_go_out_when_the_receiver_is_back() {
    // Plenty of attempts: the receiver stays down across the restart.
    let config = WebhookConfig { max_attempts: 1_000, max_backoff: Duration::from_millis(50), ..quick() };
    let server = Server::start_with(fast(config)).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    // Down: a port nobody listens on (taken, then let go).
    let port = {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let hook = subscribe(&server, &dana.token, &format!("http://127.0.0.1:{port}/hook"), &["dispatched"]).await;
    create_ticket(&server, &dana.token, &eli.user_id).await;
    wait_until("a failed attempt is logged", || async { !log_of(&server, &dana.token, &hook).await.is_empty() }).await;
    let log = log_of(&server, &dana.token, &hook).await;
    let failure = log.last().expect("a row");
    assert!(failure["error"].as_str().is_some_and(|e| e.starts_with("connect")), "{failure}");
    let pending = deliveries_of(&server, &dana.token, &hook).await;
    assert_eq!((pending.len(), pending[0]["state"].as_str()), (1, Some("pending")));

    let server = server.restart().await;
    let receiver = Receiver::start_on(port).await;
    let received = receiver.wait_for("the delivery", |r| !r.is_empty()).await;
    assert_eq!(received[0].delivery_id, pending[0]["id"].as_str().expect("id"), "the delivery made before the restart");
    assert!(received[0].attempt > 1, "it carries on from the failed attempts");
    wait_until("it is delivered", || async {
        deliveries_of(&server, &dana.token, &hook).await[0]["state"] == "delivered"
    })
    .await;
    let log = log_of(&server, &dana.token, &hook).await;
    assert_eq!(log[0]["status_code"], 200);
    assert!(log[1..].iter().all(|row| row["status_code"].is_null()), "every earlier attempt failed to connect");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Two instances on one PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_send_each_delivery_once() {
    let Some(dbs) = TestDatabases::new() else { return };
    let dbs = Arc::new(dbs);
    let url = dbs.create_off_runtime().await;
    let data = tempfile::tempdir().expect("data dir");
    // Both look for due deliveries all the time, so they compete for every row.
    let config = fast(WebhookConfig { poll_interval: Duration::from_millis(5), ..quick() });
    let a = Instance::start(&url, data.path(), config.clone()).await;
    let b = Instance::start(&url, data.path(), config).await;
    let state = a.state.clone();
    let dana = tokio::task::spawn_blocking(move || {
        state.add_user("eli", Role::Engineer).expect("eli");
        state.add_user("dana", Role::Dispatcher).expect("dana").2
    })
    .await
    .expect("users");
    let eli = "eli".to_owned();
    let http = reqwest::Client::new();
    let receiver = Receiver::start().await;
    let created = http
        .post(format!("{}/v1/webhooks", a.base))
        .bearer_auth(&dana)
        .header("content-type", "application/json")
        .body(
            json!({"url": receiver.url, "events": ["created", "dispatched", "cancelled"], "secret": SECRET})
                .to_string(),
        )
        .send()
        .await
        .expect("subscribe");
    assert_eq!(created.status(), 201);

    // Tickets created and cancelled through both instances: 3 events each.
    const TICKETS: usize = 10;
    for n in 0..TICKETS {
        let (maker, other) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let new = fieldsync_core::NewTicket {
            title: format!("Ticket {n}"),
            assignee: Some(eli.clone()),
            ..Default::default()
        };
        let made = http
            .post(format!("{}/v1/tickets", maker.base))
            .bearer_auth(&dana)
            .header("content-type", "application/json")
            .body(serde_json::to_string(&new).expect("json"))
            .send()
            .await;
        let made: Value = serde_json::from_slice(&made.expect("create").bytes().await.expect("body")).expect("json");
        let id = made["id"].as_str().expect("id");
        let cancelled = http
            .post(format!("{}/v1/tickets/{id}/actions", other.base))
            .bearer_auth(&dana)
            .header("content-type", "application/json")
            .body(json!({"action": "cancel", "reason": "customer called"}).to_string())
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancelled.status(), 200);
    }
    let expected = TICKETS * 3;
    let distinct = |r: &[Received]| r.iter().map(|r| r.delivery_id.as_str()).collect::<HashSet<_>>().len();
    receiver.wait_for("every delivery", |r| distinct(r) == expected).await;
    // Every delivery is marked delivered after its one attempt: a second claim would count one more.
    let deliveries = || {
        let state = a.state.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let hooks = state.webhooks().expect("webhooks");
                state.webhook_deliveries(&hooks[0].id, 1_000).expect("deliveries")
            })
            .await
            .expect("deliveries")
        }
    };
    wait_until("every delivery is settled", || async {
        deliveries().await.iter().all(|d| d.state != DeliveryState::Pending || d.attempts > 1)
    })
    .await;
    let rows = deliveries().await;
    assert_eq!(rows.len(), expected);
    for row in &rows {
        assert_eq!((row.state, row.attempts), (DeliveryState::Delivered, 1), "{row:?}");
    }
    a.stop().await;
    b.stop().await;
    let received = receiver.received();
    assert_eq!(received.len(), expected, "no delivery was sent twice");
    assert_eq!(distinct(&received), expected);
    tokio::task::spawn_blocking(move || drop(dbs)).await.expect("drop databases");
}
