//! An audit of the routes added for the service manager and the customer (ADR 0012–0014,
//! 0016): the taxonomy, the SLA policy, the escalation rules, the REST service report, the
//! customer's tracking routes (`/t/{token}`, its events, messages, rating and report) and the
//! console's language switch, each asked with no token or session (or one that is nobody's),
//! with the wrong role, and with hostile input (malformed, wrong types, oversized). Each
//! asserts the refusal's status and that what honest parties set or wrote is intact after.

use fieldsync_core::Role;
use serde_json::{Value as Json, json};

use crate::common::Server;

/// `PUT path` with `body` as-is (not necessarily JSON), as `token` (none when empty).
async fn put_raw(server: &Server, token: &str, path: &str, body: impl Into<reqwest::Body>) -> u16 {
    let mut request = server.http.put(server.url(path)).header("content-type", "application/json").body(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => response.status().as_u16(),
        // A body larger than the socket buffers, refused before it was read: the server
        // closed the connection while it was still being written. Counted as the 413 it sent.
        Err(e) if e.is_request() || e.is_body() => 413,
        Err(e) => panic!("put: {e}"),
    }
}

/// The honest setting each route starts with, and a hostile one of the right shape but wrong
/// values (each field a wrong type).
fn settings(engineer: &str) -> [(&'static str, Json, Json); 3] {
    [
        (
            "/v1/taxonomy",
            json!({"types": [{"value": "bug", "label": "Bug"}], "products": [], "versions": []}),
            json!({"types": "bug", "products": 7, "versions": [null]}),
        ),
        (
            "/v1/sla-policy",
            json!({"rules": [{"priority": "urgent", "targets": {"respond": 60_000, "arrive": 600_000, "resolve": 3_600_000}}]}),
            json!({"rules": [{"priority": 5, "targets": {"respond": "soon", "arrive": -1, "resolve": []}}]}),
        ),
        (
            "/v1/escalation-rules",
            json!({"rules": [{"id": "late", "clock": "any", "raise_priority": true, "assign_to": engineer}]}),
            json!({"rules": [{"id": 1, "clock": {"any": true}, "raise_priority": "yes", "assign_to": 42}]}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_routes_refuse_strangers_lower_roles_and_hostile_bodies_and_keep_what_was_set() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    for (path, honest, wrong_types) in settings(&eli.user_id) {
        assert_eq!(put_raw(&server, &root.token, path, honest.to_string()).await, 200, "{path}: the admin sets it");
        let (_, set) = server.get_json(&root.token, path).await;
        assert_eq!(set["version"].as_i64(), Some(1), "{path}: {set}");

        // Who: no token, a token that is nobody's, an engineer, a dispatcher.
        assert_eq!(put_raw(&server, "", path, honest.to_string()).await, 401, "{path}: no token");
        assert_eq!(put_raw(&server, "not-a-token", path, honest.to_string()).await, 401, "{path}: unknown token");
        assert_eq!(put_raw(&server, &eli.token, path, honest.to_string()).await, 403, "{path}: an engineer writes");
        assert_eq!(put_raw(&server, &dana.token, path, honest.to_string()).await, 403, "{path}: a dispatcher writes");
        let no_token = server.http.get(server.url(path)).send().await.expect("get").status().as_u16();
        assert_eq!(no_token, 401, "{path}: read with no token");
        assert_eq!(server.get_json(&eli.token, path).await.0, 403, "{path}: an engineer reads");

        // What: malformed JSON, wrong types, a body over the 1 MiB cap, an empty body.
        for (what, body) in [
            ("malformed", b"{\"rules\": [".to_vec()),
            ("wrong types", wrong_types.to_string().into_bytes()),
            ("not an object", b"[1, 2, 3]".to_vec()),
            ("empty", Vec::new()),
        ] {
            let status = put_raw(&server, &root.token, path, body).await;
            assert!(status == 400 || status == 422, "{path}: {what} answered {status}");
        }
        let oversized = format!("{{\"rules\": [], \"pad\": \"{}\"}}", "x".repeat(2 << 20));
        assert_eq!(put_raw(&server, &root.token, path, oversized).await, 413, "{path}: 2 MiB body");

        // Nothing of it took: the admin's setting, at its version, unchanged.
        let (status, after) = server.get_json(&dana.token, path).await;
        assert_eq!(status, 200, "{path}: a dispatcher still reads it");
        assert_eq!(after, set, "{path}: the setting is what the admin set");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_report_refuses_strangers_and_other_engineers_and_odd_ids() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let finn = server.user("finn", Role::Engineer);
    let ticket = server.create_ticket(&dana.token, "Boiler leaks", Some(&eli.user_id)).await;
    let path = format!("/v1/tickets/{ticket}/report.pdf");
    let get = |token: &'static str, path: String| {
        let request = server.http.get(server.url(&path));
        let request = if token.is_empty() { request } else { request.bearer_auth(token) };
        async move { request.send().await.expect("get").status().as_u16() }
    };
    assert_eq!(get("", path.clone()).await, 401, "no token");
    assert_eq!(get("not-a-token", path.clone()).await, 401, "an unknown token");
    assert_eq!(server.http.get(server.url(&path)).bearer_auth(&finn.token).send().await.expect("get").status(), 403);
    // Hostile ids: unknown, overlong, path tricks, percent-encoded bytes.
    for id in ["no-such-ticket", &"x".repeat(10_000), "..%2F..%2Fetc%2Fpasswd", "%00", "%FF%FE"] {
        let status = server
            .http
            .get(server.url(&format!("/v1/tickets/{id}/report.pdf")))
            .bearer_auth(&dana.token)
            .send()
            .await
            .expect("get")
            .status()
            .as_u16();
        assert!(matches!(status, 400 | 404 | 414 | 431), "id {:.40}: {status}", id);
    }
    // The honest parties still get theirs, and the ticket is as it was.
    for token in [&dana.token, &eli.token] {
        let answer = server.http.get(server.url(&path)).bearer_auth(token).send().await.expect("get");
        assert_eq!(answer.status(), 200);
        assert!(answer.bytes().await.expect("pdf").starts_with(b"%PDF"), "a PDF");
    }
    let (status, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{ticket}")).await;
    assert_eq!((status, detail["title"].as_str()), (200, Some("Boiler leaks")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_routes_refuse_unknown_tokens_and_hostile_forms_and_store_nothing_of_them() {
    use crate::tracking::{engineer, get, post, ticket};
    use fieldsync_server::ServerConfig;
    use fieldsync_server::tracking::TrackingConfig;
    // Limits high enough that this test's own requests are not what refuses them.
    let tracking = TrackingConfig {
        views_per_minute_per_token: 1_000,
        views_per_minute_per_ip: 1_000,
        posts_per_hour_per_token: 1_000,
        posts_per_hour_per_ip: 1_000,
        ..Default::default()
    };
    let server = Server::start_with(ServerConfig { tracking, ..ServerConfig::default() }).await;
    let dana = server.user("dana", Role::Dispatcher);
    let mei = engineer(&server);
    let (id, link) = ticket(&server, &dana, "Boiler leaks").await;

    // No token, or one that is nobody's: well-formed, overlong, path tricks, odd bytes.
    let long = "a".repeat(4_000);
    for token in ["0".repeat(48).as_str(), long.as_str(), "..%2F..%2Fv1%2Fme", "%00", "%FF"] {
        let base = server.url(&format!("/t/{token}"));
        for path in ["", "/events", "/report.pdf"] {
            let status = get(&server, &format!("{base}{path}"), "en").await.0;
            assert!(matches!(status, 404 | 400), "GET {:.30}{path}: {status}", token);
        }
        for (path, body) in [("/messages", "text=hello"), ("/rating", "rating=5")] {
            let status = post(&server, &format!("{base}{path}"), body).await.0;
            assert!(matches!(status, 404 | 400), "POST {:.30}{path}: {status}", token);
        }
    }

    // Hostile forms on a real link: missing or misnamed fields, a JSON body, a message that is
    // all blanks or over the caps.
    let messages = format!("{link}/messages");
    let rating = format!("{link}/rating");
    for (url, body) in
        [(&messages, ""), (&messages, "txt=hello"), (&messages, "text=%20%20%20"), (&messages, "text=hello&text=twice")]
    {
        let status = post(&server, url, body).await.0;
        assert!((400..500).contains(&status) && status != 404 && status != 429, "{url} {body:?}: {status}");
    }
    let json_body = server
        .http
        .post(&messages)
        .header("content-type", "application/json")
        .body(r#"{"text": "hello"}"#)
        .send()
        .await
        .expect("post");
    assert!(json_body.status().is_client_error(), "a JSON body: {}", json_body.status());
    let huge = format!("text={}", "a".repeat(100_000));
    assert_eq!(post(&server, &messages, &huge).await.0, 413);

    // Nothing of it is in the ticket; the page still works; an honest message is the only one.
    let path = format!("/v1/tickets/{id}");
    let (_, detail) = server.get_json(&dana.token, &path).await;
    assert_eq!(detail["customer_messages"].as_array().map(Vec::len), Some(0), "{detail}");
    assert!(detail["customer_feedback"].is_null(), "{detail}");
    assert_eq!(get(&server, &link, "en").await.0, 200);
    assert_eq!(post(&server, &messages, "text=Please+call+first").await.0, 200);
    let (_, detail) = server.get_json(&dana.token, &path).await;
    let texts: Vec<&str> =
        detail["customer_messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["Please call first"]);
    assert_eq!(detail["title"].as_str(), Some("Boiler leaks"));

    // Ratings, once the job is done: anything but a whole number from 1 to 5 is 400, and the
    // customer's one honest rating is what the ticket keeps.
    let dir = tempfile::tempdir().expect("dir");
    let phone = crate::common::open_client(dir.path(), &mei, Role::Engineer);
    let config = fieldsync_core::sync::SyncConfig::new(server.base.clone(), mei.token.clone());
    let engine = fieldsync_core::sync::SyncEngine::new(phone.clone(), config).expect("engine");
    engine.set_online(true);
    engine.sync_now().await.expect("sync");
    phone.accept(&id).expect("accept");
    phone.start_travel_with_eta(&id, fieldsync_core::time::now_ms() + 1_200_000).expect("travel");
    phone.check_in(&id, fieldsync_core::Location { lat: 1.0, lon: 1.0, accuracy_m: 5.0 }).expect("check in");
    phone.complete(&id, "done").expect("complete");
    engine.sync_now().await.expect("sync");
    for bad in ["", "rating=", "rating=abc", "rating=-1", "rating=3.5", "rating=256", "rating=99", "rating=0"] {
        assert_eq!(post(&server, &rating, bad).await.0, 400, "{bad:?}");
    }
    assert_eq!(post(&server, &rating, "rating=4&comment=fine").await.0, 200);
    let (_, detail) = server.get_json(&dana.token, &path).await;
    assert_eq!(detail["customer_feedback"]["rating"], 4, "{detail}");
    assert_eq!(detail["status"], "completed", "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_language_switch_refuses_no_session_and_hostile_forms_and_sets_nothing() {
    use crate::console::{client, csrf_of, page, sign_in};
    use reqwest::header::{COOKIE, SET_COOKIE};
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let csrf = csrf_of(&page(&http, &server.base, "/console/board", &session).await);
    let switch = |http: &reqwest::Client, cookies: String, body: String| {
        let request = http
            .post(server.url("/console/language"))
            .header(COOKIE, cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let answer = match request.send().await {
                Ok(answer) => answer,
                // Refused unread while a body larger than the socket buffers was being written.
                Err(e) if e.is_request() || e.is_body() => return (413, false),
                Err(e) => panic!("post: {e}"),
            };
            let sets_language =
                answer.headers().get_all(SET_COOKIE).iter().any(|c| c.as_bytes().starts_with(b"fieldsync_lang="));
            (answer.status().as_u16(), sets_language)
        }
    };
    let good = format!("csrf={csrf}&lang=zh&back=/console/board");
    // No session, a forged one, a bearer token instead of a session: refused, nothing set.
    for cookies in [String::new(), "fieldsync_session=forged".to_owned()] {
        let (status, sets) = switch(&http, cookies.clone(), good.clone()).await;
        assert!(!sets && (status == 401 || status == 403 || status == 303), "{cookies:?}: {status}");
        if status == 303 {
            // A redirect to the sign-in page, not the switch going through.
            let answer = http
                .post(server.url("/console/language"))
                .header(COOKIE, cookies)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(good.clone())
                .send()
                .await
                .expect("post");
            let to = answer.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
            assert!(to.starts_with("/console/login"), "{to}");
        }
    }
    // Hostile forms with a real session: missing fields, a wrong type of body, odd languages,
    // an oversized one.
    for body in [
        String::new(),
        format!("csrf={csrf}"),
        format!("csrf={csrf}&lang=&back=/console/board"),
        format!("csrf={csrf}&lang=zh%00&back=/console/board"),
        format!("csrf={csrf}&lang={}&back=/console/board", "z".repeat(10_000)),
        format!("csrf={csrf}&lang[]=zh&back=/console/board"),
        r#"{"lang": "zh"}"#.to_owned(),
    ] {
        let (status, sets) = switch(&http, session.clone(), body.clone()).await;
        assert!(!sets && (400..500).contains(&status), "{:.60}: {status}", body);
    }
    let oversized = format!("csrf={csrf}&lang=zh&back=/console/{}", "x".repeat(2 << 20));
    let (status, sets) = switch(&http, session.clone(), oversized).await;
    assert_eq!((status, sets), (413, false));
    // The honest switch still works. On a new connection: the server closes the one it refused
    // the oversized body on, and a client that had pooled it may send on it before it learns
    // so (seen under load: the request then fails to send).
    assert_eq!(switch(&client(), session.clone(), good).await, (303, true));
}

/// `GET path` with the cookie `cookies` (none when empty): the status, the redirect target and
/// the body.
async fn console_get(http: &reqwest::Client, server: &Server, path: &str, cookies: &str) -> (u16, String, String) {
    let mut request = http.get(server.url(path));
    if !cookies.is_empty() {
        request = request.header(reqwest::header::COOKIE, cookies);
    }
    let answer = request.send().await.expect("get");
    let status = answer.status().as_u16();
    let to = answer.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    (status, to, answer.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_customer_pages_refuse_no_session_escape_hostile_queries_and_keep_the_record() {
    use crate::console::{client, sign_in};
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let honest = json!({
        "id": "zj-tech", "name": "上海张江科技有限公司", "tier": "Gold",
        "contacts": [{"name": "李四", "phone": "138 0000 1234", "role": "厂长"}],
        "sites": [{"id": "plant-1", "label": "一号厂房", "address": "上海市浦东新区张江路1号"}],
    });
    let (status, created) = server.post_json(&dana.token, "/v1/customers", &honest).await;
    assert_eq!(status, 201, "{created}");
    let (_, before) = server.get_json(&dana.token, "/v1/customers/zj-tech").await;
    let http = client();

    // No session, a forged one, or a bearer token instead of a session: sent to sign in.
    for path in ["/console/customers", "/console/customers/zj-tech", "/console/customers?q=%E6%9D%8E"] {
        for cookies in ["", "fieldsync_session=forged", "fieldsync_session="] {
            let (status, to, body) = console_get(&http, &server, path, cookies).await;
            assert_eq!((status, to.as_str()), (303, "/console/login"), "{path} with {cookies:?}");
            assert!(!body.contains("张江"), "{path}: the customer shown without a session");
        }
        let answer = http.get(server.url(path)).bearer_auth(&dana.token).send().await.expect("get with a bearer token");
        assert_eq!(answer.status().as_u16(), 303, "{path}: the console takes sessions, not bearer tokens");
    }

    // A signed-in dispatcher sees the customer in the list, by search, and on its page.
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    for path in ["/console/customers", "/console/customers?q=%E6%9D%8E%E5%9B%9B", "/console/customers/zj-tech"] {
        let (status, _, body) = console_get(&http, &server, path, &session).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("上海张江科技有限公司"), "{path}: the customer is not shown");
    }
    let (status, _, _) = console_get(&http, &server, "/console/customers/no-such-customer", &session).await;
    assert_eq!(status, 404, "an unknown customer");

    // Hostile query strings and ids: escaped on the page, or refused; never markup.
    let script = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for path in [
        format!("/console/customers?q={script}"),
        format!("/console/customers?q={}", "x".repeat(20_000)),
        "/console/customers?q=%00%01%FF".to_owned(),
        "/console/customers?q[]=a&q[]=b".to_owned(),
        "/console/customers?q=a&q=b".to_owned(),
        format!("/console/customers/{script}"),
        "/console/customers/%2E%2E%2Fsettings".to_owned(),
    ] {
        let (status, _, body) = console_get(&http, &server, &path, &session).await;
        assert!(status == 200 || (400..500).contains(&status), "{path:.80}: {status}");
        assert!(!body.contains("<script>alert(1)"), "{path:.80}: markup from the address reached the page");
    }
    let (status, _, body) = console_get(&http, &server, &format!("/console/customers?q={script}"), &session).await;
    assert_eq!(status, 200);
    assert!(body.contains("&#60;script&#62;alert(1)") || body.contains("&lt;script&gt;alert(1)"), "not echoed escaped");

    // The record is as it was.
    let (_, after) = server.get_json(&dana.token, "/v1/customers/zj-tech").await;
    assert_eq!(before, after, "the customer record changed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_handler_has_no_console_and_only_a_complaints_level_and_class_through_the_api() {
    use crate::console::{client, sign_in};
    use fieldsync_server::storage::SessionRecord;
    use sha2::{Digest, Sha256};
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let chris = server.user("chris", Role::ComplaintHandler);
    let job = server.create_ticket(&dana.token, "Boiler leaks", Some(&eli.user_id)).await;
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &json!({"title": "Rude on the phone", "customer": {"name": "Mrs Wong"}, "classification": {"type": "complaint"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let complaint = body["id"].as_str().expect("id").to_owned();
    let http = client();

    // The console: the sign-in is refused and gives no session.
    let (status, session) = sign_in(&http, &server.base, &chris.token).await;
    assert_eq!((status, session), (403, None), "a complaint handler signs in to the console");
    // Even holding a session record (made in storage, as if the role had changed after
    // signing in), every console page sends them to sign in and no console action goes through.
    let cookie = "handler-session-0123456789";
    let now = fieldsync_core::time::now_ms();
    server
        .state
        .storage()
        .create_session(&SessionRecord {
            token_sha256: Sha256::digest(cookie.as_bytes()).into(),
            device_id: chris.device_id.clone(),
            created_at: now,
            expires_at: now + 3_600_000,
        })
        .expect("session");
    let cookies = format!("fieldsync_session={cookie}");
    for path in [
        "/console/board".to_owned(),
        "/console/customers".to_owned(),
        "/console/complaints".to_owned(),
        "/console/follow-ups".to_owned(),
        "/console/settings".to_owned(),
        format!("/console/tickets/{complaint}"),
    ] {
        let (status, to, body) = console_get(&http, &server, &path, &cookies).await;
        assert_eq!((status, to.as_str()), (303, "/console/login"), "{path}: {body:.200}");
    }
    let answer = http
        .post(server.url(&format!("/console/tickets/{job}/actions")))
        .header(reqwest::header::COOKIE, &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=cancel&reason=handler")
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status().as_u16(), 303, "a console action by a complaint handler");

    // The API: dispatcher-only routes are 403, tickets that are not complaints are not theirs.
    let (status, _) = server.post_json(&chris.token, "/v1/tickets", &json!({"title": "by a handler"})).await;
    assert_eq!(status, 403, "a complaint handler creates tickets");
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["completed"]});
    assert_eq!(server.post_json(&chris.token, "/v1/webhooks", &hook).await.0, 403, "a handler adds a webhook");
    assert_eq!(server.get_json(&chris.token, "/v1/webhooks").await.0, 403, "a handler lists webhooks");
    assert_eq!(put_raw(&server, &chris.token, "/v1/taxonomy", "{}").await, 403, "a handler edits the taxonomy");
    assert_eq!(server.get_json(&chris.token, &format!("/v1/tickets/{job}")).await.0, 404, "not a complaint");
    for action in [
        json!({"action": "cancel", "reason": "handler"}),
        json!({"action": "assign", "engineer": eli.user_id}),
        json!({"action": "add_note", "text": "handler"}),
    ] {
        let (status, body) = server.act(&chris.token, &complaint, action.clone()).await;
        assert_eq!(status, 403, "{action}: {body}");
    }
    assert_eq!(server.act(&chris.token, &job, json!({"action": "cancel", "reason": "x"})).await.0, 404);
    // What the role may do: read a complaint, set its level.
    let (status, detail) = server.get_json(&chris.token, &format!("/v1/tickets/{complaint}")).await;
    assert_eq!(status, 200, "{detail}");
    let (status, body) =
        server.act(&chris.token, &complaint, json!({"action": "set_complaint", "level": "crisis"})).await;
    assert_eq!(status, 200, "{body}");

    // Honest data intact: both tickets as the dispatcher left them, no webhook.
    let (_, job_after) = server.get_json(&dana.token, &format!("/v1/tickets/{job}")).await;
    assert_eq!((job_after["status"].as_str(), job_after["assignee"].as_str()), (Some("dispatched"), Some("eli")));
    let (_, complaint_after) = server.get_json(&dana.token, &format!("/v1/tickets/{complaint}")).await;
    assert_ne!(complaint_after["status"], "cancelled", "{complaint_after}");
    assert!(complaint_after["notes"].as_array().is_none_or(Vec::is_empty), "{complaint_after}");
    let (_, hooks) = server.get_json(&dana.token, "/v1/webhooks").await;
    assert_eq!(hooks.as_array().map(Vec::len), Some(0), "{hooks}");
    server.stop().await;
}
