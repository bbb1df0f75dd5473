//! The `sync` suite: reconnect, no-op and bootstrap syncs of devices with real stores and
//! engines against a real server in a child process (so its CPU is measured apart from the
//! device's); the bootstrap also against a baseline server binary when
//! `FIELDSYNC_BENCH_BASELINE` names one.

use std::path::Path;
use std::time::Instant;

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{Customer, Identity, NewTicket};
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::{Client, Role};
use fieldsync_e2e::Dispatcher;
use serde_json::json;

use crate::round;
use crate::server_process::{Build, ServerProcess, User};

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
pub(crate) async fn create_many(dispatcher: &Dispatcher, count: usize, engineer: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
        let news: Vec<NewTicket> = chunk.iter().map(|n| ticket(*n, engineer)).collect();
        ids.extend(futures_util::future::join_all(news.iter().map(|new| dispatcher.create(new))).await);
    }
    ids
}

pub(crate) fn device(dir: &Path, url: &str, user: &User) -> SyncEngine {
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
    let (dispatcher_user, users) = Build::Current.add_users(&data, None, &["eli".to_owned()], "dana");
    let eli_user = &users[0];
    let server = ServerProcess::start(&data);
    let dispatcher = Dispatcher::at(&server.url, &dispatcher_user.2);
    let ids = create_many(&dispatcher, TICKETS, "eli").await;
    let eli = device(dir.path(), &server.url, eli_user);
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

    drop(server);

    // The bootstrap on a fresh server of each build, the baseline's first.
    let mut builds: Vec<Build> = Build::baseline_from_env().into_iter().collect();
    builds.push(Build::Current);
    let mut bootstraps = Vec::new();
    for build in builds {
        bootstraps.push(bootstrap_run(build, BOOTSTRAP).await);
    }
    let bootstrap = bootstraps.last().expect("this build's bootstrap");
    let baseline = bootstraps.iter().find(|b| matches!(b.build, Build::Baseline(_)));

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
    for run in &bootstraps {
        eprintln!(
            "sync [{}]: bootstrap of {BOOTSTRAP} tickets: {:.2} s in {} round trip(s), server CPU {:.0} ms",
            run.build.label(),
            run.seconds,
            run.round_trips,
            run.server_cpu_ms
        );
    }
    let mut out = json!({
        "suite": "sync",
        "server": crate::server_process::measured_server(),
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
        "bootstrap_10000_s": round(bootstrap.seconds),
        "bootstrap_round_trips": bootstrap.round_trips,
        "bootstrap_server_cpu_ms": round(bootstrap.server_cpu_ms),
    });
    if let (Some(baseline), Some(map)) = (baseline, out.as_object_mut()) {
        map.insert("baseline_bootstrap_10000_s".into(), json!(round(baseline.seconds)));
        map.insert("baseline_bootstrap_server_cpu_ms".into(), json!(round(baseline.server_cpu_ms)));
        map.insert("bootstrap_ratio_to_baseline".into(), json!(round(bootstrap.seconds / baseline.seconds)));
        map.insert(
            "bootstrap_server_cpu_ratio_to_baseline".into(),
            json!(round(bootstrap.server_cpu_ms / baseline.server_cpu_ms)),
        );
    }
    out
}

/// One device's first sync of `count` tickets.
struct Bootstrap {
    build: Build,
    seconds: f64,
    round_trips: u32,
    server_cpu_ms: f64,
}

/// A fresh server of `build` with `count` tickets for one engineer, whose new device then
/// syncs them all: the time until the device holds every one.
async fn bootstrap_run(build: Build, count: usize) -> Bootstrap {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data");
    let (dispatcher_user, users) = {
        let (data, build) = (data.clone(), build.clone());
        tokio::task::spawn_blocking(move || build.add_users(&data, None, &["zoe".to_owned()], "dana"))
            .await
            .expect("users")
    };
    let server = ServerProcess::start_with(&build, &data, None);
    let dispatcher = Dispatcher::at(&server.url, &dispatcher_user.2);
    create_many(&dispatcher, count, "zoe").await;
    let zoe = device(dir.path(), &server.url, &users[0]);
    let server_cpu = server.cpu();
    let started = Instant::now();
    let report = zoe.sync_now().await.expect("bootstrap");
    let seconds = started.elapsed().as_secs_f64();
    let server_cpu_ms = server.cpu().saturating_sub(server_cpu).as_secs_f64() * 1_000.0;
    assert_eq!(zoe.client().list(&Default::default()).expect("list").len(), count);
    Bootstrap { build, seconds, round_trips: report.round_trips, server_cpu_ms }
}
