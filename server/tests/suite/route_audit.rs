//! An audit of the routes added for the service manager (ADR 0013, 0014): the taxonomy, the SLA
//! policy, the escalation rules and the REST service report, each asked with no token, with the
//! wrong role and with hostile bodies (malformed, wrong types, oversized). Each asserts the
//! refusal's status and that what an admin set before is still in force, unchanged.

use fieldsync_core::Role;
use serde_json::{Value as Json, json};

use crate::common::Server;

/// `PUT path` with `body` as-is (not necessarily JSON), as `token` (none when empty).
async fn put_raw(server: &Server, token: &str, path: &str, body: impl Into<reqwest::Body>) -> u16 {
    let mut request = server.http.put(server.url(path)).header("content-type", "application/json").body(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("put").status().as_u16()
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
