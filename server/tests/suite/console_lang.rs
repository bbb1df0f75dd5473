//! The console in Simplified Chinese and English (issue 16 item 9): the browser's
//! `Accept-Language` chooses until the user switches, the switch is remembered, times are in
//! the organisation's zone, and no page leaves English words when Chinese is chosen.

use chrono::{DateTime, FixedOffset};
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Location, Role};
use fieldsync_server::ServerConfig;
use fieldsync_server::tracking::TrackingConfig;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::common::{Server, open_client};
use crate::console::{client, csrf_of, sign_in};

/// The organisation's zone in these tests: UTC−05:00, neither UTC nor the default.
const ZONE: i32 = -300;

async fn server() -> Server {
    let config = ServerConfig {
        allow_private_webhooks: true,
        tracking: TrackingConfig { utc_offset_minutes: ZONE, ..Default::default() },
        ..ServerConfig::default()
    };
    Server::start_with(config).await
}

/// A page's status and body, with these cookies and this `Accept-Language`.
async fn get(http: &reqwest::Client, server: &Server, path: &str, cookies: &str, accept: &str) -> (u16, String) {
    let response =
        http.get(server.url(path)).header(COOKIE, cookies).header(ACCEPT_LANGUAGE, accept).send().await.expect("page");
    (response.status().as_u16(), response.text().await.expect("body"))
}

async fn post(http: &reqwest::Client, server: &Server, path: &str, cookies: &str, body: String) -> reqwest::Response {
    http.post(server.url(path))
        .header(COOKIE, cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn the_browser_chooses_until_the_user_switches_and_the_switch_is_remembered() {
    let server = server().await;
    let dana = server.user("dana", Role::Dispatcher);
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");

    let (status, zh) = get(&http, &server, "/console/board", &session, "zh-CN,zh;q=0.9,en;q=0.8").await;
    assert_eq!(status, 200);
    assert!(zh.contains(r#"<html lang="zh-CN">"#), "{zh}");
    assert!(zh.contains("看板") && zh.contains("已派单") && zh.contains("在途") && zh.contains("已到场"), "{zh}");
    assert!(!zh.contains(">Board<"), "no English nav in Chinese");
    let (_, en) = get(&http, &server, "/console/board", &session, "en-GB,en;q=0.9").await;
    assert!(en.contains(r#"<html lang="en">"#) && en.contains(">Board<") && en.contains("dispatched"), "{en}");
    let (_, none) = get(&http, &server, "/console/board", &session, "fr").await;
    assert!(none.contains(r#"<html lang="en">"#), "neither of ours: English");

    // The switch needs the session's CSRF token and goes back to the page it was made on.
    let csrf = csrf_of(&en);
    let refused = post(&http, &server, "/console/language", &session, "csrf=x&lang=zh".into()).await;
    assert_eq!(refused.status(), 403);
    let unknown = post(&http, &server, "/console/language", &session, format!("csrf={csrf}&lang=fr")).await;
    assert_eq!(unknown.status(), 400);
    let switched =
        post(&http, &server, "/console/language", &session, format!("csrf={csrf}&lang=zh&back=%2Fconsole%2Fengineers"))
            .await;
    assert_eq!(switched.status(), 303);
    assert_eq!(switched.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/console/engineers"));
    let cookie = switched
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fieldsync_lang="))
        .expect("the choice is remembered in a cookie")
        .to_owned();
    assert!(cookie.starts_with("fieldsync_lang=zh;") && cookie.contains("Max-Age=31536000"), "{cookie}");
    let lang = cookie.split(';').next().expect("pair").to_owned();

    // Remembered: Chinese even though the browser asks for English, on every page.
    let both = format!("{session}; {lang}");
    for path in ["/console/board", "/console/engineers", "/console/reports", "/console/settings"] {
        let (status, body) = get(&http, &server, path, &both, "en-GB,en;q=0.9").await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(r#"<html lang="zh-CN">"#), "{path} in Chinese");
    }
    // And back to English.
    let back =
        post(&http, &server, "/console/language", &both, format!("csrf={csrf}&lang=en&back=/console/board")).await;
    assert_eq!(back.status(), 303);
    let (_, en) = get(&http, &server, "/console/board", &format!("{session}; fieldsync_lang=en"), "zh-CN").await;
    assert!(en.contains(r#"<html lang="en">"#), "the English choice beats a Chinese browser");

    // Only a console page is a place to go back to.
    for evil in ["https://evil.example/", "//evil.example/console/", "/v1/tickets"] {
        let answer =
            post(&http, &server, "/console/language", &session, format!("csrf={csrf}&lang=zh&back={evil}")).await;
        assert_eq!(answer.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/console/board"), "{evil}");
    }
}

#[tokio::test]
async fn times_are_shown_in_the_organisations_zone() {
    let server = server().await;
    let dana = server.user("dana", Role::Dispatcher);
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let id = server.create_ticket(&dana.token, "时区", None).await;
    let (_, ticket) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    let created_at = ticket["created_at"].as_i64().expect("created_at in ms");
    let zone = FixedOffset::east_opt(ZONE * 60).expect("zone");
    let local = DateTime::from_timestamp_millis(created_at).expect("time").with_timezone(&zone);
    let expected = format!("{} UTC-05:00", local.format("%Y-%m-%d %H:%M:%S"));
    for accept in ["en", "zh-CN"] {
        let (_, detail) = get(&http, &server, &format!("/console/tickets/{id}"), &session, accept).await;
        assert!(detail.contains(&expected), "{accept}: {expected} in the detail page");
        assert!(detail.contains("UTC-05:00</span>"), "the zone is named in the header");
        assert!(!detail.contains(" UTC</td>"), "no UTC times left");
    }
}

/// Visible text of a page: element text plus the attributes people read (placeholders,
/// titles, confirmations), without code samples.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open..open + close];
        for attribute in ["placeholder=\"", "title=\"", "data-confirm=\"", "alt=\""] {
            if let Some(at) = tag.find(attribute) {
                text.push_str(tag[at + attribute.len()..].split('"').next().unwrap_or_default());
                text.push(' ');
            }
        }
        rest = &rest[open + close + 1..];
        if tag.starts_with("<code") || tag.starts_with("<script") || tag.starts_with("<title") {
            let end = if tag.starts_with("<code") {
                "</code>"
            } else if tag.starts_with("<script") {
                "</script>"
            } else {
                "</title>"
            };
            rest = rest.find(end).map_or("", |at| &rest[at..]);
        }
    }
    text.push_str(rest);
    text
}

/// English words the console's chrome uses; none may show when Chinese is chosen. ("URL",
/// "Webhook", "SLA", "CSV" and "PDF" are the loanwords Chinese software uses as they are.)
const ENGLISH: &[&str] = &[
    "Board",
    "Engineers",
    "Reports",
    "Settings",
    "Sign",
    "Status",
    "Priority",
    "Filter",
    "all",
    "none",
    "overdue",
    "left",
    "assignee",
    "customer",
    "created",
    "Timeline",
    "Actions",
    "Reassign",
    "Assign",
    "Cancel",
    "Reopen",
    "Notes",
    "Parts",
    "Photos",
    "Signature",
    "Deliveries",
    "Events",
    "enabled",
    "pending",
    "delivered",
    "failed",
    "dispatched",
    "accepted",
    "completed",
    "cancelled",
    "travelling",
    "new",
    "New",
    "ticket",
    "Ticket",
    "by",
    "version",
    "rules",
    "Save",
    "Create",
    "Revoke",
    "sync",
    "open",
    "yes",
    "no",
    "cannot",
    "device",
    "server",
    "when",
    "what",
    "Type",
    "Product",
    "Module",
    "Version",
    "Record",
    "Show",
    "From",
    "To",
    "group",
    "tickets",
    "priority",
    "type",
    "milestone",
    "deadline",
    "respond",
    "arrive",
    "resolve",
    "met",
    "due",
    "any",
    "Routing",
    "Suggested",
    "least",
    "loaded",
    "served",
    "note",
    "Escalation",
    "Follow",
    "subscription",
    "Revisit",
    "Revisits",
    "revisit",
    "revisited",
    "fixed",
    "reached",
    "overdue",
    "First",
    "call",
    "Complaints",
    "level",
    "unit",
    "crisis",
    "total",
];

/// The English words of [`ENGLISH`] in `text`, as whole words.
fn english_words(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| ENGLISH.contains(word))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn no_console_page_shows_english_words_when_chinese_is_chosen() {
    let server = server().await;
    let dana = server.user("dana", Role::Admin);
    let eli = server.user("eli", Role::Engineer);
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = format!("{}; fieldsync_lang=zh", session.expect("session"));
    // A completed job due a revisit, and one revisited and found not fixed (docs/adr/0019).
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    let fixed = server.create_ticket(&dana.token, "门铃不响", Some("eli")).await;
    let reopened = server.create_ticket(&dana.token, "水管漏水", Some("eli")).await;
    engine.sync_now().await.expect("sync");
    for id in [&fixed, &reopened] {
        phone.accept(id).expect("accept");
        phone.check_in(id, Location { lat: 31.23, lon: 121.47, accuracy_m: 5.0 }).expect("check in");
        phone.complete(id, "好了").expect("complete");
    }
    engine.sync_now().await.expect("sync completions");
    let (status, body) = server
        .act(
            &dana.token,
            &reopened,
            json!({"action": "revisit", "fixed": false, "contact": "王女士", "note": "还在漏"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A complaint with a level, reclassified into a sales lead (docs/adr/0019).
    let (status, body) = server
        .post_json(&dana.token, "/v1/tickets", &json!({"title": "态度差", "classification": {"type": "complaint"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let complaint = body["id"].as_str().expect("id").to_owned();
    for step in [
        json!({"action": "set_complaint", "level": "crisis", "unit": "客服部"}),
        json!({"action": "reclassify", "classification": {"type": "sales_lead"}}),
    ] {
        let (status, body) = server.act(&dana.token, &complaint, step).await;
        assert_eq!(status, 200, "{body}");
    }

    // Something on every page: tickets in several states, a note, a cancellation, a webhook.
    let open = server.create_ticket(&dana.token, "锅炉漏水", Some("eli")).await;
    server.act(&dana.token, &open, json!({"action": "note", "text": "已电话联系客户"})).await;
    let done = server.create_ticket(&dana.token, "空调不制冷", None).await;
    server.act(&dana.token, &done, json!({"action": "cancel", "reason": "客户取消"})).await;
    let (_, board) = get(&http, &server, "/console/board", &session, "en").await;
    let csrf = csrf_of(&board);
    let webhook = post(
        &http,
        &server,
        "/console/webhooks",
        &session,
        format!("csrf={csrf}&url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=accepted&events=travel_started"),
    )
    .await;
    let status = webhook.status();
    let created = webhook.text().await.expect("body");
    assert_eq!(status, 201, "the subscription-created page: {created}");
    let words = english_words(&visible_text(&created));
    assert!(words.is_empty(), "subscription created page shows English: {words:?}");
    let webhook_id = created.split("data-webhook=\"").nth(1).and_then(|s| s.split('"').next()).expect("id").to_owned();

    let pages = [
        "/console/board".to_owned(),
        "/console/board/columns".to_owned(),
        "/console/tickets/new".to_owned(),
        format!("/console/tickets/{open}"),
        format!("/console/tickets/{done}"),
        "/console/engineers".to_owned(),
        "/console/reports".to_owned(),
        "/console/statistics".to_owned(),
        "/console/follow-ups".to_owned(),
        "/console/revisits".to_owned(),
        "/console/complaints".to_owned(),
        format!("/console/tickets/{complaint}"),
        format!("/console/tickets/{fixed}"),
        format!("/console/tickets/{reopened}"),
        "/console/webhooks".to_owned(),
        format!("/console/webhooks/{webhook_id}"),
        "/console/settings".to_owned(),
    ];
    let mut failures = Vec::new();
    for path in &pages {
        let (status, body) = get(&http, &server, path, &session, "en").await;
        assert_eq!(status, 200, "{path}");
        let words = english_words(&visible_text(&body));
        if !words.is_empty() {
            failures.push(format!("{path}: {words:?}"));
        }
    }
    // A refusal reads as Chinese too.
    let refused = post(
        &http,
        &server,
        &format!("/console/tickets/{open}/actions"),
        &session,
        format!("csrf={csrf}&action=reopen&reason=x"),
    )
    .await;
    assert_eq!(refused.status(), 409);
    let body = refused.text().await.expect("body");
    assert!(body.contains(r#"<html lang="zh-CN">"#) && body.contains("无法重开"), "{body}");
    let words = english_words(&visible_text(&body));
    if !words.is_empty() {
        failures.push(format!("refusal page: {words:?}"));
    }
    assert!(failures.is_empty(), "English left on Chinese pages:\n{}", failures.join("\n"));
}

#[test]
fn the_guard_sees_english_words_it_should() {
    let text = visible_text(r#"<p title="Sign out">已派单 <code>priority tier</code> 12 by eli</p>"#);
    assert_eq!(english_words(&text), ["Sign", "by"]);
}
