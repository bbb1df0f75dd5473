//! The customer's tracking page against a real server (issue 15): tokens, privacy, rate limits,
//! the customer's messages reaching the engineer's device, and the rating rules.

use std::time::Duration;

use fieldsync_core::Role;
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_server::ServerConfig;
use fieldsync_server::tracking::TrackingConfig;
use serde_json::json;

use crate::common::{Device, Server, open_client};

/// A ticket for `eli` ("Mei Chen" is the engineer's display name: see `engineer`), with an
/// internal note and a public one; returns its id and tracking link.
pub(crate) async fn ticket(server: &Server, dana: &Device, title: &str) -> (String, String) {
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &json!({
                "title": title, "assignee": "Mei Chen", "description": "gate code 4711",
                "customer": {"name": "Ms Jansen", "phone": "+31 6 1234 5678", "address": "Prinsengracht 12"},
                "sla": {"arrive_by": fieldsync_core::time::now_ms() + 3_600_000},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    for (action, text) in
        [("add_note", "INTERNAL: customer is difficult"), ("add_public_note", "We will bring the part")]
    {
        let (status, body) = server.act(&dana.token, &id, json!({"action": action, "text": text})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200);
    let link = detail["tracking_url"].as_str().expect("a link made at dispatch");
    // Always this server on loopback, whatever public address the link names.
    let token = link.rsplit('/').next().expect("token");
    (id, server.url(&format!("/t/{token}")))
}

pub(crate) async fn get(server: &Server, url: &str, lang: &str) -> (u16, String) {
    let response = server.http.get(url).header("accept-language", lang).send().await.expect("get");
    (response.status().as_u16(), response.text().await.expect("body"))
}

pub(crate) async fn post(server: &Server, url: &str, body: &str) -> (u16, serde_json::Value) {
    let response = server
        .http
        .post(url)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

pub(crate) fn engineer(server: &Server) -> Device {
    server.user("Mei Chen", Role::Engineer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_unguessable_revocable_and_expire_after_completion() {
    let config = ServerConfig {
        tracking: TrackingConfig { link_ttl_after_completion: Duration::ZERO, ..Default::default() },
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let _mei = engineer(&server);
    let (status, body) = server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Not yet dispatched"})).await;
    assert_eq!(status, 201);
    let undispatched = body["id"].as_str().expect("id").to_owned();
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{undispatched}")).await;
    assert!(detail["tracking_url"].is_null(), "no link before dispatch: {detail}");

    let (id, link) = ticket(&server, &dana, "Boiler leaks").await;
    let (other_id, other_link) = ticket(&server, &dana, "Broken fridge").await;
    let token = link.rsplit('/').next().expect("token").to_owned();
    assert_eq!(token.len(), 48, "192 bits");
    let (status, page) = get(&server, &link, "en").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Boiler leaks") && !page.contains("Broken fridge"), "only its own ticket");
    let (_, other_page) = get(&server, &other_link, "en").await;
    assert!(other_page.contains("Broken fridge") && !other_page.contains("Boiler leaks"));

    // Guessed, malformed, or made for another ticket with the right shape: the same plain 404.
    let flipped = format!("{}{}", &token[..47], if token.ends_with('0') { '1' } else { '0' });
    for bad in [flipped.as_str(), "0123", "not-a-token", &"f".repeat(48)] {
        let (status, body) = get(&server, &server.url(&format!("/t/{bad}")), "en").await;
        assert_eq!((status, body.as_str()), (404, "Not Found"), "{bad}");
    }
    // Tokens are stored hashed: the database file holds no token.
    let database = std::fs::read(server.dir.path().join("server.sqlite")).expect("database");
    assert!(!database.windows(token.len()).any(|w| w == token.as_bytes()), "a token in the database");

    // Revoked: 404, the live stream too; a new link works and the old one stays dead.
    assert_eq!(server.state.storage().revoke_tracking_links(&id, fieldsync_core::time::now_ms()).expect("revoke"), 1);
    assert_eq!(get(&server, &link, "en").await.0, 404);
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert!(detail["tracking_url"].is_null(), "a revoked link is not shown: {detail}");
    assert_eq!(get(&server, &other_link, "en").await.0, 200, "only that ticket's link");

    // Cancelled with a lifetime of zero after the end: expired.
    let (status, _) =
        server.act(&dana.token, &other_id, json!({"action": "cancel", "reason": "customer fixed it"})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(get(&server, &other_link, "en").await.0, 404, "expired after the end");

    // Completed by the engineer: the link works up to completion, then expires (lifetime zero).
    let (done_id, done_link) = ticket(&server, &dana, "Washing machine").await;
    work_to_completion(&server, &_mei, &done_id, &done_link).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(get(&server, &done_link, "en").await.0, 404, "expired after completion");
    server.stop().await;
}

/// The engineer works `id` to completion on a phone (the real sync engine), with an ETA on
/// setting off, syncing after every step; the link keeps working up to completion.
pub(crate) async fn work_to_completion(server: &Server, mei: &Device, id: &str, link: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let phone = open_client(dir.path(), mei, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), mei.token.clone())).expect("engine");
    engine.set_online(true);
    engine.sync_now().await.expect("sync");
    let here = fieldsync_core::Location { lat: 1.0, lon: 1.0, accuracy_m: 5.0 };
    phone.accept(id).expect("accept");
    phone.start_travel_with_eta(id, fieldsync_core::time::now_ms() + 1_500_000).expect("travel");
    engine.sync_now().await.expect("sync");
    phone.check_in(id, here).expect("check in");
    engine.sync_now().await.expect("sync");
    assert_eq!(get(server, link, "en").await.0, 200, "the link works before completion");
    phone.complete(id, "done").expect("complete");
    engine.sync_now().await.expect("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_nothing_private_in_either_language() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let _mei = engineer(&server);
    let (_, link) = ticket(&server, &dana, "Boiler leaks").await;
    for (lang, words) in [
        ("en-GB,en;q=0.9", ["Engineer assigned", "We will be with you by"]),
        ("zh-CN,zh;q=0.9", ["已派工程师", "我们承诺最迟到达时间"]),
    ] {
        let (status, page) = get(&server, &link, lang).await;
        assert_eq!(status, 200);
        let (_, events) = {
            // The first frame of the live stream: the same view as JSON.
            let mut response =
                server.http.get(format!("{link}/events")).header("accept-language", lang).send().await.expect("sse");
            let mut text = String::new();
            while !text.contains("\n\n") {
                let chunk = response.chunk().await.expect("chunk").expect("more");
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            (0, text)
        };
        // The token is random hex and may itself contain "4711"; look for secrets outside it.
        let token = link.rsplit('/').next().expect("token");
        for shown in [&page.replace(token, "<token>"), &events.replace(token, "<token>")] {
            for word in words {
                assert!(shown.contains(word), "{lang}: no {word:?} in {shown}");
            }
            assert!(shown.contains("Mei") && shown.contains("We will bring the part"), "{shown}");
            for secret in ["Chen", "INTERNAL", "difficult", "+31 6", "Jansen", "Prinsengracht", "4711", "dana"] {
                assert!(!shown.contains(secret), "{lang}: {secret:?} leaked: {shown}");
            }
        }
        assert!(page.len() < 100 * 1024, "page weight {}", page.len());
    }
    let (_, js) = get(&server, &server.url("/track-assets/track.js"), "en").await;
    let (_, css) = get(&server, &server.url("/track-assets/track.css"), "en").await;
    let (_, page) = get(&server, &link, "en").await;
    let weight = page.len() + js.len() + css.len();
    assert!(weight < 100 * 1024, "page, script and styles weigh {weight} bytes");
    assert_eq!(get(&server, &format!("{link}/report.pdf"), "en").await.0, 404, "no report before completion");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_limited_per_ip_and_per_token() {
    let config = ServerConfig {
        tracking: TrackingConfig {
            views_per_minute_per_ip: 6,
            posts_per_hour_per_token: 2,
            posts_per_hour_per_ip: 100,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let _mei = engineer(&server);
    let (_, link) = ticket(&server, &dana, "Boiler leaks").await;
    // Guesses count against the address too: five wrong ones, one right, then 429.
    for n in 0..5 {
        assert_eq!(get(&server, &server.url(&format!("/t/{:048x}", n)), "en").await.0, 404);
    }
    assert_eq!(get(&server, &link, "en").await.0, 200);
    let response = server.http.get(&link).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());

    // Posts per token: two messages, the third refused, and nothing of it stored.
    for text in ["first", "second"] {
        assert_eq!(post(&server, &format!("{link}/messages"), &format!("text={text}")).await.0, 200);
    }
    assert_eq!(post(&server, &format!("{link}/messages"), "text=third").await.0, 429);
    server.stop().await;

    // Views per token (another token from the same address still served) and posts per
    // address (across tokens).
    let config = ServerConfig {
        tracking: TrackingConfig {
            views_per_minute_per_token: 3,
            posts_per_hour_per_ip: 2,
            posts_per_hour_per_token: 100,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let _mei = engineer(&server);
    let (_, first) = ticket(&server, &dana, "Boiler leaks").await;
    let (_, second) = ticket(&server, &dana, "Fridge door").await;
    for _ in 0..3 {
        assert_eq!(get(&server, &first, "en").await.0, 200);
    }
    assert_eq!(get(&server, &first, "en").await.0, 429, "the fourth view of one token");
    assert_eq!(get(&server, &second, "en").await.0, 200, "another token is counted on its own");
    assert_eq!(post(&server, &format!("{first}/messages"), "text=one").await.0, 200);
    assert_eq!(post(&server, &format!("{second}/messages"), "text=two").await.0, 200);
    assert_eq!(post(&server, &format!("{second}/messages"), "text=three").await.0, 429, "the address's third post");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_texts_carry_the_link_the_promised_time_and_the_eta_in_both_languages() {
    use fieldsync_server::tracking::i18n::{Lang, time};
    let tracking = TrackingConfig { public_url: Some("https://service.example.com".into()), ..Default::default() };
    let config = ServerConfig { allow_private_webhooks: true, tracking, ..ServerConfig::default() };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let mei = engineer(&server);
    let (status, hook) = server
        .post_json(
            &dana.token,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["dispatched", "travel_started", "completed"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let (id, link) = ticket(&server, &dana, "Boiler leaks").await;
    let public_link = format!("https://service.example.com/t/{}", link.rsplit('/').next().unwrap_or_default());
    work_to_completion(&server, &mei, &id, &link).await;
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    let arrive_by = detail["sla"]["arrive_by"].as_i64().expect("promised arrival");
    let eta = detail["events"]
        .as_array()
        .and_then(|events| events.iter().find_map(|e| (e["kind"] == "travel_started").then(|| e["eta"].as_i64())))
        .flatten()
        .expect("the ETA of travel_started");

    let hook_id = hook["id"].as_str().expect("id");
    let (_, deliveries) = server.get_json(&dana.token, &format!("/v1/webhooks/{hook_id}/deliveries")).await;
    let payload = |event: &str| -> serde_json::Value {
        deliveries
            .as_array()
            .and_then(|d| d.iter().find(|d| d["event"] == event))
            .map(|d| d["payload"].clone())
            .unwrap_or_else(|| panic!("no {event} delivery: {deliveries}"))
    };
    let at = |lang, ms| time(lang, ms, 480);
    let expected = [
        (
            "dispatched",
            format!("我们承诺最迟于{}到达", at(Lang::Zh, arrive_by)),
            format!("We will be with you by {}", at(Lang::En, arrive_by)),
        ),
        ("travel_started", format!("预计{}到达", at(Lang::Zh, eta)), format!("expected at {}", at(Lang::En, eta))),
        ("completed", "请为本次服务评分".to_owned(), "Please rate it".to_owned()),
    ];
    for (event, zh, en) in expected {
        let payload = payload(event);
        assert_eq!(payload["tracking_url"], public_link.as_str(), "{payload}");
        let text = payload["text"].as_str().unwrap_or_default();
        assert!(text.contains(&zh) && text.ends_with(&public_link), "{event}: the server's language is zh: {payload}");
        assert_eq!(payload["texts"]["zh"].as_str(), Some(text), "{payload}");
        let english = payload["texts"]["en"].as_str().unwrap_or_default();
        assert!(english.contains(&en) && english.ends_with(&public_link), "{event}: {payload}");
        for secret in ["Chen", "gate code", "INTERNAL"] {
            assert!(!text.contains(secret) && !english.contains(secret), "{event}: {secret}: {payload}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_the_device_and_the_rating_is_the_customers_once() {
    let tracking = TrackingConfig { public_url: Some("https://service.example.com".into()), ..Default::default() };
    let config = ServerConfig { allow_private_webhooks: true, tracking, ..ServerConfig::default() };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let mei = engineer(&server);
    let (id, link) = ticket(&server, &dana, "Boiler leaks").await;
    let (status, hook) = server
        .post_json(
            &dana.token,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["customer_rating_low"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");

    // Size caps, escaping, and the message on the engineer's device after its sync.
    let long = "字".repeat(1_001);
    assert_eq!(post(&server, &format!("{link}/messages"), &format!("text={long}")).await.0, 400);
    assert_eq!(post(&server, &format!("{link}/messages"), "text=+++").await.0, 400);
    let huge = format!("text={}", "a".repeat(100_000));
    assert_eq!(post(&server, &format!("{link}/messages"), &huge).await.0, 413, "the body is capped before it is read");
    let script = "<script>alert(1)</script> 请先打电话";
    let body = format!("text={}", urlencode(script));
    assert_eq!(post(&server, &format!("{link}/messages"), &body).await.0, 200);
    let (_, page) = get(&server, &link, "en").await;
    assert!(
        !page.contains("<script>alert") && page.contains("&#60;script&#62;alert(1)") && page.contains("请先打电话"),
        "{page}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let phone = open_client(dir.path(), &mei, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), mei.token.clone())).expect("engine");
    engine.set_online(true);
    engine.sync_now().await.expect("sync");
    let on_phone = phone.get(&id).expect("ticket on the phone");
    assert_eq!(on_phone.customer_messages.len(), 1);
    assert_eq!(on_phone.customer_messages[0].text, script);
    assert_eq!(on_phone.customer_messages[0].by, "customer");

    // Not before completion; then once; out of range refused; a 2 opens a follow-up.
    assert_eq!(post(&server, &format!("{link}/rating"), "rating=5").await.0, 409);
    assert_eq!(get(&server, &format!("{link}/report.pdf"), "en").await.0, 404, "no report before completion");
    phone.accept(&id).expect("accept");
    phone.start_travel_with_eta(&id, fieldsync_core::time::now_ms() + 1_200_000).expect("travel");
    phone.check_in(&id, fieldsync_core::Location { lat: 1.0, lon: 1.0, accuracy_m: 5.0 }).expect("check in");
    phone.complete(&id, "done").expect("complete");
    engine.sync_now().await.expect("sync");
    // The service report, once completed: the same PDF the console downloads.
    let response = server.http.get(format!("{link}/report.pdf")).send().await.expect("report");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.expect("pdf");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let (_, other) = ticket(&server, &dana, "Another job").await;
    assert_eq!(get(&server, &format!("{other}/report.pdf"), "en").await.0, 404, "another ticket, not completed");
    for bad in ["rating=0", "rating=6", "rating=x"] {
        assert_eq!(post(&server, &format!("{link}/rating"), bad).await.0, 400, "{bad}");
    }
    assert_eq!(post(&server, &format!("{link}/rating"), "rating=2&comment=late").await.0, 200);
    assert_eq!(post(&server, &format!("{link}/rating"), "rating=5").await.0, 409, "once");
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(detail["customer_feedback"]["rating"], 2);
    assert!(detail["feedback"].is_null(), "the engineer's record is another thing");
    let follow_ups = server.state.storage().follow_ups().expect("follow-ups");
    assert_eq!((follow_ups.len(), follow_ups[0].rating, follow_ups[0].ticket_id.as_str()), (1, 2, id.as_str()));
    let hook_id = hook["id"].as_str().expect("id");
    let (_, deliveries) = server.get_json(&dana.token, &format!("/v1/webhooks/{hook_id}/deliveries")).await;
    let delivery = &deliveries.as_array().expect("list")[0];
    assert_eq!(delivery["event"], "customer_rating_low", "{deliveries}");
    let payload = &delivery["payload"];
    assert_eq!(payload["rating"], 2, "{payload}");
    let public_link = format!("https://service.example.com/t/{}", link.rsplit('/').next().unwrap_or_default());
    assert!(payload["text"].as_str().is_some_and(|t| t.ends_with(&public_link)), "{payload}");
    assert_eq!(payload["tracking_url"], public_link.as_str());
    assert!(payload["texts"]["en"].as_str().is_some_and(|t| t.contains("call them back")), "{payload}");
    server.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
