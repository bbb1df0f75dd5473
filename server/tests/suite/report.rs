//! The service report from the console (docs/adr/0013): the ticket page links it, a signed-in
//! dispatcher downloads it, a visitor without a session does not. (The REST endpoint and the
//! device-equals-server check: tests/tests/e2e/report.rs.)

use fieldsync_core::Role;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE};

use crate::common::Server;
use crate::console::{client, page, sign_in};

#[tokio::test]
async fn the_ticket_page_links_the_service_report_and_a_signed_in_dispatcher_downloads_it() {
    let server = Server::start().await;
    let dispatcher = server.user("dana", Role::Dispatcher);
    let id = server.create_ticket(&dispatcher.token, "服务器维修 Server repair", None).await;
    let http = client();
    let base = server.url("");
    let (_, session) = sign_in(&http, &base, &dispatcher.token).await;
    let session = session.expect("a session");

    let html = page(&http, &base, &format!("/console/tickets/{id}"), &session).await;
    let link = format!("/console/tickets/{id}/report.pdf");
    assert!(html.contains(&format!(r#"href="{link}""#)), "the ticket page has no report link");

    let response = http.get(format!("{base}{link}")).header(COOKIE, &session).send().await.expect("download");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("application/pdf"));
    let disposition =
        response.headers().get(CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(disposition.starts_with("attachment;") && disposition.contains(&id), "{disposition}");
    let pdf = response.bytes().await.expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");

    let anonymous = http.get(format!("{base}{link}")).send().await.expect("anonymous");
    assert_ne!(anonymous.status(), 200, "no session, no report");
    assert!(!anonymous.bytes().await.expect("body").starts_with(b"%PDF"));
}
