//! The dispatcher console over plain HTTP (the browser tests in tests/browser drive it in
//! Chromium): sign-in, who may sign in, cookie flags, CSRF on every form, sign-out, and the
//! webhooks pages against a real receiver.

use fieldsync_core::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::common::Server;

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(Policy::none()).build().expect("http client")
}

/// The value of a hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().expect("value").to_owned()
}

/// The `name=value` of a `Set-Cookie` header named `name`, and the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_owned(), v.to_owned()))
    })
}

/// Signs in at `base` with a device token: the answer's status and the session cookie, if any.
pub async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> (u16, Option<String>) {
    let form = http.get(format!("{base}/console/login")).send().await.expect("login form");
    assert_eq!(form.status(), 200);
    let (login_cookie, _) = set_cookie(&form, "fieldsync_login").expect("the login form sets its CSRF cookie");
    let csrf = csrf_of(&form.text().await.expect("body"));
    let answer = http
        .post(format!("{base}/console/login"))
        .header(COOKIE, login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}"))
        .send()
        .await
        .expect("sign in");
    let session = set_cookie(&answer, "fieldsync_session").map(|(pair, whole)| {
        assert!(
            whole.contains("HttpOnly") && whole.contains("SameSite=Strict") && whole.contains("Max-Age="),
            "{whole}"
        );
        pair
    });
    (answer.status().as_u16(), session)
}

/// A signed-in page's body (200 expected).
pub async fn page(http: &reqwest::Client, base: &str, path: &str, session: &str) -> String {
    let response = http.get(format!("{base}{path}")).header(COOKIE, session).send().await.expect("page");
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.expect("body")
}

async fn post_form(http: &reqwest::Client, url: String, session: &str, body: String) -> reqwest::Response {
    http.post(url)
        .header(COOKIE, session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn only_dispatchers_sign_in_and_every_form_needs_its_csrf_token() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let http = client();

    // Pages send strangers to the sign-in form.
    let board = http.get(server.url("/console/board")).send().await.expect("board");
    assert_eq!(board.status(), 303);
    assert_eq!(board.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/console/login"));

    assert_eq!(sign_in(&http, &server.base, &eli.token).await, (403, None), "engineers cannot sign in");
    assert_eq!(sign_in(&http, &server.base, "not-a-token").await, (401, None));
    // The sign-in form itself is CSRF-protected: no login cookie, no session.
    let forged = http
        .post(server.url("/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf=x&token={}", dana.token))
        .send()
        .await
        .expect("forged sign-in");
    assert_eq!(forged.status(), 403);

    let (status, session) = sign_in(&http, &server.base, &dana.token).await;
    assert_eq!(status, 303);
    let session = session.expect("a session cookie");
    let board = page(&http, &server.base, "/console/board", &session).await;
    let csrf = csrf_of(&board);

    let create = |csrf: &str| format!("csrf={csrf}&title=Boiler+leaks&customer=Hotel+Amstel&priority=urgent&tier=gold");
    let refused = post_form(&http, server.url("/console/tickets"), &session, create("")).await;
    assert_eq!(refused.status(), 403, "a form without its CSRF token is refused");
    let refused = post_form(&http, server.url("/console/tickets"), &session, create("0000")).await;
    assert_eq!(refused.status(), 403, "a wrong CSRF token is refused");
    let foreign = http
        .post(server.url("/console/tickets"))
        .header(COOKIE, &session)
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(create(&csrf))
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), 403, "a post from another origin is refused even with the token");
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing was created");

    let created = post_form(&http, server.url("/console/tickets"), &session, create(&csrf)).await;
    assert_eq!(created.status(), 303);
    let location = created.headers().get(LOCATION).and_then(|v| v.to_str().ok()).expect("location").to_owned();
    let detail = page(&http, &server.base, &location, &session).await;
    assert!(detail.contains("Boiler leaks") && detail.contains("Hotel Amstel"), "{detail}");
    // Empty sections say so (notes, parts, time: none yet on a new ticket); the tab has an icon.
    assert_eq!(detail.matches(r#"<p class="none">none</p>"#).count(), 3, "{detail}");
    let icon = http.get(server.url("/favicon.ico")).send().await.expect("favicon");
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/svg+xml"));
    assert!(icon.text().await.expect("icon").starts_with("<svg"));
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets").await;
    let ticket = &listed[0];
    // The SLA came from the policy: urgent, gold = half of 15 min to respond.
    let respond = ticket["sla"]["respond_by"].as_i64().expect("respond_by");
    let created_at = ticket["updated_at"].as_i64().expect("updated_at");
    assert!((respond - created_at - 450_000).abs() < 5_000, "respond_by {respond}, created {created_at}");

    // Sign-out needs the token too, and ends the session on the server.
    let out = post_form(&http, server.url("/console/logout"), &session, String::new()).await;
    assert_eq!(out.status(), 403);
    let out = post_form(&http, server.url("/console/logout"), &session, format!("csrf={csrf}")).await;
    assert_eq!(out.status(), 303);
    let after = http.get(server.url("/console/board")).header(COOKIE, &session).send().await.expect("board");
    assert_eq!(after.status(), 303, "the old cookie no longer works");
    server.stop().await;
}

/// Every `Set-Cookie` header of a response.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

#[tokio::test]
async fn console_cookies_are_secure_when_served_over_tls() {
    // Behind a TLS proxy the operator says so (`--secure-cookies`): every cookie the console
    // sets, the sign-in nonce, the session and the clearing ones, carries Secure, HttpOnly and
    // SameSite=Strict.
    let config = fieldsync_server::ServerConfig { secure_cookies: true, ..Default::default() };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let http = client();
    let form = http.get(server.url("/console/login")).send().await.expect("login form");
    let mut cookies = set_cookies(&form);
    let login_cookie = cookies[0].split(';').next().expect("pair").to_owned();
    let csrf = csrf_of(&form.text().await.expect("body"));
    let signed_in = http
        .post(server.url("/console/login"))
        .header(COOKIE, login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={}", dana.token))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303);
    cookies.extend(set_cookies(&signed_in));
    let session = set_cookie(&signed_in, "fieldsync_session").expect("a session").0;
    let board = page(&http, &server.base, "/console/board", &session).await;
    let out = http
        .post(server.url("/console/logout"))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf_of(&board)))
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 303);
    cookies.extend(set_cookies(&out));
    assert_eq!(cookies.len(), 4, "nonce, session, nonce cleared, session cleared: {cookies:#?}");
    for cookie in &cookies {
        let flags: Vec<&str> = cookie.split(';').map(str::trim).collect();
        for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(flags.contains(&flag), "{flag} missing: {cookie}");
        }
    }
    server.stop().await;

    // Served over plain HTTP (the default: loopback, tests), a Secure cookie would never come
    // back to the server and nobody could sign in: no Secure, the other flags stay.
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let (status, session) = sign_in(&http, &server.base, &dana.token).await;
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let board = http.get(server.url("/console/board")).header(COOKIE, &session).send().await.expect("board");
    assert_eq!(board.status(), 200, "the plain-HTTP console works");
    let form = http.get(server.url("/console/login")).send().await.expect("login form");
    for cookie in set_cookies(&form) {
        assert!(
            !cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn revoking_the_signed_in_device_ends_the_session() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    page(&http, &server.base, "/console/engineers", &session).await;
    assert!(server.state.revoke_device(&dana.device_id).expect("revoke"));
    let after = http.get(server.url("/console/board")).header(COOKIE, &session).send().await.expect("board");
    assert_eq!(after.status(), 303);
    server.stop().await;
}

/// The text of the element with `id="{id}"` in `html` (its first text, up to the next tag).
fn text_of(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}""#);
    let at = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').expect("tag end") + 1;
    rest[start..].split('<').next().unwrap_or_default().trim().to_owned()
}

/// The `<tr>` of delivery `id` on a webhook's page, if it is listed.
fn delivery_row(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!(r#"data-delivery="{id}""#))?;
    Some(html[at..].split("</tr>").next().unwrap_or_default().to_owned())
}

/// Reloads `path` until `done` holds for its body; the deadline only turns a hang into a failure.
async fn page_until(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    session: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + crate::webhooks::DEADLINE;
    loop {
        let body = page(http, base, path, session).await;
        if done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} never showed {what}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_page_creates_lists_logs_redelivers_disables_and_deletes_with_csrf() {
    use crate::webhooks::{Receiver, create_ticket, fast, hmac_hex, phone, quick, sync};

    let server = Server::start_with(fast(quick())).await;
    let devices = tempfile::tempdir().expect("dir");
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let receiver = Receiver::start().await;
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");

    let list = page(&http, &server.base, "/console/webhooks", &session).await;
    assert!(list.contains(r#"id="no-webhooks""#), "{list}");
    for kind in ["checked_in", "completed", "travel_started"] {
        assert!(list.contains(&format!(r#"name="events" value="{kind}""#)), "a box for {kind}");
    }
    let csrf = csrf_of(&list);

    // Every form needs the session's CSRF token; nothing is created without it.
    let create = |csrf: &str| format!("csrf={csrf}&url={}&events=checked_in&events=completed", receiver.url);
    for forged in [create(""), create("0000")] {
        let refused = post_form(&http, server.url("/console/webhooks"), &session, forged).await;
        assert_eq!(refused.status(), 403);
    }
    let (_, listed) = server.get_json(&dana.token, "/v1/webhooks").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing was created: {listed}");
    let bad = post_form(
        &http,
        server.url("/console/webhooks"),
        &session,
        format!("csrf={csrf}&url=ftp://x/h&events=completed"),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("body").contains("http:// or https://"), "the webhooks module's own message");

    // Created: the secret is shown once, the server generated it.
    let created = post_form(&http, server.url("/console/webhooks"), &session, create(&csrf)).await;
    assert_eq!(created.status(), 201);
    let created = created.text().await.expect("body");
    let secret = text_of(&created, "webhook-secret");
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "secret {secret:?}");
    let (_, listed) = server.get_json(&dana.token, "/v1/webhooks").await;
    let hook = listed[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(listed[0]["events"], serde_json::json!(["checked_in", "completed"]));
    assert_eq!((listed[0]["created_by"].as_str(), listed[0]["enabled"].as_bool()), (Some("dana"), Some(true)));
    let list = page(&http, &server.base, "/console/webhooks", &session).await;
    assert!(!list.contains(&secret), "the secret is not shown again");
    assert!(list.contains(&format!(r#"data-webhook="{hook}""#)) && list.contains("checked_in, completed"), "{list}");

    // A device checks in: the receiver gets it signed with the shown secret, and the log says so.
    let ticket = create_ticket(&server, &dana.token, &eli.user_id).await;
    let (phone_client, engine) = phone(&server, devices.path(), &eli);
    sync(&engine).await;
    phone_client.accept(&ticket).expect("accept");
    phone_client.check_in(&ticket, fieldsync_core::Location { lat: 52.37, lon: 4.9, accuracy_m: 8.0 }).expect("in");
    sync(&engine).await;
    let received = receiver.wait_for("the check-in", |r| r.iter().any(|r| r.answered == 200)).await;
    let first = &received[0];
    assert_eq!(first.signature, format!("sha256={}", hmac_hex(&secret, &first.body)), "signed with the shown secret");
    assert_eq!(first.json()["event"], "checked_in");
    let delivery = first.delivery_id.clone();
    let detail_path = format!("/console/webhooks/{hook}");
    let detail = page_until(&http, &server.base, &detail_path, &session, "the delivery delivered", |body| {
        delivery_row(body, &delivery).is_some_and(|row| row.contains("delivered") && row.contains("HTTP 200"))
    })
    .await;
    let row = delivery_row(&detail, &delivery).expect("row");
    assert!(row.contains(&format!(r#"href="/console/tickets/{ticket}""#)) && row.contains("checked_in"), "{row}");
    let list = page(&http, &server.base, "/console/webhooks", &session).await;
    let counts = list.split(&format!(r#"data-webhook="{hook}""#)).nth(1).expect("row");
    assert!(counts.contains(r#"<td class="delivered">1</td>"#), "{counts}");

    // Redelivery sends the same delivery again.
    let redeliver = server.url(&format!("/console/webhooks/{hook}/deliveries/{delivery}/redeliver"));
    assert_eq!(post_form(&http, redeliver.clone(), &session, String::new()).await.status(), 403);
    let again = post_form(&http, redeliver, &session, format!("csrf={csrf}")).await;
    assert_eq!(again.status(), 303);
    let received =
        receiver.wait_for("the redelivery", |r| r.iter().filter(|r| r.delivery_id == delivery).count() == 2).await;
    let second = received.iter().rfind(|r| r.delivery_id == delivery).expect("again");
    assert_eq!((second.attempt, &second.body), (2, &first.body), "same delivery, same bytes, next attempt number");

    // Disable and delete, each with its token.
    let enabled = server.url(&format!("/console/webhooks/{hook}/enabled"));
    assert_eq!(post_form(&http, enabled.clone(), &session, "enabled=0".into()).await.status(), 403);
    assert_eq!(post_form(&http, enabled, &session, format!("csrf={csrf}&enabled=0")).await.status(), 303);
    let (_, one) = server.get_json(&dana.token, &format!("/v1/webhooks/{hook}")).await;
    assert_eq!(one["enabled"], false);
    let detail = page(&http, &server.base, &detail_path, &session).await;
    assert_eq!(text_of(&detail, "enabled"), "no");
    assert!(detail.contains("data-confirm="), "deleting asks first");
    let delete = server.url(&format!("/console/webhooks/{hook}/delete"));
    assert_eq!(post_form(&http, delete.clone(), &session, String::new()).await.status(), 403);
    let deleted = post_form(&http, delete, &session, format!("csrf={csrf}")).await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(deleted.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/console/webhooks"));
    let (_, listed) = server.get_json(&dana.token, "/v1/webhooks").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0));
    let gone = http.get(server.url(&detail_path)).header(COOKIE, &session).send().await.expect("page");
    assert_eq!(gone.status(), 404);
    server.stop().await;
}

/// The cards of the board column `status` in a page: their ticket ids, in order.
fn column_cards(board: &str, status: &str) -> Vec<String> {
    let start = board.find(&format!(r#"data-status="{status}""#)).expect("the column");
    let column = &board[start..board[start..].find("</section>").map_or(board.len(), |end| start + end)];
    column.split(r#"data-id=""#).skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

/// A year of work is not rendered card by card: a final column shows its most recent tickets, an
/// open column its most urgent, and each says how many more it holds; filters still count.
#[tokio::test]
async fn the_board_shows_the_most_urgent_open_and_newest_finished_tickets_and_counts_the_rest() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    server.user("eli", Role::Engineer);
    let http = client();
    let mut cancelled = Vec::new();
    for n in 0..53 {
        let id = server.create_ticket(&dana.token, &format!("Old job {n}"), None).await;
        let (status, _) = server.act(&dana.token, &id, serde_json::json!({"action": "cancel", "reason": "done"})).await;
        assert_eq!(status, 200);
        cancelled.push(id);
    }
    // An open column shows its most urgent 200: the oldest ticket, urgent, is among them.
    let urgent = fieldsync_core::NewTicket {
        title: "Gas smell".into(),
        priority: fieldsync_core::model::Priority::Urgent,
        ..Default::default()
    };
    let (status, body) =
        server.post_json(&dana.token, "/v1/tickets", &serde_json::to_value(&urgent).expect("json")).await;
    assert_eq!(status, 201);
    let urgent = body["id"].as_str().expect("id").to_owned();
    let mut fresh = Vec::new();
    for n in 0..200 {
        fresh.push(server.create_ticket(&dana.token, &format!("New job {n}"), None).await);
    }
    let dispatched = server.create_ticket(&dana.token, "Open one", Some("eli")).await;
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");

    let board = page(&http, &server.base, "/console/board", &session).await;
    let shown = column_cards(&board, "cancelled");
    let newest: Vec<String> = cancelled.iter().rev().take(50).cloned().collect();
    let mut sorted = shown.clone();
    sorted.sort();
    let mut expected = newest.clone();
    expected.sort();
    assert_eq!(sorted, expected, "the 50 most recently changed cancelled tickets");
    assert!(!shown.contains(&cancelled[0]), "the oldest is not rendered");
    assert!(board.contains(r#"data-hidden="3""#), "the column says 3 more are not shown");
    let column = &board[board.find(r#"data-status="cancelled""#).expect("column")..];
    assert!(column.contains(r#"<span class="count">53</span>"#), "the count is the column's whole");
    assert_eq!(column_cards(&board, "dispatched"), [dispatched]);
    let new = column_cards(&board, "new");
    assert_eq!(new.len(), 200, "an open column shows its 200 most urgent");
    assert_eq!(new[0], urgent, "the urgent one first, though the oldest");
    assert!(!new.contains(&fresh[0]), "the oldest of equal urgency is the one not shown");
    assert!(board.contains(r#"data-hidden="1""#) && board.contains("less urgent, not shown"), "the column says so");
    let column = &board[board.find(r#"data-status="new""#).expect("column")..];
    assert!(column.contains(r#"<span class="count">201</span>"#), "the count is the column's whole");

    // A filter storage applies narrows the count too; the live column refresh says the same.
    let columns = page(&http, &server.base, "/console/board/columns?status=cancelled", &session).await;
    assert_eq!(column_cards(&columns, "cancelled").len(), 50);
    assert!(columns.contains(r#"data-hidden="3""#), "{columns}");
    let filtered = page(&http, &server.base, "/console/board?priority=urgent", &session).await;
    assert!(column_cards(&filtered, "cancelled").is_empty());
    assert!(!filtered.contains("data-hidden"), "nothing hidden when nothing matches");
    let overdue = page(&http, &server.base, "/console/board?overdue=1", &session).await;
    assert!(column_cards(&overdue, "cancelled").is_empty(), "a final ticket is never overdue");

    let zh = http
        .get(server.url("/console/board"))
        .header(COOKIE, &session)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .expect("board");
    let zh = zh.text().await.expect("body");
    assert!(zh.contains("3 张较早的工单未显示"), "the note in Chinese");
}

/// The routing suggestion reads open work and this customer's tickets, finished ones included:
/// whoever served the customer last is suggested, though their ticket was closed long ago.
#[tokio::test]
async fn the_suggestion_finds_who_last_served_the_customer_among_finished_tickets() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    server.user("eli", Role::Engineer);
    server.user("fay", Role::Engineer);
    let new = fieldsync_core::NewTicket {
        title: "Boiler service".into(),
        customer: fieldsync_core::model::Customer { name: "Hotel Amstel".into(), ..Default::default() },
        assignee: Some("fay".into()),
        ..Default::default()
    };
    let (status, body) = server.post_json(&dana.token, "/v1/tickets", &serde_json::to_value(&new).expect("json")).await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().expect("id");
    let (status, _) = server.act(&dana.token, id, serde_json::json!({"action": "cancel", "reason": "done"})).await;
    assert_eq!(status, 200);
    server.create_ticket(&dana.token, "Another customer's job", Some("fay")).await;
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let amstel: serde_json::Value =
        serde_json::from_str(&page(&http, &server.base, "/console/suggest?customer=hotel%20amstel", &session).await)
            .expect("json");
    assert_eq!(amstel["engineer"], "fay", "{amstel}");
    assert!(amstel["why"].as_str().is_some_and(|w| w.contains("last served") && w.contains("1 open")), "{amstel}");
    let other: serde_json::Value =
        serde_json::from_str(&page(&http, &server.base, "/console/suggest?customer=Bakery", &session).await)
            .expect("json");
    assert_eq!(other["engineer"], "eli", "the least loaded for a new customer: {other}");
}
