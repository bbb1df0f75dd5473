//! The old reports page reads the facts kept beside the index (docs/adr/0028): a ticket's
//! document is folded once per version, a later page view takes the kept facts (shown here by
//! planting facts no fold would give), and a change to the ticket is folded again.

use fieldsync_core::Role;
use serde_json::json;

use crate::attacks::act;
use crate::common::Server;
use crate::console::{client, page, sign_in};

/// The cells of the engineer table's row for `group`, if the page has one.
fn engineer_row(html: &str, group: &str) -> Option<Vec<String>> {
    let section = &html[html.find(r#"id="report-engineer""#)?..];
    let row = &section[section.find(&format!(r#"data-group="{group}""#))?..];
    let row = &row[..row.find("</tr>")?];
    Some(row.split("<td>").skip(1).map(|cell| cell.split("</td>").next().unwrap_or_default().to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_folds_each_ticket_once_per_version_and_reads_kept_facts() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    server.user("eli", Role::Engineer);
    let (status, made) =
        server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Leak", "assignee": "eli"})).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id").to_owned();
    server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Nobody's"})).await;
    let http = client();
    let (_, session) = sign_in(&http, &server.base, &dana.token).await;
    let session = session.expect("signed in");

    let html = page(&http, &server.base, "/console/reports", &session).await;
    let eli = engineer_row(&html, "eli").expect("eli's row");
    assert_eq!(eli[..6], ["eli", "1", "1", "0", "0", "0"], "{eli:?}");
    let all = engineer_row(&html, "all").expect("the total");
    assert_eq!(all[1], "2", "{all:?}");
    // Both folds were kept at the tickets' current versions.
    let kept = server.state.storage().report_facts(0, i64::MAX).expect("kept facts");
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|r| r.kept.as_ref().is_some_and(|(seq, _)| *seq == r.changed_seq)), "{kept:?}");

    // Facts no fold of the document would give, kept at the ticket's version: the page shows
    // them, so it did not fold the document again.
    let row = kept.iter().find(|r| r.ticket_id == id).expect("the leak's facts");
    let (seq, json) = row.kept.clone().expect("kept");
    let mut planted: serde_json::Value = serde_json::from_str(&json).expect("facts are JSON");
    planted["engineer"] = json!("zed");
    server.state.storage().keep_report_facts(&[(id.clone(), seq, planted.to_string())]).expect("plant");
    let html = page(&http, &server.base, "/console/reports", &session).await;
    assert!(engineer_row(&html, "zed").is_some() && engineer_row(&html, "eli").is_none(), "the kept facts were read");

    // The ticket changes: its new version is folded (and the planted facts are gone).
    act(&server, &dana.token, &id, json!({"action": "cancel", "reason": "duplicate"})).await;
    let html = page(&http, &server.base, "/console/reports", &session).await;
    let eli = engineer_row(&html, "eli").expect("eli's row again");
    assert_eq!(eli[..6], ["eli", "1", "0", "0", "0", "1"], "cancelled now: {eli:?}");
    assert!(engineer_row(&html, "zed").is_none());
    let csv = http
        .get(format!("{}/console/reports/engineer.csv", server.base))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    assert!(csv.lines().any(|l| l.starts_with("eli,1,0,0,0,1,")), "{csv}");
    server.stop().await;
}
