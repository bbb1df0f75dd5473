//! The harness of honest and hostile pushes (cargo-fuzz target `pushed_changes`, and the
//! property test `tests/suite/properties.rs`).
//!
//! Each input is a script played against one new ticket on an in-process server: a
//! dispatcher acting through the REST API, two honest phones (eli's, the assignee, and fay's)
//! that only make the changes the workflow allows them as they see the ticket, and a hostile
//! second device of eli's that writes whatever the script says into raw Automerge changes.
//! After every step it asserts what docs/security.md promises:
//! - a hostile push never turns a dispatcher decision its device had seen into a conflict or
//!   a void;
//! - no honest record is ever dropped or voided, and no honest push is refused;
//! - nothing answers 5xx, nothing panics.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::OnceLock;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use fieldsync_core::actions::{self, Command};
use fieldsync_core::model::{Identity, Location, doc};
use fieldsync_core::protocol::{self, Push, SyncRequest, SyncResponse};
use fieldsync_core::workflow::Role;
use fieldsync_server::{AppState, ServerConfig};
use serde_bytes::ByteBuf;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

struct Scene {
    runtime: tokio::runtime::Runtime,
    router: Router,
    dana: String,
    eli: (String, String),
    eli_second: (String, String),
    fay: (String, String),
    _dir: tempfile::TempDir,
}

fn scene() -> &'static Scene {
    static SCENE: OnceLock<Scene> = OnceLock::new();
    SCENE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = AppState::open(dir.path(), ServerConfig::default()).unwrap();
        let (_, _, dana) = state.add_user("dana", Role::Dispatcher).unwrap();
        let (_, eli_device, eli_token) = state.add_user("eli", Role::Engineer).unwrap();
        let (second_device, second_token) = state.add_device("eli").unwrap();
        let (_, fay_device, fay_token) = state.add_user("fay", Role::Engineer).unwrap();
        Scene {
            runtime,
            router: fieldsync_server::app(state),
            dana,
            eli: (eli_device, eli_token),
            eli_second: (second_device, second_token),
            fay: (fay_device, fay_token),
            _dir: dir,
        }
    })
}

async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert!(!status.is_server_error(), "{method} {uri}: {status} {}", String::from_utf8_lossy(&bytes));
    (status.as_u16(), bytes.to_vec())
}

/// A device's copy of the ticket and its sync state.
struct Phone {
    identity: Identity,
    token: String,
    doc: Automerge,
    acked: Vec<ChangeHash>,
    cursor: u64,
    evicted: bool,
}

impl Phone {
    fn new(user: &str, (device, token): &(String, String)) -> Phone {
        // One actor per device, as a phone has (device ids share their time prefix).
        let actor = ActorId::from(&Sha256::digest(device.as_bytes())[..16]);
        Phone {
            identity: Identity { user_id: user.into(), device_id: device.clone(), role: Role::Engineer },
            token: token.clone(),
            doc: Automerge::new().with_actor(actor),
            acked: Vec::new(),
            cursor: 0,
            evicted: false,
        }
    }

    /// One sync: pushes what the server has not acknowledged, takes what comes back.
    async fn sync(&mut self, s: &Scene, ticket: &str) -> SyncResponse {
        let changes: Vec<ByteBuf> =
            self.doc.get_changes(&self.acked).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
        let pushes = if changes.is_empty() {
            Vec::new()
        } else {
            vec![Push { ticket_id: ticket.into(), changes, heads: protocol::to_wire(&self.doc.get_heads()) }]
        };
        let request = SyncRequest { cursor: self.cursor, pushes };
        let (status, body) =
            send(&s.router, Method::POST, "/v1/sync", &self.token, protocol::CONTENT_TYPE, request.encode()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let answer = SyncResponse::decode(&body).unwrap();
        for update in answer.updates.iter().filter(|u| u.ticket_id == ticket) {
            for data in &update.data {
                self.doc.load_incremental(data).unwrap();
            }
            let heads = protocol::from_wire(&update.heads);
            if heads.iter().all(|h| self.doc.get_change_meta_by_hash(h).is_some()) {
                self.acked = heads;
            }
        }
        if answer.evictions.iter().any(|e| e == ticket) {
            self.evicted = true;
        } else if answer.updates.iter().any(|u| u.ticket_id == ticket && !u.data.is_empty()) {
            self.evicted = false;
        }
        self.cursor = answer.cursor;
        answer
    }

    /// The first of the candidate actions the workflow allows this phone now, done.
    fn act_honestly(&mut self, pick: u8) -> bool {
        if self.evicted || self.doc.get_heads().is_empty() {
            return false;
        }
        let here = Location { lat: 31.2305, lon: 121.4737, accuracy_m: 5.0 };
        let candidates = [
            Command::Accept,
            Command::StartTravel { eta: None },
            Command::CheckIn { location: here },
            Command::StartWork,
            Command::AddNote { text: format!("note {pick}") },
            Command::AddPart { sku: "SEAL-22".into(), qty: 1 + u32::from(pick % 3) },
            Command::LogTime { minutes: 15 + u32::from(pick), kind: "labour".into() },
            Command::SetChecklistItem { item: "valve".into(), done: pick % 2 == 0 },
            Command::Pause,
            Command::Resume,
            Command::RecordFeedback { rating: 1 + pick % 5, comment: String::new() },
            Command::Complete { summary: "fixed".into() },
        ];
        let start = usize::from(pick) % candidates.len();
        for n in 0..candidates.len() {
            let command = &candidates[(start + n) % candidates.len()];
            if actions::perform(&mut self.doc, &self.identity, command, fieldsync_core::time::now_ms()).is_ok() {
                return true;
            }
        }
        false
    }

    /// Record ids in the four record lists, written by this phone's user on this phone.
    fn own_records(&self) -> HashSet<String> {
        let Ok(ticket) = doc::read_ticket(&self.doc) else { return HashSet::new() };
        let me = &self.identity.user_id;
        let device = &self.identity.device_id;
        let mut ids: HashSet<String> =
            ticket.events.iter().filter(|e| &e.by == me && &e.device == device).map(|e| e.id.clone()).collect();
        ids.extend(ticket.notes.iter().filter(|n| &n.by == me && &n.device == device).map(|n| n.id.clone()));
        ids
    }
}

async fn detail(s: &Scene, ticket: &str) -> Json {
    let (status, body) =
        send(&s.router, Method::GET, &format!("/v1/tickets/{ticket}"), &s.dana, "application/json", Vec::new()).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// Dispatcher events the server holds, not voided and not conflicts.
fn standing_decisions(detail: &Json) -> HashSet<String> {
    let conflicts: HashSet<String> = detail["conflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["event_id"].as_str().map(str::to_owned))
        .collect();
    detail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| matches!(e["kind"].as_str(), Some("cancelled" | "reassigned" | "reopened" | "dispatched")))
        .filter(|e| e["void"].is_null())
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .filter(|id| !conflicts.contains(id))
        .collect()
}

/// Every record id on the server, with whether it is voided.
fn server_records(detail: &Json) -> Vec<(String, bool)> {
    ["events", "notes"]
        .iter()
        .flat_map(|list| detail[*list].as_array().cloned().unwrap_or_default())
        .filter_map(|r| Some((r["id"].as_str()?.to_owned(), !r["void"].is_null())))
        .collect()
}

/// The events and conflicts of a ticket's detail, for a failure message.
fn brief(detail: &Json) -> String {
    let events: Vec<String> = detail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{} {} by {} void={}", e["id"], e["kind"], e["by"], e["void"]))
        .collect();
    format!("status {} conflicts {} events {events:#?}", detail["status"], detail["conflicts"])
}

/// Event ids in a document (what a device had seen).
fn event_ids(document: &Automerge) -> HashSet<String> {
    doc::read_events(document).into_iter().map(|e| e.id).collect()
}

/// A hostile edit of the second device's copy, chosen by two bytes.
fn hostile_edit(phone: &mut Phone, op: u8, arg: u8) {
    let me = phone.identity.clone();
    let Ok(Some((_, events))) = phone.doc.get(ROOT, "events") else { return };
    let mut tx = phone.doc.transaction();
    let len = tx.length(&events);
    let kinds =
        ["completed", "checked_in", "accepted", "cancelled", "reassigned", "work_started", "resumed", "rejected"];
    let at = fieldsync_core::time::now_ms() + (i64::from(arg) - 128) * 3_600_000;
    match op % 5 {
        0 | 1 => {
            // An event anywhere in the history, of any kind.
            let index = usize::from(arg) % (len + 1);
            let event = tx.insert_object(&events, index, ObjType::Map).unwrap();
            tx.put(&event, "id", format!("h-{op}-{arg}-{len}")).unwrap();
            tx.put(&event, "kind", kinds[usize::from(arg) % kinds.len()]).unwrap();
            tx.put(&event, "by", me.user_id.as_str()).unwrap();
            tx.put(&event, "role", "engineer").unwrap();
            tx.put(&event, "device", me.device_id.as_str()).unwrap();
            tx.put(&event, "at", at).unwrap();
        }
        2 => {
            // Values out of range, a second signature.
            let feedback = tx.put_object(ROOT, "feedback", ObjType::Map).unwrap();
            tx.put(&feedback, "rating", ScalarValue::Int(i64::from(arg) - 100)).unwrap();
            let signature = tx.put_object(ROOT, "signature", ObjType::Map).unwrap();
            tx.put(&signature, "signer", "forged").unwrap();
        }
        3 => {
            // Remove or rewrite an event that is there.
            if len > 0 {
                let index = usize::from(arg) % len;
                if arg % 2 == 0 {
                    tx.delete(&events, index).unwrap();
                } else if let Ok(Some((_, event))) = tx.get(&events, index) {
                    tx.put(&event, "kind", "cancelled").unwrap();
                }
            }
        }
        _ => {
            let Ok(Some((_, notes))) = tx.get(ROOT, "notes") else { return };
            let n = tx.length(&notes);
            let note = tx.insert_object(&notes, n, ObjType::Map).unwrap();
            tx.put(&note, "id", format!("hn-{arg}-{n}")).unwrap();
            tx.put(&note, "text", "x".repeat(usize::from(arg) * 40)).unwrap();
            tx.put(&note, "by", me.user_id.as_str()).unwrap();
            tx.put(&note, "device", me.device_id.as_str()).unwrap();
            tx.put(&note, "at", at).unwrap();
        }
    }
    tx.commit();
}

/// Plays one script; panics when a promise of docs/security.md is broken.
pub fn pushed_changes(data: &[u8]) {
    let s = scene();
    s.runtime.block_on(async {
        let new = serde_json::json!({
            "title": "Fuzzed", "assignee": "eli", "checklist": ["valve"],
            "site": {"lat": 31.2304, "lon": 121.4737, "radius_m": 150.0},
        });
        let (status, body) = send(
            &s.router,
            Method::POST,
            "/v1/tickets",
            &s.dana,
            "application/json",
            serde_json::to_vec(&new).unwrap(),
        )
        .await;
        assert_eq!(status, 201);
        let ticket = serde_json::from_slice::<Json>(&body).unwrap()["id"].as_str().unwrap().to_owned();
        let mut eli = Phone::new("eli", &s.eli);
        let mut fay = Phone::new("fay", &s.fay);
        let mut hostile = Phone::new("eli", &s.eli_second);
        let mut honest_records: HashSet<String> = HashSet::new();
        for step in data.chunks(2).take(40) {
            let (op, arg) = (step[0], step.get(1).copied().unwrap_or(0));
            match op % 8 {
                0 => {
                    let command = match arg % 5 {
                        0 => serde_json::json!({"action": "cancel", "reason": "customer called"}),
                        1 => serde_json::json!({"action": "assign", "engineer": "fay"}),
                        2 => serde_json::json!({"action": "assign", "engineer": "eli"}),
                        3 => serde_json::json!({"action": "reopen", "reason": "not fixed"}),
                        _ => serde_json::json!({"action": "add_note", "text": "from the office"}),
                    };
                    let uri = format!("/v1/tickets/{ticket}/actions");
                    send(
                        &s.router,
                        Method::POST,
                        &uri,
                        &s.dana,
                        "application/json",
                        serde_json::to_vec(&command).unwrap(),
                    )
                    .await;
                }
                1..=3 => {
                    let phone = if op % 8 == 3 { &mut fay } else { &mut eli };
                    phone.sync(s, &ticket).await;
                    if phone.act_honestly(arg) {
                        let answer = phone.sync(s, &ticket).await;
                        assert!(answer.rejections.is_empty(), "an honest push was refused: {answer:?}");
                        honest_records.extend(phone.own_records());
                    }
                }
                _ => {
                    if op % 8 != 7 {
                        hostile.sync(s, &ticket).await;
                    }
                    if hostile.doc.get_heads().is_empty() {
                        continue;
                    }
                    let seen = event_ids(&hostile.doc);
                    let before = standing_decisions(&detail(s, &ticket).await);
                    hostile_edit(&mut hostile, op, arg);
                    hostile.sync(s, &ticket).await;
                    let after = detail(s, &ticket).await;
                    let standing = standing_decisions(&after);
                    for decision in before.iter().filter(|d| seen.contains(*d)) {
                        assert!(
                            standing.contains(decision),
                            "a hostile push overrode decision {decision} it had seen: {}",
                            brief(&after)
                        );
                    }
                }
            }
            let records = server_records(&detail(s, &ticket).await);
            for id in &honest_records {
                let found: Vec<bool> = records.iter().filter(|(r, _)| r == id).map(|(_, void)| *void).collect();
                assert!(
                    found.iter().any(|void| !void),
                    "honest record {id} lost or voided: {:?}",
                    &records[..records.len().min(20)]
                );
            }
        }
    });
}
