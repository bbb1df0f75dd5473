//! The `sync` and `server` suites: a real server in a child process (so its CPU is measured
//! apart from the device's), devices with real stores and engines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{Customer, Identity, NewTicket};
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Client, Role};
use fieldsync_e2e::Dispatcher;
use fieldsync_server::{AppState, ServerConfig};
use serde_json::json;

use crate::{cpu_time_of, round};

/// Entry point of the child process: serve `data` (SQLite, or PostgreSQL at `database_url` with
/// blobs in `data`) on 127.0.0.1:0, print the port, stop when standard input closes.
pub fn serve_child(data: &Path, database_url: Option<&str>) {
    // Opened before the runtime: the PostgreSQL client blocks on a runtime of its own.
    let state = match database_url {
        Some(url) => AppState::open_postgres(url, data, ServerConfig::default()),
        None => AppState::open(data, ServerConfig::default()),
    }
    .expect("server state");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
            })
            .await;
        };
        fieldsync_server::serve(listener, state.clone(), stdin_closed).await.expect("serve");
    });
    drop(runtime);
    // Off the runtime, for the same reason.
    drop(state);
}

/// The server child process.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl ServerProcess {
    pub(crate) fn start(data: &Path) -> ServerProcess {
        Self::start_with(data, None)
    }

    /// A server on `data`, or on PostgreSQL at `database_url` with its blobs in `data`.
    fn start_with(data: &Path, database_url: Option<&str>) -> ServerProcess {
        let exe = std::env::current_exe().expect("exe");
        // A profiler may wrap the server (e.g. `FIELDSYNC_BENCH_SERVER_WRAPPER=heaptrack`).
        let wrapper = std::env::var_os("FIELDSYNC_BENCH_SERVER_WRAPPER");
        let mut child = wrapper
            .map_or_else(
                || Process::new(&exe),
                |w| {
                    let mut p = Process::new(w);
                    p.arg(&exe);
                    p
                },
            )
            .arg("__serve")
            .arg(data)
            .args(database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // A wrapper may print lines of its own first.
        let port = lines
            .find_map(|line| line.expect("ready line").trim().strip_prefix("PORT ").map(str::to_owned))
            .expect("PORT line");
        // Drained, so that what the wrapper prints at exit does not meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, url: format!("http://127.0.0.1:{port}") }
    }

    fn cpu(&self) -> Duration {
        cpu_time_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn ticket(n: usize, engineer: &str) -> NewTicket {
    NewTicket {
        title: format!("Job {n}: boiler service"),
        customer: Customer {
            name: format!("Customer {}", n % 97),
            address: format!("{n} Main St"),
            ..Default::default()
        },
        assignee: Some(engineer.into()),
        ..Default::default()
    }
}

/// Creates `count` tickets for `engineer`, a few requests in flight at a time.
async fn create_many(dispatcher: &Dispatcher, count: usize, engineer: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
        let news: Vec<NewTicket> = chunk.iter().map(|n| ticket(*n, engineer)).collect();
        ids.extend(futures_util::future::join_all(news.iter().map(|new| dispatcher.create(new))).await);
    }
    ids
}

fn device(dir: &Path, url: &str, user: &(String, String, String)) -> SyncEngine {
    let (user_id, device_id, token) = user.clone();
    let identity = Identity { user_id, device_id: device_id.clone(), role: Role::Engineer };
    let client = Client::open(dir.join(format!("{device_id}.sqlite")), identity).expect("store");
    SyncEngine::new(client, SyncConfig::new(url, token)).expect("engine")
}

fn heads_of(client: &Client, id: &str) -> (Automerge, Vec<ChangeHash>) {
    let doc = Automerge::load(&client.export(id).expect("export")).expect("load");
    let heads = doc.get_heads();
    (doc, heads)
}

/// Automerge's own sync protocol over the same documents: both peers start from the state
/// they persisted after their last sync (the shared heads), exchange messages until neither
/// has anything to say. Returns (bytes both ways, round trips for the slowest document).
fn reference_exchange(pairs: &mut [(Automerge, Automerge, Vec<ChangeHash>)]) -> (usize, u32) {
    let (mut bytes, mut round_trips) = (0, 0);
    for (device, server, shared) in pairs.iter_mut() {
        let mut device_state = State::new();
        device_state.shared_heads = shared.clone();
        let mut server_state = State::new();
        server_state.shared_heads = shared.clone();
        let mut rounds = 0;
        loop {
            let up = device.generate_sync_message(&mut device_state);
            let down = server.generate_sync_message(&mut server_state);
            if up.is_none() && down.is_none() {
                break;
            }
            rounds += 1;
            if let Some(message) = up {
                let encoded = message.encode();
                bytes += encoded.len();
                let decoded = Message::decode(&encoded).expect("decode");
                server.receive_sync_message(&mut server_state, decoded).expect("receive");
            }
            if let Some(message) = down {
                let encoded = message.encode();
                bytes += encoded.len();
                let decoded = Message::decode(&encoded).expect("decode");
                device.receive_sync_message(&mut device_state, decoded).expect("receive");
            }
        }
        round_trips = round_trips.max(rounds);
        assert_eq!(device.get_heads().len(), server.get_heads().len(), "reference converged");
    }
    (bytes, round_trips)
}

/// Reconnect with 1,000 tickets, 10% changed on each side; no-op; bootstrap of 10,000.
pub async fn sync_suite() -> serde_json::Value {
    const TICKETS: usize = 1_000;
    const CHANGED: usize = 100;
    const BOOTSTRAP: usize = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data");
    let (dispatcher_user, eli_user, zoe_user) = {
        let state = AppState::open(&data, ServerConfig::default()).expect("state");
        (
            state.add_user("dana", Role::Dispatcher).expect("user"),
            state.add_user("eli", Role::Engineer).expect("user"),
            state.add_user("zoe", Role::Engineer).expect("user"),
        )
    };
    let server = ServerProcess::start(&data);
    let dispatcher = Dispatcher::at(&server.url, &dispatcher_user.2);
    let ids = create_many(&dispatcher, TICKETS, "eli").await;
    let eli = device(dir.path(), &server.url, &eli_user);
    eli.sync_now().await.expect("bootstrap 1,000");
    let shared: Vec<Vec<ChangeHash>> = ids.iter().map(|id| heads_of(eli.client(), id).1).collect();

    // 10% changed on the phone, another 10% by the dispatcher.
    for id in &ids[..CHANGED] {
        eli.client().accept(id).expect("accept");
    }
    for id in &ids[CHANGED..2 * CHANGED] {
        dispatcher.act(id, &Command::AddNote { text: "Parts arrive Tuesday".into() }).await.expect("note");
    }
    let mut pairs = Vec::with_capacity(TICKETS);
    for (id, shared) in ids.iter().zip(&shared) {
        let device_doc = heads_of(eli.client(), id).0;
        pairs.push((device_doc, dispatcher.document(id).await, shared.clone()));
    }

    let (client_cpu, server_cpu) = (crate::cpu_time(), server.cpu());
    let reconnect = eli.sync_now().await.expect("reconnect");
    let client_cpu_ms = crate::cpu_time().saturating_sub(client_cpu).as_secs_f64() * 1_000.0;
    let server_cpu_ms = server.cpu().saturating_sub(server_cpu).as_secs_f64() * 1_000.0;
    let mut change_bytes = 0;
    for (id, shared) in ids[..2 * CHANGED].iter().zip(&shared) {
        let doc = heads_of(eli.client(), id).0;
        change_bytes += doc.get_changes(shared).iter().map(|c| c.raw_bytes().len()).sum::<usize>();
    }
    let reference_cpu = Instant::now();
    let (reference_bytes, reference_round_trips) = reference_exchange(&mut pairs);
    let reference_cpu_ms = reference_cpu.elapsed().as_secs_f64() * 1_000.0;
    let reconnect_bytes = reconnect.bytes_sent + reconnect.bytes_received;

    let noop = eli.sync_now().await.expect("no-op");
    let noop_bytes = noop.bytes_sent + noop.bytes_received;

    create_many(&dispatcher, BOOTSTRAP, "zoe").await;
    let zoe = device(dir.path(), &server.url, &zoe_user);
    let started = Instant::now();
    let bootstrap = zoe.sync_now().await.expect("bootstrap 10,000");
    let bootstrap_s = started.elapsed().as_secs_f64();
    assert_eq!(zoe.client().list(&Default::default()).expect("list").len(), BOOTSTRAP);

    eprintln!(
        "sync: reconnect (1,000 tickets, {CHANGED} changed on each side): {} round trip(s), {reconnect_bytes} bytes for {change_bytes} bytes of changes ({:.2}x); client CPU {client_cpu_ms:.1} ms, server CPU {server_cpu_ms:.1} ms",
        reconnect.round_trips,
        reconnect_bytes as f64 / change_bytes as f64
    );
    eprintln!(
        "sync: reference, Automerge's sync protocol per document from persisted state: {reference_bytes} bytes ({:.1}x ours), {reference_round_trips} round trip(s), {reference_cpu_ms:.1} ms CPU for both peers",
        reference_bytes as f64 / reconnect_bytes as f64
    );
    eprintln!("sync: no-op: {} round trip(s), {noop_bytes} bytes", noop.round_trips);
    eprintln!("sync: bootstrap of {BOOTSTRAP} tickets: {bootstrap_s:.2} s in {} round trip(s)", bootstrap.round_trips);
    json!({
        "suite": "sync",
        "reconnect_round_trips": reconnect.round_trips,
        "reconnect_bytes": reconnect_bytes,
        "reconnect_change_bytes": change_bytes,
        "reconnect_client_cpu_ms": round(client_cpu_ms),
        "reconnect_server_cpu_ms": round(server_cpu_ms),
        "reference_bytes": reference_bytes,
        "reference_round_trips": reference_round_trips,
        "reference_ratio": round(reference_bytes as f64 / reconnect_bytes as f64),
        "noop_round_trips": noop.round_trips,
        "noop_bytes": noop_bytes,
        "bootstrap_10000_s": round(bootstrap_s),
        "bootstrap_round_trips": bootstrap.round_trips,
    })
}

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
    backend: Backend,
    syncs: usize,
    syncs_per_s: f64,
    p50: f64,
    p99: f64,
    elapsed: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    /// Latency when the same devices together offer [`PACED_SYNCS_PER_S`].
    paced: Paced,
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

/// A fresh database on the cluster at `admin_url`, dropped with this. Blocking.
struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    fn create(admin_url: &str) -> BenchDatabase {
        let name = format!("fieldsync_bench_{}_{:08x}", std::process::id(), clock_nanos());
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls).expect("connect to PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the bench database");
        let settings: Vec<String> = ["fsync", "synchronous_commit"]
            .iter()
            .map(|s| {
                let value: String = admin.query_one(&format!("SHOW {s}"), &[]).map(|r| r.get(0)).unwrap_or_default();
                format!("{s}={value}")
            })
            .collect();
        eprintln!("server: PostgreSQL {} ({})", server_version(&mut admin), settings.join(", "));
        let url = fieldsync_server::storage::postgres::url_of_database(admin_url, &name).expect("PostgreSQL URL");
        BenchDatabase { admin_url: admin_url.to_owned(), name, url }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn server_version(admin: &mut postgres::Client) -> String {
    admin.query_one("SHOW server_version", &[]).map(|r| r.get::<_, String>(0)).unwrap_or_default()
}

fn clock_nanos() -> u32 {
    // Unique enough for a database name: the clock's nanoseconds.
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// Small incremental syncs per second with many devices at once, on SQLite and (when
/// `FIELDSYNC_BENCH_DATABASE_URL` names a PostgreSQL cluster, e.g. the URL
/// `scripts/postgres.sh start DIR` prints) on PostgreSQL with one and two server instances,
/// beside automerge-repo's sync server doing the same edits in the same run.
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
    let mut runs = Vec::new();
    for backend in backends {
        runs.push(server_run(backend).await);
    }
    let syncs = runs[0].syncs;
    let reference = automerge_repo_reference(SERVER_DEVICES, syncs);
    let reference_syncs_per_s = reference["syncs_per_s"].as_f64().unwrap_or(f64::NAN);
    let sqlite_syncs_per_s = runs[0].syncs_per_s;
    for run in &runs {
        eprintln!(
            "server: the same devices paced to offer {PACED_SYNCS_PER_S:.0} syncs/s ({}): {:.0}/s carried, p50 {:.2} ms, p99 {:.2} ms (from each sync's scheduled time; the sync alone p99 {:.2} ms)",
            run.backend.label(),
            run.paced.syncs_per_s,
            run.paced.p50,
            run.paced.p99,
            run.paced.sync_only_p99,
        );
        eprintln!(
            "server: {} small syncs from {SERVER_DEVICES} devices at once, none pausing ({}): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms; CPU over {:.2} s: server(s) {:.2} s ({:.2} ms/sync), the devices {:.2} s; ratio to automerge-repo {:.2}, to SQLite {:.2}",
            run.syncs,
            run.backend.label(),
            run.syncs_per_s,
            run.p50,
            run.p99,
            run.elapsed,
            run.server_cpu_s,
            run.server_cpu_s * 1_000.0 / run.syncs as f64,
            run.client_cpu_s,
            run.syncs_per_s / reference_syncs_per_s,
            run.syncs_per_s / sqlite_syncs_per_s,
        );
    }
    eprintln!(
        "server: reference automerge-repo sync server, same edits: {reference_syncs_per_s:.0}/s, p50 {} ms, p99 {} ms",
        reference["p50_ms"], reference["p99_ms"],
    );
    let sqlite = &runs[0];
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
        "server_cpu_ms_per_sync": round(sqlite.server_cpu_s * 1_000.0 / syncs as f64),
        "devices_cpu_s": round(sqlite.client_cpu_s),
        "reference": "automerge-repo",
        "reference_syncs_per_s": round(reference_syncs_per_s),
        "reference_p50_ms": reference["p50_ms"],
        "reference_p99_ms": reference["p99_ms"],
        "ratio": round(sqlite.syncs_per_s / reference_syncs_per_s),
    });
    if let Some(map) = out.as_object_mut() {
        for run in &runs[1..] {
            let key = run.backend.key();
            map.insert(format!("{key}_syncs_per_s"), json!(round(run.syncs_per_s)));
            map.insert(format!("{key}_p50_ms"), json!(round(run.paced.p50)));
            map.insert(format!("{key}_p99_ms"), json!(round(run.paced.p99)));
            map.insert(format!("{key}_saturated_p50_ms"), json!(round(run.p50)));
            map.insert(format!("{key}_saturated_p99_ms"), json!(round(run.p99)));
            map.insert(format!("{key}_ratio"), json!(round(run.syncs_per_s / reference_syncs_per_s)));
            map.insert(format!("{key}_ratio_to_sqlite"), json!(round(run.syncs_per_s / sqlite_syncs_per_s)));
        }
    }
    out
}

const SERVER_DEVICES: usize = 50;

/// The `server` suite's timed part on one backend: every device in turn edits one of its
/// tickets and syncs it, all devices at once; devices are spread over the instances.
async fn server_run(backend: Backend) -> ServerRun {
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
            (Some(database), *instances)
        }
    };
    let database_url = database.as_ref().map(|d| d.url.clone());
    let (dispatcher_user, users) = {
        let (data, url) = (data.clone(), database_url.clone());
        // Blocking (and, for PostgreSQL, on a runtime of its own): off the async threads.
        tokio::task::spawn_blocking(move || {
            let state = match &url {
                Some(url) => AppState::open_postgres(url, &data, ServerConfig::default()),
                None => AppState::open(&data, ServerConfig::default()),
            }
            .expect("state");
            let users: Vec<_> = (0..SERVER_DEVICES)
                .map(|n| state.add_user(&format!("eng{n}"), Role::Engineer).expect("user"))
                .collect();
            (state.add_user("dana", Role::Dispatcher).expect("user"), users)
        })
        .await
        .expect("users")
    };
    let servers: Vec<ServerProcess> =
        (0..instances).map(|_| ServerProcess::start_with(&data, database_url.as_deref())).collect();
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
    latencies.sort();
    let syncs = latencies.len();
    let (p50, p99) = (crate::percentile(&latencies, 0.5), crate::percentile(&latencies, 0.99));
    let paced = paced_run(&devices, PACED_SYNCS_PER_DEVICE).await;
    drop(servers);
    if let Some(database) = database {
        tokio::task::spawn_blocking(move || drop(database)).await.expect("drop database");
    }
    ServerRun {
        backend,
        syncs,
        syncs_per_s: syncs as f64 / elapsed,
        p50,
        p99,
        elapsed,
        server_cpu_s,
        client_cpu_s,
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
