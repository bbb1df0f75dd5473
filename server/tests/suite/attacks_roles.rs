//! Issue 13, attack 9: the role hierarchy. A dispatcher signed in to the console revoked an
//! admin's device through `POST /console/devices/{id}/revoke` (the only endpoint that acts on
//! a person rather than a ticket: the REST API has none, and the CLI's `user add` works on the
//! server's own data directory). Authority now only goes down: admins manage everyone,
//! dispatchers engineers and themselves.

use fieldsync_core::Role;
use fieldsync_core::protocol::SyncRequest;
use reqwest::header::{COOKIE, LOCATION};

use crate::common::{Device, Server};
use crate::console::{client, csrf_of, page, sign_in};

/// A signed-in console session: its cookie and CSRF token.
async fn console_session(http: &reqwest::Client, server: &Server, who: &Device) -> (String, String) {
    let (status, session) = sign_in(http, &server.base, &who.token).await;
    assert_eq!(status, 303, "{} signs in", who.user_id);
    let session = session.expect("a session cookie");
    let csrf = csrf_of(&page(http, &server.base, "/console/engineers", &session).await);
    (session, csrf)
}

/// Posts the revoke form for `device` with a valid session and CSRF token.
async fn revoke(http: &reqwest::Client, server: &Server, (session, csrf): &(String, String), device: &str) -> u16 {
    http.post(server.url(&format!("/console/devices/{device}/revoke")))
        .header(COOKIE, session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("revoke")
        .status()
        .as_u16()
}

/// Whether `who`'s token still works: who-am-I, the ticket list and a sync all answer 200.
async fn token_works(server: &Server, who: &Device) -> bool {
    let (me, _) = server.get_json(&who.token, "/v1/me").await;
    let (list, _) = server.get_json(&who.token, "/v1/tickets").await;
    let sync = server.sync_raw(&who.token, SyncRequest::default().encode()).await.status().as_u16();
    (me, list, sync) == (200, 200, 200)
}

#[tokio::test]
async fn attack_dispatcher_cannot_revoke_admin_device() {
    let server = Server::start().await;
    let ada = server.user("ada", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let dora = server.user("dora", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let ticket = server.create_ticket(&ada.token, "Boiler leaks", Some(&eli.user_id)).await;
    let http = client();
    let as_dana = console_session(&http, &server, &dana).await;

    // Refused: the admin's device, and a fellow dispatcher's.
    assert_eq!(revoke(&http, &server, &as_dana, &ada.device_id).await, 403, "a dispatcher revokes an admin's device");
    assert_eq!(revoke(&http, &server, &as_dana, &dora.device_id).await, 403, "a dispatcher revokes a peer's device");
    // The refusal says why, on the console's error page.
    let answer = http
        .post(server.url(&format!("/console/devices/{}/revoke", ada.device_id)))
        .header(COOKIE, &as_dana.0)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", as_dana.1))
        .send()
        .await
        .expect("revoke");
    assert!(answer.text().await.expect("body").contains("may not manage the account of an admin"));

    // Nobody lost anything: the admin's and the other dispatcher's tokens still work, the
    // admin still signs in to the console and still sees the ticket.
    assert!(token_works(&server, &ada).await, "the admin's device still works");
    assert!(token_works(&server, &dora).await, "the other dispatcher's device still works");
    let as_ada = console_session(&http, &server, &ada).await;
    let (_, detail) = server.get_json(&ada.token, &format!("/v1/tickets/{ticket}")).await;
    assert_eq!(detail["title"], "Boiler leaks");

    // What each may do, still works: a dispatcher revokes an engineer's device; an admin
    // revokes a dispatcher's; an unknown device is 404.
    assert_eq!(revoke(&http, &server, &as_dana, &eli.device_id).await, 303);
    let (status, _) = server.get_json(&eli.token, "/v1/me").await;
    assert_eq!(status, 401, "the engineer's token is revoked");
    assert_eq!(revoke(&http, &server, &as_dana, "no-such-device").await, 404);
    assert_eq!(revoke(&http, &server, &as_ada, &dora.device_id).await, 303, "admins manage dispatchers");
    assert!(!token_works(&server, &dora).await, "revoked by the admin");
    let board = http.get(server.url("/console/board")).header(COOKIE, &as_ada.0).send().await.expect("board");
    assert_eq!(board.status(), 200, "the admin's session is intact");
    assert_eq!(board.headers().get(LOCATION), None);
    server.stop().await;
}
