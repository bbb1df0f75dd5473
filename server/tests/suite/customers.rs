//! Customers as records against a real server (docs/adr/0018): created, searched (Chinese
//! names too) and edited through REST by dispatchers only; a ticket for a record takes its
//! snapshot and tier — and with the tier the SLA policy's rule — and carries the customer card;
//! the customer's page lists the tickets with figures; hostile references and oversized fields
//! get typed errors and change nothing.

use fieldsync_core::Role;
use serde_json::{Value as Json, json};

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

use crate::attacks::Hostile;
use crate::common::{Server, api_error};

const MINUTE: i64 = 60_000;

async fn put_json(server: &Server, token: &str, path: &str, body: &Json) -> (u16, Json) {
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

fn zhang() -> Json {
    json!({
        "id": "zj-tech",
        "name": "上海张江科技有限公司",
        "tier": "Gold",
        "contacts": [{"name": "李四", "phone": "138 0000 1234", "role": "厂长"},
                     {"name": "Ada Wong", "phone": "+86 21 5555 0100", "role": "IT"}],
        "sites": [{"id": "plant-1", "label": "一号厂房", "address": "上海市浦东新区张江路1号"},
                  {"label": "HQ", "address": "88 Century Ave"}],
        "contract": {"level": "7x24", "valid_from": "2026-01-01", "valid_until": "2027-12-31"},
        "notes": "gate code 4711"
    })
}

async fn search(server: &Server, token: &str, q: &str) -> Vec<String> {
    let (status, found) = server.get_json(token, &format!("/v1/customers?q={}", urlencode(q))).await;
    assert_eq!(status, 200, "{found}");
    found.as_array().expect("list").iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatchers_create_search_and_edit_customers_engineers_may_not_and_bad_input_loses_nothing() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);

    let (status, answer) = server.post_json(&eli.token, "/v1/customers", &zhang()).await;
    assert_eq!((status, api_error(&answer).error.as_str()), (403, "forbidden"), "engineers do not make customers");
    let (status, created) = server.post_json(&dana.token, "/v1/customers", &zhang()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["version"].as_i64(), created["tier"].as_str()), (Some(1), Some("gold")));
    assert_eq!(created["sites"][1]["id"], "s1", "a site without an id gets one");
    let (status, _) = server.post_json(&dana.token, "/v1/customers", &zhang()).await;
    assert_eq!(status, 409, "an id is taken once");
    let (status, acme) =
        server.post_json(&dana.token, "/v1/customers", &json!({"name": "ACME", "phone": "555-0100"})).await;
    assert_eq!(status, 201, "{acme}");
    let acme_id = acme["id"].as_str().expect("a made id").to_owned();

    assert_eq!(search(&server, &dana.token, "张江科技").await, ["zj-tech"], "a Chinese name");
    assert_eq!(search(&server, &dana.token, "李四").await, ["zj-tech"], "a contact");
    assert_eq!(search(&server, &dana.token, "1234").await, ["zj-tech"], "a contact's phone");
    assert_eq!(search(&server, &dana.token, "century ave").await, ["zj-tech"], "a site address, any case");
    assert_eq!(search(&server, &dana.token, "555-0100").await, [acme_id], "a phone");
    assert_eq!(search(&server, &dana.token, "").await.len(), 2, "all");
    let (status, _) = server.get_json(&eli.token, "/v1/customers?q=acme").await;
    assert_eq!(status, 403, "engineers read only the cards their tickets carry");
    let (status, _) = server.get_json(&eli.token, "/v1/customers/zj-tech").await;
    assert_eq!(status, 403);

    // An edit names the version it read; a stale one is refused, and so is an oversized field,
    // and the record stays as the last good edit left it.
    let mut edit = zhang();
    edit["name"] = json!("张江科技");
    edit["version"] = json!(1);
    let (status, edited) = put_json(&server, &dana.token, "/v1/customers/zj-tech", &edit).await;
    assert_eq!((status, edited["version"].as_i64(), edited["name"].as_str()), (200, Some(2), Some("张江科技")));
    let (status, answer) = put_json(&server, &dana.token, "/v1/customers/zj-tech", &edit).await;
    assert_eq!((status, api_error(&answer).error.as_str()), (409, "conflict"), "{answer}");
    let mut huge = edit.clone();
    huge["version"] = json!(2);
    huge["sites"][0]["address"] = json!("路".repeat(501));
    let (status, answer) = put_json(&server, &dana.token, "/v1/customers/zj-tech", &huge).await;
    assert_eq!((status, api_error(&answer).error.as_str()), (400, "field_too_long"), "{answer}");
    assert!(api_error(&answer).message.contains("sites[0].address"), "the field is named: {answer}");
    let (status, answer) = put_json(&server, &eli.token, "/v1/customers/zj-tech", &edit).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = put_json(&server, &dana.token, "/v1/customers/nobody", &edit).await;
    assert_eq!((status, api_error(&answer).error.as_str()), (400, "unknown_customer"), "{answer}");
    let (status, page) = server.get_json(&dana.token, "/v1/customers/zj-tech").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (page["customer"]["version"].as_i64(), page["customer"]["sites"][0]["address"].as_str()),
        (Some(2), Some("上海市浦东新区张江路1号")),
        "nothing of the refused edits landed"
    );
    let (status, answer) = server.post_json(&dana.token, "/v1/customers", &json!({"name": "x", "id": "a/b"})).await;
    assert_eq!((status, api_error(&answer).error.as_str()), (400, "bad_request"), "{answer}");
    let (status, _) = server.post_json(&dana.token, "/v1/customers", &json!({"name": 5})).await;
    assert_eq!(status, 400, "a body of the wrong shape");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_for_a_customer_takes_its_tier_policy_and_card_and_the_page_shows_its_history() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    server.user("eli", Role::Engineer);
    let policy = json!({"rules": [{"tier": "gold",
        "targets": {"respond": 7 * MINUTE, "arrive": 70 * MINUTE, "resolve": 700 * MINUTE}}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/sla-policy", &policy).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.post_json(&dana.token, "/v1/customers", &zhang()).await;
    assert_eq!(status, 201, "{answer}");

    // The caller says nothing of tier or name, and tries to hand the device a card of its own.
    let first = json!({"title": "Chiller alarm", "customer": {"id": "zj-tech", "site_id": "plant-1"},
        "assignee": "eli", "classification": {"type": "on_site_repair"},
        "customer_card": {"name": "forged"}});
    let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &first).await;
    assert_eq!(status, 201, "{answer}");
    let first_id = answer["id"].as_str().expect("id").to_owned();
    let (_, t) = server.get_json(&dana.token, &format!("/v1/tickets/{first_id}")).await;
    assert_eq!(
        t["customer"],
        json!({"name": "上海张江科技有限公司", "phone": "138 0000 1234", "address": "上海市浦东新区张江路1号",
               "tier": "gold", "id": "zj-tech", "site_id": "plant-1"}),
        "the snapshot the device shows, with the reference"
    );
    let created = t["created_at"].as_i64().expect("created");
    assert_eq!(t["sla"]["respond_by"].as_i64(), Some(created + 7 * MINUTE), "the gold rule: {t}");
    let card = &t["customer_card"];
    assert_eq!((card["name"].as_str(), card["tier"].as_str()), (Some("上海张江科技有限公司"), Some("gold")), "{card}");
    assert_eq!(card["contract"]["level"], "7x24");
    assert_eq!(card["site"]["id"], "plant-1");
    assert_eq!(card["recent_tickets"], json!([]), "nothing earlier at that site");
    assert!(!t.to_string().contains("4711"), "dispatchers' notes stay off the ticket");

    let second = json!({"title": "Chiller alarm again", "customer": {"id": "zj-tech", "site_id": "plant-1"}});
    let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &second).await;
    assert_eq!(status, 201, "{answer}");
    let second_id = answer["id"].as_str().expect("id").to_owned();
    let (_, t2) = server.get_json(&dana.token, &format!("/v1/tickets/{second_id}")).await;
    let recent = t2["customer_card"]["recent_tickets"].as_array().expect("recent");
    assert_eq!(recent.len(), 1, "{recent:?}");
    assert_eq!((recent[0]["id"].as_str(), recent[0]["status"].as_str()), (Some(first_id.as_str()), Some("dispatched")));
    let hq = json!({"title": "Printer", "customer": {"id": "zj-tech", "site_id": "s1"}});
    let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &hq).await;
    assert_eq!(status, 201, "{answer}");
    let (_, t3) = server.get_json(&dana.token, &format!("/v1/tickets/{}", answer["id"].as_str().expect("id"))).await;
    assert_eq!(t3["customer_card"]["recent_tickets"], json!([]), "the other site's tickets are not this site's");
    assert_eq!(t3["customer"]["address"], "88 Century Ave");

    // The dispatcher cancels the printer job: one closed, two open.
    let printer = answer["id"].as_str().expect("id").to_owned();
    let (status, answer) = server.act(&dana.token, &printer, json!({"action": "cancel", "reason": "dup"})).await;
    assert_eq!(status, 200, "{answer}");

    let (status, page) = server.get_json(&dana.token, "/v1/customers/zj-tech").await;
    assert_eq!(status, 200, "{page}");
    let tickets: Vec<&str> =
        page["tickets"].as_array().expect("tickets").iter().map(|t| t["id"].as_str().expect("id")).collect();
    assert_eq!(tickets.len(), 3, "{page}");
    assert_eq!(tickets[2], first_id, "newest first");
    assert_eq!(
        (&page["figures"]["tickets"], &page["figures"]["open"], &page["figures"]["closed"]),
        (&json!(3), &json!(2), &json!(1)),
        "{page}"
    );
    assert_eq!(page["figures"]["sla_breaches"], 0, "no deadline has passed yet");

    // Hostile references: another server's id, a site the record lacks, a site with no customer.
    for (customer, code) in [
        (json!({"id": "cus_from_another_org"}), "unknown_customer"),
        (json!({"id": "zj-tech", "site_id": "nowhere"}), "unknown_customer"),
        (json!({"id": "../../etc/passwd"}), "unknown_customer"),
        (json!({"name": "Walk-in", "site_id": "plant-1"}), "bad_request"),
    ] {
        let body = json!({"title": "Hostile", "customer": customer});
        let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &body).await;
        assert_eq!((status, api_error(&answer).error.as_str()), (400, code), "{customer}: {answer}");
    }
    let (_, all) = server.get_json(&dana.token, "/v1/tickets").await;
    assert_eq!(all.as_array().expect("list").len(), 3, "no ticket was made by a refused request");
    // A free-text customer still works as before: no reference, no card.
    let (status, answer) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &json!({"title": "Walk-in", "customer": {"name": "Bob", "tier": "gold"}}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (_, walk_in) =
        server.get_json(&dana.token, &format!("/v1/tickets/{}", answer["id"].as_str().expect("id"))).await;
    assert!(walk_in["customer_card"].is_null(), "{walk_in}");
    assert_eq!(walk_in["customer"]["id"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_engineer_rewrites_the_customer_card_or_reference_and_is_undone() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (status, answer) = server.post_json(&dana.token, "/v1/customers", &zhang()).await;
    assert_eq!(status, 201, "{answer}");
    let body = json!({"title": "Chiller", "assignee": "eli", "customer": {"id": "zj-tech"}});
    let (status, answer) = server.post_json(&dana.token, "/v1/tickets", &body).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().expect("id").to_owned();
    let mut phone = Hostile::join(&server, &eli, &id).await;
    let answer = phone
        .push(&server, |tx, _| {
            tx.put(ROOT, "customer_card", r#"{"name":"forged","tier":"platinum"}"#).expect("card");
            let Some((_, customer)) = tx.get(ROOT, "customer").expect("read") else { panic!("no customer") };
            tx.put(&customer, "id", "someone-else").expect("reference");
            tx.put(&customer, "tier", "platinum").expect("tier");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    phone.pull(&server).await;
    let (_, t) = server.get_json(&dana.token, &format!("/v1/tickets/{id}")).await;
    assert_eq!((t["customer"]["id"].as_str(), t["customer"]["tier"].as_str()), (Some("zj-tech"), Some("gold")), "{t}");
    assert_eq!(t["customer_card"]["name"], "上海张江科技有限公司", "{t}");
    let (_, page) = server.get_json(&dana.token, "/v1/customers/zj-tech").await;
    assert_eq!(page["figures"]["tickets"], 1, "the index keeps the dispatcher's reference: {page}");
    let card = phone.doc.get(ROOT, "customer_card").expect("read").map(|(v, _)| v.to_string()).unwrap_or_default();
    assert!(card.contains("上海张江科技有限公司"), "the phone's copy converged back: {card}");
}
