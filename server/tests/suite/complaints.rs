//! Complaints against a real server (docs/adr/0019): levels, the complaint handler's scope,
//! reclassification into a sales lead and back on the timeline, the analysis by unit, product
//! and tier, and raw HTTP calls that try to delete or rewrite a complaint (the raw Automerge
//! attacks are in `attacks.rs`).

use fieldsync_core::Role;
use serde_json::{Value as Json, json};

use crate::common::Server;
use crate::console::{client, csrf_of, page, sign_in};

async fn detail(server: &Server, token: &str, id: &str) -> (u16, Json) {
    server.get_json(token, &format!("/v1/tickets/{id}")).await
}

fn messages(detail: &Json) -> Vec<(String, String)> {
    detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| (h["message"].as_str().unwrap_or("").to_owned(), h["user_id"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// A complaint about a gold customer's boiler, and an ordinary installation.
async fn two_tickets(server: &Server, root: &str, dana: &str) -> (String, String) {
    let (_, taxonomy) = server.get_json(root, "/v1/taxonomy").await;
    let mut taxonomy = taxonomy["value"].clone();
    taxonomy["products"] = json!([{"value": "boiler-x", "label": "Boiler X"}]);
    let answer = server
        .http
        .put(server.url("/v1/taxonomy"))
        .bearer_auth(root)
        .header("content-type", "application/json")
        .body(taxonomy.to_string())
        .send()
        .await
        .expect("put taxonomy");
    assert_eq!(answer.status().as_u16(), 200);
    let create = |body: Json| async move {
        let (status, created) = server.post_json(dana, "/v1/tickets", &body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("id").to_owned()
    };
    let complaint = create(json!({"title": "Rude engineer, boiler still cold",
        "customer": {"name": "Mrs Wong", "tier": "gold"},
        "classification": {"type": "complaint", "product": "boiler-x"}}))
    .await;
    let install = create(json!({"title": "New unit", "classification": {"type": "installation"}})).await;
    (complaint, install)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_handler_acts_on_complaints_only_and_every_change_is_on_the_timeline() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let cara = server.user("cara", Role::ComplaintHandler);
    let eli = server.user("eli", Role::Engineer);
    let (complaint, install) = two_tickets(&server, &root.token, &dana.token).await;
    let (_, filed) = detail(&server, &dana.token, &complaint).await;
    assert_eq!(filed["complaint"], true, "filed as type complaint, it is a complaint: {filed}");

    // The handler sees complaints only.
    let (status, listed) = server.get_json(&cara.token, "/v1/tickets").await;
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, [complaint.as_str()]);
    assert_eq!(detail(&server, &cara.token, &install).await.0, 404, "not a complaint: not the handler's");
    let (status, _) = server.act(&cara.token, &install, json!({"action": "set_complaint", "level": "crisis"})).await;
    assert_eq!(status, 404);

    // Level and unit, then a sales lead, then a complaint again.
    let steps = [
        json!({"action": "set_complaint", "level": "crisis", "unit": "Field team"}),
        json!({"action": "reclassify", "classification": {"type": "sales_lead", "product": "boiler-x"}}),
        json!({"action": "reclassify", "classification": {"type": "complaint", "product": "boiler-x"}}),
        json!({"action": "set_complaint", "level": "grumble", "unit": "Field team"}),
    ];
    for step in steps {
        let (status, body) = server.act(&cara.token, &complaint, step.clone()).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    // Not a bug, not a cancellation, not a note: the handler's scope is the complaint.
    let refused = [
        json!({"action": "reclassify", "classification": {"type": "bug", "product": "boiler-x"}}),
        json!({"action": "cancel", "reason": "no"}),
        json!({"action": "add_note", "text": "hm"}),
        json!({"action": "set_complaint", "level": "furious"}),
    ];
    for step in refused {
        let (status, body) = server.act(&cara.token, &complaint, step.clone()).await;
        assert!(matches!(status, 400 | 403 | 409), "{step}: {status} {body}");
    }
    let (status, _) = server.act(&eli.token, &complaint, json!({"action": "set_complaint", "level": "crisis"})).await;
    assert_eq!(status, 403, "engineers act on their devices");
    let (status, _) = server.get_json(&eli.token, "/v1/tickets").await;
    assert_eq!(status, 403);

    let (_, after) = detail(&server, &cara.token, &complaint).await;
    assert_eq!((after["complaint"].clone(), after["complaint_level"].clone()), (json!(true), json!("grumble")));
    assert_eq!(after["complaint_unit"], "Field team");
    let history = messages(&after);
    for (message, by) in [
        ("complaint: level — → crisis; unit — → Field team", "cara"),
        ("reclassify: type complaint → sales_lead", "cara"),
        ("reclassify: type sales_lead → complaint", "cara"),
        ("complaint: level crisis → grumble", "cara"),
    ] {
        assert!(history.contains(&(message.to_owned(), by.to_owned())), "{message} by {by}: {history:?}");
    }

    // While a sales lead it stayed a complaint (never deleted, every change kept); the
    // analysis counts it by unit, product and tier.
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let analysis = page(&http, &server.base, "/console/complaints", &session).await;
    assert!(analysis.contains("id=\"complaints-total\">1<"), "{analysis}");
    for (table, key) in [("by-unit", "Field team"), ("by-product", "boiler-x"), ("by-tier", "gold")] {
        let at = analysis.find(&format!("id=\"{table}\"")).expect(table);
        let row = analysis[at..].find(&format!("data-key=\"{key}\"")).map(|i| &analysis[at + i..]);
        let row = row.unwrap_or_else(|| panic!("{table} has {key}: {analysis}"));
        assert!(row.contains("class=\"total\">1<"), "{table}/{key}");
    }
    // Handlers do not sign in to the console: they work through the API.
    assert_eq!(sign_in(&http, &server.base, &cara.token).await, (403, None));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_cannot_delete_or_rewrite_a_complaint() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let (complaint, _) = two_tickets(&server, &root.token, &dana.token).await;
    let (_, before) = detail(&server, &dana.token, &complaint).await;

    for (method, path) in [
        (reqwest::Method::DELETE, format!("/v1/tickets/{complaint}")),
        (reqwest::Method::PUT, format!("/v1/tickets/{complaint}")),
        (reqwest::Method::PATCH, format!("/v1/tickets/{complaint}")),
        (reqwest::Method::DELETE, format!("/v1/tickets/{complaint}/document")),
        (reqwest::Method::PUT, format!("/v1/tickets/{complaint}/document")),
        (reqwest::Method::DELETE, format!("/console/tickets/{complaint}")),
    ] {
        let answer = server
            .http
            .request(method.clone(), server.url(&path))
            .bearer_auth(&root.token)
            .header("content-type", "application/json")
            .body(json!({"events": [], "complaint": false}).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status().as_u16(), 405, "{method} {path}");
    }
    // Commands that do not exist, through the API and the console.
    for action in ["delete", "unmark_complaint", "compact"] {
        let (status, _) = server.act(&root.token, &complaint, json!({"action": action})).await;
        assert_eq!(status, 400, "{action}");
    }
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &root.token).await;
    let session = session.expect("session");
    let detail_page = page(&http, &server.base, &format!("/console/tickets/{complaint}"), &session).await;
    let csrf = csrf_of(&detail_page);
    let answer = http
        .post(server.url(&format!("/console/tickets/{complaint}/actions")))
        .header(reqwest::header::COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&action=delete"))
        .send()
        .await
        .expect("console delete");
    assert_eq!(answer.status().as_u16(), 400);

    let (status, after) = detail(&server, &dana.token, &complaint).await;
    assert_eq!(status, 200);
    assert_eq!(after["events"], before["events"], "the history is whole");
    assert_eq!(after["complaint"], true);
    assert_eq!(messages(&after), messages(&before));
    server.stop().await;
}
