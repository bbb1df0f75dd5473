//! The chaos harness: engineer devices work their tickets (status moves, notes, parts, time,
//! checklist, feedback and photos) while every sync and blob upload crosses a proxy that drops,
//! resets, delays, truncates, duplicates and reorders requests at random
//! ([`fieldsync_e2e::proxy`]), the server restarts now and then, and the dispatcher adds notes
//! on the server meanwhile. Once the faults stop, every device must converge to the server's
//! exact history with every record it wrote there once and every photo's bytes on the server.
//! The run prints its figures (faults, convergence, duplicates, lost records, the longest time
//! a device's upload queue made no progress once the faults stopped) and fails on any breach.
//!
//! Scale: `FIELDSYNC_CHAOS_DEVICES` (default 10) devices × `FIELDSYNC_CHAOS_ACTIONS` (default
//! 100) actions each; the long run (docs/adr/0010) is
//! `FIELDSYNC_CHAOS_DEVICES=50 FIELDSYNC_CHAOS_ACTIONS=200 cargo test --release -p fieldsync-e2e
//! --test faults -- --nocapture devices_behind`. The seed is printed;
//! `FIELDSYNC_FAULT_SEED=<seed>` replays the same draws (the interleaving of the tasks still
//! varies from run to run).
//!
//! The second test is a scripted regression test for a bug this kind of fault exposed: a sync
//! request delivered twice whose answer is cut (`more`) kept a dispatcher change from the
//! device, because two answers with the same cursor carried different heads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use fieldsync_core::actions::Command;
use fieldsync_core::model::doc::read_ticket;
use fieldsync_core::model::{
    Customer, Identity, ListFilter, Location, NewPhoto, NewTicket, PhotoInput, PhotoMeta, Site, Ticket,
};
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncError};
use fieldsync_core::{Client, Role, Status};
use fieldsync_e2e::proxy::{Fault, Proxy, forward, read_request, with_connection_close};
use fieldsync_e2e::{Dispatcher, TestServer, camera_jpeg, sorted_heads};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TICKETS_EACH: usize = 2;
/// Chance of a sync attempt before each action.
const SYNC_CHANCE: f64 = 0.25;
/// Chance that an action on an active ticket is a photo.
const PHOTO_CHANCE: f64 = 0.05;
/// Small upload requests, so faults land in the middle of photo uploads.
const UPLOAD_CHUNK_BYTES: usize = 8 * 1024;
/// Syncs each device gets, with faults off, to report nothing pending.
const MAX_CLEAN_SYNCS: usize = 10;

/// How big a run is: devices × actions each.
#[derive(Clone, Copy)]
struct Scale {
    devices: usize,
    actions: usize,
}

impl Scale {
    fn from_env() -> Scale {
        let number = |name: &str, default: usize| match std::env::var(name) {
            Ok(value) => value.trim().parse().unwrap_or_else(|_| panic!("{name} is a number")),
            Err(_) => default,
        };
        Scale { devices: number("FIELDSYNC_CHAOS_DEVICES", 10), actions: number("FIELDSYNC_CHAOS_ACTIONS", 100) }
    }

    /// Bound on a device's faulty phase, so a wedged device cannot keep the run going.
    fn max_steps(self) -> usize {
        self.actions * 4
    }

    /// How long a device's faulty phase may take (2 cores shared by every device and the server).
    fn max_faulty_phase(self) -> Duration {
        Duration::from_secs(120).max(Duration::from_millis(40 * (self.devices * self.actions) as u64))
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario

fn job(title: &str, engineer: &str) -> NewTicket {
    NewTicket {
        title: title.into(),
        customer: Customer { name: "ACME".into(), address: "1 Main St".into(), ..Default::default() },
        site: Some(Site { lat: 52.3702, lon: 4.8952, radius_m: 150.0 }),
        assignee: Some(engineer.into()),
        checklist: vec!["isolate power".into(), "test run".into()],
        ..Default::default()
    }
}

fn here() -> Location {
    Location { lat: 52.3703, lon: 4.8953, accuracy_m: 5.0 }
}

/// What a device wrote, by ticket: ids of events, notes, parts and time entries; photos.
#[derive(Default)]
struct Written {
    events: Vec<(String, String)>,
    notes: Vec<(String, String)>,
    parts: Vec<(String, String)>,
    times: Vec<(String, String)>,
    photos: Vec<(String, PhotoMeta)>,
}

#[derive(Default)]
struct Outcome {
    written: Written,
    actions: usize,
    refused: usize,
    sync_ok: u64,
    sync_failed: u64,
    errors: BTreeMap<String, u64>,
    rejected: Vec<(String, String)>,
    failed: Vec<(String, String)>,
    upload_refused: Vec<(String, String)>,
}

struct Engineer {
    user: String,
    engine: SyncEngine,
    tickets: Vec<String>,
}

impl Engineer {
    fn client(&self) -> &Client {
        self.engine.client()
    }

    fn heads(&self, id: &str) -> Vec<ChangeHash> {
        sorted_heads(&Automerge::load(&self.client().export(id).expect("export")).expect("load"))
    }

    /// Tickets with unsynced changes plus bytes of photos not uploaded yet.
    fn backlog(&self) -> u64 {
        let pending = self.client().pending_count().expect("pending");
        let (_, upload_bytes) = self.client().pending_upload_totals().expect("uploads");
        pending + upload_bytes
    }
}

fn error_kind(e: &SyncError) -> String {
    match e {
        SyncError::Offline => "offline".into(),
        SyncError::Network(_) => "network".into(),
        SyncError::Tls(_) => "tls".into(),
        SyncError::Internal(_) => "internal".into(),
        SyncError::Unauthorized => "unauthorized".into(),
        SyncError::Server { status, .. } => format!("server {status}"),
        SyncError::Protocol(_) => "protocol".into(),
        SyncError::Local(_) => "local".into(),
        SyncError::ForeignToken { .. } => "foreign token".into(),
        SyncError::Closed => "closed".into(),
    }
}

/// One sync attempt; failures are expected while faults are on and only counted.
async fn try_sync(engine: &SyncEngine, outcome: &mut Outcome) -> bool {
    match engine.sync_now().await {
        Ok(report) => {
            outcome.sync_ok += 1;
            outcome.rejected.extend(report.rejected);
            outcome.failed.extend(report.failed);
            outcome.upload_refused.extend(report.uploads.refused);
            true
        }
        Err(e) => {
            outcome.sync_failed += 1;
            *outcome.errors.entry(error_kind(&e)).or_default() += 1;
            false
        }
    }
}

/// A valid next action for a ticket in `ticket`'s state, by its assignee; `None` when nothing
/// fits. Status moves are listed more than once so tickets progress; completion comes late, and
/// only where `may_complete` (a device keeps one ticket open: a completed ticket takes nothing
/// but its one feedback, so a device whose tickets all completed would run out of steps).
fn choose(ticket: &Ticket, step: usize, actions: usize, may_complete: bool, rng: &mut StdRng) -> Option<Command> {
    let n = rng.random_range(0..1000u32);
    let content = [
        Command::AddNote { text: format!("note {n} on {}", ticket.id) },
        Command::AddPart { sku: format!("SKU-{}", n % 7), qty: 1 + n % 3 },
        Command::LogTime { minutes: 1 + n % 120, kind: if n % 2 == 0 { "labour" } else { "travel" }.into() },
        Command::SetChecklistItem {
            item: if n % 2 == 0 { "isolate power" } else { "test run" }.into(),
            done: n % 3 != 0,
        },
    ];
    // Feedback is written once.
    let feedback = Command::RecordFeedback { rating: 1 + (n % 5) as u8, comment: format!("feedback {n}") };
    let feedback: Vec<Command> = if ticket.feedback.is_none() { vec![feedback] } else { Vec::new() };
    let late = may_complete && step >= actions * 7 / 10 && rng.random_bool(0.3);
    let mut options: Vec<Command> = Vec::new();
    match ticket.status {
        Status::Dispatched => options.push(Command::Accept),
        Status::Accepted => {
            options.extend([
                Command::StartTravel { eta: None },
                Command::StartTravel { eta: None },
                Command::CheckIn { location: here() },
            ]);
            options.extend(content);
        }
        Status::Travelling => {
            options.extend([Command::CheckIn { location: here() }, Command::CheckIn { location: here() }]);
            options.extend(content);
        }
        Status::OnSite => {
            options.extend([Command::StartWork, Command::StartWork, Command::Pause]);
            options.extend(feedback);
            options.extend(content);
        }
        Status::Working => {
            options.extend([Command::Pause]);
            options.extend(feedback);
            options.extend(content);
        }
        Status::Paused => {
            options.extend([Command::Resume, Command::Resume]);
            options.extend(feedback);
            options.extend(content);
        }
        Status::Completed => options.extend(feedback),
        _ => {}
    }
    if late && matches!(ticket.status, Status::OnSite | Status::Working | Status::Paused) {
        return Some(Command::Complete { summary: format!("done at step {step}") });
    }
    if options.is_empty() {
        return None;
    }
    let at = rng.random_range(0..options.len());
    Some(options.swap_remove(at))
}

/// Runs `command` and returns the ticket as it is right after (blocking: SQLite and fsync).
fn act(client: &Client, id: &str, command: Command) -> Result<Ticket, fieldsync_core::Error> {
    client.run(id, command)?;
    client.get(id)
}

fn record(written: &mut Written, user: &str, id: &str, command: &Command, after: &Ticket) {
    let id = id.to_owned();
    match command {
        Command::AddNote { text } => {
            let note = after.notes.last().expect("a note");
            assert_eq!(&note.text, text, "the last note is the one just added");
            written.notes.push((id, note.id.clone()));
        }
        Command::AddPart { sku, .. } => {
            let part = after.parts.last().expect("a part");
            assert_eq!(&part.sku, sku);
            written.parts.push((id, part.id.clone()));
        }
        Command::LogTime { minutes, .. } => {
            let entry = after.time_entries.last().expect("a time entry");
            assert_eq!(entry.minutes, *minutes);
            written.times.push((id, entry.id.clone()));
        }
        Command::SetChecklistItem { .. } | Command::RecordFeedback { .. } => {}
        _ => {
            let event = after.events.last().expect("an event");
            assert_eq!(event.by, user, "the last event is the one just recorded");
            written.events.push((id, event.id.clone()));
        }
    }
}

/// One engineer's faulty phase: actions and photos on its tickets with sync attempts between.
async fn work(engineer: Arc<Engineer>, seed: u64, scale: Scale) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcome = Outcome::default();
    let client = engineer.client().clone();
    for _ in 0..scale.max_steps() {
        if outcome.actions >= scale.actions {
            break;
        }
        let held = client.list(&ListFilter::default()).expect("list").len();
        if held < engineer.tickets.len() || rng.random_bool(SYNC_CHANCE) {
            try_sync(&engineer.engine, &mut outcome).await;
            continue;
        }
        let id = engineer.tickets[rng.random_range(0..engineer.tickets.len())].clone();
        let (c, i) = (client.clone(), id.clone());
        let ticket = tokio::task::spawn_blocking(move || c.get(&i)).await.expect("get task").expect("get");
        let active = matches!(
            ticket.status,
            Status::Accepted | Status::Travelling | Status::OnSite | Status::Working | Status::Paused
        );
        if active && rng.random_bool(PHOTO_CHANCE) {
            // Each photo differs (its own seed), so each is a new blob and a new upload.
            let jpeg = camera_jpeg(320, 240, rng.random());
            let photo =
                NewPhoto { source: PhotoInput::Bytes(jpeg), caption: "meter".into(), taken_at: None, location: None };
            match client.add_photo(&id, photo).await {
                Ok(meta) => {
                    outcome.written.photos.push((id, meta));
                    outcome.actions += 1;
                }
                Err(_) => outcome.refused += 1,
            }
            continue;
        }
        let may_complete = id != engineer.tickets[0];
        let Some(command) = choose(&ticket, outcome.actions, scale.actions, may_complete, &mut rng) else {
            outcome.refused += 1;
            continue;
        };
        let (c, i, cmd) = (client.clone(), id.clone(), command.clone());
        match tokio::task::spawn_blocking(move || act(&c, &i, cmd)).await.expect("action task") {
            Ok(after) => {
                record(&mut outcome.written, &engineer.user, &id, &command, &after);
                outcome.actions += 1;
            }
            // A refusal is fine (the choice is only a guess); it is not an action taken.
            Err(_) => outcome.refused += 1,
        }
    }
    outcome
}

/// Once the faults stop: syncs until nothing is pending (bounded); returns the longest time
/// the device's backlog (pending tickets, upload bytes) did not shrink, counted from the moment
/// the faults stopped, the syncs made and the backlog left.
async fn drain(engineer: &Engineer, faults_stopped: Instant) -> (Duration, u64, u64) {
    let mut backlog = engineer.backlog();
    let (mut last_progress, mut longest, mut syncs) = (faults_stopped, Duration::ZERO, 0);
    for _ in 0..MAX_CLEAN_SYNCS {
        if backlog == 0 {
            break;
        }
        syncs += 1;
        if let Err(e) = engineer.engine.sync_now().await {
            panic!("a sync of {} failed with faults off: {e}", engineer.user);
        }
        let now = engineer.backlog();
        if now < backlog {
            longest = longest.max(last_progress.elapsed());
            last_progress = Instant::now();
        }
        backlog = now;
    }
    if backlog > 0 {
        longest = longest.max(last_progress.elapsed());
    }
    (longest, syncs, backlog)
}

fn seed() -> u64 {
    match std::env::var("FIELDSYNC_FAULT_SEED") {
        Ok(value) => value.trim().parse().expect("FIELDSYNC_FAULT_SEED is a number"),
        Err(_) => rand::random(),
    }
}

fn count_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    counts
}

/// The ids of a ticket's records, by list: events, notes, parts, time entries.
fn record_ids(ticket: &Ticket) -> [(&'static str, Vec<&str>); 4] {
    [
        ("event", ticket.events.iter().map(|e| e.id.as_str()).collect()),
        ("note", ticket.notes.iter().map(|n| n.id.as_str()).collect()),
        ("part", ticket.parts.iter().map(|p| p.id.as_str()).collect()),
        ("time entry", ticket.time_entries.iter().map(|t| t.id.as_str()).collect()),
    ]
}

impl Written {
    /// (ticket, record) ids by list, in [`record_ids`]'s order.
    fn lists(&self) -> [&Vec<(String, String)>; 4] {
        [&self.events, &self.notes, &self.parts, &self.times]
    }
}

/// Records (or photos) that appear more than once in `ticket`, each named.
fn duplicates_in(ticket: &Ticket, whose: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (what, ids) in record_ids(ticket) {
        for (id, n) in count_ids(ids) {
            if n > 1 {
                found.push(format!("{whose}: {what} {id} is {n} times in {}", ticket.id));
            }
        }
    }
    for (sha, n) in count_ids(ticket.photos.iter().map(|p| p.sha256.as_str())) {
        if n > 1 {
            found.push(format!("{whose}: photo {sha} is {n} times in {}", ticket.id));
        }
    }
    found
}

/// Restarts the server at random moments until told to stop; returns how many times.
fn restart_now_and_then(
    server: Arc<tokio::sync::Mutex<TestServer>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    seed: u64,
) -> JoinHandle<u32> {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut restarts = 0;
        loop {
            let pause = Duration::from_millis(rng.random_range(500..3000));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => break,
            }
            server.lock().await.restart().await;
            restarts += 1;
        }
        restarts
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_behind_a_faulty_network_converge_without_loss_or_duplicates() {
    let seed = seed();
    let scale = Scale::from_env();
    println!(
        "chaos: {} devices x {} actions, fault seed {seed} (replay with FIELDSYNC_FAULT_SEED={seed})",
        scale.devices, scale.actions
    );
    let started = Instant::now();

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let (_, _, token) = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Arc::new(Dispatcher::new(&server, &token));
    let proxy = Proxy::start(server.addr, seed).await;

    let mut engineers = Vec::new();
    for n in 0..scale.devices {
        let (user_id, device_id, token) = server.add_user(&format!("eng{n}"), Role::Engineer);
        let mut tickets = Vec::new();
        for t in 0..TICKETS_EACH {
            tickets.push(dispatcher.create(&job(&format!("job {t} of eng{n}"), &user_id)).await);
        }
        let identity = Identity { user_id: user_id.clone(), device_id: device_id.clone(), role: Role::Engineer };
        let client = Client::open(dir.path().join(format!("{device_id}.sqlite")), identity).expect("open store");
        // A bounded wait per request: the proxy never holds one longer than its 300 ms delays.
        let config = SyncConfig {
            request_timeout: Duration::from_secs(10),
            upload_chunk_bytes: UPLOAD_CHUNK_BYTES,
            ..SyncConfig::new(proxy.url(), token)
        };
        let engine = SyncEngine::new(client, config).expect("engine");
        engineers.push(Arc::new(Engineer { user: user_id, engine, tickets }));
    }
    let all_tickets: Vec<String> = engineers.iter().flat_map(|e| e.tickets.clone()).collect();

    // Phase 1: faults on; devices act and sync concurrently, the dispatcher adds notes, the
    // server restarts now and then.
    let server = Arc::new(tokio::sync::Mutex::new(server));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let restarts = restart_now_and_then(server.clone(), stop_rx.clone(), seed ^ 0x5E4_7A47);
    let notes_task = tokio::spawn({
        let (dispatcher, tickets, mut stop) = (dispatcher.clone(), all_tickets.clone(), stop_rx);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xD15_9A7C4);
        let max_notes = 10 * scale.devices;
        async move {
            let mut added: Vec<(String, String)> = Vec::new();
            let mut refused = 0u32;
            for n in 0..max_notes {
                if *stop.borrow() {
                    break;
                }
                let id = tickets[rng.random_range(0..tickets.len())].clone();
                let text = format!("dispatcher note {n}");
                // Refused (the server was restarting): the note may or may not be there, so
                // only notes the server confirmed are checked.
                match dispatcher.act(&id, &Command::AddNote { text: text.clone() }).await {
                    Ok(()) => added.push((id, text)),
                    Err(_) => refused += 1,
                }
                // Pacing between the dispatcher's edits (simulated time between clicks).
                let pause = Duration::from_millis(rng.random_range(50..350));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
            (added, refused)
        }
    });
    let tasks: Vec<_> = engineers
        .iter()
        .enumerate()
        .map(|(n, engineer)| tokio::spawn(work(engineer.clone(), seed.wrapping_add(n as u64 + 1), scale)))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let outcome = tokio::time::timeout(scale.max_faulty_phase(), task)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: a device's faulty phase took over {:?}", scale.max_faulty_phase()))
            .expect("device task");
        outcomes.push(outcome);
    }
    stop_tx.send(true).expect("stop the restarts and the dispatcher");
    let restarts = restarts.await.expect("restart task");
    let (dispatcher_notes, dispatcher_refused) = notes_task.await.expect("dispatcher task");
    let faulty_phase = started.elapsed();

    // Phase 2: faults off; every device syncs until nothing is pending (bounded), all at once.
    proxy.set_faults(false);
    let faults_stopped = Instant::now();
    let draining: Vec<_> = engineers
        .iter()
        .map(|engineer| {
            let engineer = engineer.clone();
            tokio::spawn(async move { drain(&engineer, faults_stopped).await })
        })
        .collect();
    let mut drained = Vec::new();
    for task in draining {
        drained.push(task.await.expect("drain task"));
    }
    let longest_stall = drained.iter().map(|(stall, _, _)| *stall).max().unwrap_or_default();
    let mut clean_syncs: u64 = drained.iter().map(|(_, syncs, _)| syncs).sum();
    let still_pending: Vec<&str> =
        engineers.iter().zip(&drained).filter(|(_, d)| d.2 > 0).map(|(e, _)| e.user.as_str()).collect();
    // Reordered requests still on their way arrive now, stale; then a last sync each.
    let all_delivered = proxy.deliver_held(Duration::from_secs(10)).await;
    for engineer in &engineers {
        clean_syncs += 1;
        if let Err(e) = engineer.engine.sync_now().await {
            panic!("seed {seed}: final sync of {} failed with faults off: {e}", engineer.user);
        }
    }
    let clean_phase = faults_stopped.elapsed();

    // The checks, counted first and asserted after the report.
    let mut server_tickets = HashMap::new();
    for id in &all_tickets {
        let document = dispatcher.document(id).await;
        server_tickets.insert(id.clone(), (sorted_heads(&document), read_ticket(&document).expect("server ticket")));
    }
    let mut duplicates = Vec::new();
    let mut everywhere = HashSet::new();
    for (_, ticket) in server_tickets.values() {
        duplicates.extend(duplicates_in(ticket, "server"));
        for id in record_ids(ticket).into_iter().flat_map(|(_, ids)| ids) {
            if !everywhere.insert(id) {
                duplicates.push(format!("server: record {id} is in more than one ticket"));
            }
        }
    }
    let (mut diverged, mut lost, mut lost_blobs) = (Vec::new(), Vec::new(), Vec::new());
    let mut records_checked = 0usize;
    for (engineer, outcome) in engineers.iter().zip(&outcomes) {
        let mut held: Vec<String> =
            engineer.client().list(&ListFilter::default()).expect("list").into_iter().map(|t| t.id).collect();
        held.sort();
        let mut own = engineer.tickets.clone();
        own.sort();
        assert_eq!(held, own, "seed {seed}: {} holds exactly its own tickets", engineer.user);
        for id in &engineer.tickets {
            let (server_heads, on_server) = &server_tickets[id];
            if &engineer.heads(id) != server_heads {
                diverged.push(format!("{} and the server differ on {id}", engineer.user));
            }
            let on_device = engineer.client().get(id).expect("device ticket");
            duplicates.extend(duplicates_in(&on_device, &engineer.user));
            assert!(on_server.conflicts.is_empty(), "seed {seed}: conflicts on {id}: {:?}", on_server.conflicts);
            for (_, text) in dispatcher_notes.iter().filter(|(t, _)| t == id) {
                records_checked += 1;
                if !on_device.notes.iter().any(|n| &n.text == text) {
                    lost.push(format!("dispatcher's {text:?} on {id} is not on {}'s device", engineer.user));
                }
            }
        }
        for (n, written) in outcome.written.lists().into_iter().enumerate() {
            for (ticket_id, record_id) in written {
                records_checked += 1;
                let lists = record_ids(&server_tickets[ticket_id].1);
                let (what, on_server) = lists.into_iter().nth(n).expect("four lists");
                if !on_server.contains(&record_id.as_str()) {
                    lost.push(format!("{what} {record_id} by {} is not on the server's {ticket_id}", engineer.user));
                }
            }
        }
        for (ticket_id, photo) in &outcome.written.photos {
            records_checked += 1;
            if !server_tickets[ticket_id].1.photos.iter().any(|p| p.sha256 == photo.sha256) {
                lost.push(format!("photo {} by {} is not on the server's {ticket_id}", photo.sha256, engineer.user));
            }
            for sha in [&photo.sha256, &photo.thumbnail_sha256] {
                let on_device = engineer.client().blob(sha).expect("blob").expect("the device keeps its photo");
                if dispatcher.fetch_blob(sha).await.as_deref() != Some(on_device.as_slice()) {
                    lost_blobs.push(format!("blob {sha} of {} is not whole on the server", engineer.user));
                }
            }
        }
        let summaries = engineer.client().list(&ListFilter::default()).expect("list");
        assert!(summaries.iter().all(|s| !s.pending && s.rejected.is_none()), "seed {seed}: {summaries:?}");
        assert!(outcome.rejected.is_empty(), "seed {seed}: valid pushes refused: {:?}", outcome.rejected);
        assert!(outcome.failed.is_empty(), "seed {seed}: updates not merged: {:?}", outcome.failed);
        assert!(outcome.upload_refused.is_empty(), "seed {seed}: uploads refused: {:?}", outcome.upload_refused);
    }

    // The report.
    let total = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in &outcomes {
        for (kind, n) in &outcome.errors {
            *errors.entry(kind.clone()).or_default() += n;
        }
    }
    let written = |f: fn(&Written) -> usize| outcomes.iter().map(|o| f(&o.written)).sum::<usize>();
    let stats = proxy.stats();
    println!("faults injected:");
    for fault in Fault::ALL {
        println!("  {fault:?}: {}", proxy.injected(fault));
    }
    println!(
        "proxy: {} connections, {} upstream requests, {} aborted by the proxy; server restarts: {restarts}",
        stats.connections.load(Ordering::Relaxed),
        stats.upstream_requests.load(Ordering::Relaxed),
        stats.proxy_errors.load(Ordering::Relaxed),
    );
    println!(
        "devices: {} x {} actions = {} ({} refused or skipped), syncs {} ok / {} failed {errors:?}; {clean_syncs} syncs once faults stopped",
        scale.devices,
        scale.actions,
        outcomes.iter().map(|o| o.actions).sum::<usize>(),
        outcomes.iter().map(|o| o.refused).sum::<usize>(),
        total(|o| o.sync_ok),
        total(|o| o.sync_failed),
    );
    println!(
        "written: {} events, {} notes, {} parts, {} time entries, {} photos; dispatcher notes {} ({} refused)",
        written(|w| w.events.len()),
        written(|w| w.notes.len()),
        written(|w| w.parts.len()),
        written(|w| w.times.len()),
        written(|w| w.photos.len()),
        dispatcher_notes.len(),
        dispatcher_refused,
    );
    println!(
        "result: {} tickets, {} converged, {} diverged; {records_checked} records checked, {} lost, {} duplicates, {} blobs missing; {} devices still pending",
        all_tickets.len(),
        all_tickets.len() - diverged.len(),
        diverged.len(),
        lost.len(),
        duplicates.len(),
        lost_blobs.len(),
        still_pending.len(),
    );
    println!(
        "time: faulty phase {} ms, clean phase {} ms, longest upload queue without progress once faults stopped {} ms; whole run {:.1} s",
        faulty_phase.as_millis(),
        clean_phase.as_millis(),
        longest_stall.as_millis(),
        started.elapsed().as_secs_f64()
    );
    assert!(diverged.is_empty(), "seed {seed}: diverged: {diverged:?}");
    assert!(lost.is_empty(), "seed {seed}: lost: {lost:?}");
    assert!(duplicates.is_empty(), "seed {seed}: duplicates: {duplicates:?}");
    assert!(lost_blobs.is_empty(), "seed {seed}: blobs: {lost_blobs:?}");
    assert!(still_pending.is_empty(), "seed {seed}: pending after {MAX_CLEAN_SYNCS} clean syncs: {still_pending:?}");
    assert!(all_delivered, "seed {seed}: reordered requests were still held 10 s after the faults stopped");
    for outcome in &outcomes {
        assert_eq!(outcome.actions, scale.actions, "seed {seed}: a device ran out of steps");
    }
    for fault in Fault::ALL {
        assert!(proxy.injected(fault) > 0, "seed {seed}: fault {fault:?} never happened");
    }
    assert!(restarts > 0, "seed {seed}: the server never restarted");
    assert!(total(|o| o.sync_failed) > 0, "seed {seed}: no sync ever failed");
    let _ = &dir;
}

// Kept in a folder of its own so cargo does not build it as a test target by itself.
#[path = "faults/replay.rs"]
mod replay;
