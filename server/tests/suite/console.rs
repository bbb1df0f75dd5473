//! The dispatcher console over plain HTTP (the browser tests in tests/browser drive it in
//! Chromium): sign-in, who may sign in, cookie flags, CSRF on every form, sign-out.

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
