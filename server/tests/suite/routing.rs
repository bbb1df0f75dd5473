//! Skill groups and automatic assignment by rule against a real server (docs/adr/0023): an
//! admin sets groups and rules over REST, and every new ticket naming no engineer goes to the
//! engineer the matching rule picks, in turn.

use fieldsync_core::Role;
use serde_json::json;

use crate::common::Server;
use crate::manager::put_json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tickets_matching_a_rule_go_round_robin_through_the_group() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    for name in ["eli", "fay"] {
        server.user(name, Role::Engineer);
    }
    let taxonomy =
        json!({"types": [{"value": "bug", "label": "Bug"}, {"value": "maintenance", "label": "Maintenance"}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/taxonomy", &taxonomy).await;
    assert_eq!(status, 200, "{answer}");
    let routing = json!({"groups": [{"id": "fixers", "engineers": ["eli", "fay"]}],
        "rules": [{"ticket_type": "bug", "group": "fixers", "strategy": "round_robin"}]});

    let (status, answer) = put_json(&server, &dana.token, "/v1/routing", &routing).await;
    assert_eq!(status, 403, "admins only: {answer}");
    let bad = json!({"groups": [{"id": "fixers", "engineers": ["dana"]}], "rules": []});
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &bad).await;
    assert_eq!(status, 400, "a dispatcher is no engineer: {answer}");
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &routing).await;
    assert_eq!(status, 200, "{answer}");
    let (status, read) = server.get_json(&dana.token, "/v1/routing").await;
    assert_eq!((status, read["groups"][0]["engineers"].clone()), (200, json!(["eli", "fay"])), "{read}");

    let mut given = Vec::new();
    for n in 0..4 {
        let body = json!({"title": format!("bug {n}"), "classification": {"type": "bug"}});
        let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &body).await;
        assert_eq!(status, 201, "{answer}");
        let id = answer["id"].as_str().expect("id");
        let (_, ticket) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
        assert_eq!(ticket["status"], "dispatched", "{ticket}");
        given.push(ticket["assignee"].as_str().unwrap_or_default().to_owned());
        // Creation times in milliseconds: the next ticket is later.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    assert_eq!(given, ["eli", "fay", "eli", "fay"]);

    // No rule for maintenance, and a named engineer always wins.
    let (_, plain) = server
        .post_json(&dana.token, "/v1/tickets", &json!({"title": "m", "classification": {"type": "maintenance"}}))
        .await;
    let (_, plain) = server.get_json(&dana.token, &format!("/v1/tickets/{}", plain["id"].as_str().expect("id"))).await;
    assert_eq!((plain["status"].as_str(), plain["assignee"].as_str()), (Some("new"), None), "{plain}");
    let (_, named) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &json!({"title": "b", "assignee": "fay", "classification": {"type": "bug"}}),
        )
        .await;
    let (_, named) = server.get_json(&dana.token, &format!("/v1/tickets/{}", named["id"].as_str().expect("id"))).await;
    assert_eq!(named["assignee"], "fay", "{named}");
    server.stop().await;
}
