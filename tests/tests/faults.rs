//! Sync through a faulty network: ten engineer devices work their tickets while every sync
//! request crosses a proxy that drops, resets, delays, duplicates and truncates at random; the
//! dispatcher adds notes on the server meanwhile. Once the faults stop, every device must
//! converge to the server's exact history with every action it took recorded once.
//!
//! The seed is printed; `FIELDSYNC_FAULT_SEED=<seed>` replays the same draws (the interleaving
//! of the tasks still varies from run to run).
//!
//! The second test is a scripted regression test for a bug this kind of fault exposed: a sync
//! request delivered twice whose answer is cut (`more`) kept a dispatcher change from the
//! device, because two answers with the same cursor carried different heads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use fieldsync_core::actions::Command;
use fieldsync_core::model::doc::read_ticket;
use fieldsync_core::model::{Customer, Identity, ListFilter, Location, NewTicket, Site, Ticket};
use fieldsync_core::sync::{SyncConfig, SyncEngine, SyncError};
use fieldsync_core::{Client, Role, Status};
use fieldsync_e2e::{Dispatcher, TestServer, sorted_heads};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const ENGINEERS: usize = 10;
const TICKETS_EACH: usize = 2;
const ACTIONS_EACH: usize = 100;
/// Chance of a sync attempt before each action.
const SYNC_CHANCE: f64 = 0.25;
/// Bounds on the faulty phase, so a wedged device cannot keep the test going.
const MAX_STEPS_EACH: usize = 400;
const MAX_DISPATCHER_NOTES: usize = 100;
/// Syncs each device gets, with faults off, to report nothing pending.
const MAX_CLEAN_SYNCS: usize = 10;

// ---------------------------------------------------------------------------------------------
// The fault-injecting proxy

/// What the proxy does to one request (one connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    /// Forward untouched.
    Pass,
    /// Read the request, close without forwarding.
    DropRequest,
    /// Close mid-request, with unread request bytes (the kernel answers with a reset).
    Reset,
    /// Wait 0–300 ms before forwarding.
    DelayRequest,
    /// Wait 0–300 ms before answering.
    DelayResponse,
    /// Forward (the server applies the push), then close without answering.
    DropResponse,
    /// Forward, answer a strict prefix of the response, close.
    Truncate,
    /// Send the request upstream twice, one after the other; answer one of the two.
    DuplicateSequential,
    /// Send the request upstream twice at once; answer one of the two.
    DuplicateConcurrent,
}

impl Fault {
    const ALL: [Fault; 9] = [
        Fault::Pass,
        Fault::DropRequest,
        Fault::Reset,
        Fault::DelayRequest,
        Fault::DelayResponse,
        Fault::DropResponse,
        Fault::Truncate,
        Fault::DuplicateSequential,
        Fault::DuplicateConcurrent,
    ];

    /// Relative weights while faults are on.
    fn weight(self) -> u32 {
        match self {
            Fault::Pass => 30,
            _ => 9,
        }
    }

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// One connection's draw, made when it is accepted.
#[derive(Clone, Copy, Debug)]
struct Plan {
    fault: Fault,
    delay: Duration,
    /// Where to cut (truncate), which duplicate to answer: any number, reduced as needed.
    pick: u64,
}

#[derive(Default)]
struct ProxyStats {
    injected: [AtomicU64; Fault::ALL.len()],
    connections: AtomicU64,
    upstream_requests: AtomicU64,
    proxy_errors: AtomicU64,
}

struct Proxy {
    addr: SocketAddr,
    faults_on: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(upstream: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let faults_on = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(ProxyStats::default());
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
        let task = tokio::spawn({
            let (faults_on, stats) = (faults_on.clone(), stats.clone());
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let plan = {
                        let mut rng = rng.lock().expect("rng");
                        draw(&mut rng, faults_on.load(Ordering::SeqCst))
                    };
                    let stats = stats.clone();
                    tokio::spawn(async move {
                        // A stuck peer cannot keep a connection task alive forever.
                        let handled =
                            tokio::time::timeout(Duration::from_secs(30), handle(client, upstream, plan, &stats)).await;
                        if !matches!(handled, Ok(Ok(()))) {
                            stats.proxy_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        Proxy { addr, faults_on, stats, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn injected(&self, fault: Fault) -> u64 {
        self.stats.injected[fault.index()].load(Ordering::Relaxed)
    }
}

fn draw(rng: &mut StdRng, faults_on: bool) -> Plan {
    let fault = if faults_on {
        let total: u32 = Fault::ALL.iter().map(|f| f.weight()).sum();
        let mut n = rng.random_range(0..total);
        let mut chosen = Fault::Pass;
        for fault in Fault::ALL {
            if n < fault.weight() {
                chosen = fault;
                break;
            }
            n -= fault.weight();
        }
        chosen
    } else {
        Fault::Pass
    };
    Plan { fault, delay: Duration::from_millis(rng.random_range(0..=300)), pick: rng.random() }
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, plan: Plan, stats: &ProxyStats) -> std::io::Result<()> {
    let count = |fault: Fault| stats.injected[fault.index()].fetch_add(1, Ordering::Relaxed);
    if plan.fault == Fault::Reset {
        // Take a few bytes of the request and close with the rest unread: a reset mid-request.
        let mut first = [0u8; 16];
        if client.read(&mut first).await? > 0 {
            count(Fault::Reset);
        }
        return Ok(());
    }
    let Some(request) = read_request(&mut client).await? else { return Ok(()) };
    let round_trip = || async {
        stats.upstream_requests.fetch_add(1, Ordering::Relaxed);
        forward(upstream, &request).await
    };
    let response = match plan.fault {
        Fault::DropRequest => {
            count(Fault::DropRequest);
            return Ok(());
        }
        Fault::DelayRequest => {
            tokio::time::sleep(plan.delay).await;
            round_trip().await?
        }
        Fault::DuplicateSequential => {
            let first = round_trip().await;
            let second = round_trip().await;
            count(Fault::DuplicateSequential);
            pick_one(first, second, plan.pick)?
        }
        Fault::DuplicateConcurrent => {
            let (first, second) = tokio::join!(round_trip(), round_trip());
            count(Fault::DuplicateConcurrent);
            pick_one(first, second, plan.pick)?
        }
        _ => round_trip().await?,
    };
    let response = with_connection_close(&response);
    match plan.fault {
        Fault::DropResponse => {
            count(Fault::DropResponse);
            return Ok(());
        }
        Fault::Truncate if response.len() > 1 => {
            let cut = 1 + usize::try_from(plan.pick % (response.len() as u64 - 1)).unwrap_or(0);
            client.write_all(&response[..cut]).await?;
            count(Fault::Truncate);
            return client.shutdown().await;
        }
        Fault::DelayResponse => {
            tokio::time::sleep(plan.delay).await;
            count(Fault::DelayResponse);
        }
        Fault::DelayRequest => {
            count(Fault::DelayRequest);
        }
        Fault::Pass => {
            count(Fault::Pass);
        }
        _ => {}
    }
    client.write_all(&response).await?;
    client.shutdown().await
}

fn pick_one(first: std::io::Result<Vec<u8>>, second: std::io::Result<Vec<u8>>, pick: u64) -> std::io::Result<Vec<u8>> {
    match (first, second) {
        (Ok(a), Ok(b)) => Ok(if pick % 2 == 0 { a } else { b }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(e), Err(_)) => Err(e),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The head (without its blank line) split into its first line and header lines.
fn split_head(head: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").map(str::to_owned);
    let first = lines.next().unwrap_or_default();
    (first, lines.filter(|l| !l.is_empty()).collect())
}

/// The head rebuilt with every `Connection` header replaced by `Connection: close`.
fn close_head(first: &str, headers: &[String]) -> Vec<u8> {
    let mut out = format!("{first}\r\n");
    for header in headers {
        if !header.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(header);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// Reads one HTTP/1.1 request (head, then `Content-Length` bytes of body) and returns it with
/// `Connection: close`; `None` when the client went away first.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    const MAX_HEAD: usize = 64 * 1024;
    const MAX_BODY: usize = 16 * 1024 * 1024;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (first, headers) = split_head(&buf[..head_end]);
    let mut length = 0usize;
    for header in &headers {
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let name = name.trim().to_ascii_lowercase();
        if name == "transfer-encoding" {
            return Err(std::io::Error::other("chunked requests are not framed by this proxy"));
        }
        if name == "content-length" {
            length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    if length > MAX_BODY {
        return Err(std::io::Error::other("request body too long"));
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut request = close_head(&first, &headers);
    request.extend_from_slice(&buf[body_start..body_start + length]);
    Ok(Some(request))
}

/// One new upstream connection: write the request, read the response until the server closes.
async fn forward(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    if response.is_empty() {
        return Err(std::io::Error::other("upstream closed without answering"));
    }
    Ok(response)
}

/// The response with `Connection: close`, so the client never reuses the connection.
fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(head_end) = find(response, b"\r\n\r\n") else { return response.to_vec() };
    let (first, headers) = split_head(&response[..head_end]);
    let mut out = close_head(&first, &headers);
    out.extend_from_slice(&response[head_end + 4..]);
    out
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

/// What a device wrote, by ticket: ids of events, notes, parts and time entries.
#[derive(Default)]
struct Written {
    events: Vec<(String, String)>,
    notes: Vec<(String, String)>,
    parts: Vec<(String, String)>,
    times: Vec<(String, String)>,
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
}

fn error_kind(e: &SyncError) -> String {
    match e {
        SyncError::Offline => "offline".into(),
        SyncError::Network(_) => "network".into(),
        SyncError::Unauthorized => "unauthorized".into(),
        SyncError::Server { status, .. } => format!("server {status}"),
        SyncError::Protocol(_) => "protocol".into(),
        SyncError::Local(_) => "local".into(),
    }
}

/// One sync attempt; failures are expected while faults are on and only counted.
async fn try_sync(engine: &SyncEngine, outcome: &mut Outcome) -> bool {
    match engine.sync_now().await {
        Ok(report) => {
            outcome.sync_ok += 1;
            outcome.rejected.extend(report.rejected);
            outcome.failed.extend(report.failed);
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
/// fits. Status moves are listed more than once so tickets progress; completion comes late.
fn choose(ticket: &Ticket, step: usize, rng: &mut StdRng) -> Option<Command> {
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
    let feedback = Command::RecordFeedback { rating: 1 + (n % 5) as u8, comment: format!("feedback {n}") };
    let late = step >= ACTIONS_EACH * 7 / 10 && rng.random_bool(0.3);
    let mut options: Vec<Command> = Vec::new();
    match ticket.status {
        Status::Dispatched => options.push(Command::Accept),
        Status::Accepted => {
            options.extend([Command::StartTravel, Command::StartTravel, Command::CheckIn { location: here() }]);
            options.extend(content);
        }
        Status::Travelling => {
            options.extend([Command::CheckIn { location: here() }, Command::CheckIn { location: here() }]);
            options.extend(content);
        }
        Status::OnSite => {
            options.extend([Command::StartWork, Command::StartWork, Command::Pause, feedback]);
            options.extend(content);
        }
        Status::Working => {
            options.extend([Command::Pause, feedback]);
            options.extend(content);
        }
        Status::Paused => {
            options.extend([Command::Resume, Command::Resume, feedback]);
            options.extend(content);
        }
        Status::Completed => options.push(feedback),
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

/// One engineer's faulty phase: actions on its tickets with sync attempts in between.
async fn work(engineer: Arc<Engineer>, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcome = Outcome::default();
    let client = engineer.client().clone();
    for _ in 0..MAX_STEPS_EACH {
        if outcome.actions >= ACTIONS_EACH {
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
        let Some(command) = choose(&ticket, outcome.actions, &mut rng) else {
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

/// Every id of every record list of `ticket` appears once.
fn assert_no_duplicates(ticket: &Ticket, whose: &str) {
    for (what, ids) in record_ids(ticket) {
        let mut seen = HashSet::new();
        for id in ids {
            assert!(seen.insert(id), "{whose}: {what} {id} appears twice in ticket {}", ticket.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_behind_a_faulty_network_converge_without_loss_or_duplicates() {
    let seed = seed();
    println!("fault seed {seed} (replay with FIELDSYNC_FAULT_SEED={seed})");
    let started = Instant::now();

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let (_, _, token) = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Arc::new(Dispatcher::new(&server, &token));
    let proxy = Proxy::start(server.addr, seed).await;

    let mut engineers = Vec::new();
    for n in 0..ENGINEERS {
        let (user_id, device_id, token) = server.add_user(&format!("eng{n}"), Role::Engineer);
        let mut tickets = Vec::new();
        for t in 0..TICKETS_EACH {
            tickets.push(dispatcher.create(&job(&format!("job {t} of eng{n}"), &user_id)).await);
        }
        let identity = Identity { user_id: user_id.clone(), device_id: device_id.clone(), role: Role::Engineer };
        let client = Client::open(dir.path().join(format!("{device_id}.sqlite")), identity).expect("open store");
        // A bounded wait per request: the proxy never holds one longer than its 300 ms delays.
        let config = SyncConfig { request_timeout: Duration::from_secs(10), ..SyncConfig::new(proxy.url(), token) };
        let engine = SyncEngine::new(client, config).expect("engine");
        engineers.push(Arc::new(Engineer { user: user_id, engine, tickets }));
    }
    let all_tickets: Vec<String> = engineers.iter().flat_map(|e| e.tickets.clone()).collect();

    // Phase 1: faults on; devices act and sync concurrently, the dispatcher adds notes.
    let devices_done = Arc::new(AtomicBool::new(false));
    let notes_task = tokio::spawn({
        let (dispatcher, done, tickets) = (dispatcher.clone(), devices_done.clone(), all_tickets.clone());
        let mut rng = StdRng::seed_from_u64(seed ^ 0xD15_9A7C4);
        async move {
            let mut added: Vec<(String, String)> = Vec::new();
            let mut refused = 0u32;
            for n in 0..MAX_DISPATCHER_NOTES {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let id = tickets[rng.random_range(0..tickets.len())].clone();
                let text = format!("dispatcher note {n}");
                match dispatcher.act(&id, &Command::AddNote { text: text.clone() }).await {
                    Ok(()) => added.push((id, text)),
                    Err(_) => refused += 1,
                }
                // Pacing between the dispatcher's edits (simulated time between clicks).
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..350))).await;
            }
            (added, refused)
        }
    });
    let tasks: Vec<_> = engineers
        .iter()
        .enumerate()
        .map(|(n, engineer)| tokio::spawn(work(engineer.clone(), seed.wrapping_add(n as u64 + 1))))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let outcome = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: a device's faulty phase took over 120 s"))
            .expect("device task");
        outcomes.push(outcome);
    }
    devices_done.store(true, Ordering::SeqCst);
    let (dispatcher_notes, dispatcher_refused) = notes_task.await.expect("dispatcher task");
    let faulty_phase = started.elapsed();

    // Phase 2: faults off; every device syncs until nothing is pending (bounded).
    proxy.faults_on.store(false, Ordering::SeqCst);
    let clean_started = Instant::now();
    let mut longest_stall = Duration::ZERO;
    let mut clean_syncs = 0u64;
    for engineer in &engineers {
        let mut pending = engineer.client().pending_count().expect("pending");
        let mut last_progress = Instant::now();
        for _ in 0..MAX_CLEAN_SYNCS {
            if pending == 0 {
                break;
            }
            clean_syncs += 1;
            if let Err(e) = engineer.engine.sync_now().await {
                panic!("seed {seed}: a sync of {} failed with faults off: {e}", engineer.user);
            }
            let now_pending = engineer.client().pending_count().expect("pending");
            if now_pending < pending {
                longest_stall = longest_stall.max(last_progress.elapsed());
                last_progress = Instant::now();
            }
            pending = now_pending;
        }
        longest_stall = longest_stall.max(if pending > 0 { last_progress.elapsed() } else { Duration::ZERO });
        assert_eq!(
            pending, 0,
            "seed {seed}: {} still has pending tickets after {MAX_CLEAN_SYNCS} syncs without faults",
            engineer.user
        );
    }
    // A last sync each, now that everyone's changes are on the server.
    for engineer in &engineers {
        clean_syncs += 1;
        if let Err(e) = engineer.engine.sync_now().await {
            panic!("seed {seed}: final sync of {} failed with faults off: {e}", engineer.user);
        }
    }
    let clean_phase = clean_started.elapsed();

    // The checks.
    let mut server_tickets = HashMap::new();
    for id in &all_tickets {
        let document = dispatcher.document(id).await;
        server_tickets.insert(id.clone(), (sorted_heads(&document), read_ticket(&document).expect("server ticket")));
    }
    let mut everywhere = HashSet::new();
    for (_, ticket) in server_tickets.values() {
        for id in record_ids(ticket).into_iter().flat_map(|(_, ids)| ids) {
            assert!(everywhere.insert(id), "seed {seed}: record {id} is in more than one place on the server");
        }
    }
    for (engineer, outcome) in engineers.iter().zip(&outcomes) {
        let mut held: Vec<String> =
            engineer.client().list(&ListFilter::default()).expect("list").into_iter().map(|t| t.id).collect();
        held.sort();
        let mut own = engineer.tickets.clone();
        own.sort();
        assert_eq!(held, own, "seed {seed}: {} holds exactly its own tickets", engineer.user);
        for id in &engineer.tickets {
            let (server_heads, on_server) = &server_tickets[id];
            assert_eq!(
                &engineer.heads(id),
                server_heads,
                "seed {seed}: {} and the server differ on {id}",
                engineer.user
            );
            let on_device = engineer.client().get(id).expect("device ticket");
            assert_no_duplicates(on_server, "server");
            assert_no_duplicates(&on_device, &engineer.user);
            assert!(on_server.conflicts.is_empty(), "seed {seed}: conflicts on {id}: {:?}", on_server.conflicts);
            for (_, text) in dispatcher_notes.iter().filter(|(t, _)| t == id) {
                let found = on_device.notes.iter().filter(|n| &n.text == text).count();
                assert_eq!(found, 1, "seed {seed}: {text:?} on {id} is {found} times on {}'s device", engineer.user);
            }
        }
        for (n, written) in outcome.written.lists().into_iter().enumerate() {
            for (ticket_id, record_id) in written {
                let lists = record_ids(&server_tickets[ticket_id].1);
                let (what, on_server) = lists.into_iter().nth(n).expect("four lists");
                let found = count_ids(on_server).get(record_id.as_str()).copied().unwrap_or(0);
                assert_eq!(
                    found, 1,
                    "seed {seed}: {what} {record_id} by {} is {found} times on the server's {ticket_id}",
                    engineer.user
                );
            }
        }
        let summaries = engineer.client().list(&ListFilter::default()).expect("list");
        assert!(summaries.iter().all(|s| !s.pending && s.rejected.is_none()), "seed {seed}: {summaries:?}");
        assert!(outcome.rejected.is_empty(), "seed {seed}: valid pushes refused: {:?}", outcome.rejected);
        assert!(outcome.failed.is_empty(), "seed {seed}: updates not merged: {:?}", outcome.failed);
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
    println!("faults injected:");
    for fault in Fault::ALL {
        println!("  {fault:?}: {}", proxy.injected(fault));
    }
    println!(
        "proxy: {} connections, {} upstream requests, {} aborted by the proxy",
        proxy.stats.connections.load(Ordering::Relaxed),
        proxy.stats.upstream_requests.load(Ordering::Relaxed),
        proxy.stats.proxy_errors.load(Ordering::Relaxed),
    );
    println!(
        "devices: {} actions ({} refused or skipped), syncs {} ok / {} failed {errors:?}; {clean_syncs} syncs once faults stopped",
        outcomes.iter().map(|o| o.actions).sum::<usize>(),
        outcomes.iter().map(|o| o.refused).sum::<usize>(),
        total(|o| o.sync_ok),
        total(|o| o.sync_failed),
    );
    println!(
        "written: {} events, {} notes, {} parts, {} time entries; dispatcher notes {} ({} refused)",
        written(|w| w.events.len()),
        written(|w| w.notes.len()),
        written(|w| w.parts.len()),
        written(|w| w.times.len()),
        dispatcher_notes.len(),
        dispatcher_refused,
    );
    println!(
        "time: faulty phase {} ms, clean phase {} ms, longest upload without progress once faults stopped {} ms",
        faulty_phase.as_millis(),
        clean_phase.as_millis(),
        longest_stall.as_millis()
    );
    for outcome in &outcomes {
        assert_eq!(outcome.actions, ACTIONS_EACH, "seed {seed}: a device ran out of steps");
    }
    for fault in Fault::ALL {
        assert!(proxy.injected(fault) > 0, "seed {seed}: fault {fault:?} never happened");
    }
    assert!(total(|o| o.sync_failed) > 0, "seed {seed}: no sync ever failed");
    let _ = &dir;
}

// ---------------------------------------------------------------------------------------------
// A scripted replay: the deterministic reproduction of what the random test can only stumble on

/// The armed request's hooks: tell the test the first delivery was answered; wait for its go.
type Script = (tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>);

/// A proxy that passes requests through, except the one armed: that one goes upstream, then the
/// test is told (`first_answered`) and runs its step, and on `go` the same request goes
/// upstream again; the device gets the first answer.
struct ReplayProxy {
    addr: SocketAddr,
    armed: Arc<tokio::sync::Mutex<Option<Script>>>,
    task: JoinHandle<()>,
}

impl Drop for ReplayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReplayProxy {
    async fn start(upstream: SocketAddr) -> ReplayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let armed: Arc<tokio::sync::Mutex<Option<Script>>> = Arc::default();
        let task = tokio::spawn({
            let armed = armed.clone();
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else { continue };
                    let script = armed.lock().await.take();
                    tokio::spawn(async move {
                        let Ok(Some(request)) = read_request(&mut client).await else { return };
                        let Ok(first) = forward(upstream, &request).await else { return };
                        if let Some((first_answered, go)) = script {
                            let _ = first_answered.send(());
                            let _ = go.await;
                            let _ = forward(upstream, &request).await;
                        }
                        let _ = client.write_all(&with_connection_close(&first)).await;
                        let _ = client.shutdown().await;
                    });
                }
            }
        });
        ReplayProxy { addr, armed, task }
    }

    /// Arms the script for the next request: returns (first answered, go).
    async fn arm(&self) -> (tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (answered_tx, answered_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        *self.armed.lock().await = Some((answered_tx, go_rx));
        (answered_rx, go_tx)
    }
}

/// Regression: a delivered-twice sync request whose response is cut (`more`) used to keep a
/// dispatcher change from the device until the ticket changed again. The duplicate (B) is processed after the answer the device gets (A); a dispatcher
/// note lands on the pushed ticket in between. B answers with the same cut cursor as A (the
/// cursor of a cut response is the last included sequence, not the current one) but records
/// the ticket's heads *with* the note as "sent, pending at that cursor". The device applied A
/// and comes back with that cursor, so the server takes B's heads as confirmed, decides the
/// device already has the note, and never sends it: the device's copy differs from the
/// server's for as long as nobody touches the ticket again, and nothing on the device is
/// pending. Now pending heads are confirmed only by a cursor that covers the document version
/// they came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_cut_sync_request_still_delivers_the_dispatcher_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    // A tiny response budget: every response carries one unpushed ticket and says `more`.
    let config = fieldsync_server::ServerConfig { sync_budget_bytes: 1, ..Default::default() };
    let state = fieldsync_server::AppState::open(&data, config).expect("server state");
    let (_, _, dana) = state.add_user("dana", Role::Dispatcher).expect("dispatcher");
    let (eli, device_id, token) = state.add_user("eli", Role::Engineer).expect("engineer");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fieldsync_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let dispatcher = Dispatcher::at(&format!("http://{server_addr}"), &dana);
    let proxy = ReplayProxy::start(server_addr).await;

    let t1 = dispatcher.create(&job("one", &eli)).await;
    let t2 = dispatcher.create(&job("two", &eli)).await;
    let t3 = dispatcher.create(&job("three", &eli)).await;
    let identity = Identity { user_id: eli.clone(), device_id: device_id.clone(), role: Role::Engineer };
    let client = Client::open(dir.path().join("eli.sqlite"), identity).expect("open store");
    let engine =
        SyncEngine::new(client.clone(), SyncConfig::new(format!("http://{}", proxy.addr), token)).expect("engine");
    engine.sync_now().await.expect("first sync");
    assert_eq!(client.list(&ListFilter::default()).expect("list").len(), 3);

    // eli works on T2 offline; the dispatcher writes on T1 and T3, so the next answer is cut.
    client.accept(&t2).expect("accept");
    for id in [&t1, &t3] {
        dispatcher.act(id, &Command::AddNote { text: "call first".into() }).await.expect("note");
    }
    // The push of T2 is delivered twice; between the two deliveries the dispatcher adds a note
    // to T2.
    let (first_answered, go) = proxy.arm().await;
    let sync = tokio::spawn({
        let engine = engine.clone();
        async move { engine.sync_now().await }
    });
    first_answered.await.expect("the first delivery was answered");
    dispatcher.act(&t2, &Command::AddNote { text: "gate code 1234".into() }).await.expect("note on T2");
    go.send(()).expect("go");
    sync.await.expect("sync task").expect("sync through the replay");
    // Plenty of clean syncs afterwards: the note should arrive in the first.
    for _ in 0..3 {
        engine.sync_now().await.expect("clean sync");
    }

    let on_server = dispatcher.document(&t2).await;
    let on_device = client.get(&t2).expect("T2 on the device");
    let device_heads = sorted_heads(&Automerge::load(&client.export(&t2).expect("export")).expect("load"));
    println!(
        "T2 on the device: {} notes, pending {}; on the server: {} notes",
        on_device.notes.len(),
        client.pending_count().expect("pending"),
        read_ticket(&on_server).expect("server ticket").notes.len()
    );
    assert!(
        on_device.notes.iter().any(|n| n.text == "gate code 1234"),
        "the dispatcher's note on T2 never reached the device: {:?}",
        on_device.notes
    );
    assert_eq!(device_heads, sorted_heads(&on_server), "device and server differ on T2");
    let _ = stop.send(());
    server.await.expect("server task").expect("server ran");
}
