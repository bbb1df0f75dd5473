//! fieldsync benchmarks. Each suite prints its figures beside a reference measured in the
//! same run, and ends with one JSON line.
//!
//! ```text
//! cargo run --release -p fieldsync-bench -- actions
//! cargo run --release -p fieldsync-bench -- open
//! cargo run --release -p fieldsync-bench -- photos
//! cargo run --release -p fieldsync-bench -- reports
//! cargo run --release -p fieldsync-bench -- sync
//! cargo run --release -p fieldsync-bench -- server
//! ```
//!
//! `sync`, `server` and `memory` measure the server as shipped: they build this checkout's
//! `fieldsync` binary first (`FIELDSYNC_BENCH_CURRENT_CLI=PATH` names another).
//! `FIELDSYNC_BENCH_ENCRYPTED=1` runs `actions` and `open` on encrypted stores (docs/adr/0011).
//! `FIELDSYNC_BENCH_BASELINE=PATH` runs `sync`'s bootstrap and `server` also against a
//! `fieldsync` binary built from an older commit, side by side in the same run;
//! `FIELDSYNC_BENCH_DATABASE_URL` adds PostgreSQL to `server`; `FIELDSYNC_BENCH_ROUNDS=N` gives
//! `server` N timed rounds instead of 6 (a profile that needs them to last, tighter medians);
//! `FIELDSYNC_BENCH_REFERENCE_RUNS=N` runs `server`'s automerge-repo reference N times between
//! the rounds instead of 3, each round's ratio taken to the run next after it.

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::Automerge;
use fieldsync_core::model::{Customer, Identity, ListFilter, NewTicket, Sla};
use fieldsync_core::store::{StoreKey, tickets};
use fieldsync_core::{Client, Durability, OpenOptions, Role};
use serde_json::json;

const TICKETS: usize = 1_000;

mod memory;
mod photos;
mod postgres_stats;
mod reports;
mod server;
mod server_process;
mod sync;

fn main() {
    let suite = std::env::args().nth(1).unwrap_or_default();
    let result = match suite.as_str() {
        "actions" => actions(),
        "open" => open(),
        "sync" => runtime().block_on(sync::sync_suite()),
        "server" => runtime().block_on(server::server_suite()),
        "photos" => photos::photos_suite(),
        "memory" => memory::memory_suite(),
        "reports" => runtime().block_on(reports::reports_suite()),
        "__photos_time" => {
            let input = std::env::args().nth(2).expect("input path");
            photos::time_child(Path::new(&input));
            return;
        }
        "__photos_mem" => {
            let pipeline = std::env::args().nth(2).expect("pipeline");
            let input = std::env::args().nth(3).expect("input path");
            photos::memory_child(&pipeline, Path::new(&input));
            return;
        }
        "__serve" => {
            let data = std::env::args().nth(2).expect("data dir");
            let database_url = std::env::args().nth(3);
            server_process::serve_child(Path::new(&data), database_url.as_deref());
            return;
        }
        _ => {
            eprintln!("usage: fieldsync-bench actions|open|sync|server|photos|memory|reports");
            std::process::exit(2);
        }
    };
    println!("{result}");
}

/// The options every store of the `actions` and `open` suites starts from: encrypted with a fixed
/// key when `FIELDSYNC_BENCH_ENCRYPTED=1`, so the two runs compare the same work.
fn base_options() -> OpenOptions {
    let encrypted = std::env::var("FIELDSYNC_BENCH_ENCRYPTED").is_ok_and(|v| v == "1");
    let store_key = encrypted.then(|| StoreKey::from_bytes(&[0x5a; StoreKey::LEN]).expect("32 bytes"));
    OpenOptions { store_key, ..OpenOptions::default() }
}

fn dispatcher() -> Identity {
    Identity { user_id: "disp".into(), device_id: "bench".into(), role: Role::Dispatcher }
}

fn ticket(n: usize) -> NewTicket {
    NewTicket {
        title: format!("Job {n}: boiler service"),
        customer: Customer {
            name: format!("Customer {}", n % 97),
            address: format!("{n} Main St"),
            ..Default::default()
        },
        assignee: Some(format!("eng-{}", n % 10)),
        sla: Sla { resolve_by: Some(1_800_000_000_000 + n as i64 * 60_000), ..Default::default() },
        checklist: vec!["isolate power".into(), "test".into()],
        ..Default::default()
    }
}

fn fill(client: &Client, count: usize) -> Vec<String> {
    (0..count).map(|n| client.create_ticket(&ticket(n)).expect("create")).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    percentile(&samples, 0.5)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// This process's CPU time (user + system), for CPU-per-action figures.
fn cpu_time() -> Duration {
    cpu_time_of("/proc/self/stat")
}

/// A process's CPU time (user + system) from its /proc stat file.
fn cpu_time_of(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(14) + field(15);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Latency of local actions (note, checklist, part, time) with 1,000 tickets stored, under
/// both durability settings, beside a bare SQLite insert-and-commit of the same size under the
/// same setting: the floor any durable action pays on this disk.
fn actions() -> serde_json::Value {
    const ACTIONS: usize = 2_000;
    let mut figures = serde_json::Map::new();
    for durability in [Durability::PowerLoss, Durability::AppCrash] {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = OpenOptions { durability, ..base_options() };
        let client = Client::open_with(dir.path().join("bench.sqlite"), dispatcher(), options).expect("open");
        let ids = fill(&client, TICKETS);
        let mut samples = Vec::with_capacity(ACTIONS);
        let cpu_before = cpu_time();
        // Spread over all 1,000 tickets: most actions find their document out of the cache.
        for n in 0..ACTIONS {
            samples.push(timed_action(&client, &ids[(n * 7919) % ids.len()], n));
        }
        let cpu_per_action_ms = cpu_time().saturating_sub(cpu_before).as_secs_f64() * 1_000.0 / ACTIONS as f64;
        samples.sort();
        // An engineer's day: the actions land on the 20 tickets in hand, the rest are stored.
        let mut hot: Vec<Duration> = (0..ACTIONS).map(|n| timed_action(&client, &ids[n % 20], n)).collect();
        hot.sort();
        let (hot_p50, hot_p99) = (percentile(&hot, 0.5), percentile(&hot, 0.99));
        let bare = bare_sqlite_commits(&dir.path().join("bare.sqlite"), durability, ACTIONS);
        let (p50, p99, bare_p50) = (percentile(&samples, 0.5), percentile(&samples, 0.99), percentile(&bare, 0.5));
        let name = match durability {
            Durability::PowerLoss => "power_loss",
            Durability::AppCrash => "app_crash",
        };
        eprintln!(
            "actions [{name}]: p50 {p50:.3} ms, p99 {:.3} ms, CPU {cpu_per_action_ms:.3} ms/action; on 20 tickets in hand p50 {hot_p50:.3} ms, p99 {hot_p99:.3} ms; bare SQLite commit p50 {bare_p50:.3} ms (ratio {:.2})",
            p99,
            p50 / bare_p50
        );
        figures.insert(format!("{name}_hot_p50_ms"), json!(round(hot_p50)));
        figures.insert(format!("{name}_hot_p99_ms"), json!(round(hot_p99)));
        figures.insert(format!("{name}_p50_ms"), json!(round(p50)));
        figures.insert(format!("{name}_p99_ms"), json!(round(p99)));
        figures.insert(format!("{name}_cpu_ms_per_action"), json!(round(cpu_per_action_ms)));
        figures.insert(format!("{name}_bare_sqlite_commit_p50_ms"), json!(round(bare_p50)));
        figures.insert(format!("{name}_ratio_to_bare_commit"), json!(round(p50 / bare_p50)));
    }
    let mut out = json!({
        "suite": "actions",
        "encrypted": base_options().store_key.is_some(),
        "tickets": TICKETS,
        "durability": "power_loss",
        "p50_ms": figures["power_loss_p50_ms"],
        "p99_ms": figures["power_loss_p99_ms"],
    });
    if let Some(map) = out.as_object_mut() {
        map.extend(figures);
    }
    out
}

/// One action of the mix (notes, assignments, cancel/reopen), timed.
fn timed_action(client: &Client, id: &str, n: usize) -> Duration {
    let started = Instant::now();
    match n % 4 {
        0 | 1 => client.add_note(id, "Customer asked to call ahead next time").expect("note"),
        2 => client.assign(id, &format!("eng-{}", n % 13)).expect("assign"),
        _ => client.cancel(id, "duplicate").or_else(|_| client.reopen(id, "needed after all")).expect("toggle"),
    }
    started.elapsed()
}

/// The reference: one 300-byte row inserted and committed per call, same journal and sync mode.
fn bare_sqlite_commits(path: &Path, durability: Durability, count: usize) -> Vec<Duration> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let sync = if durability == Durability::PowerLoss { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);"
    ))
    .expect("setup");
    let payload = vec![7u8; 300];
    let mut samples: Vec<Duration> = (0..count)
        .map(|_| {
            let started = Instant::now();
            conn.execute("INSERT INTO t (b) VALUES (?1)", [&payload]).expect("insert");
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

/// Listing, cold open, and opening a ticket with a long history beside the naive per-chunk load.
fn open() -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.sqlite");
    // No compaction, so the long ticket really is 1,000 change chunks.
    let options = OpenOptions { compact_after_changes: usize::MAX, ..base_options() };
    let long_id = {
        let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
        fill(&client, TICKETS - 1);
        let id = client.create_ticket(&ticket(TICKETS)).expect("create");
        for n in 1..1_000 {
            client.add_note(&id, &format!("note {n}: replaced seal, tested pressure")).expect("note");
        }
        id
    };

    let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
    let list_1000 = median_ms(
        (0..50)
            .map(|_| {
                let started = Instant::now();
                let rows = client.list(&ListFilter::default()).expect("list");
                assert_eq!(rows.len(), TICKETS);
                started.elapsed()
            })
            .collect(),
    );
    drop(client);

    let cold_open = median_ms(
        (0..20)
            .map(|_| {
                let started = Instant::now();
                let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
                let rows = client.list(&ListFilter::default()).expect("list");
                assert_eq!(rows.len(), TICKETS);
                started.elapsed()
            })
            .collect(),
    );

    let chunks = {
        let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
        client.store().read(|tx| tickets::all_chunks(tx, &long_id)).expect("chunks")
    };
    assert_eq!(chunks.len(), 1_000);
    // Ours: a fresh client (empty cache) reads the chunks in one buffer and parses once.
    let ours = median_ms(
        (0..10)
            .map(|_| {
                let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
                let started = Instant::now();
                let ticket = client.get(&long_id).expect("get");
                assert_eq!(ticket.notes.len(), 999);
                started.elapsed()
            })
            .collect(),
    );
    // The reference: the same chunks, one load_incremental call each.
    let naive = median_ms(
        (0..5)
            .map(|_| {
                let client = Client::open_with(&path, dispatcher(), options.clone()).expect("open");
                let started = Instant::now();
                let chunks = client.store().read(|tx| tickets::all_chunks(tx, &long_id)).expect("chunks");
                let mut doc = Automerge::new();
                for chunk in &chunks {
                    doc.load_incremental(chunk).expect("load chunk");
                }
                let ticket = fieldsync_core::model::doc::read_ticket(&doc).expect("read");
                assert_eq!(ticket.notes.len(), 999);
                started.elapsed()
            })
            .collect(),
    );
    // And after compaction into a snapshot, which is how a store keeps it.
    let compacted = {
        let compacting = OpenOptions { compact_after_changes: 64, ..base_options() };
        let client = Client::open_with(&path, dispatcher(), compacting.clone()).expect("open");
        client.add_note(&long_id, "triggers compaction").expect("note");
        drop(client);
        median_ms(
            (0..10)
                .map(|_| {
                    let client = Client::open_with(&path, dispatcher(), compacting.clone()).expect("open");
                    let started = Instant::now();
                    client.get(&long_id).expect("get");
                    started.elapsed()
                })
                .collect(),
        )
    };
    eprintln!("open: list 1,000 summaries {list_1000:.3} ms; cold open to first list {cold_open:.3} ms");
    eprintln!(
        "open: ticket with 1,000 changes {ours:.3} ms (one buffer) vs {naive:.3} ms (load_incremental per chunk): {:.1}x faster; {compacted:.3} ms once compacted",
        naive / ours
    );
    json!({
        "suite": "open",
        "encrypted": base_options().store_key.is_some(),
        "list_1000_ms": round(list_1000),
        "cold_open_ms": round(cold_open),
        "open_1000_changes_ms": round(ours),
        "naive_open_1000_changes_ms": round(naive),
        "ratio": round(naive / ours),
        "open_1000_changes_compacted_ms": round(compacted),
    })
}

fn round(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}
