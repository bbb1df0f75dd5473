//! The `server` suite: small incremental syncs per second with many devices at once, on SQLite
//! and (when `FIELDSYNC_BENCH_DATABASE_URL` names a PostgreSQL cluster, e.g. the URL
//! `scripts/postgres.sh start DIR` prints) on PostgreSQL with one and two server instances,
//! beside automerge-repo's sync server doing the same edits in the same run, and beside a
//! baseline server binary (`FIELDSYNC_BENCH_BASELINE=PATH`, a `fieldsync` built from an older
//! commit) doing the same devices' work in the same run. Every set-up is prepared first, then
//! they take turns in rounds (`rounds`), and comparisons are medians of per-round ratios, the
//! ratio to automerge-repo too (its reference runs between the rounds, [`Reference`]).

use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::sync::SyncEngine;
use serde_json::json;

use crate::postgres_stats::StatementCount;
use crate::round;
use crate::server_process::Build;

mod rounds;

use rounds::{Device, Round, SYNCS_PER_ROUND, SetUp, Spread};

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

/// The figures of one set-up over all its rounds.
struct ServerRun {
    build: Build,
    backend: Backend,
    rounds: Vec<Round>,
    syncs: usize,
    syncs_per_s: f64,
    p50: f64,
    p99: f64,
    elapsed: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    /// What the server(s) asked PostgreSQL during the saturated rounds (PostgreSQL only, and
    /// only when the cluster loads `pg_stat_statements`).
    statements: Option<StatementCount>,
    /// The CPU the database's backends spent in the rounds (PostgreSQL on this machine only).
    backends_cpu_s: Option<f64>,
    /// Latency when the same devices together offer [`PACED_SYNCS_PER_S`].
    paced: Paced,
}

impl ServerRun {
    /// After the rounds: the totals over them, then the paced phase, then the servers stop.
    async fn finish(mut set_up: SetUp) -> ServerRun {
        let paced = paced_run(&set_up.devices, PACED_SYNCS_PER_DEVICE).await;
        let rounds = std::mem::take(&mut set_up.rounds);
        let (build, backend) = (set_up.build.clone(), set_up.backend.clone());
        set_up.stop().await;
        let mut latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.iter().copied()).collect();
        latencies.sort();
        let sum = |figure: fn(&Round) -> f64| rounds.iter().map(figure).sum::<f64>();
        let statements = rounds.iter().try_fold(StatementCount::default(), |total, round| {
            let count = round.statements.as_ref()?;
            Some(StatementCount {
                statements: total.statements + count.statements,
                round_trips: total.round_trips + count.round_trips,
            })
        });
        let backends_cpu_s = rounds.iter().map(|r| r.backends_cpu_s).sum::<Option<f64>>();
        let syncs: usize = rounds.iter().map(|r| r.syncs).sum();
        let elapsed = sum(|r| r.elapsed_s);
        ServerRun {
            build,
            backend,
            syncs,
            syncs_per_s: syncs as f64 / elapsed,
            p50: crate::percentile(&latencies, 0.5),
            p99: crate::percentile(&latencies, 0.99),
            elapsed,
            server_cpu_s: sum(|r| r.server_cpu_s),
            client_cpu_s: sum(|r| r.client_cpu_s),
            statements,
            backends_cpu_s,
            paced,
            rounds,
        }
    }

    fn cpu_ms_per_sync(&self) -> f64 {
        self.server_cpu_s * 1_000.0 / self.syncs as f64
    }

    /// This run's CPU per sync against `other`'s, round by round.
    fn cpu_ratio(&self, other: &ServerRun) -> Spread {
        Spread::of(&self.rounds, &other.rounds, Round::cpu_ms_per_sync)
    }

    /// This run's syncs per second against `other`'s, round by round.
    fn rate_ratio(&self, other: &ServerRun) -> Spread {
        Spread::of(&self.rounds, &other.rounds, Round::syncs_per_s)
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

/// Prepares every backend with this build and, when `FIELDSYNC_BENCH_BASELINE` names one, with
/// the baseline binary (SQLite and PostgreSQL with one instance), runs them in alternated
/// rounds with the automerge-repo reference run between them ([`Reference`]); prints the
/// side-by-side figures and one JSON line. Ratios between two set-ups, and to the reference,
/// are medians of per-round ratios, with their spread.
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
    let mut set_ups = Vec::new();
    for backend in backends {
        // The baseline on the single-instance backends: what one server costs per sync.
        let one_instance = !matches!(backend, Backend::Postgres { instances, .. } if instances > 1);
        if let Some(baseline) = baseline.as_ref().filter(|_| one_instance) {
            set_ups.push(SetUp::prepare(baseline.clone(), backend.clone()).await);
        }
        set_ups.push(SetUp::prepare(Build::Current, backend).await);
    }
    let reference_after = Reference::schedule(rounds::rounds());
    let mut reference = Reference::default();
    rounds::alternate(&mut set_ups, |round| {
        if reference_after.contains(&round) {
            reference.runs.push((round, automerge_repo_reference(SERVER_DEVICES, SYNCS_PER_ROUND)));
        }
    })
    .await;
    let mut runs = Vec::new();
    for set_up in set_ups {
        runs.push(ServerRun::finish(set_up).await);
    }
    let reference_syncs_per_s = reference.figure("syncs_per_s").median;
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
            "server [{}]: {} small syncs ({} rounds of {SYNCS_PER_ROUND}) from {SERVER_DEVICES} devices at once, none pausing ({}): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms; CPU over {:.2} s: server(s) {:.2} s ({:.3} ms/sync), the devices {:.2} s; ratio to automerge-repo {:.2}; to SQLite, per round: syncs/s {}, CPU {}",
            run.build.label(),
            run.syncs,
            run.rounds.len(),
            run.backend.label(),
            run.syncs_per_s,
            run.p50,
            run.p99,
            run.elapsed,
            run.server_cpu_s,
            run.cpu_ms_per_sync(),
            run.client_cpu_s,
            reference.ratio(run),
            run.rate_ratio(sqlite_of(run)),
            run.cpu_ratio(sqlite_of(run)),
        );
        if let Some(backends) = run.backends_cpu_s {
            eprintln!(
                "server [{}]: PostgreSQL's backends ({}): {:.3} ms CPU per sync beside the server's {:.3} (the database's connections; not the WAL writer or checkpointer)",
                run.build.label(),
                run.backend.label(),
                backends * 1_000.0 / run.syncs as f64,
                run.cpu_ms_per_sync(),
            );
        }
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
    for key in ["sqlite", "postgres_1"] {
        if let (Some(ours), Some(theirs)) = (find("this build", key), find("baseline", key)) {
            eprintln!(
                "server: this build ÷ baseline ({}), median of {} per-round ratios: CPU per sync {}, syncs/s {}",
                ours.backend.label(),
                ours.rounds.len(),
                ours.cpu_ratio(theirs),
                ours.rate_ratio(theirs),
            );
        }
    }
    eprintln!(
        "server: reference automerge-repo sync server, same edits ({SYNCS_PER_ROUND}), {} runs between the rounds: median {reference_syncs_per_s:.0}/s (runs {}), p50 {:.2} ms, p99 {:.2} ms",
        reference.runs.len(),
        reference
            .runs
            .iter()
            .map(|(_, r)| format!("{:.0}", r["syncs_per_s"].as_f64().unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", "),
        reference.figure("p50_ms").median,
        reference.figure("p99_ms").median,
    );
    let sqlite = current_sqlite;
    let mut out = json!({
        "suite": "server",
        "server": crate::server_process::measured_server(),
        "devices": SERVER_DEVICES,
        "syncs": sqlite.syncs,
        "rounds": sqlite.rounds.len(),
        "syncs_per_round": SYNCS_PER_ROUND,
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
        "reference_runs": reference.runs.len(),
        "reference_syncs_per_s": round(reference_syncs_per_s),
        "reference_syncs_per_s_min": round(reference.figure("syncs_per_s").min),
        "reference_syncs_per_s_max": round(reference.figure("syncs_per_s").max),
        "reference_p50_ms": round(reference.figure("p50_ms").median),
        "reference_p99_ms": round(reference.figure("p99_ms").median),
    });
    if let Some(map) = out.as_object_mut() {
        insert_spread(map, "ratio", reference.ratio(sqlite));
        side_by_side(map, &runs, &reference);
    }
    out
}

/// `name` (the median of per-round ratios) with `name_min` and `name_max` beside it.
fn insert_spread(map: &mut serde_json::Map<String, serde_json::Value>, name: &str, spread: Spread) {
    map.insert(name.to_owned(), json!(round(spread.median)));
    map.insert(format!("{name}_min"), json!(round(spread.min)));
    map.insert(format!("{name}_max"), json!(round(spread.max)));
}

/// Every run's figures beside this build's on SQLite, under the keys of its build and backend,
/// and the headline figures under their own names.
fn side_by_side(map: &mut serde_json::Map<String, serde_json::Value>, runs: &[ServerRun], reference: &Reference) {
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
            insert_spread(map, &format!("{prefix}_ratio_to_sqlite"), run.rate_ratio(sqlite_run));
        }
        map.insert(format!("{prefix}_p50_ms"), json!(round(run.paced.p50)));
        map.insert(format!("{prefix}_p99_ms"), json!(round(run.paced.p99)));
        map.insert(format!("{prefix}_saturated_p50_ms"), json!(round(run.p50)));
        map.insert(format!("{prefix}_saturated_p99_ms"), json!(round(run.p99)));
        insert_spread(map, &format!("{prefix}_ratio"), reference.ratio(run));
        map.insert(format!("{prefix}_server_cpu_ms_per_sync"), json!(round(run.cpu_ms_per_sync())));
        insert_spread(map, &format!("{prefix}_cpu_ratio_to_sqlite"), run.cpu_ratio(sqlite_run));
        if let Some(backends) = run.backends_cpu_s {
            map.insert(
                format!("{prefix}_backends_cpu_ms_per_sync"),
                json!(round(backends * 1_000.0 / run.syncs as f64)),
            );
        }
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
    // beside them (same devices' work, same rounds).
    let headline = |map: &mut serde_json::Map<String, serde_json::Value>, name: &str, from: &str| {
        for suffix in ["", "_min", "_max"] {
            if let Some(value) = map.get(&format!("{from}{suffix}")).cloned() {
                map.insert(format!("{name}{suffix}"), value);
            }
        }
    };
    headline(map, "postgres_ratio_to_sqlite", "postgres_1_ratio_to_sqlite");
    headline(map, "postgres_server_cpu_ms_per_sync", "postgres_1_server_cpu_ms_per_sync");
    headline(map, "postgres_cpu_ratio_to_sqlite", "postgres_1_cpu_ratio_to_sqlite");
    headline(map, "postgres_statements_per_sync", "postgres_1_statements_per_sync");
    headline(map, "postgres_round_trips_per_sync", "postgres_1_round_trips_per_sync");
    headline(map, "postgres_backends_cpu_ms_per_sync", "postgres_1_backends_cpu_ms_per_sync");
    headline(map, "baseline_server_cpu_ms_per_sync", "baseline_sqlite_server_cpu_ms_per_sync");
    headline(map, "baseline_ratio", "baseline_sqlite_ratio");
    headline(map, "baseline_postgres_round_trips_per_sync", "baseline_postgres_1_round_trips_per_sync");
    if let Some(baseline) = find("baseline", "sqlite") {
        map.insert("baseline_syncs_per_s".into(), json!(round(baseline.syncs_per_s)));
        insert_spread(map, "server_cpu_ratio_to_baseline", sqlite.cpu_ratio(baseline));
        insert_spread(map, "syncs_per_s_ratio_to_baseline", sqlite.rate_ratio(baseline));
    }
    if let (Some(ours), Some(theirs)) = (find("this build", "postgres_1"), find("baseline", "postgres_1")) {
        insert_spread(map, "postgres_server_cpu_ratio_to_baseline", ours.cpu_ratio(theirs));
        insert_spread(map, "postgres_syncs_per_s_ratio_to_baseline", ours.rate_ratio(theirs));
    }
}

const SERVER_DEVICES: usize = 50;

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
async fn paced_run(devices: &[Device], per_device: usize) -> Paced {
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

/// The automerge-repo reference, run more than once between the timed rounds: one run of it
/// varies by half between runs minutes apart on this machine (300–469 syncs/s on one day), so a
/// ratio to a single run said more about that run than about fieldsync.
#[derive(Default)]
struct Reference {
    /// After which round (from 0) each run was made, and its JSON line.
    runs: Vec<(usize, serde_json::Value)>,
}

impl Reference {
    /// After which rounds the reference runs: `FIELDSYNC_BENCH_REFERENCE_RUNS` times (3 unless
    /// set; at most once a round), spread evenly, the last after the last round.
    fn schedule(rounds: usize) -> Vec<usize> {
        let wanted = match std::env::var("FIELDSYNC_BENCH_REFERENCE_RUNS") {
            Ok(text) => match text.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => panic!("FIELDSYNC_BENCH_REFERENCE_RUNS={text} is not a whole number of runs (1 or more)"),
            },
            Err(_) => DEFAULT_REFERENCE_RUNS,
        };
        let runs = wanted.min(rounds);
        (1..=runs).map(|k| k * rounds / runs - 1).collect()
    }

    /// `figure` of the runs: their median, lowest and highest (not a number without runs).
    fn figure(&self, figure: &str) -> Spread {
        let values: Vec<f64> = self.runs.iter().map(|(_, r)| r[figure].as_f64().unwrap_or(f64::NAN)).collect();
        if values.is_empty() {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        Spread::of_ratios(values)
    }

    /// `run`'s syncs per second over the reference's, round by round: each round against the
    /// reference run made next after it (the rounds since the run before).
    fn ratio(&self, run: &ServerRun) -> Spread {
        let ratios = run
            .rounds
            .iter()
            .enumerate()
            .map(|(n, round)| {
                let next = self.runs.iter().find(|(after, _)| *after >= n).or(self.runs.last());
                let reference = next.and_then(|(_, r)| r["syncs_per_s"].as_f64()).unwrap_or(f64::NAN);
                round.syncs_per_s() / reference
            })
            .collect();
        Spread::of_ratios(ratios)
    }
}

/// Runs of the automerge-repo reference unless `FIELDSYNC_BENCH_REFERENCE_RUNS` says otherwise.
const DEFAULT_REFERENCE_RUNS: usize = 3;

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
