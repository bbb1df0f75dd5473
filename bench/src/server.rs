//! The `server` suite: small incremental syncs per second with many devices at once, on SQLite
//! and (when `FIELDSYNC_BENCH_DATABASE_URL` names a PostgreSQL cluster, e.g. the URL
//! `scripts/postgres.sh start DIR` prints) on PostgreSQL with one and two server instances,
//! beside automerge-repo's sync server doing the same edits in the same run, and beside a
//! baseline server binary (`FIELDSYNC_BENCH_BASELINE=PATH`, a `fieldsync` built from an older
//! commit) doing the same devices' work in the same run.

use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::sync::SyncEngine;
use fieldsync_e2e::Dispatcher;
use serde_json::json;

use crate::postgres_stats::{BenchDatabase, StatementCount};
use crate::round;
use crate::server_process::{Build, ServerProcess};
use crate::sync::{create_many, device};

/// Where the `server` suite's server keeps its tickets.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite,
    /// `instances` server processes sharing one fresh database on the cluster at `admin_url`.
    Postgres {
        admin_url: String,
        instances: usize,
    },
}

impl Backend {
    fn label(&self) -> String {
        match self {
            Backend::Sqlite => "SQLite, synchronous=FULL".into(),
            Backend::Postgres { instances: 1, .. } => "PostgreSQL, one instance".into(),
            Backend::Postgres { instances, .. } => format!("PostgreSQL, {instances} instances"),
        }
    }

    fn key(&self) -> String {
        match self {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres { instances, .. } => format!("postgres_{instances}"),
        }
    }
}

/// The figures of one run of the `server` suite's timed part.
struct ServerRun {
    build: Build,
    backend: Backend,
    syncs: usize,
    syncs_per_s: f64,
    p50: f64,
    p99: f64,
    elapsed: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    /// What the server(s) asked PostgreSQL during the saturated phase (PostgreSQL only, and
    /// only when the cluster loads `pg_stat_statements`).
    statements: Option<StatementCount>,
    /// Latency when the same devices together offer [`PACED_SYNCS_PER_S`].
    paced: Paced,
}

impl ServerRun {
    fn cpu_ms_per_sync(&self) -> f64 {
        self.server_cpu_s * 1_000.0 / self.syncs as f64
    }
}

/// The paced phase: every device syncs on its own schedule so that together they offer a
/// fixed rate; latency counts from each sync's scheduled time, so a server that falls behind
/// shows its backlog (no coordinated omission). Each device makes its note before its sync is
/// due; a note that makes it late is counted through the schedule.
struct Paced {
    syncs_per_s: f64,
    p50: f64,
    p99: f64,
    /// The p99 of the sync alone (request, server, response applied), without any lateness.
    sync_only_p99: f64,
}

/// Runs every backend with this build and, when `FIELDSYNC_BENCH_BASELINE` names one, with the
/// baseline binary right before it (SQLite and PostgreSQL with one instance), then the
/// automerge-repo reference; prints the side-by-side figures and one JSON line.
pub async fn server_suite() -> serde_json::Value {
    let mut backends = vec![Backend::Sqlite];
    match std::env::var("FIELDSYNC_BENCH_DATABASE_URL") {
        Ok(admin_url) => {
            for instances in [1, 2] {
                backends.push(Backend::Postgres { admin_url: admin_url.clone(), instances });
            }
        }
        Err(_) => eprintln!(
            "server: PostgreSQL figures skipped: set FIELDSYNC_BENCH_DATABASE_URL (scripts/postgres.sh start DIR prints one)"
        ),
    }
    let baseline = Build::baseline_from_env();
    if baseline.is_none() {
        eprintln!(
            "server: no baseline: set FIELDSYNC_BENCH_BASELINE to a `fieldsync` binary built from an older commit"
        );
    }
    let mut runs = Vec::new();
    for backend in backends {
        // The baseline on the single-instance backends: what one server costs per sync.
        let one_instance = !matches!(backend, Backend::Postgres { instances, .. } if instances > 1);
        if let Some(baseline) = baseline.as_ref().filter(|_| one_instance) {
            runs.push(server_run(baseline.clone(), backend.clone()).await);
        }
        runs.push(server_run(Build::Current, backend).await);
    }
    let syncs = runs[0].syncs;
    let reference = automerge_repo_reference(SERVER_DEVICES, syncs);
    let reference_syncs_per_s = reference["syncs_per_s"].as_f64().unwrap_or(f64::NAN);
    let find = |build: &str, key: &str| runs.iter().find(|r| r.build.label() == build && r.backend.key() == key);
    let current_sqlite = find("this build", "sqlite").expect("SQLite run");
    let sqlite_of = |run: &ServerRun| find(run.build.label(), "sqlite").unwrap_or(current_sqlite);
    for run in &runs {
        eprintln!(
            "server [{}]: the same devices paced to offer {PACED_SYNCS_PER_S:.0} syncs/s ({}): {:.0}/s carried, p50 {:.2} ms, p99 {:.2} ms (from each sync's scheduled time; the sync alone p99 {:.2} ms)",
            run.build.label(),
            run.backend.label(),
            run.paced.syncs_per_s,
            run.paced.p50,
            run.paced.p99,
            run.paced.sync_only_p99,
        );
        eprintln!(
            "server [{}]: {} small syncs from {SERVER_DEVICES} devices at once, none pausing ({}): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms; CPU over {:.2} s: server(s) {:.2} s ({:.3} ms/sync), the devices {:.2} s; ratio to automerge-repo {:.2}, to SQLite {:.2}",
            run.build.label(),
            run.syncs,
            run.backend.label(),
            run.syncs_per_s,
            run.p50,
            run.p99,
            run.elapsed,
            run.server_cpu_s,
            run.cpu_ms_per_sync(),
            run.client_cpu_s,
            run.syncs_per_s / reference_syncs_per_s,
            run.syncs_per_s / sqlite_of(run).syncs_per_s,
        );
        if let Some(count) = &run.statements {
            eprintln!(
                "server [{}]: PostgreSQL per sync ({}): {:.2} statements, {:.2} round trips (statements and BEGIN/COMMIT, each awaited)",
                run.build.label(),
                run.backend.label(),
                count.statements as f64 / run.syncs as f64,
                count.round_trips as f64 / run.syncs as f64,
            );
        }
    }
    eprintln!(
        "server: reference automerge-repo sync server, same edits: {reference_syncs_per_s:.0}/s, p50 {} ms, p99 {} ms",
        reference["p50_ms"], reference["p99_ms"],
    );
    let sqlite = current_sqlite;
    let mut out = json!({
        "suite": "server",
        "devices": SERVER_DEVICES,
        "syncs": syncs,
        "syncs_per_s": round(sqlite.syncs_per_s),
        "p50_ms": round(sqlite.paced.p50),
        "p99_ms": round(sqlite.paced.p99),
        "latency_at_syncs_per_s": PACED_SYNCS_PER_S,
        "paced_syncs_per_s": round(sqlite.paced.syncs_per_s),
        "paced_sync_only_p99_ms": round(sqlite.paced.sync_only_p99),
        "saturated_p50_ms": round(sqlite.p50),
        "saturated_p99_ms": round(sqlite.p99),
        "server_cpu_ms_per_sync": round(sqlite.cpu_ms_per_sync()),
        "devices_cpu_s": round(sqlite.client_cpu_s),
        "reference": "automerge-repo",
        "reference_syncs_per_s": round(reference_syncs_per_s),
        "reference_p50_ms": reference["p50_ms"],
        "reference_p99_ms": reference["p99_ms"],
        "ratio": round(sqlite.syncs_per_s / reference_syncs_per_s),
    });
    if let Some(map) = out.as_object_mut() {
        side_by_side(map, &runs, reference_syncs_per_s);
    }
    out
}

/// Every run's figures beside this build's on SQLite, under the keys of its build and backend,
/// and the headline figures under their own names.
fn side_by_side(map: &mut serde_json::Map<String, serde_json::Value>, runs: &[ServerRun], reference_syncs_per_s: f64) {
    let find = |build: &str, key: &str| runs.iter().find(|r| r.build.label() == build && r.backend.key() == key);
    let Some(sqlite) = find("this build", "sqlite") else { return };
    let sqlite_of = |run: &ServerRun| find(run.build.label(), "sqlite").unwrap_or(sqlite);
    for run in runs {
        let sqlite_run = sqlite_of(run);
        let prefix = match (&run.build, &run.backend) {
            (Build::Current, Backend::Sqlite) => continue,
            (Build::Current, backend) => backend.key(),
            (Build::Baseline(_), backend) => format!("baseline_{}", backend.key()),
        };
        if let Backend::Postgres { .. } = run.backend {
            map.insert(format!("{prefix}_syncs_per_s"), json!(round(run.syncs_per_s)));
            map.insert(format!("{prefix}_ratio_to_sqlite"), json!(round(run.syncs_per_s / sqlite_run.syncs_per_s)));
        }
        map.insert(format!("{prefix}_p50_ms"), json!(round(run.paced.p50)));
        map.insert(format!("{prefix}_p99_ms"), json!(round(run.paced.p99)));
        map.insert(format!("{prefix}_saturated_p50_ms"), json!(round(run.p50)));
        map.insert(format!("{prefix}_saturated_p99_ms"), json!(round(run.p99)));
        map.insert(format!("{prefix}_ratio"), json!(round(run.syncs_per_s / reference_syncs_per_s)));
        map.insert(format!("{prefix}_server_cpu_ms_per_sync"), json!(round(run.cpu_ms_per_sync())));
        map.insert(
            format!("{prefix}_cpu_ratio_to_sqlite"),
            json!(round(run.cpu_ms_per_sync() / sqlite_run.cpu_ms_per_sync())),
        );
        if let Some(count) = &run.statements {
            map.insert(
                format!("{prefix}_statements_per_sync"),
                json!(round(count.statements as f64 / run.syncs as f64)),
            );
            map.insert(
                format!("{prefix}_round_trips_per_sync"),
                json!(round(count.round_trips as f64 / run.syncs as f64)),
            );
        }
    }
    // The headline figures under their own names: this build's, and the baseline's
    // beside them (same devices' work, same run).
    let headline = |map: &mut serde_json::Map<String, serde_json::Value>, name: &str, from: &str| {
        if let Some(value) = map.get(from).cloned() {
            map.insert(name.to_owned(), value);
        }
    };
    headline(map, "postgres_ratio_to_sqlite", "postgres_1_ratio_to_sqlite");
    headline(map, "postgres_server_cpu_ms_per_sync", "postgres_1_server_cpu_ms_per_sync");
    headline(map, "postgres_cpu_ratio_to_sqlite", "postgres_1_cpu_ratio_to_sqlite");
    headline(map, "postgres_statements_per_sync", "postgres_1_statements_per_sync");
    headline(map, "postgres_round_trips_per_sync", "postgres_1_round_trips_per_sync");
    headline(map, "baseline_server_cpu_ms_per_sync", "baseline_sqlite_server_cpu_ms_per_sync");
    headline(map, "baseline_ratio", "baseline_sqlite_ratio");
    headline(map, "baseline_postgres_round_trips_per_sync", "baseline_postgres_1_round_trips_per_sync");
    if let Some(baseline) = find("baseline", "sqlite") {
        map.insert("baseline_syncs_per_s".into(), json!(round(baseline.syncs_per_s)));
        map.insert(
            "server_cpu_ratio_to_baseline".into(),
            json!(round(sqlite.cpu_ms_per_sync() / baseline.cpu_ms_per_sync())),
        );
        map.insert("syncs_per_s_ratio_to_baseline".into(), json!(round(sqlite.syncs_per_s / baseline.syncs_per_s)));
    }
    if let (Some(ours), Some(theirs)) = (find("this build", "postgres_1"), find("baseline", "postgres_1")) {
        map.insert(
            "postgres_server_cpu_ratio_to_baseline".into(),
            json!(round(ours.cpu_ms_per_sync() / theirs.cpu_ms_per_sync())),
        );
    }
}

const SERVER_DEVICES: usize = 50;

/// The `server` suite's timed part on one backend with one build: every device in turn edits
/// one of its tickets and syncs it, all devices at once; devices are spread over the instances.
async fn server_run(build: Build, backend: Backend) -> ServerRun {
    const TICKETS_PER_DEVICE: usize = 20;
    const SYNCS: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data");
    let (database, instances) = match &backend {
        Backend::Sqlite => (None, 1),
        Backend::Postgres { admin_url, instances } => {
            let admin_url = admin_url.clone();
            let database =
                tokio::task::spawn_blocking(move || BenchDatabase::create(&admin_url)).await.expect("create database");
            (Some(Arc::new(database)), *instances)
        }
    };
    let database_url = database.as_ref().map(|d| d.url.clone());
    let (dispatcher_user, users) = {
        let (data, url, build) = (data.clone(), database_url.clone(), build.clone());
        let names: Vec<String> = (0..SERVER_DEVICES).map(|n| format!("eng{n}")).collect();
        // Blocking (and, for PostgreSQL, on a runtime of its own): off the async threads.
        tokio::task::spawn_blocking(move || build.add_users(&data, url.as_deref(), &names, "dana"))
            .await
            .expect("users")
    };
    let servers: Vec<ServerProcess> =
        (0..instances).map(|_| ServerProcess::start_with(&build, &data, database_url.as_deref())).collect();
    let dispatcher = Dispatcher::at(&servers[0].url, &dispatcher_user.2);
    let mut devices = Vec::with_capacity(SERVER_DEVICES);
    for (n, user) in users.iter().enumerate() {
        let ids = create_many(&dispatcher, TICKETS_PER_DEVICE, &user.0).await;
        let engine = device(dir.path(), &servers[n % instances].url, user);
        engine.sync_now().await.expect("first sync");
        for id in &ids {
            engine.client().accept(id).expect("accept");
        }
        engine.sync_now().await.expect("accepts synced");
        devices.push((engine, ids));
    }

    let per_device = SYNCS / SERVER_DEVICES;
    let devices: Vec<(Arc<SyncEngine>, Arc<Vec<String>>)> =
        devices.into_iter().map(|(engine, ids)| (Arc::new(engine), Arc::new(ids))).collect();
    let server_cpu = || servers.iter().map(ServerProcess::cpu).sum::<Duration>();
    let statements_before = match &database {
        Some(database) => {
            let database = Arc::clone(database);
            tokio::task::spawn_blocking(move || database.statements()).await.expect("statements")
        }
        None => None,
    };
    let (server_cpu_before, client_cpu_before) = (server_cpu(), crate::cpu_time());
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .iter()
        .map(|(engine, ids)| {
            let (engine, ids) = (Arc::clone(engine), Arc::clone(ids));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_device);
                for n in 0..per_device {
                    let id = &ids[n % ids.len()];
                    note(&engine, id, "Seal replaced, pressure tested").await;
                    let sync_started = Instant::now();
                    let report = engine.sync_now().await.expect("sync");
                    latencies.push(sync_started.elapsed());
                    assert_eq!(report.round_trips, 1);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(SYNCS);
    for task in tasks {
        latencies.extend(task.await.expect("device task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu_s = server_cpu().saturating_sub(server_cpu_before).as_secs_f64();
    let client_cpu_s = crate::cpu_time().saturating_sub(client_cpu_before).as_secs_f64();
    let statements = match (&database, statements_before) {
        (Some(database), Some(before)) => {
            let database = Arc::clone(database);
            let after = tokio::task::spawn_blocking(move || database.statements()).await.expect("statements");
            after.map(|after| after.since(&before))
        }
        _ => None,
    };
    latencies.sort();
    let syncs = latencies.len();
    let (p50, p99) = (crate::percentile(&latencies, 0.5), crate::percentile(&latencies, 0.99));
    let paced = paced_run(&devices, PACED_SYNCS_PER_DEVICE).await;
    drop(servers);
    if let Some(database) = database {
        tokio::task::spawn_blocking(move || drop(database)).await.expect("drop database");
    }
    ServerRun {
        build,
        backend,
        syncs,
        syncs_per_s: syncs as f64 / elapsed,
        p50,
        p99,
        elapsed,
        server_cpu_s,
        client_cpu_s,
        statements,
        paced,
    }
}

/// A device's note, off the async threads as an app's UI would make it: the action waits for
/// its fsync, and on the bench's shared runtime that wait must not stall the other devices'
/// syncs (each simulated device stands for a phone of its own).
async fn note(engine: &SyncEngine, ticket_id: &str, text: &'static str) {
    let (client, ticket_id) = (engine.client().clone(), ticket_id.to_owned());
    tokio::task::spawn_blocking(move || client.add_note(&ticket_id, text)).await.expect("note task").expect("note");
}

/// The rate the paced phase offers: the throughput budget of a small-sync server (issue 3).
const PACED_SYNCS_PER_S: f64 = 1_000.0;
/// Syncs per device in the paced phase: 10 s at the paced rate, so that one hiccup of the
/// machine does not decide the p99 alone.
const PACED_SYNCS_PER_DEVICE: usize = 200;

/// The same edits and syncs as the saturated phase, but each device on a schedule (one sync
/// every `devices / PACED_SYNCS_PER_S` seconds, the devices staggered evenly): the latency a
/// device sees while the server carries that load, rather than the queue of 50 devices that
/// never pause (whose mean latency is simply devices / throughput).
async fn paced_run(devices: &[(Arc<SyncEngine>, Arc<Vec<String>>)], per_device: usize) -> Paced {
    let interval = Duration::from_secs_f64(devices.len() as f64 / PACED_SYNCS_PER_S);
    let stagger = interval / devices.len() as u32;
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(d, (engine, ids))| {
            let (engine, ids) = (Arc::clone(engine), Arc::clone(ids));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_device);
                for n in 0..per_device {
                    let scheduled = start + stagger * d as u32 + interval * n as u32;
                    // The engineer's note is made in the device's own time before its sync is
                    // due: on a phone its fsync hits the phone's flash, here it would queue on
                    // the one disk the server and 49 other "phones" share. A note (or a slow
                    // sync before) that makes the device late still counts, through the
                    // schedule.
                    note(&engine, &ids[n % ids.len()], "Gasket checked").await;
                    tokio::time::sleep_until(scheduled).await;
                    let sync_started = Instant::now();
                    let report = engine.sync_now().await.expect("sync");
                    latencies.push((scheduled.elapsed(), sync_started.elapsed()));
                    assert_eq!(report.round_trips, 1);
                }
                latencies
            })
        })
        .collect();
    let (mut latencies, mut syncs_alone) = (Vec::new(), Vec::new());
    for task in tasks {
        for (latency, sync_alone) in task.await.expect("paced device task") {
            latencies.push(latency);
            syncs_alone.push(sync_alone);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    syncs_alone.sort();
    Paced {
        syncs_per_s: latencies.len() as f64 / elapsed,
        p50: crate::percentile(&latencies, 0.5),
        p99: crate::percentile(&latencies, 0.99),
        sync_only_p99: crate::percentile(&syncs_alone, 0.99),
    }
}

/// Runs bench/automerge-repo/run.sh and returns its JSON line.
fn automerge_repo_reference(devices: usize, edits: usize) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("automerge-repo/run.sh");
    let output = Process::new("bash")
        .arg(&script)
        .args(["--devices", &devices.to_string(), "--edits", &edits.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run the automerge-repo reference");
    assert!(output.status.success(), "the automerge-repo reference failed: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).expect("a JSON line from run.sh");
    serde_json::from_str(last).expect("reference JSON")
}
