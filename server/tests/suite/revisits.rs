//! Revisits (回访, docs/adr/0019) against a real server and a real device engine: a completed
//! job becomes due by the policy's revisit target, the console lists it oldest first with the
//! customer's rating, a "not fixed" reopens it to the engineer's phone with the reason, and
//! the first-time-fix rate counts what the revisits found.

use fieldsync_core::actions::Command;
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Location, Role, Status};
use serde_json::{Value as Json, json};

use crate::common::{Server, open_client};
use crate::console::{client, csrf_of, page, sign_in};

const MINUTE: i64 = 60_000;
const SITE: Location = Location { lat: 31.2304, lon: 121.4737, accuracy_m: 5.0 };

async fn act(server: &Server, token: &str, id: &str, command: Json) -> (u16, Json) {
    server.act(token, id, command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revisit_that_finds_the_job_not_fixed_reopens_it_on_the_engineers_phone() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    // A revisit a day after completion for this type; the policy's record says so.
    let policy = json!({"rules": [{"type": "on_site_repair",
        "targets": {"respond": 30 * MINUTE, "arrive": 240 * MINUTE, "resolve": 480 * MINUTE, "revisit": 1440 * MINUTE}}]});
    let response = server
        .http
        .put(server.url("/v1/sla-policy"))
        .bearer_auth(&root.token)
        .header("content-type", "application/json")
        .body(policy.to_string())
        .send()
        .await
        .expect("put policy");
    assert_eq!(response.status().as_u16(), 200);
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &json!({"title": "Boiler leaks", "assignee": "eli", "customer": {"name": "Mrs Wong"},
                "classification": {"type": "on_site_repair"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();

    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    engine.sync_now().await.expect("first sync");
    phone.accept(&id).expect("accept");
    phone.check_in(&id, SITE).expect("check in");
    phone.complete(&id, "replaced the valve").expect("complete");
    // The engineer cannot judge his own job, not even offline on his phone.
    let refused = phone.run(&id, Command::Revisit { fixed: true, contact: String::new(), note: String::new() });
    assert!(refused.is_err(), "{refused:?}");
    engine.sync_now().await.expect("sync the completion");

    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    let completed = row.resolved_at.expect("completed");
    assert_eq!(row.revisit_due_at, Some(completed + 1440 * MINUTE), "the policy's revisit target after completion");

    // The console's queue lists it, with the customer's rating column.
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let queue = page(&http, &server.base, "/console/revisits", &session).await;
    assert!(queue.contains(&format!("data-ticket=\"{id}\"")), "{queue}");
    assert!(queue.contains("id=\"ftf-rate\">—<"), "nothing revisited yet: {queue}");

    // Not fixed: a reason is required, then the ticket goes back to eli with it.
    let (status, body) = act(&server, &dana.token, &id, json!({"action": "revisit", "fixed": false})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = act(
        &server,
        &dana.token,
        &id,
        json!({"action": "revisit", "fixed": false, "contact": "Mrs Wong", "note": "still dripping"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Judged once: a second verdict on the same completion is refused.
    let (status, body) = act(&server, &dana.token, &id, json!({"action": "revisit", "fixed": true})).await;
    assert_eq!(status, 409, "{body}");
    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!((row.status, row.revisit_due_at, row.first_time_fix), (Status::Dispatched, None, Some(false)));

    // The engineer's phone gets it back on its next sync, reason and all.
    let report = engine.sync_now().await.expect("sync the reopen");
    assert_eq!(report.received, vec![id.clone()], "{report:?}");
    let ticket = phone.get(&id).expect("ticket");
    assert_eq!((ticket.status, ticket.assignee.as_deref()), (Status::Dispatched, Some("eli")));
    let reopen = ticket.events.last().expect("events");
    assert_eq!(
        (reopen.kind.as_str(), reopen.revisit, reopen.reason.as_deref(), reopen.contact.as_deref(), reopen.by.as_str()),
        ("reopened", true, Some("still dripping"), Some("Mrs Wong"), "dana")
    );

    // Fixed on the second visit and confirmed: closed as revisited, still no first-time fix.
    phone.accept(&id).expect("accept again");
    phone.check_in(&id, SITE).expect("check in again");
    phone.complete(&id, "new seal").expect("complete again");
    engine.sync_now().await.expect("sync the second completion");
    let (status, body) =
        act(&server, &dana.token, &id, json!({"action": "revisit", "fixed": true, "contact": "Mrs Wong"})).await;
    assert_eq!(status, 200, "{body}");
    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!((row.status, row.revisit_due_at, row.first_time_fix), (Status::Completed, None, Some(false)));
    assert!(row.revisited_at.is_some());

    // Every step on the timeline, by whom.
    let (_, detail) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    let messages: Vec<&str> =
        detail["history"].as_array().expect("history").iter().filter_map(|h| h["message"].as_str()).collect();
    assert!(messages.contains(&"revisit: not fixed") && messages.contains(&"revisit: fixed"), "{messages:?}");
    let queue = page(&http, &server.base, "/console/revisits", &session).await;
    assert!(!queue.contains(&format!("data-ticket=\"{id}\"")), "revisited, off the queue");
    assert!(queue.contains("id=\"ftf-rate\">0%<"), "{queue}");
    engine.sync_now().await.expect("final sync");
    assert_eq!(phone.get(&id).expect("ticket").revisited_at, row.revisited_at);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_oldest_due_first_and_the_console_form_records_a_confirmed_fix() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    let first = server.create_ticket(&dana.token, "Fridge warm", Some("eli")).await;
    let second = server.create_ticket(&dana.token, "Door squeaks", Some("eli")).await;
    let third = server.create_ticket(&dana.token, "Lift stuck", Some("eli")).await;
    engine.sync_now().await.expect("sync");
    // Completed in this order: the second first, so it is due first.
    for id in [&second, &first, &third] {
        phone.accept(id).expect("accept");
        phone.check_in(id, SITE).expect("check in");
        phone.complete(id, "done").expect("complete");
    }
    engine.sync_now().await.expect("sync completions");

    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let queue = page(&http, &server.base, "/console/revisits", &session).await;
    let at = |id: &str| queue.find(&format!("data-ticket=\"{id}\"")).expect("listed");
    assert!(at(&second) < at(&first) && at(&first) < at(&third), "oldest due first");

    // The queue's own form: the customer confirms the fix.
    let csrf = csrf_of(&queue);
    let answer = http
        .post(server.url(&format!("/console/revisits/{second}")))
        .header(reqwest::header::COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&outcome=fixed&contact=Mr+Li&note=works"))
        .send()
        .await
        .expect("record");
    assert_eq!(answer.status().as_u16(), 303);
    // Not fixed for the first, through the REST API.
    let (status, body) =
        act(&server, &dana.token, &first, json!({"action": "revisit", "fixed": false, "note": "still warm"})).await;
    assert_eq!(status, 200, "{body}");
    let queue = page(&http, &server.base, "/console/revisits", &session).await;
    assert!(queue.contains(&format!("data-ticket=\"{third}\"")));
    assert!(
        !queue.contains(&format!("data-ticket=\"{second}\"")) && !queue.contains(&format!("data-ticket=\"{first}\""))
    );
    assert!(queue.contains("id=\"ftf-rate\">50%<"), "one of two fixed first time: {queue}");
    let detail = page(&http, &server.base, &format!("/console/tickets/{second}"), &session).await;
    assert!(detail.contains("revisited, confirmed fixed:") && !detail.contains("id=\"revisit-form\""), "{detail}");
    server.stop().await;
}
