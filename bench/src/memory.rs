//! The `memory` suite (issue 13, attack 7): what one crafted sync request of at most 16 MiB
//! raises a real server process's peak memory by. Each request runs against a fresh server
//! child (this checkout's `fieldsync serve`, as shipped: `server_process`) on its own copy of the
//! scene's data, that has served one honest sync first; the figure is how far the peak
//! resident set (`VmHWM` in `/proc/<pid>/status`, reset to the resident set before the
//! request) rises over the resident set before it. Nothing is timed.

use std::io::{Read, Write};
use std::path::Path;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use fieldsync_core::Role;
use fieldsync_core::model::NewTicket;
use fieldsync_core::protocol::{self, Push, SyncRequest, SyncResponse};
use fieldsync_e2e::Dispatcher;
use fieldsync_server::{AppState, ServerConfig};
use serde_json::json;

use crate::server_process::ServerProcess;

const MIB: usize = 1024 * 1024;

/// `VmHWM` (peak resident set) of a process, in bytes.
fn peak_of(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

/// `VmRSS` (resident set now) of a process, in bytes.
fn resident_of(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One raw HTTP/1.1 POST of a sync body; the status and the response body.
fn post_sync(url: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    post(url, "/v1/sync", protocol::CONTENT_TYPE, token, body)
}

/// One raw HTTP/1.1 POST; the status and the response body. A server that answers before
/// reading the whole body (413) may close the connection while it is still being written.
fn post(url: &str, path: &str, content_type: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |p| p + 4);
    let status = String::from_utf8_lossy(&answer[..split.min(answer.len())])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer[split.min(answer.len())..].to_vec())
}

/// Pseudo-random printable text (incompressible enough that deflate gains little).
fn noise(n: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            char::from(b'!' + ((x >> 33) % 90) as u8)
        })
        .collect()
}

/// Changes to `doc` by a fresh actor, each made by `edit(n, tx)`.
fn changes(doc: &Automerge, count: usize, edit: impl Fn(usize, &mut automerge::transaction::Transaction<'_>)) -> Push {
    let mut fork = doc.fork().with_actor(ActorId::random());
    let before = fork.get_heads();
    for n in 0..count {
        let mut tx = fork.transaction();
        edit(n, &mut tx);
        tx.commit();
    }
    Push {
        ticket_id: String::new(),
        changes: fork.get_changes(&before).iter().map(|c| c.raw_bytes().to_vec().into()).collect(),
        heads: protocol::to_wire(&fork.get_heads()),
    }
}

fn for_ticket(mut push: Push, id: &str) -> Push {
    push.ticket_id = id.to_owned();
    push
}

/// A request body of one push whose changes are `items` empty byte strings.
fn empty_items(ticket: &str, items: usize) -> Vec<u8> {
    let mut body = b"FSYN\x01\x00\x01".to_vec();
    body.extend([0xa2, 0x66]);
    body.extend(b"cursor");
    body.push(0x00);
    body.push(0x66);
    body.extend(b"pushes");
    body.push(0x81);
    body.extend([0xa3, 0x69]);
    body.extend(b"ticket_id");
    body.push(0x78);
    body.push(u8::try_from(ticket.len()).expect("short id"));
    body.extend(ticket.as_bytes());
    body.push(0x67);
    body.extend(b"changes");
    body.push(0x9a);
    body.extend(u32::try_from(items).expect("items").to_be_bytes());
    body.extend(std::iter::repeat_n(0x40, items));
    body.push(0x65);
    body.extend(b"heads");
    body.push(0x80);
    body
}

struct Scene {
    data: tempfile::TempDir,
    dispatcher: (String, String, String),
    engineer: (String, String, String),
    tickets: Vec<String>,
    documents: Vec<Automerge>,
}

fn scene(runtime: &tokio::runtime::Runtime) -> Scene {
    let data = tempfile::tempdir().expect("data dir");
    let state = AppState::open(data.path(), ServerConfig::default()).expect("state");
    let dispatcher = state.add_user("dana", Role::Dispatcher).expect("dispatcher");
    let engineer = state.add_user("eli", Role::Engineer).expect("engineer");
    drop(state);
    let server = ServerProcess::start(data.path());
    let desk = Dispatcher::at(&server.url, &dispatcher.2);
    let (tickets, documents) = runtime.block_on(async {
        let mut tickets = Vec::new();
        let mut documents = Vec::new();
        for n in 0..16 {
            // The last one (grown to the document cap below) is nobody's: the engineer's warm-up
            // sync does not load it.
            let assignee = (n < 15).then(|| "eli".to_owned());
            let new = NewTicket { title: format!("Job {n}"), assignee, ..Default::default() };
            let id = desk.create(&new).await;
            documents.push(desk.document(&id).await);
            tickets.push(id);
        }
        (tickets, documents)
    });
    // The last ticket grown to the document cap (25,000 ops) in requests within the caps: a
    // push to it later makes the server load all of it.
    for round in 0..5 {
        let push = changes(&documents[15], 1, |_, tx| {
            for k in 0..4_990 {
                tx.put(ROOT, format!("bulk{round}_{k}"), k as i64).expect("put");
            }
        });
        let body = SyncRequest { cursor: 0, pushes: vec![for_ticket(push, &tickets[15])] }.encode();
        let (status, answer) = post_sync(&server.url, &dispatcher.2, &body);
        let rejected = SyncResponse::decode(&answer).map(|r| r.rejections.len()).unwrap_or(1);
        assert_eq!((status, rejected), (200, 0), "growing the big ticket");
    }
    drop(server);
    Scene { data, dispatcher, engineer, tickets, documents }
}

/// Copies the files of `from` into `to`, folders included.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read data dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `body` as `token` against a fresh server on a fresh copy of the scene's data (so that
/// every run does the same work: a run on data an earlier run wrote would replay its pushes):
/// the peak-memory rise in bytes, the status, and the rejection reasons.
fn measure(data: &Path, warm_token: &str, token: &str, path: &str, body: &[u8]) -> (u64, u16, Vec<String>) {
    let copy = tempfile::tempdir().expect("data copy");
    copy_dir(data, copy.path());
    let server = ServerProcess::start(copy.path());
    let pid = server.child.id();
    // One honest exchange first: what any server has allocated once it served a request.
    let (warm, _) = post_sync(&server.url, warm_token, &SyncRequest::default().encode());
    assert_eq!(warm, 200);
    // The rise is measured from the resident set now, with the peak reset to it (Linux:
    // `clear_refs` 5), so that what the warm-up touched does not hide what this request costs.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let before = resident_of(pid);
    let (status, answer) = if path == "/v1/sync" {
        post_sync(&server.url, token, body)
    } else {
        post(&server.url, path, "application/json", token, body)
    };
    let after = peak_of(pid);
    let reasons = SyncResponse::decode(&answer)
        .map(|r| r.rejections.into_iter().map(|r| r.reason).collect())
        .unwrap_or_else(|_| vec![String::from_utf8_lossy(&answer).chars().take(120).collect()]);
    drop(server);
    (after.saturating_sub(before), status, reasons)
}

/// The suite's figures.
pub fn memory_suite() -> serde_json::Value {
    let runtime = crate::runtime();
    let s = scene(&runtime);
    let eli = &s.engineer.2;
    let dana = &s.dispatcher.2;
    // Built only when wanted: `fieldsync-bench memory <substring>` runs the matching ones.
    type Build<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;
    let mut requests: Vec<(&str, &str, &str, Build<'_>)> = Vec::new();

    // The bomb: a 64 MiB note deflated to ~65 KB.
    requests.push((
        "compressed 64 MiB note",
        "engineer",
        "/v1/sync",
        Box::new(|| {
            let mut bomb = changes(&s.documents[0], 1, |_, tx| {
                tx.put(ROOT, "note", "x".repeat(64 * MIB)).map(|_| ()).expect("put")
            });
            let mut change = automerge::Change::try_from(&bomb.changes[0][..]).expect("change");
            bomb.changes = vec![change.bytes().to_vec().into()];
            SyncRequest { cursor: 0, pushes: vec![for_ticket(bomb, &s.tickets[0])] }.encode()
        }),
    ));

    // Bodies past the caps: a sync request and a REST action of 16 MiB.
    requests.push((
        "16 MiB of empty change items",
        "engineer",
        "/v1/sync",
        Box::new(|| empty_items(&s.tickets[0], 16 * MIB - 200)),
    ));
    requests.push((
        "16 MiB JSON note through the REST API",
        "dispatcher",
        "/v1/tickets/{0}/actions",
        Box::new(|| json!({ "action": "note", "text": noise(16 * MIB, 7) }).to_string().into_bytes()),
    ));

    // Just under the sync body cap: 2 MiB of one-byte items (empty changes).
    requests.push((
        "2 MiB of empty change items",
        "engineer",
        "/v1/sync",
        Box::new(|| empty_items(&s.tickets[0], 2 * MIB - 200)),
    ));

    // Just under the sync body cap, at the per-change byte cap: incompressible 380 KiB notes,
    // one per push, over four tickets.
    let big = || {
        let pushes = (0..4)
            .map(|t| {
                let push = changes(&s.documents[t], 1, |n, tx| {
                    tx.put(ROOT, "note", noise(380 * 1024, (t * 10 + n) as u64)).map(|_| ()).expect("put")
                });
                for_ticket(push, &s.tickets[t])
            })
            .collect();
        SyncRequest { cursor: 0, pushes }.encode()
    };
    requests.push(("1.5 MiB: 4 pushes x 380 KiB", "engineer", "/v1/sync", Box::new(big)));
    requests.push(("1.5 MiB: 4 pushes x 380 KiB", "dispatcher", "/v1/sync", Box::new(big)));

    // The op caps: one change of 10,000 ops on every ticket the engineer holds.
    requests.push((
        "15 pushes x 10,000 ops",
        "dispatcher",
        "/v1/sync",
        Box::new(|| {
            let pushes = (0..15)
                .map(|t| {
                    let push = changes(&s.documents[t], 1, |n, tx| {
                        for k in 0..10_000 {
                            tx.put(ROOT, format!("k{n}_{k}"), k as i64).expect("put");
                        }
                    });
                    for_ticket(push, &s.tickets[t])
                })
                .collect();
            SyncRequest { cursor: 0, pushes }.encode()
        }),
    ));

    // Many small pushes: a dispatcher creating 3,000 tickets by pushing (1.7 MiB).
    requests.push((
        "1.7 MiB: 3,000 tickets created by push",
        "dispatcher",
        "/v1/sync",
        Box::new(|| {
            let identity = fieldsync_core::model::Identity {
                user_id: "dana".into(),
                device_id: s.dispatcher.1.clone(),
                role: Role::Dispatcher,
            };
            let pushes = (0..3_000)
                .map(|n| {
                    let new = NewTicket { title: format!("Pushed {n}"), ..Default::default() };
                    let (id, document, _) =
                        fieldsync_core::actions::create(ActorId::random(), &identity, &new, 1_800_000_000_000)
                            .expect("create");
                    Push {
                        ticket_id: id,
                        changes: document.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec().into()).collect(),
                        heads: protocol::to_wire(&document.get_heads()),
                    }
                })
                .collect();
            SyncRequest { cursor: 0, pushes }.encode()
        }),
    ));

    // A one-op change to the ticket at the document cap: the server loads all of it.
    requests.push((
        "one op on a ticket at the document cap",
        "dispatcher",
        "/v1/sync",
        Box::new(|| {
            let push = changes(&s.documents[15], 1, |_, tx| tx.put(ROOT, "poke", 1).map(|_| ()).expect("put"));
            SyncRequest { cursor: 0, pushes: vec![for_ticket(push, &s.tickets[15])] }.encode()
        }),
    ));

    // An honest request: the dispatcher's first sync, every ticket from cursor 0.
    requests.push((
        "bootstrap of every ticket",
        "dispatcher",
        "/v1/sync",
        Box::new(|| SyncRequest::default().encode()),
    ));

    let filter = std::env::args().nth(2).unwrap_or_default();
    let mut rows = Vec::new();
    for (name, who, path, build) in requests.iter().filter(|(name, ..)| name.contains(filter.as_str())) {
        let body = &build();
        let token = if *who == "engineer" { eli } else { dana };
        let path = path.replace("{0}", &s.tickets[0]);
        // The allocator makes one run differ from the next by several MB (which thread's arena
        // served what): three fresh servers each, the median and the worst.
        let runs: Vec<_> = (0..3).map(|_| measure(s.data.path(), eli, token, &path, body)).collect();
        let mut rises: Vec<u64> = runs.iter().map(|r| r.0).collect();
        rises.sort_unstable();
        let (rise, rise_worst) = (rises[1], rises[2]);
        let (_, status, reasons) = runs.into_iter().next().expect("a run");
        let mut reasons = reasons;
        reasons.sort();
        reasons.dedup();
        eprintln!(
            "memory: {name} as {who}: body {:.2} MiB, status {status}, peak rise {:.1} MB (worst of 3 {:.1} MB), \
             {reasons:?}",
            body.len() as f64 / MIB as f64,
            rise as f64 / 1e6,
            rise_worst as f64 / 1e6
        );
        rows.push(json!({
            "request": name,
            "as": who,
            "body_mib": crate::round(body.len() as f64 / MIB as f64),
            "status": status,
            "peak_rise_mb": crate::round(rise as f64 / 1e6),
            "peak_rise_mb_worst_of_3": crate::round(rise_worst as f64 / 1e6),
            "rejections": reasons,
        }));
    }
    let worst = |key: &str| rows.iter().filter_map(|r| r[key].as_f64()).fold(0.0, f64::max);
    json!({
        "suite": "memory",
        "server": crate::server_process::measured_server(),
        "requests": rows,
        "worst_peak_rise_mb": worst("peak_rise_mb"),
        "worst_peak_rise_mb_worst_of_3": worst("peak_rise_mb_worst_of_3"),
        "goal_mb": 16.78,
    })
}
