//! A hostile device against a real server: raw Automerge changes through `POST /v1/sync`.
//! Each test is one attack of issue 13 (docs/security.md): it asserts the refusal and that
//! every honest party's records are intact.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::protocol::{self, Push, SyncRequest, SyncResponse};
use fieldsync_core::{Location, Role};
use serde_bytes::ByteBuf;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::common::{Device, Server};

/// A device that speaks the protocol by hand and writes whatever it likes into its copy.
pub(crate) struct Hostile {
    token: String,
    device_id: String,
    user_id: String,
    id: String,
    pub(crate) doc: Automerge,
    cursor: u64,
}

impl Hostile {
    /// Syncs from nothing and keeps its copy of ticket `id`.
    pub(crate) async fn join(server: &Server, device: &Device, id: &str) -> Hostile {
        let mut hostile = Hostile {
            token: device.token.clone(),
            device_id: device.device_id.clone(),
            user_id: device.user_id.clone(),
            id: id.to_owned(),
            doc: Automerge::new(),
            cursor: 0,
        };
        hostile.pull(server).await;
        assert!(!hostile.doc.get_heads().is_empty(), "the ticket arrived");
        hostile
    }

    /// A device holding `doc` as its copy of ticket `id` however it got it (a ticket the
    /// server never sent it).
    pub(crate) fn holding(device: &Device, id: &str, doc: Automerge) -> Hostile {
        Hostile {
            token: device.token.clone(),
            device_id: device.device_id.clone(),
            user_id: device.user_id.clone(),
            id: id.to_owned(),
            doc,
            cursor: 0,
        }
    }

    fn take(&mut self, answer: &SyncResponse) {
        for update in answer.updates.iter().filter(|u| u.ticket_id == self.id) {
            for data in &update.data {
                self.doc.load_incremental(data).expect("update loads");
            }
        }
        self.cursor = answer.cursor;
    }

    pub(crate) async fn pull(&mut self, server: &Server) -> SyncResponse {
        let (answer, _) = server.sync(&self.token, &SyncRequest { cursor: self.cursor, pushes: vec![] }).await;
        self.take(&answer);
        answer
    }

    /// Commits `edit` on top of the copy's current heads and pushes it.
    pub(crate) async fn push(
        &mut self,
        server: &Server,
        edit: impl FnOnce(&mut Transaction<'_>, &Hostile),
    ) -> SyncResponse {
        let heads = self.doc.get_heads();
        self.push_at(server, &heads, edit).await
    }

    /// Commits `edit` as a change depending on `heads` (what it claims to have seen) and
    /// pushes it.
    pub(crate) async fn push_at(
        &mut self,
        server: &Server,
        heads: &[ChangeHash],
        edit: impl FnOnce(&mut Transaction<'_>, &Hostile),
    ) -> SyncResponse {
        let mut fork = self.doc.fork_at(heads).expect("fork at heads");
        // One actor per device, as a phone has (device ids share their time prefix).
        fork.set_actor(automerge::ActorId::from(&Sha256::digest(self.device_id.as_bytes())[..16]));
        let mut tx = fork.transaction();
        edit(&mut tx, self);
        let hash = tx.commit().0.expect("the edit wrote something");
        let change = fork.get_change_by_hash(&hash).expect("change").raw_bytes().to_vec();
        self.doc.load_incremental(&change).expect("keep my own change");
        self.push_raw(server, vec![change]).await
    }

    pub(crate) async fn push_raw(&mut self, server: &Server, changes: Vec<Vec<u8>>) -> SyncResponse {
        let push = Push {
            ticket_id: self.id.clone(),
            changes: changes.into_iter().map(ByteBuf::from).collect(),
            heads: protocol::to_wire(&self.doc.get_heads()),
        };
        let (answer, _) = server.sync(&self.token, &SyncRequest { cursor: self.cursor, pushes: vec![push] }).await;
        self.take(&answer);
        answer
    }

    pub(crate) fn list(&self, tx: &Transaction<'_>, name: &str) -> ObjId {
        match tx.get(ROOT, name) {
            Ok(Some((_, list))) => list,
            other => panic!("no {name}: {other:?}"),
        }
    }

    /// Inserts a record at `index` of list `name` with this device's id, user and the fields.
    pub(crate) fn insert(
        &self,
        tx: &mut Transaction<'_>,
        name: &str,
        index: usize,
        fields: &[(&str, ScalarValue)],
    ) -> ObjId {
        let list = self.list(tx, name);
        let record = tx.insert_object(&list, index, ObjType::Map).expect("insert");
        tx.put(&record, "id", format!("hostile-{name}-{index}-{}", fields.len())).expect("id");
        tx.put(&record, "by", self.user_id.as_str()).expect("by");
        tx.put(&record, "device", self.device_id.as_str()).expect("device");
        tx.put(&record, "role", "engineer").expect("role");
        for (key, value) in fields {
            tx.put(&record, *key, value.clone()).expect("field");
        }
        record
    }

    /// Appends an engineer event of `kind` (device time now).
    pub(crate) fn event(&self, tx: &mut Transaction<'_>, kind: &str) -> ObjId {
        let n = tx.length(self.list(tx, "events"));
        self.insert(tx, "events", n, &[("kind", kind.into()), ("at", ScalarValue::Int(now()))])
    }

    /// Index of the first event of `kind` in the copy.
    fn index_of(&self, kind: &str) -> usize {
        let events = match self.doc.get(ROOT, "events") {
            Ok(Some((_, list))) => list,
            other => panic!("no events: {other:?}"),
        };
        (0..self.doc.length(&events))
            .find(|n| {
                let Ok(Some((_, event))) = self.doc.get(&events, *n) else { return false };
                matches!(self.doc.get(&event, "kind"), Ok(Some((automerge::Value::Scalar(s), _))) if s.as_str() == Some(kind))
            })
            .unwrap_or_else(|| panic!("no {kind} event"))
    }
}

pub(crate) fn now() -> i64 {
    fieldsync_core::time::now_ms()
}

pub(crate) async fn detail(server: &Server, token: &str, id: &str) -> Json {
    let (status, detail) = server.get_json(token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

pub(crate) fn events_of(detail: &Json) -> Vec<Json> {
    detail["events"].as_array().cloned().unwrap_or_default()
}

pub(crate) async fn act(server: &Server, token: &str, id: &str, command: Json) {
    let (status, body) = server.act(token, id, command).await;
    assert_eq!(status, 200, "{body}");
}

/// eli's ticket, accepted, travelling and checked in on site by his honest phone.
pub(crate) async fn on_site(server: &Server, dana: &Device, eli: &Device) -> (String, Hostile) {
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &serde_json::json!({
                "title": "Boiler leaks", "assignee": "eli",
                "site": {"lat": 31.2304, "lon": 121.4737, "radius_m": 150.0},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let mut phone = Hostile::join(server, eli, &id).await;
    for kind in ["accepted", "travel_started"] {
        let answer = phone.push(server, |tx, me| drop(me.event(tx, kind))).await;
        assert!(answer.rejections.is_empty(), "{answer:?}");
    }
    let answer = phone
        .push(server, |tx, me| {
            let event = me.event(tx, "checked_in");
            let location = tx.put_object(&event, "location", ObjType::Map).expect("location");
            tx.put(&location, "lat", 31.2305).expect("lat");
            tx.put(&location, "lon", 121.4737).expect("lon");
            tx.put(&location, "accuracy_m", 5.0).expect("accuracy");
        })
        .await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    assert_eq!(detail(server, &dana.token, &id).await["status"], "on_site");
    (id, phone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_events_inserted_before_a_cancellation_the_device_had_seen() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    act(&server, &dana.token, &id, serde_json::json!({"action": "cancel", "reason": "customer cancelled"})).await;
    phone.pull(&server).await;
    let cancel_at = phone.index_of("cancelled");

    // The phone has the cancellation, and slips a completion in before it.
    let answer = phone
        .push(&server, |tx, me| {
            me.insert(tx, "events", cancel_at, &[("kind", "completed".into()), ("at", ScalarValue::Int(now()))]);
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("before events its author had already seen"), "{answer:?}");

    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["status"], "cancelled", "the dispatcher's decision stands: {ticket}");
    assert_eq!(ticket["conflicts"].as_array().map(Vec::len), Some(0), "the cancel is no conflict: {ticket}");
    let events = events_of(&ticket);
    let completed: Vec<&Json> = events.iter().filter(|e| e["kind"] == "completed").collect();
    assert_eq!(completed.len(), 1, "kept in the history: {events:?}");
    assert!(completed[0]["void"].as_str().is_some(), "and voided: {completed:?}");
    let cancel = events.iter().find(|e| e["kind"] == "cancelled").expect("the cancel");
    assert!(cancel["void"].is_null() && cancel["by"] == "dana");
    for kind in ["accepted", "travel_started", "checked_in"] {
        let honest = events.iter().find(|e| e["kind"] == kind).expect("eli's earlier work");
        assert!(honest["void"].is_null(), "{honest}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_former_assignee_steals_a_reassigned_ticket_and_writes_to_it() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    act(&server, &dana.token, &id, serde_json::json!({"action": "assign", "engineer": "fay"})).await;
    let mut fays = Hostile::join(&server, &fay, &id).await;
    let answer = fays.push(&server, |tx, me| drop(me.event(tx, "accepted"))).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let fay_note = fays
        .push(&server, |tx, me| {
            me.insert(tx, "notes", 0, &[("text", "fay: valve ordered".into()), ("at", ScalarValue::Int(now()))]);
        })
        .await;
    assert!(fay_note.rejections.is_empty(), "{fay_note:?}");

    // eli learnt of the reassignment somehow (here: the server's copy) and writes after it:
    // a completion slipped in before the reassignment, a checklist tick, feedback, a signature.
    let known = server.state.storage().load_ticket(&id).expect("load").expect("ticket");
    phone.doc.load_incremental(&known.bytes).expect("the server's copy");
    let reassigned_at = phone.index_of("reassigned");
    let log_before = server.state.storage().change_log(&id).expect("log").len();
    let answer = phone
        .push(&server, |tx, me| {
            me.insert(tx, "events", reassigned_at, &[("kind", "completed".into()), ("at", ScalarValue::Int(now()))]);
            let checklist = me.list(tx, "checklist");
            let item = tx.put_object(&checklist, "tested", ObjType::Map).expect("item");
            tx.put(&item, "done", true).expect("done");
            let feedback = tx.put_object(ROOT, "feedback", ObjType::Map).expect("feedback");
            tx.put(&feedback, "rating", 5_u64).expect("rating");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("no longer assigned"), "{answer:?}");
    assert!(answer.updates.iter().all(|u| u.data.is_empty()), "no part of fay's ticket goes back: {answer:?}");
    assert_eq!(server.state.storage().change_log(&id).expect("log").len(), log_before, "nothing of it was stored");

    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["assignee"], "fay", "{ticket}");
    assert_eq!(ticket["status"], "accepted", "fay's accept stands: {ticket}");
    assert!(ticket["feedback"].is_null(), "{ticket}");
    assert_eq!(ticket["notes"][0]["text"], "fay: valve ordered");
    assert!(events_of(&ticket).iter().all(|e| e["kind"] != "completed"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_evicted_former_assignee_pushes_to_read_the_new_assignees_work() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    let eli_heads = phone.doc.get_heads();
    act(&server, &dana.token, &id, serde_json::json!({"action": "assign", "engineer": "fay"})).await;
    let evicted = phone.pull(&server).await;
    assert_eq!(evicted.evictions, vec![id.clone()]);
    assert!(evicted.updates.is_empty(), "the eviction carries no part of the ticket: {evicted:?}");
    let mut fays = Hostile::join(&server, &fay, &id).await;
    fays.push(&server, |tx, me| drop(me.event(tx, "accepted"))).await;
    let secret = "fay: alarm code 7731";
    fays.push(&server, |tx, me| drop(me.insert(tx, "notes", 0, &[("text", secret.into())]))).await;

    // An empty-looking change on top of what eli holds (he never saw the reassignment): it is
    // concurrent work, acknowledged, and still no document comes back.
    let answer = phone.push_at(&server, &eli_heads, |tx, _| tx.put(ROOT, "x-probe", 1_u64).expect("probe")).await;
    let bytes = format!("{answer:?}");
    assert!(answer.updates.iter().all(|u| u.data.is_empty()), "{answer:?}");
    assert!(answer.evictions.contains(&id), "{answer:?}");
    assert!(!bytes.contains("alarm"), "fay's note never reaches eli");
    assert_eq!(answer.rejections.len(), 1, "an engineer may not change the ticket's fields: {answer:?}");
    // The same from a cursor of 0, as a fresh install of the same device would ask.
    phone.cursor = 0;
    let again = phone.pull(&server).await;
    assert!(again.updates.is_empty(), "{again:?}");

    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["assignee"], "fay");
    assert_eq!(ticket["notes"][0]["text"], secret, "fay's work intact");
    assert!(ticket.get("x-probe").is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_signature_replaced_after_completion() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    let sign = |signer: &'static str| {
        move |tx: &mut Transaction<'_>, me: &Hostile| {
            let signature = tx.put_object(ROOT, "signature", ObjType::Map).expect("signature");
            for (key, value) in [
                ("signer", signer.to_owned()),
                ("png_sha256", "a".repeat(64)),
                ("summary_sha256", "b".repeat(64)),
                ("by", me.user_id.clone()),
            ] {
                tx.put(&signature, key, value).expect("field");
            }
        }
    };
    let answer = phone.push(&server, sign("Mrs Wang")).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let answer = phone.push(&server, |tx, me| drop(me.event(tx, "completed"))).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");

    let answer = phone.push(&server, sign("Someone Else")).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["signature"]["signer"], "Mrs Wang", "the customer's signature stands: {ticket}");
    assert_eq!(ticket["status"], "completed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_values_out_of_range_are_undone_and_what_the_server_knows_is_recomputed() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    let answer = phone
        .push(&server, |tx, me| {
            let feedback = tx.put_object(ROOT, "feedback", ObjType::Map).expect("feedback");
            tx.put(&feedback, "rating", 99_u64).expect("rating");
            me.insert(tx, "time_entries", 0, &[("minutes", 999_999_u64.into()), ("kind", "labour".into())]);
            me.insert(tx, "parts", 0, &[("sku", "SEAL-22".into()), ("qty", ScalarValue::Int(-5))]);
            me.insert(tx, "notes", 0, &[("text", "honest note".into()), ("at", ScalarValue::Int(now()))]);
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    let reason = &answer.rejections[0].reason;
    assert!(reason.contains("rating") && reason.contains("minutes") && reason.contains("quantity"), "{reason}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert!(ticket["feedback"].is_null(), "rating 99 undone: {ticket}");
    assert!(ticket["time_entries"][0]["void"].as_str().is_some(), "{ticket}");
    assert!(ticket["parts"][0]["void"].as_str().is_some(), "{ticket}");
    assert_eq!(ticket["notes"][0]["text"], "honest note");
    assert!(ticket["notes"][0]["void"].is_null(), "the honest record in the same push stays: {ticket}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_check_in_far_away_claiming_inside_and_dated_before_the_ticket() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &serde_json::json!({
                "title": "Far away", "assignee": "eli",
                "site": {"lat": 31.2304, "lon": 121.4737, "radius_m": 150.0},
                "sla": {"respond_by": now() + 3_600_000, "arrive_by": now() + 7_200_000},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let created_at = detail(&server, &dana.token, &id).await["created_at"].as_i64().expect("created_at");
    let mut phone = Hostile::join(&server, &eli, &id).await;
    let day_before = created_at - 86_400_000;
    let answer = phone
        .push(&server, |tx, me| {
            me.insert(tx, "events", 2, &[("kind", "accepted".into()), ("at", ScalarValue::Int(day_before))]);
        })
        .await;
    assert!(answer.rejections.is_empty(), "a clamp is a correction, not a refusal: {answer:?}");
    let far = Location { lat: 52.37, lon: 4.9, accuracy_m: 5.0 }; // Amsterdam; the site is Shanghai
    let answer = phone
        .push(&server, |tx, me| {
            let event =
                me.insert(tx, "events", 3, &[("kind", "checked_in".into()), ("at", ScalarValue::Int(day_before))]);
            let location = tx.put_object(&event, "location", ObjType::Map).expect("location");
            tx.put(&location, "lat", far.lat).expect("lat");
            tx.put(&location, "lon", far.lon).expect("lon");
            tx.put(&location, "accuracy_m", far.accuracy_m).expect("accuracy");
            tx.put(&location, "distance_m", 0.5).expect("distance");
            tx.put(&location, "inside_site", true).expect("inside");
        })
        .await;
    assert!(answer.rejections.is_empty(), "{answer:?}");

    let ticket = detail(&server, &dana.token, &id).await;
    let events = events_of(&ticket);
    let check_in = events.iter().find(|e| e["kind"] == "checked_in").expect("check-in kept");
    let distance = check_in["place"]["distance_m"].as_f64().expect("distance");
    assert!(distance > 8_000_000.0, "recomputed from the coordinates: {check_in}");
    assert_eq!(check_in["place"]["inside_site"], false, "{check_in}");
    for event in events.iter().filter(|e| e["by"] == "eli") {
        let at = event["at"].as_i64().expect("at");
        assert!(at >= created_at, "no event dates before the ticket: {event}");
        assert_eq!(event["device_at"].as_i64(), Some(day_before), "the device's own time is kept: {event}");
    }
    let milestones = &ticket["milestones"];
    for milestone in ["responded_at", "arrived_at"] {
        assert!(milestones[milestone].as_i64().is_some_and(|at| at >= created_at), "{milestones}");
    }
    assert_eq!(ticket["status"], "on_site");
    server.stop().await;
}

/// Issue 15: what the customer is shown is checked like every value: an ETA a year ahead (or
/// before setting off) voids the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_eta_the_customer_would_be_shown_is_checked() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let id = server.create_ticket(&dana.token, "Boiler leaks", Some("eli")).await;
    let mut phone = Hostile::join(&server, &eli, &id).await;
    let answer = phone.push(&server, |tx, me| drop(me.event(tx, "accepted"))).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let year = 365 * 24 * 3_600_000;
    let answer = phone
        .push(&server, |tx, me| {
            let event = me.event(tx, "travel_started");
            tx.put(&event, "eta", ScalarValue::Int(now() + year)).expect("eta");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("ETA"), "{answer:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["status"], "accepted", "the event is voided: {ticket}");
    let answer = phone
        .push(&server, |tx, me| {
            let event = me.event(tx, "travel_started");
            tx.put(&event, "eta", ScalarValue::Int(now() + 1_800_000)).expect("eta");
        })
        .await;
    assert!(answer.rejections.is_empty(), "an honest ETA: {answer:?}");
    assert_eq!(detail(&server, &dana.token, &id).await["status"], "travelling");
    server.stop().await;
}

/// The customer's tracking link of ticket `id`, as the dispatcher API shows it.
async fn tracking_url(server: &Server, dana: &Device, id: &str) -> String {
    detail(server, &dana.token, id).await["tracking_url"].as_str().expect("a tracking link").to_owned()
}

/// Issue 15: the customer's messages and rating are the customer's. Neither the engineer's
/// device nor a dispatcher's may write, overwrite or edit them; the server undoes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_devices_writing_the_customers_rating_or_messages_are_undone() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;

    // Before the customer said anything, the engineer gives the job 5 stars in their name.
    let answer = phone
        .push(&server, |tx, _| {
            let forged = tx.put_object(ROOT, "customer_feedback", ObjType::Map).expect("map");
            tx.put(&forged, "rating", 5_u64).expect("rating");
            tx.put(&forged, "by", "customer").expect("by");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("only the customer"), "{answer:?}");
    assert!(detail(&server, &dana.token, &id).await["customer_feedback"].is_null(), "undone");
    let answer = phone.push(&server, |tx, me| drop(me.event(tx, "completed"))).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");

    // The customer writes through the page; the phone receives it.
    let link = tracking_url(&server, &dana, &id).await;
    let post = |path: &str, body: String| {
        server
            .http
            .post(format!("{link}/{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let sent = post("messages", "text=Please+call+before+you+come".into()).await.expect("message");
    assert!(sent.status().is_success(), "{}", sent.status());
    let rated = post("rating", "rating=2&comment=late".into()).await.expect("rating");
    assert!(rated.status().is_success(), "{}", rated.status());
    phone.pull(&server).await;

    // The engineer turns the 2 into a 5, forges a message and edits the customer's.
    let answer = phone
        .push(&server, |tx, me| {
            let feedback = me.list(tx, "customer_feedback");
            tx.put(&feedback, "rating", 5_u64).expect("rating");
            let messages = me.list(tx, "customer_messages");
            let forged = tx.insert_object(&messages, 1, ObjType::Map).expect("insert");
            tx.put(&forged, "text", "All good, no need to call").expect("text");
            tx.put(&forged, "by", "customer").expect("by");
            let Ok(Some((_, first))) = tx.get(&messages, 0) else { panic!("no message") };
            tx.put(&first, "text", "Thanks!").expect("edit");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("only the customer"), "{answer:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!(ticket["customer_feedback"]["rating"], 2, "the customer's rating stands: {ticket}");
    assert_eq!(ticket["customer_messages"].as_array().map(Vec::len), Some(1), "{ticket}");
    assert_eq!(ticket["customer_messages"][0]["text"], "Please call before you come");

    // A dispatcher's device may not either.
    let mut desk = Hostile::join(&server, &dana, &id).await;
    let answer = desk
        .push(&server, |tx, me| {
            let feedback = me.list(tx, "customer_feedback");
            tx.put(&feedback, "rating", 4_u64).expect("rating");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert_eq!(detail(&server, &dana.token, &id).await["customer_feedback"]["rating"], 2);
    server.stop().await;
}

/// The classification and the escalations are dispatcher-owned (docs/adr/0014): an engineer's
/// phone that rewrites the ticket's type, or forges an escalation, is refused and undone, and
/// the index (what lists filter by) keeps the dispatcher's type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_engineer_reclassifies_or_forges_an_escalation() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (status, body) = server
        .post_json(
            &dana.token,
            "/v1/tickets",
            &serde_json::json!({"title": "Pump noise", "assignee": "eli", "classification": {"type": "on_site_repair"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let mut phone = Hostile::join(&server, &eli, &id).await;

    // Into the existing map: a cheaper type for the reports.
    let answer = phone
        .push(&server, |tx, _| {
            let Some((_, map)) = tx.get(ROOT, "classification").expect("read") else { panic!("no classification") };
            tx.put(&map, "type", "consultation").expect("type");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    // A whole new map, and a forged escalation beside it.
    let answer = phone
        .push(&server, |tx, _| {
            let map = tx.put_object(ROOT, "classification", ObjType::Map).expect("map");
            tx.put(&map, "type", "bug").expect("type");
            let forged = tx.put_object(ROOT, "escalations", ObjType::Map).expect("escalations");
            let entry = tx.put_object(&forged, "x", ObjType::Map).expect("entry");
            tx.put(&entry, "summary", "all fine").expect("summary");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    phone.pull(&server).await;

    let detail = detail(&server, &dana.token, &id).await;
    assert_eq!(detail["classification"]["type"], "on_site_repair", "{detail}");
    assert_eq!(detail["escalations"], serde_json::json!([]), "no forged escalation");
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets?type=on_site_repair").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "the index keeps the dispatcher's type: {listed}");
    assert_eq!(listed[0]["escalated"], false, "the forged escalation is not in the index");
    let (_, forged) = server.get_json(&dana.token, "/v1/tickets?type=bug").await;
    assert_eq!(forged, serde_json::json!([]));
    // The phone's copy converged back too.
    let Some((value, map)) = phone.doc.get(ROOT, "classification").expect("read") else { panic!("gone") };
    assert!(matches!(value, automerge::Value::Object(ObjType::Map)));
    let kind = phone.doc.get(&map, "type").expect("read").map(|(v, _)| v.to_string());
    assert_eq!(kind.as_deref(), Some("\"on_site_repair\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_engineer_closes_his_own_job_as_revisited_or_moves_the_revisit_target() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    let answer = phone.push(&server, |tx, me| drop(me.event(tx, "completed"))).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let due = server.state.storage().ticket_row(&id).expect("row").expect("exists").revisit_due_at;
    assert!(due.is_some(), "the default policy's revisit target makes a revisit due");

    // A `revisited` event claiming a dispatcher's role, and a revisit's reopen: only a
    // dispatcher judges the job, and the role is the device's, not what the record says.
    let answer = phone
        .push(&server, |tx, me| {
            let event = me.event(tx, "revisited");
            tx.put(&event, "role", "dispatcher").expect("role");
            tx.put(&event, "contact", "myself").expect("contact");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    // Pushing the revisit target far away, so the job never shows as due.
    let answer = phone
        .push(&server, |tx, _| {
            let Some((_, sla)) = tx.get(ROOT, "sla").expect("read") else { panic!("no sla") };
            tx.put(&sla, "revisit_after", ScalarValue::Int(i64::MAX / 4)).expect("revisit_after");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");

    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert_eq!(
        (row.revisit_due_at, row.revisited_at, row.first_time_fix),
        (due, None, None),
        "still due a revisit, with no verdict"
    );
    let detail = detail(&server, &dana.token, &id).await;
    assert_eq!(detail["status"], "completed", "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_devices_delete_or_rewrite_a_complaints_history_or_unmark_it() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    // Filed as an ordinary job, reclassified into a complaint by the desk: one for good.
    act(
        &server,
        &dana.token,
        &id,
        serde_json::json!({"action": "reclassify", "classification": {"type": "complaint"}}),
    )
    .await;
    act(&server, &dana.token, &id, serde_json::json!({"action": "set_complaint", "level": "crisis"})).await;
    phone.pull(&server).await;
    let before = detail(&server, &dana.token, &id).await;
    assert_eq!((before["complaint"].clone(), before["complaint_level"].clone()), (Json::Bool(true), "crisis".into()));

    // A dispatcher's device (dispatchers may edit tickets from their devices) deletes the
    // check-in from the history, rewrites the acceptance, and unmarks the complaint.
    let mut desk = Hostile::join(&server, &dana, &id).await;
    let check_in = desk.index_of("checked_in");
    let accepted = desk.index_of("accepted");
    let answer = desk
        .push(&server, |tx, me| {
            let events = me.list(tx, "events");
            tx.delete(&events, check_in).expect("delete the check-in");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "deleting history: {answer:?}");
    let answer = desk
        .push(&server, |tx, me| {
            let events = me.list(tx, "events");
            let Some((_, record)) = tx.get(&events, accepted).expect("read") else { panic!("no acceptance") };
            tx.put(&record, "by", "someone-else").expect("rewrite");
            tx.put(&record, "at", ScalarValue::Int(0)).expect("backdate");
        })
        .await;
    assert_eq!(answer.rejections.len(), 1, "rewriting history: {answer:?}");
    for unmark in [Some(ScalarValue::Boolean(false)), None] {
        let answer = desk
            .push(&server, |tx, _| match &unmark {
                Some(value) => tx.put(ROOT, "complaint", value.clone()).expect("unmark"),
                None => tx.delete(ROOT, "complaint").expect("delete the flag"),
            })
            .await;
        assert_eq!(answer.rejections.len(), 1, "unmarking ({unmark:?}): {answer:?}");
    }
    // The engineer's phone lowers the level.
    let answer = phone.push(&server, |tx, _| tx.put(ROOT, "complaint_level", "suggestion").expect("level")).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");

    let after = detail(&server, &dana.token, &id).await;
    assert_eq!(events_of(&after).len(), events_of(&before).len(), "no event lost");
    for (old, new) in events_of(&before).iter().zip(events_of(&after).iter()) {
        assert_eq!(
            (old["id"].clone(), old["by"].clone(), old["at"].clone()),
            (new["id"].clone(), new["by"].clone(), new["at"].clone())
        );
    }
    assert_eq!((after["complaint"].clone(), after["complaint_level"].clone()), (Json::Bool(true), "crisis".into()));
    let (_, listed) = server.get_json(&dana.token, "/v1/tickets").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let row = server.state.storage().ticket_row(&id).expect("row").expect("exists");
    assert!(row.complaint && row.complaint_level == "crisis", "{row:?}");
    // Every attempt and its undoing is on the timeline, marked as the server's.
    let history = after["history"].as_array().expect("history");
    assert!(history.iter().filter(|h| h["server"] == true).count() >= 5, "{history:?}");
}
