//! Issue 13, attack 8: webhook URLs as a way into the server's own network (SSRF). A
//! dispatcher's webhook to `127.0.0.1`, `10.0.0.5:22` or `169.254.169.254` used to be accepted
//! and delivered, and the delivery log told what answered: a port scanner.
//!
//! Network rule of these tests: requests go to loopback only. The guard is tested by what it
//! refuses; the one address a refused webhook names that is also listened on is a loopback
//! "tripwire" that asserts it was never reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fieldsync_core::Role;
use fieldsync_core::time::now_ms;
use fieldsync_server::ServerConfig;
use fieldsync_server::storage::webhooks::WebhookSubscription;
use reqwest::header::COOKIE;
use serde_json::json;

use crate::common::{Server, api_error};
use crate::webhooks::{
    Receiver, create_ticket, deliveries_of, fast, log_of, phone, quick, subscribe, sync, wait_until,
};

/// A loopback listener standing for an internal service: counts every connection it accepts.
async fn tripwire() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind tripwire");
    let port = listener.local_addr().expect("addr").port();
    let reached = Arc::new(AtomicUsize::new(0));
    let count = reached.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, reached)
}

/// A subscription stored without the API's check: what a database holds from before the rule,
/// or from a server that ran with `--allow-private-webhooks` and was restarted without it.
fn stored(server: &Server, id: &str, url: &str) {
    let subscription = WebhookSubscription {
        id: id.to_owned(),
        url: url.to_owned(),
        event_kinds: vec!["dispatched".into()],
        secret: "s3cret-for-the-receiver".into(),
        enabled: true,
        created_at: now_ms(),
        created_by: "dana".into(),
    };
    server.state.storage().create_webhook(&subscription).expect("store subscription");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_webhook_to_private_address_is_refused() {
    // Default configuration (private targets refused), fast retries.
    let server = Server::start_with(ServerConfig { webhooks: quick(), ..ServerConfig::default() }).await;
    assert!(!server.config.allow_private_webhooks, "refusing is the default");
    let devices = tempfile::tempdir().expect("dir");
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (port, reached) = tripwire().await;

    // Creation: refused with 400 and the reason, for every kind of address and spelling.
    for (url, reason) in [
        (format!("http://127.0.0.1:{port}/hook"), "loopback"),
        (format!("http://localhost:{port}/hook"), "loopback"),
        (format!("http://[::1]:{port}/hook"), "loopback"),
        (format!("http://2130706433:{port}/hook"), "loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}/hook"), "loopback"),
        ("http://0.0.0.0/hook".to_owned(), "unspecified"),
        ("http://10.0.0.5:22/".to_owned(), "private"),
        ("http://172.16.0.1/".to_owned(), "private"),
        ("http://192.168.1.1/".to_owned(), "private"),
        ("http://100.64.0.1/".to_owned(), "CGNAT"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "link-local"),
        ("http://[fe80::1]/".to_owned(), "link-local"),
        ("http://[fd00::1]/".to_owned(), "unique local"),
        ("http://224.0.0.1/".to_owned(), "multicast"),
        ("http://255.255.255.255/".to_owned(), "broadcast"),
    ] {
        let body = json!({"url": url, "events": ["dispatched"]});
        let (status, answer) = server.post_json(&dana.token, "/v1/webhooks", &body).await;
        assert_eq!(status, 400, "{url} -> {answer}");
        let error = api_error(&answer);
        assert_eq!(error.error, "bad_request");
        assert!(
            error.message.contains("may not be sent to") && error.message.contains(reason),
            "{url}: {}",
            error.message
        );
    }
    // The console's form gives the same answer.
    let http = crate::console::client();
    let (_, session) = crate::console::sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let csrf = crate::console::csrf_of(&crate::console::page(&http, &server.base, "/console/webhooks", &session).await);
    let refused = http
        .post(server.url("/console/webhooks"))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&url=http%3A%2F%2F10.0.0.5%3A22%2F&events=dispatched"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.expect("body").contains("a private (RFC 1918) address"), "the reason is on the page");
    let (_, listed) = server.get_json(&dana.token, "/v1/webhooks").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing was created: {listed}");

    // Delivery: subscriptions already stored with such targets are refused right before
    // connecting, once (logged with the reason, not retried), and nothing is reached.
    stored(&server, "literal", &format!("http://127.0.0.1:{port}/hook"));
    stored(&server, "named", &format!("http://localhost:{port}/hook"));
    for hook in ["literal", "named"] {
        let patch = server
            .http
            .patch(server.url(&format!("/v1/webhooks/{hook}")))
            .bearer_auth(&dana.token)
            .header("content-type", "application/json")
            .body(json!({"enabled": true}).to_string())
            .send()
            .await
            .expect("patch");
        assert_eq!(patch.status(), 400, "enabling checks the target again");
    }
    let id = create_ticket(&server, &dana.token, &eli.user_id).await;
    for hook in ["literal", "named"] {
        wait_until("the delivery fails", || async {
            deliveries_of(&server, &dana.token, hook).await.iter().any(|d| d["state"] == "failed")
        })
        .await;
        let deliveries = deliveries_of(&server, &dana.token, hook).await;
        assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
        assert_eq!(deliveries[0]["attempts"], 1, "refused once, not retried: {deliveries:#?}");
        let log = log_of(&server, &dana.token, hook).await;
        assert_eq!(log.len(), 1, "{log:#?}");
        let error = log[0]["error"].as_str().unwrap_or_default();
        assert!(log[0]["status_code"].is_null() && log[0]["next_retry_at"].is_null(), "{log:#?}");
        assert!(error.starts_with("refused, not retried") && error.contains("loopback"), "{error}");
    }
    let named = log_of(&server, &dana.token, "named").await;
    assert!(named[0]["error"].as_str().is_some_and(|e| e.contains("localhost: it resolves to")), "{named:#?}");
    assert_eq!(reached.load(Ordering::SeqCst), 0, "no connection reached the internal service");

    // Honest parties lost nothing: the ticket, the engineer's phone and its sync are untouched.
    let (client, engine) = phone(&server, devices.path(), &eli);
    sync(&engine).await;
    client.accept(&id).expect("accept");
    sync(&engine).await;
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(detail["status"], "accepted");
    server.stop().await;

    // And an on-premises install that allows private targets still delivers to them.
    let onprem = Server::start_with(fast(quick())).await;
    let dana = onprem.user("dana", Role::Dispatcher);
    let eli = onprem.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;
    subscribe(&onprem, &dana.token, &receiver.url, &["dispatched"]).await;
    create_ticket(&onprem, &dana.token, &eli.user_id).await;
    receiver.wait_for("the delivery", |r| r.iter().any(|r| r.answered == 200)).await;
    onprem.stop().await;
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}
