//! Auth, limits, the dispatcher REST API and live events against a real server.

use std::time::Duration;

use crate::common::{Server, api_error};
use fieldsync_core::Role;
use fieldsync_core::protocol::{SyncRequest, WhoAmI};
use fieldsync_server::ServerConfig;
use fieldsync_server::limits::PushLimits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_identify_devices_and_bad_or_revoked_ones_get_401() {
    let server = Server::start().await;
    let eli = server.user("eli", Role::Engineer);
    let (status, body) = server.get_json(&eli.token, "/v1/me").await;
    assert_eq!(status, 200);
    let me: WhoAmI = serde_json::from_value(body).expect("WhoAmI");
    assert_eq!(me, WhoAmI { user_id: "eli".into(), device_id: eli.device_id.clone(), role: Role::Engineer });
    assert_eq!(eli.token.len(), 64, "32 random bytes, hex");

    let anonymous = server.http.get(server.url("/v1/me")).send().await.expect("send");
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = serde_json::from_slice(&anonymous.bytes().await.expect("body")).expect("json");
    assert_eq!(api_error(&body).error, "unauthorized");
    let (status, body) = server.get_json("not-a-token", "/v1/me").await;
    assert_eq!((status, api_error(&body).error.as_str()), (401, "unauthorized"));
    let sync = server.sync_raw("not-a-token", SyncRequest::default().encode()).await;
    assert_eq!(sync.status(), 401);

    assert!(server.state.revoke_device(&eli.device_id).expect("revoke"));
    let (status, body) = server.get_json(&eli.token, "/v1/me").await;
    assert_eq!((status, api_error(&body).error.as_str()), (401, "unauthorized"));
    let (device, token) = server.state.add_device("eli").expect("new device");
    let (status, body) = server.get_json(&token, "/v1/me").await;
    assert_eq!((status, body["device_id"].as_str()), (200, Some(device.as_str())));

    assert!(server.state.add_user("eli", Role::Admin).is_err(), "user ids are unique");
    assert!(server.state.add_device("nobody").is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineers_get_403_on_the_dispatcher_api() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Boiler", Some("eli")).await;
    for path in [
        "/v1/tickets".to_owned(),
        format!("/v1/tickets/{id}"),
        format!("/v1/tickets/{id}/document"),
        "/v1/events".into(),
    ] {
        let (status, body) = server.get_json(&eli.token, &path).await;
        assert_eq!((status, api_error(&body).error.as_str()), (403, "forbidden"), "{path}");
    }
    let (status, _) = server.post_json(&eli.token, "/v1/tickets", &serde_json::json!({})).await;
    assert_eq!(status, 403);
    let (status, _) = server.act(&eli.token, &id, serde_json::json!({"action": "accept"})).await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_are_refused_cleanly() {
    let limits = PushLimits { max_request_bytes: 64 * 1024, ..Default::default() };
    let config = ServerConfig { limits, ..Default::default() };
    let server = Server::start_with(config).await;
    let eli = server.user("eli", Role::Engineer);
    let dana = server.user("dana", Role::Dispatcher);
    for body in [b"".to_vec(), b"HTTP/1.1".to_vec(), vec![0xff; 100], SyncRequest::default().encode()[..5].to_vec()] {
        let response = server.sync_raw(&eli.token, body).await;
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
        let error = api_error(&body);
        assert_eq!(error.error, "bad_request");
        assert!(!error.message.is_empty());
    }
    let mut future = SyncRequest::default().encode();
    future[5..7].copy_from_slice(&9u16.to_be_bytes());
    let response = server.sync_raw(&eli.token, future).await;
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert!(api_error(&body).message.contains("protocol version 9"), "{body}");

    // Garbage changes in an otherwise valid envelope: a rejection, not an error.
    let garbage = SyncRequest {
        cursor: 0,
        pushes: vec![fieldsync_core::protocol::Push {
            ticket_id: "t".into(),
            changes: vec![serde_bytes::ByteBuf::from(vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3])],
            heads: vec![],
        }],
    };
    let (answer, _) = server.sync(&dana.token, &garbage).await;
    assert_eq!(answer.rejections.len(), 1);
    assert!(answer.rejections[0].reason.contains("does not parse"), "{:?}", answer.rejections);

    // A push claiming thousands of heads: the server would keep them as what the device has.
    let many_heads = SyncRequest {
        cursor: 0,
        pushes: vec![fieldsync_core::protocol::Push {
            ticket_id: "t".into(),
            changes: vec![],
            heads: (0..300u32).map(|n| serde_bytes::ByteArray::new([n as u8; 32])).collect(),
        }],
    };
    let (answer, _) = server.sync(&dana.token, &many_heads).await;
    assert!(answer.rejections[0].reason.contains("heads in one push"), "{:?}", answer.rejections);
    assert!(!answer.rejections[0].stored);

    let response = server.sync_raw(&eli.token, vec![0u8; 200 * 1024]).await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(api_error(&body).error, "payload_too_large");

    let response = server
        .http
        .post(server.url("/v1/tickets"))
        .bearer_auth(&dana.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let (status, body) = server.get_json(&dana.token, "/v1/nothing-here").await;
    assert_eq!((status, api_error(&body).error.as_str()), (404, "not_found"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatchers_create_act_list_and_read_tickets() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let a = server.create_ticket(&dana.token, "Boiler leaks", Some("eli")).await;
    let b = server.create_ticket(&dana.token, "Broken window", None).await;

    let (status, body) = server.act(&dana.token, &a, serde_json::json!({"action": "reopen", "reason": "why"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(api_error(&body).error, "conflict");
    assert_eq!(api_error(&body).message, "cannot reopen: ticket is dispatched");
    let (status, body) = server.act(&dana.token, &a, serde_json::json!({"action": "assign", "engineer": " "})).await;
    assert_eq!((status, api_error(&body).error.as_str()), (400, "bad_request"));
    let (status, _) = server.act(&dana.token, &a, serde_json::json!({"action": "teleport"})).await;
    assert_eq!(status, 400);
    let (status, _) = server.act(&dana.token, "no-such-ticket", serde_json::json!({"action": "accept"})).await;
    assert_eq!(status, 404);

    let (status, body) =
        server.act(&dana.token, &b, serde_json::json!({"action": "cancel", "reason": "duplicate"})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    let (status, body) = server.act(&dana.token, &b, serde_json::json!({"action": "cancel", "reason": "again"})).await;
    assert_eq!((status, api_error(&body).message.as_str()), (409, "cannot cancel: ticket is cancelled"));

    let ids = |body: serde_json::Value| {
        let mut ids: Vec<String> =
            body.as_array().expect("list").iter().map(|t| t["id"].as_str().unwrap_or_default().to_owned()).collect();
        ids.sort();
        ids
    };
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    let (status, body) = server.get_json(&dana.token, "/v1/tickets").await;
    assert_eq!(status, 200);
    assert_eq!(ids(body), both);
    let (_, body) = server.get_json(&dana.token, "/v1/tickets?status=cancelled").await;
    assert_eq!(ids(body.clone()), vec![b.clone()]);
    assert_eq!(body[0]["title"], "Broken window");
    let (_, body) = server.get_json(&dana.token, "/v1/tickets?status=dispatched,cancelled&assignee=eli").await;
    assert_eq!(ids(body), vec![a.clone()]);
    // The most recently changed first, as many as asked; a priority names its tickets.
    let (status, body) = server.get_json(&dana.token, "/v1/tickets?limit=1").await;
    assert_eq!((status, ids(body)), (200, vec![b.clone()]), "b was cancelled after a changed");
    let (_, body) = server.get_json(&dana.token, "/v1/tickets?priority=urgent").await;
    assert_eq!(ids(body), Vec::<String>::new());
    let (_, body) = server.get_json(&dana.token, "/v1/tickets?priority=normal&limit=5").await;
    assert_eq!(ids(body), both);
    let (status, body) = server.get_json(&dana.token, "/v1/tickets?priority=soonish").await;
    assert_eq!((status, api_error(&body).message.as_str()), (400, "unknown priority \"soonish\""));
    let (status, _) = server.get_json(&dana.token, "/v1/tickets?limit=many").await;
    assert_eq!(status, 400, "a limit that is no number is refused");
    let (_, body) = server.get_json(&dana.token, "/v1/tickets?text=BOILER").await;
    assert_eq!(ids(body), vec![a.clone()]);
    let (status, _) = server.get_json(&dana.token, "/v1/tickets?status=sleeping").await;
    assert_eq!(status, 400);

    let (status, body) = server.get_json(&dana.token, &format!("/v1/tickets/{b}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "cancelled");
    let history = body["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["message"], "cancel");
    assert_eq!(history[1]["device_id"], dana.device_id.as_str());
    let (status, _) = server.get_json(&dana.token, "/v1/tickets/nope").await;
    assert_eq!(status, 404);

    let response = server
        .http
        .get(server.url(&format!("/v1/tickets/{a}/document")))
        .bearer_auth(&dana.token)
        .send()
        .await
        .expect("document");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    let doc = automerge::Automerge::load(&response.bytes().await.expect("bytes")).expect("a whole document");
    assert_eq!(fieldsync_core::model::doc::read_ticket(&doc).expect("ticket").id, a);
    server.stop().await;
}

/// Reads SSE chunks until one contains `needle`; a timeout, not a sleep, bounds the wait.
async fn read_until(response: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{needle:?} not seen in {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_deliver_rest_actions_and_end_on_shutdown() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let id = server.create_ticket(&dana.token, "Live", Some("eli")).await;
    let mut events =
        server.http.get(server.url("/v1/events")).bearer_auth(&dana.token).send().await.expect("subscribe");
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    read_until(&mut events, "subscribed").await;

    let (status, _) =
        server.act(&dana.token, &id, serde_json::json!({"action": "cancel", "reason": "no access"})).await;
    assert_eq!(status, 200);
    let seen = read_until(&mut events, "cancelled").await;
    assert!(seen.contains("event: ticket"), "{seen}");
    let data = seen.lines().find(|l| l.starts_with("data:") && l.contains("cancelled")).expect("data line");
    let event: serde_json::Value = serde_json::from_str(data.trim_start_matches("data:").trim()).expect("json");
    assert_eq!(event["id"], id.as_str());
    assert!(event["seq"].as_u64().is_some_and(|s| s >= 2));
    drop(events);
    // Graceful shutdown also ends open event streams.
    let mut open = server.http.get(server.url("/v1/events")).bearer_auth(&dana.token).send().await.expect("again");
    read_until(&mut open, "subscribed").await;
    let stopping = tokio::spawn(server.stop());
    let ended =
        tokio::time::timeout(Duration::from_secs(20), async { while let Ok(Some(_)) = open.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ends on shutdown");
    tokio::time::timeout(Duration::from_secs(20), stopping).await.expect("stopped").expect("join");
}

/// Sends `head` (the request line and headers, without the blank line) and then, after
/// `pause`, `body`, on a raw connection to `server`; returns the response's status line, or
/// the error of a connection that gave none within 10 s.
async fn raw_sync(server: &Server, head: String, pause: Option<Duration>, body: Vec<u8>) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let address = server.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        stream.write_all(format!("{head}\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
        stream.flush().map_err(|e| e.to_string())?;
        if let Some(pause) = pause {
            // The body is still on its way when the server has read the headers.
            std::thread::sleep(pause);
            stream.write_all(&body).map_err(|e| e.to_string())?;
        }
        let mut status = String::new();
        BufReader::new(stream).read_line(&mut status).map_err(|e| e.to_string())?;
        Ok(status.trim_end().to_owned())
    })
    .await
    .expect("raw client")
}

/// The sync handler authenticates and takes an arrived body in one trip to the blocking pool
/// (docs/adr/0026): a body that arrives after its headers is still awaited and served, and a
/// request with an unknown token is answered 401 without its body being waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_body_arriving_late_is_served_and_an_unknown_tokens_body_is_not_awaited() {
    let server = Server::start().await;
    let eli = server.user("eli", Role::Engineer);
    let body = SyncRequest::default().encode();
    let head = |token: &str, length: usize| {
        format!(
            "POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {}\r\nContent-Length: {length}\r\nConnection: close",
            fieldsync_core::protocol::CONTENT_TYPE
        )
    };
    let late = raw_sync(&server, head(&eli.token, body.len()), Some(Duration::from_millis(300)), body.clone()).await;
    assert_eq!(late.as_deref(), Ok("HTTP/1.1 200 OK"), "a body that came 300 ms after its headers");
    let unknown = raw_sync(&server, head("not-a-token", 1 << 20), None, Vec::new()).await;
    assert_eq!(unknown.as_deref(), Ok("HTTP/1.1 401 Unauthorized"), "refused with the body never sent");
    let response = server.sync_raw(&eli.token, body).await;
    assert_eq!(response.status(), 200, "and the server still serves a whole request");
    server.stop().await;
}
