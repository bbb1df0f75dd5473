//! `fieldsync demo --once` as a new user and a manager first meet it (issue 16, item 11; issue
//! 17): today's board tells tickets apart and shows every conflict, and the reports, statistics
//! and customer pages already hold 90 days of history in the organisation's zone, made by the
//! real devices and the real server on a clock set back (docs/adr/0029). The demo runs once;
//! then the test serves its data with `fieldsync serve` and reads what a manager would.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use chrono::{Duration, FixedOffset, TimeZone, Utc};
use common::{BIN, Server};
use serde_json::Value as Json;
const DAY_MS: i64 = 86_400_000;
/// The organisation's zone the demo's server keeps (the default: UTC+08:00).
const ZONE_SECONDS: i32 = 8 * 3600;

struct Demo {
    data: PathBuf,
    out: String,
    dispatcher_token: String,
}

/// The one run of the demo both tests read (it takes a while: 90 days of work).
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        // The demo replaces a folder it made before (marked), never another.
        let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-test-{}", std::process::id()));
        let data_s = data.to_str().expect("path").to_owned();
        let out = Command::new(BIN)
            .args(["demo", "--data", &data_s, "--listen", "127.0.0.1:0", "--once"])
            .output()
            .expect("run fieldsync demo");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "the demo failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        let dispatcher_token = stdout
            .lines()
            .find(|l| l.starts_with("dispatcher token"))
            .and_then(|l| l.rsplit(' ').next())
            .expect("the demo prints the dispatcher's token")
            .to_owned();
        Demo { data, out: stdout, dispatcher_token }
    })
}

/// What these tests read from the served demo, over HTTP/1.1 on loopback.
impl Server {
    /// One HTTP/1.1 exchange over loopback: the status, the `Set-Cookie` values and the body.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<String>, String) {
        let mut stream = TcpStream::connect(self.address()).expect("connect");
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.address());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
        let cookies = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.trim().split(';').next().map(str::to_owned))
            .collect();
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            unchunk(body)
        } else {
            body.to_owned()
        };
        (status, cookies, body)
    }

    fn json(&self, token: &str, path: &str) -> Json {
        let (status, _, body) = self.request("GET", path, &[("Authorization", &format!("Bearer {token}"))], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Signs in to the console with a device token; the session cookie.
    fn sign_in(&self, token: &str) -> String {
        let (_, cookies, form) = self.request("GET", "/console/login", &[], "");
        let login = cookies.iter().find(|c| c.starts_with("fieldsync_login=")).expect("the login cookie");
        let at = form.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
        let csrf = form[at..].split('"').next().expect("csrf");
        let headers = [("Cookie", login.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
        let (_, cookies, _) = self.request("POST", "/console/login", &headers, &format!("csrf={csrf}&token={token}"));
        cookies.into_iter().find(|c| c.starts_with("fieldsync_session=")).expect("signed in")
    }

    /// A console CSV as rows of cells (quoted cells are not needed by these reports).
    fn csv(&self, session: &str, path: &str) -> Vec<Vec<String>> {
        let (status, _, body) = self.request("GET", path, &[("Cookie", session)], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body.trim_start_matches('\u{feff}').lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A row's cell under `column` of a CSV's header.
fn cell<'a>(rows: &'a [Vec<String>], row: &'a [String], column: &str) -> &'a str {
    let at = rows[0].iter().position(|c| c == column).unwrap_or_else(|| panic!("no column {column}: {:?}", rows[0]));
    row.get(at).map_or("", String::as_str)
}

/// Every line names one ticket, completed jobs carry a photo and a signature, and the board
/// prints each conflict the console would show.
#[test]
fn the_demo_tells_tickets_apart_and_shows_every_conflict() {
    let out = &demo().out;
    let board = out.rsplit("== board:").next().expect("a board");
    let titles: Vec<&str> =
        board.lines().filter_map(|l| l.split_once('#').map(|(_, t)| t)).filter(|t| !t.contains("refused")).collect();
    let unique: std::collections::HashSet<&str> = titles.iter().copied().collect();
    assert_eq!(unique.len(), titles.len(), "every ticket on the board has its own title: {board}");
    let conflicts = board.lines().filter(|l| l.trim_start().starts_with("conflict on ")).count();
    let counted: usize = board
        .lines()
        .filter_map(|l| l.split_once("  [").and_then(|(_, n)| n.split(' ').next()?.parse::<usize>().ok()))
        .sum();
    assert!(counted >= 1 && conflicts == counted, "{conflicts} conflict lines for {counted} counted: {board}");
    // Work is random; completed jobs (if any this run) were photographed and signed first.
    for line in out.lines().filter(|l| l.contains("offline completed")) {
        assert!(line.contains("photographed it") && line.contains("signed by"), "{line}");
    }
}

/// The manager's first look: 90 days of tickets over at least three calendar months in the
/// organisation's zone, breaches escalated, complaints graded and one reclassified, revisits
/// with a reopen, customers' ratings; every one made by the engineers' phones and the server's
/// own paths (the audit trail names the phone each change came from, received later by the
/// server).
#[test]
fn the_demo_starts_with_ninety_days_of_history_made_through_the_real_paths() {
    let demo = demo();
    let server = Server::start(&demo.data);
    let token = demo.dispatcher_token.as_str();
    let now = Utc::now().timestamp_millis();

    let tickets = server.json(token, "/v1/tickets");
    let tickets = tickets.as_array().expect("a list");
    assert!(tickets.len() >= 250, "a few hundred tickets: {}", tickets.len());
    let created: Vec<i64> = tickets.iter().filter_map(|t| t["created_at"].as_i64()).collect();
    let (oldest, newest) = (created.iter().min().copied().unwrap_or(now), created.iter().max().copied().unwrap_or(0));
    assert!(now - oldest >= 85 * DAY_MS && now - oldest <= 92 * DAY_MS, "the first is ~90 days old: {oldest}");
    assert!(now - newest < DAY_MS, "and work goes on until today: {newest}");
    let zone = FixedOffset::east_opt(ZONE_SECONDS).expect("zone");
    let months: BTreeSet<String> = created
        .iter()
        .filter_map(|ms| zone.timestamp_millis_opt(*ms).single())
        .map(|d| d.format("%Y-%m").to_string())
        .collect();
    assert!(months.len() >= 3, "three calendar months at least: {months:?}");
    // Every 10-day stretch of the 90 days has tickets: spread, not bunched.
    for stretch in 0..9 {
        let from = oldest + stretch * 10 * DAY_MS;
        assert!(created.iter().any(|c| (from..from + 10 * DAY_MS).contains(c)), "tickets in days {}..", stretch * 10);
    }
    let count = |field: &str, wanted: &dyn Fn(&Json) -> bool| tickets.iter().filter(|t| wanted(&t[field])).count();
    assert!(count("escalated", &|v| v == true) >= 1, "at least one breach escalated");
    assert!(count("complaint", &|v| v == true) >= 3, "complaints");
    assert!(count("complaint_level", &|v| v.as_str().is_some_and(|l| !l.is_empty())) >= 3, "graded complaints");
    assert!(
        tickets.iter().any(|t| t["complaint"] == true && t["ticket_type"] == "sales_lead"),
        "a complaint reclassified into a sales lead"
    );
    assert!(count("first_time_fix", &|v| v == false) >= 1, "a revisit found a job not fixed");
    assert!(count("first_time_fix", &|v| v == true) >= 10, "and most fixed");
    assert!(count("customer_rating", &|v| v.is_u64()) >= 10, "customers rated visits");
    // Every customer's page has its history: tickets, closed ones, a first response.
    let customers: BTreeSet<&str> =
        tickets.iter().filter_map(|t| t["customer_id"].as_str()).filter(|id| !id.is_empty()).collect();
    assert!(customers.len() >= 5, "tickets for the customer records: {customers:?}");
    for id in customers {
        let page = server.json(token, &format!("/v1/customers/{id}"));
        let figures = &page["figures"];
        assert!(figures["tickets"].as_u64() >= Some(5) && figures["closed"].as_u64() >= Some(3), "{figures}");
        assert!(figures["mean_first_response_ms"].as_i64().is_some_and(|ms| ms > 0), "{figures}");
    }
    let escalations = server.json(token, "/v1/escalations");
    assert!(escalations.as_array().is_some_and(|e| !e.is_empty()), "the evaluator acted: {escalations}");

    // The history went through the phones and the sync: an old completed job's changes name
    // the engineer's phone, stamped at the device's time and received by the server later.
    let old = tickets
        .iter()
        .find(|t| t["status"] == "completed" && t["created_at"].as_i64().is_some_and(|c| now - c > 60 * DAY_MS))
        .expect("a job completed two months ago");
    let detail = server.json(token, &format!("/v1/tickets/{}", old["id"].as_str().expect("id")));
    let from_phone: Vec<&Json> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["server"] != true)
        .filter(|h| h["user_id"].as_str().is_some_and(|u| ["eli", "fay", "gus"].contains(&u)))
        .collect();
    assert!(!from_phone.is_empty(), "changes from an engineer's phone: {detail}");
    for h in from_phone {
        let (device, received) = (h["device_time"].as_i64().expect("device time"), h["server_received_at"].as_i64());
        let received = received.expect("received through a sync");
        let made = old["created_at"].as_i64().expect("created");
        assert!(device >= made && now - device > 7 * DAY_MS && received >= device, "made then, synced after: {h}");
    }

    // What the manager reads: months in the zone, revisit outcomes, complaints, reports.
    let session = server.sign_in(token);
    let today = Utc::now().with_timezone(&zone).date_naive();
    let window = format!("?from={}&to={today}", today - Duration::days(100));
    let by_month = server.csv(&session, &format!("/console/statistics/months.csv{window}"));
    let busy: Vec<&Vec<String>> =
        by_month[1..].iter().filter(|r| cell(&by_month, r, "Tickets").parse::<u32>().is_ok_and(|n| n > 0)).collect();
    assert!(busy.len() >= 3, "three months with tickets: {by_month:?}");
    let complaints: u32 =
        by_month[1..].iter().filter_map(|r| cell(&by_month, r, "Complaints").parse::<u32>().ok()).sum();
    assert!(complaints >= 3, "complaints by month: {by_month:?}");
    let revisits = server.csv(&session, &format!("/console/statistics/revisits.csv{window}"));
    let figure = |name: &str| {
        revisits
            .iter()
            .find(|r| r[0] == name)
            .and_then(|r| r[1].parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name}: {revisits:?}"))
    };
    assert!(figure("Not fixed the first time") >= 1.0 && figure("Revisited") >= 10.0, "{revisits:?}");
    assert!(figure("First-time fix %") < 100.0, "{revisits:?}");
    let levels = server.csv(&session, &format!("/console/statistics/complaint-levels.csv{window}"));
    assert!(levels.len() >= 2, "complaints by level: {levels:?}");
    let by_engineer = server.csv(&session, &format!("/console/reports/engineer.csv{window}"));
    let all = by_engineer.iter().find(|r| r[0] == "all").expect("an all row");
    assert!(cell(&by_engineer, all, "sla_breach_pct").parse::<f64>().is_ok_and(|p| p > 0.0), "{by_engineer:?}");
    assert!(cell(&by_engineer, all, "avg_satisfaction").parse::<f64>().is_ok_and(|r| r > 0.0), "{by_engineer:?}");
    // The board test needs only the demo's output: its data can go.
    drop(server);
    let _ = std::fs::remove_dir_all(&demo.data);
}
