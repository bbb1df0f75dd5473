//! The service manager's control loop against a real server (docs/adr/0014): the taxonomy and
//! the SLA policy as data through the REST API, a policy applied to every REST ticket and its
//! changes logged, reclassification on the timeline, and a breach escalated exactly once with
//! the evaluator's clock moved by the test (no sleeping).

use std::time::Duration;

use fieldsync_core::Role;
use fieldsync_core::time::{Clock, ManualClock};
use fieldsync_server::ServerConfig;
use fieldsync_server::escalator::EscalationConfig;
use serde_json::{Value as Json, json};

use crate::common::Server;

const MINUTE: i64 = 60_000;

pub(crate) async fn put_json(server: &Server, token: &str, path: &str, body: &Json) -> (u16, Json) {
    let response = server
        .http
        .put(server.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("put");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
}

async fn create(server: &Server, token: &str, body: Json) -> String {
    let (status, body) = server.post_json(token, "/v1/tickets", &body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn detail(server: &Server, token: &str, id: &str) -> Json {
    let (status, detail) = server.get_json(token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sla_policy_is_data_applied_to_rest_tickets_and_every_change_is_logged() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let (status, policy) = server.get_json(&dana.token, "/v1/sla-policy").await;
    assert_eq!((status, policy["version"].as_i64()), (200, Some(0)), "the built-in default: {policy}");

    let rule = json!({"priority": "urgent", "type": "bug",
        "targets": {"respond": 5 * MINUTE, "arrive": 60 * MINUTE, "resolve": 120 * MINUTE, "revisit": 1440 * MINUTE}});
    let body = json!({"rules": [rule]});
    let (status, _) = put_json(&server, &dana.token, "/v1/sla-policy", &body).await;
    assert_eq!(status, 403, "dispatchers read the policy, admins change it");
    let bad = json!({"rules": [{"targets": {"respond": 10, "arrive": 5, "resolve": 20}}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/sla-policy", &bad).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = put_json(&server, &root.token, "/v1/sla-policy", &body).await;
    assert_eq!((status, answer["version"].as_i64()), (200, Some(1)), "{answer}");

    let before = fieldsync_core::time::now_ms();
    let id = create(
        &server,
        &dana.token,
        json!({"title": "Crash on save", "priority": "urgent",
        "classification": {"type": "bug"}}),
    )
    .await;
    let t = detail(&server, &dana.token, &id).await;
    let created = t["created_at"].as_i64().expect("created");
    assert!(created >= before);
    assert_eq!(t["sla"]["respond_by"].as_i64(), Some(created + 5 * MINUTE), "the bug rule: {t}");
    assert_eq!(t["sla"]["resolve_by"].as_i64(), Some(created + 120 * MINUTE));
    // No rule matches a normal installation: the default targets of its priority.
    let other =
        create(&server, &dana.token, json!({"title": "New unit", "classification": {"type": "installation"}})).await;
    let o = detail(&server, &dana.token, &other).await;
    let created = o["created_at"].as_i64().expect("created");
    assert_eq!(o["sla"]["respond_by"].as_i64(), Some(created + 120 * MINUTE), "{o}");

    // A second change; only new tickets get it, and both writes are logged with who and when.
    let faster = json!({"rules": [{"priority": "urgent", "type": "bug",
        "targets": {"respond": 2 * MINUTE, "arrive": 60 * MINUTE, "resolve": 120 * MINUTE}}]});
    put_json(&server, &root.token, "/v1/sla-policy", &faster).await;
    let t = detail(&server, &dana.token, &id).await;
    assert_eq!(t["sla"]["respond_by"].as_i64(), Some(t["created_at"].as_i64().expect("at") + 5 * MINUTE), "kept");
    let (status, log) = server.get_json(&dana.token, "/v1/sla-policy/changes").await;
    assert_eq!(status, 200);
    let log = log.as_array().expect("log");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0]["version"].as_i64(), log[0]["by"].as_str()), (Some(2), Some(root.user_id.as_str())));
    assert_eq!(log[1]["policy"]["rules"][0]["targets"]["respond"].as_i64(), Some(5 * MINUTE), "what it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classification_comes_from_the_taxonomy_and_reclassifying_is_on_the_timeline() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let taxonomy = json!({"types": [{"value": "bug", "label": "Bug"}, {"value": "maintenance", "label": "Maintenance"}],
        "products": [{"value": "boiler-x", "label": "Boiler X"}], "versions": [{"value": "2.1"}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/taxonomy", &taxonomy).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) =
        server.post_json(&dana.token, "/v1/tickets", &json!({"title": "x", "classification": {"type": "party"}})).await;
    assert_eq!(status, 400, "an unknown type is refused: {answer}");
    assert!(answer.to_string().contains("unknown type"), "{answer}");

    let id = create(
        &server,
        &dana.token,
        json!({"title": "Boiler X noisy",
        "classification": {"type": "maintenance", "product": "boiler-x", "version": "2.1"}}),
    )
    .await;
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets?type=maintenance").await;
    assert_eq!(listed[0]["ticket_type"], "maintenance", "{listed}");
    let (status, answer) =
        server.act(&dana.token, &id, json!({"action": "reclassify", "classification": {"type": "party"}})).await;
    assert_eq!(status, 400, "reclassifying goes through the taxonomy too: {answer}");
    let (status, answer) = server
        .act(
            &dana.token,
            &id,
            json!({"action": "reclassify",
            "classification": {"type": "bug", "product": "boiler-x", "version": "2.1"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ticket_type"], "bug");
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets?type=maintenance").await;
    assert_eq!(listed, json!([]));
    let t = detail(&server, &dana.token, &id).await;
    assert_eq!(t["classification"], json!({"type": "bug", "product": "boiler-x", "module": "", "version": "2.1"}));
    let messages: Vec<&str> =
        t["history"].as_array().expect("history").iter().filter_map(|h| h["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.starts_with("reclassify")), "on the timeline: {messages:?}");
}

/// A clock the test moves.
fn movable_clock(start: i64) -> (ManualClock, Clock) {
    let now = ManualClock::at(start);
    let clock = now.clock();
    (now, clock)
}

/// The server's clock is the test's: receive times, SLA clocks and escalations alike.
pub(crate) fn escalation_config(clock: Clock) -> ServerConfig {
    ServerConfig {
        clock,
        escalation: EscalationConfig { interval: Duration::from_millis(20), lease: Duration::from_secs(60) },
        allow_private_webhooks: true,
        ..ServerConfig::default()
    }
}

/// Polls `GET /v1/escalations` until `n` are done (bounded; the evaluator runs every 20 ms).
pub(crate) async fn wait_for_escalations(http: &reqwest::Client, base: &str, token: &str, n: usize) -> Json {
    for _ in 0..500 {
        let body = http
            .get(format!("{base}/v1/escalations"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        let list: Json = serde_json::from_slice(&body).expect("json");
        if list.as_array().is_some_and(|l| l.iter().filter(|e| e["state"] == "done").count() >= n) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no escalation within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_clock_escalates_once_raises_moves_and_notifies() {
    let (now, clock) = movable_clock(fieldsync_core::time::now_ms());
    let server = Server::start_with(escalation_config(clock)).await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let sup = server.user("sup", Role::Engineer);
    let nobody = json!({"rules": [{"id": "late", "assign_to": "nobody"}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/escalation-rules", &nobody).await;
    assert_eq!(status, 400, "a rule naming no user is refused: {answer}");
    let rules = json!({"rules": [{"id": "late", "clock": "any", "raise_priority": true, "assign_to": sup.user_id}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/escalation-rules", &rules).await;
    assert_eq!(status, 200, "{answer}");
    let (status, hook) = server
        .post_json(&dana.token, "/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "events": ["escalated"]}))
        .await;
    assert_eq!(status, 201, "{hook}");

    let id =
        create(&server, &dana.token, json!({"title": "Lift stuck", "priority": "high", "assignee": eli.user_id})).await;
    let t = detail(&server, &dana.token, &id).await;
    let respond_by = t["sla"]["respond_by"].as_i64().expect("policy deadline");
    assert_eq!(t["escalations"], json!([]), "not before the deadline");

    now.set(respond_by + 1);
    let list = wait_for_escalations(&server.http, &server.base, &dana.token, 1).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let t = detail(&server, &dana.token, &id).await;
    assert_eq!(t["priority"], "urgent", "raised: {t}");
    assert_eq!(t["assignee"], json!(sup.user_id), "moved to the supervisor");
    assert_eq!(t["escalations"].as_array().map(Vec::len), Some(1));
    assert_eq!(t["escalations"][0]["clock"], "respond");
    let escalate = t["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|h| h["message"].as_str().is_some_and(|m| m.starts_with("escalate:")));
    assert_eq!(escalate.map(|h| h["server"].clone()), Some(json!(true)), "on the timeline, by the server: {t}");
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets").await;
    assert_eq!(listed[0]["priority"], "urgent");

    // The same breach, evaluated again by this and other owners at later times: nothing more.
    for (owner, later) in [("other", 1), ("third", 2), ("other", 60 * MINUTE)] {
        now.set(respond_by + later);
        let state = server.state.clone();
        let again = tokio::task::spawn_blocking(move || fieldsync_server::escalator::evaluate(&state, owner))
            .await
            .expect("join")
            .expect("evaluate");
        assert_eq!(again, 0, "one breach, one escalation");
    }
    let t = detail(&server, &dana.token, &id).await;
    assert_eq!(t["escalations"].as_array().map(Vec::len), Some(1), "{t}");
    let hook_id = hook["id"].as_str().expect("hook id");
    let (_, deliveries) = server.get_json(&dana.token, &format!("/v1/webhooks/{hook_id}/deliveries")).await;
    let deliveries = deliveries.as_array().cloned().unwrap_or_default();
    assert_eq!(deliveries.len(), 1, "one webhook event: {deliveries:?}");
    assert_eq!(deliveries[0]["event"], "escalated");
}

/// An instance that claimed a breach and died holds it until its lease runs out; then another
/// takes it over and escalates, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_claimed_by_a_dead_instance_is_taken_over_when_its_lease_runs_out() {
    let (now, clock) = movable_clock(fieldsync_core::time::now_ms());
    let server = Server::start_with(escalation_config(clock)).await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let (status, _) = put_json(&server, &root.token, "/v1/escalation-rules", &json!({"rules": [{"id": "late"}]})).await;
    assert_eq!(status, 200);
    let id = create(&server, &dana.token, json!({"title": "Freezer warm", "priority": "urgent"})).await;
    let respond_by = detail(&server, &dana.token, &id).await["sla"]["respond_by"].as_i64().expect("deadline");
    let claim = fieldsync_server::storage::manager::EscalationClaim {
        id: format!("{id}/late/respond/{respond_by}"),
        ticket_id: id.clone(),
        rule_id: "late".into(),
        clock: "respond".into(),
        deadline: respond_by,
    };
    let lease_until = respond_by + 30_000;
    assert!(server.state.storage().claim_escalation(&claim, "dead", lease_until, respond_by).expect("claim"));

    now.set(respond_by + 1);
    let pass = |owner: &'static str| {
        let state = server.state.clone();
        async move {
            tokio::task::spawn_blocking(move || fieldsync_server::escalator::evaluate(&state, owner))
                .await
                .expect("join")
                .expect("evaluate")
        }
    };
    assert_eq!(pass("alive").await, 0, "held by the dead instance");
    assert_eq!(detail(&server, &dana.token, &id).await["escalations"], json!([]));
    now.set(lease_until + 1);
    let list = wait_for_escalations(&server.http, &server.base, &dana.token, 1).await;
    assert_eq!(list[0]["id"], json!(claim.id), "{list}");
    assert_eq!(pass("alive").await, 0, "done: never again");
    let t = detail(&server, &dana.token, &id).await;
    assert_eq!(t["escalations"].as_array().map(Vec::len), Some(1), "{t}");
}
