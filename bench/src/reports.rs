//! `reports`: every report page over 100,000 tickets of a year's history — the statistics page
//! and every statistics CSV (docs/adr/0024), the service reports page and its CSVs over the
//! year (docs/adr/0028) — timed over HTTP on a real server, beside the plain board page in the
//! same run.
//!
//! The history is bulk-inserted straight into the server's SQLite index table and, for the
//! service reports, each ticket's kept facts at its current sequence (one transaction, the
//! columns `documents::index_row` writes) before the server opens it: the reports read only
//! those, and 100,000 document writes with an fsync each would take the bench longer than the
//! measurement. The tickets have no documents behind them, so only pages that read the index
//! and the kept facts are measured.

use std::time::{Duration, Instant};

use fieldsync_core::Role;
use fieldsync_server::tracking::TrackingConfig;
use fieldsync_server::{AppState, ServerConfig};
use rusqlite::params;
use serde_json::json;

use super::{percentile, round};

const TICKETS: usize = 100_000;
const DAY: i64 = 86_400_000;
const ROUNDS: usize = 5;
const ZONE_MINUTES: i32 = 480;
const TYPES: [&str; 8] =
    ["bug", "on_site_repair", "installation", "maintenance", "inspection", "consultation", "complaint", "training"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const TIERS: [&str; 4] = ["gold", "silver", "bronze", ""];
const STATUSES: [&str; 6] = ["completed", "completed", "completed", "accepted", "dispatched", "new"];
const REPORTS: [&str; 12] = [
    "types",
    "products",
    "modules",
    "customers",
    "engineers",
    "ageing",
    "months",
    "quarters",
    "years",
    "revisits",
    "complaint-levels",
    "complaint-products",
];

const SERVICE_REPORTS: [&str; 3] = ["engineer", "priority", "tier"];

/// A small deterministic generator, so every run measures the same history.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn fill(path: &std::path::Path, now: i64) {
    let mut conn = rusqlite::Connection::open(path).expect("open index");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO tickets (id, title, status, assignee, priority, customer_name, customer_address,
                    conflicts, resolved_at, updated_at, changed_seq, version, ticket_type, escalated,
                    customer_id, site_id, created_at, responded_at, arrived_at, revisit_due_at, revisited_at,
                    first_time_fix, customer_rating, complaint, complaint_level, complaint_unit,
                    complaint_product, complaint_tier, product, module, minutes_worked, parts_lines,
                    parts_quantity, reassigned_count, reassigned_from, rejected_count, rejected_by)
                 VALUES (?1, ?2, ?3, ?4, ?28, ?5, '', 0, ?6, ?7, ?8, 1, ?9, 0, ?10, '', ?11, ?12, ?13,
                         NULL, ?14, ?15, NULL, ?16, ?17, '', ?18, '', ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )
            .expect("prepare");
        let mut keep =
            tx.prepare("INSERT INTO report_facts (ticket_id, seq, facts) VALUES (?1, ?2, ?3)").expect("prepare facts");
        let mut random = Lcg(16);
        for n in 0..TICKETS {
            let created = now - 365 * DAY + (n as i64) * (365 * DAY / TICKETS as i64);
            let status = STATUSES[random.next(STATUSES.len() as u64) as usize];
            let priority = PRIORITIES[random.next(PRIORITIES.len() as u64) as usize];
            let kind = TYPES[random.next(TYPES.len() as u64) as usize];
            let customer = random.next(2_000);
            let engineer = (status != "new").then(|| format!("engineer-{}", random.next(40)));
            let responded =
                (status != "new" && status != "dispatched").then(|| created + random.next(4 * 3_600_000) as i64);
            let done = status == "completed";
            let resolved = done.then(|| created + DAY);
            let revisited = (done && random.next(2) == 0).then(|| created + 3 * DAY);
            let fixed = revisited.map(|_| random.next(10) < 8);
            let complaint = kind == "complaint";
            let product = format!("product-{}", random.next(12));
            let module = format!("module-{}", random.next(6));
            let minutes = if responded.is_some() { random.next(480) as i64 } else { 0 };
            let parts = random.next(4) as i64;
            let rejected_by = (random.next(20) == 0).then(|| format!("engineer-{}", random.next(40)));
            let reassigned_from = (random.next(10) == 0).then(|| format!("engineer-{}", random.next(40)));
            // The service reports' facts as the server keeps them (docs/adr/0028), folded at
            // the ticket's current sequence, so the reports page reads them without a document.
            let facts = json!({
                "id": format!("t{n:06}"),
                "created_at": created,
                "engineer": engineer,
                "priority": priority,
                "tier": TIERS[random.next(TIERS.len() as u64) as usize],
                "status": status,
                "first_response": responded.map(|r| r - created),
                "to_arrive": responded.map(|r| r - created + 3_600_000),
                "resolution": resolved.map(|r| r - created),
                "breached": (random.next(4) != 0).then(|| random.next(10) == 0),
                "open_deadline": None::<i64>,
                "reopened": random.next(50) == 0,
                "rating": (done && random.next(3) == 0).then(|| 1 + random.next(5)),
            });
            keep.execute(params![format!("t{n:06}"), n as i64 + 1, facts.to_string()]).expect("insert facts");
            insert
                .execute(params![
                    format!("t{n:06}"),
                    format!("Ticket {n}"),
                    status,
                    engineer,
                    format!("客户 {customer}"),
                    resolved,
                    created,
                    n as i64 + 1,
                    kind,
                    format!("c{customer}"),
                    created,
                    responded,
                    responded.map(|r| r + 3_600_000),
                    revisited,
                    fixed,
                    complaint,
                    if complaint { ["minor", "serious", "crisis"][n % 3] } else { "" },
                    if complaint { format!("product-{}", n % 12) } else { String::new() },
                    product,
                    module,
                    minutes,
                    parts,
                    parts * 2,
                    i64::from(reassigned_from.is_some()),
                    reassigned_from.unwrap_or_default(),
                    i64::from(rejected_by.is_some()),
                    rejected_by.unwrap_or_default(),
                    priority,
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> String {
    let form = http.get(format!("{base}/console/login")).send().await.expect("login form");
    let login = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|c| c.starts_with("fieldsync_login="))
        .expect("login cookie");
    let html = form.text().await.expect("form");
    let at = html.find(r#"name="csrf" value=""#).expect("csrf") + r#"name="csrf" value=""#.len();
    let csrf = html[at..].split('"').next().expect("csrf value").to_owned();
    let answer = http
        .post(format!("{base}/console/login"))
        .header("cookie", login)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}"))
        .send()
        .await
        .expect("sign in");
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|c| c.starts_with("fieldsync_session="))
        .expect("session cookie")
}

async fn time_get(http: &reqwest::Client, url: &str, cookie: &str) -> (Duration, usize) {
    let started = Instant::now();
    let response = http.get(url).header("cookie", cookie).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let bytes = response.bytes().await.expect("body").len();
    (started.elapsed(), bytes)
}

/// The `reports` suite.
pub async fn reports_suite() -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        tracking: TrackingConfig { utc_offset_minutes: ZONE_MINUTES, ..Default::default() },
        ..ServerConfig::default()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Opened once to create the schema, then filled while no server runs.
    drop(AppState::open(dir.path(), config.clone()).expect("schema"));
    let filling = Instant::now();
    fill(&dir.path().join("server.sqlite"), now);
    eprintln!("reports: {TICKETS} index rows of a year's history inserted in {:.1} s", filling.elapsed().as_secs_f64());
    let state = AppState::open(dir.path(), config).expect("state");
    let (_, _, token) = state.add_user("dana", Role::Dispatcher).expect("user");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fieldsync_server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let cookie = sign_in(&http, &base, &token).await;

    let mut pages = vec![format!("{base}/console/statistics")];
    pages.extend(REPORTS.iter().map(|r| format!("{base}/console/statistics/{r}.csv")));
    // The service reports page (docs/adr/0028) and its CSVs over the same year (UTC days).
    let year = {
        let today = now.div_euclid(DAY);
        let label = fieldsync_server::statistics::day_label;
        format!("?from={}&to={}", label(today - 365), label(today))
    };
    pages.push(format!("{base}/console/reports{year}"));
    pages.extend(SERVICE_REPORTS.iter().map(|r| format!("{base}/console/reports/{r}.csv{year}")));
    let mut samples = Vec::new();
    let mut per_page: Vec<(String, Vec<Duration>, usize)> = Vec::new();
    // One warm-up round, not counted.
    for page in &pages {
        time_get(&http, page, &cookie).await;
    }
    for page in &pages {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..ROUNDS {
            let (took, bytes) = time_get(&http, page, &cookie).await;
            times.push(took);
            size = bytes;
        }
        samples.extend(times.iter().copied());
        per_page.push((page.trim_start_matches(&base).to_owned(), times, size));
    }
    for (page, times, size) in &mut per_page {
        times.sort();
        eprintln!(
            "reports: {page}: median {:.1} ms, max {:.1} ms ({size} bytes)",
            percentile(times, 0.5),
            percentile(times, 1.0)
        );
    }
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    // The reference: the plain board page over the same index, same client, same run.
    let board = format!("{base}/console/board");
    time_get(&http, &board, &cookie).await;
    let mut reference = Vec::new();
    for _ in 0..ROUNDS {
        reference.push(time_get(&http, &board, &cookie).await.0);
    }
    reference.sort();
    let reference_p50 = percentile(&reference, 0.5);
    eprintln!(
        "reports: every report page and CSV over {TICKETS} tickets: p50 {p50:.1} ms, p99 {p99:.1} ms (goal ≤ 1000 ms); the board page p50 {reference_p50:.1} ms; ratio {:.2}",
        p50 / reference_p50
    );
    let _ = stop.send(());
    let _ = server.await;
    drop(state);
    json!({
        "suite": "reports",
        "tickets": TICKETS,
        "pages": pages.len(),
        "page_p50_ms": round(p50),
        "page_p99_ms": round(p99),
        "reference": "board page",
        "reference_p50_ms": round(reference_p50),
        "ratio": round(p50 / reference_p50),
    })
}
