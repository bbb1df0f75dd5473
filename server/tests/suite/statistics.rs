//! The statistics page (issue 16 item 8, docs/adr/0024) on a real server: figures the test's
//! own tickets imply, in English and Chinese, and CSV that opens as UTF-8 in Excel (a BOM).

use fieldsync_core::Role;
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_server::ServerConfig;
use fieldsync_server::tracking::TrackingConfig;
use reqwest::header::COOKIE;
use serde_json::{Value as Json, json};

use crate::common::{Server, open_client};
use crate::console::{client, page, sign_in};

async fn create(server: &Server, token: &str, body: Json) -> String {
    let (status, created) = server.post_json(token, "/v1/tickets", &body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statistics_page_shows_the_figures_of_the_tickets_in_english_and_chinese_and_csv_has_a_bom() {
    let config = ServerConfig {
        tracking: TrackingConfig { utc_offset_minutes: 480, ..Default::default() },
        ..Default::default()
    };
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let customer = json!({"id": "zj-tech", "name": "上海张江科技有限公司", "tier": "Gold",
        "sites": [{"id": "plant-1", "label": "一号厂房", "address": "上海市浦东新区张江路1号"}]});
    let (status, answer) = server.post_json(&dana.token, "/v1/customers", &customer).await;
    assert_eq!(status, 201, "{answer}");
    let for_zhang = |title: &str, kind: &str, assignee: Option<&str>| {
        json!({"title": title, "customer": {"id": "zj-tech", "site_id": "plant-1"}, "assignee": assignee,
            "classification": {"type": kind}})
    };
    // The admin's taxonomy names the product and its module the first ticket is about.
    let root = server.user("root", Role::Admin);
    let (_, taxonomy) = server.get_json(&root.token, "/v1/taxonomy").await;
    let mut taxonomy = taxonomy["value"].clone();
    taxonomy["products"] = json!([{"value": "ERP", "label": "ERP"}]);
    taxonomy["modules"] = json!([{"value": "login", "label": "Login"}]);
    let answer = server
        .http
        .put(server.url("/v1/taxonomy"))
        .bearer_auth(&root.token)
        .header("content-type", "application/json")
        .body(taxonomy.to_string())
        .send()
        .await
        .expect("put taxonomy");
    assert_eq!(answer.status().as_u16(), 200);
    let mut login = for_zhang("Login fails", "bug", Some("eli"));
    login["classification"] = json!({"type": "bug", "product": "ERP", "module": "login"});
    let first = create(&server, &dana.token, login).await;
    create(&server, &dana.token, for_zhang("Report crashes", "bug", None)).await;
    let chiller = create(&server, &dana.token, for_zhang("Chiller alarm", "on_site_repair", Some("eli"))).await;
    create(
        &server,
        &dana.token,
        json!({"title": "Rude engineer", "customer": {"name": "Mrs Wong"},
        "classification": {"type": "complaint"}}),
    )
    .await;
    create(&server, &dana.token, json!({"title": "New unit", "classification": {"type": "installation"}})).await;
    // eli accepts the first (the customer's mean first response has one figure), works 90
    // minutes on it with two valves, and gives the chiller back.
    let phone = open_client(server.dir.path(), &eli, Role::Engineer);
    let engine =
        SyncEngine::new(phone.clone(), SyncConfig::new(server.base.clone(), eli.token.clone())).expect("engine");
    engine.set_online(true);
    engine.sync_now().await.expect("sync");
    phone.accept(&first).expect("accept");
    phone.log_time(&first, 90, "labour").expect("time");
    phone.add_part(&first, "VALVE-22", 2).expect("part");
    phone.reject(&chiller, "needs a refrigeration engineer").expect("reject");
    engine.sync_now().await.expect("sync the acceptance, time, part and rejection");
    let row = server.state.storage().ticket_row(&first).expect("row").expect("there");
    assert!(row.responded_at.is_some(), "the acceptance is in the index");

    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("session");
    let english = page(&http, &server.base, "/console/statistics", &session).await;
    for expected in [
        // Most frequent first: two bugs of five tickets.
        r#"<tr data-row="bug"><td>bug</td><td>2</td><td>40.0</td><td>2</td><td>0</td></tr>"#,
        // The customer record's three tickets, two of them bugs; one answered within the hour.
        // ... with 1.5 hours invested, one part line of two parts.
        r#"<td>上海张江科技有限公司</td><td>3</td><td>0.0</td><td>66.7</td><td>0</td><td>0</td><td>0</td><td>1.5</td><td>1</td><td>2</td></tr>"#,
        r#"<td>(no customer record)</td><td>2</td><td>-</td><td>0.0</td>"#,
        // eli holds one ticket (1.5 hours) and gave one back.
        r#"<tr data-row="eli"><td>eli</td><td>1</td><td>1</td><td>0</td><td>-</td><td>0</td><td>1.5</td><td>1</td><td>0</td></tr>"#,
        // One of five tickets is about the ERP, its login module.
        r#"<tr data-row="ERP"><td>ERP</td><td>1</td><td>20.0</td><td>1</td><td>100.0</td><td>0</td><td>1.5</td></tr>"#,
        r#"<tr data-row="ERP / login"><td>ERP / login</td><td>1</td><td>20.0</td>"#,
        r#"<tr data-row="(unassigned)"><td>(unassigned)</td><td>4</td>"#,
        r#"<td>(none)</td><td>1</td><td>100.0</td><td>1</td>"#,
        "UTC+08:00",
        "<svg",
    ] {
        assert!(english.contains(expected), "{expected} missing in {english}");
    }
    // Ageing: the oldest open ticket first.
    let ageing = english.split("id=\"statistics-ageing\"").nth(1).expect("ageing section");
    assert!(ageing.contains(&format!("<tr data-row=\"{first}\">")), "{ageing}");
    let first_row = ageing.find("<tr data-row=").expect("a row");
    assert_eq!(ageing.find(&format!("<tr data-row=\"{first}\">")), Some(first_row), "{ageing}");
    // This month, quarter and year hold all five.
    let months = english.split("id=\"statistics-months\"").nth(1).expect("months");
    assert!(months.contains("</td><td>5</td><td>0</td>"), "{months}");

    let chinese_session = format!("{session}; fieldsync_lang=zh");
    let chinese = page(&http, &server.base, "/console/statistics", &chinese_session).await;
    for expected in [
        "按类型统计的常见问题",
        "<td>（无客户档案）</td><td>2</td>",
        "<td>（未派单）</td><td>4</td>",
        "<td>故障</td><td>2</td>",
        "平均首次响应（小时）",
        "按产品统计的常见问题",
        "投入工时（小时）",
    ] {
        assert!(chinese.contains(expected), "{expected} missing in {chinese}");
    }

    let csv = http
        .get(server.url("/console/statistics/customers.csv"))
        .header(COOKIE, &chinese_session)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = csv.bytes().await.expect("bytes");
    assert_eq!(bytes[..3], [0xEF, 0xBB, 0xBF], "a UTF-8 BOM first, so Excel on Chinese Windows reads UTF-8");
    let text = std::str::from_utf8(&bytes[3..]).expect("UTF-8");
    assert!(text.starts_with("客户,工单数,平均首次响应（小时）,"), "{text}");
    assert!(text.contains("\r\n上海张江科技有限公司,3,0.0,66.7,"), "{text}");
    let missing = http.get(server.url("/console/statistics/nothing.csv")).header(COOKIE, &session).send().await;
    assert_eq!(missing.expect("404").status(), 404);
    let bad = http.get(server.url("/console/statistics?from=yesterday")).header(COOKIE, &session).send().await;
    assert_eq!(bad.expect("400").status(), 400);
}
