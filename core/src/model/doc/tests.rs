use super::*;
use crate::model::{Customer, Identity, NewTicket, SCHEMA_VERSION, Site};
use automerge::ActorId;
use automerge::transaction::Transactable;

fn dispatcher() -> Identity {
    Identity { user_id: "disp".into(), device_id: "console".into(), role: Role::Dispatcher }
}

fn engineer() -> Identity {
    Identity { user_id: "eng-1".into(), device_id: "phone-1".into(), role: Role::Engineer }
}

fn stamp(identity: &Identity, n: i64) -> Stamp<'_> {
    Stamp { id: format!("id-{n}"), at: 1_700_000_000_000 + n, identity }
}

fn new_ticket() -> NewTicket {
    NewTicket {
        title: "Boiler leaks".into(),
        customer: Customer { name: "ACME".into(), address: "1 Main St".into(), ..Default::default() },
        site: Some(Site { lat: 52.0, lon: 4.0, radius_m: 100.0 }),
        assignee: Some("eng-1".into()),
        checklist: vec!["isolate power".into()],
        ..Default::default()
    }
}

fn created() -> Automerge {
    let d = dispatcher();
    let mut doc = Automerge::new().with_actor(ActorId::from(&[1u8; 16][..]));
    edit(&mut doc, 1, "create", |tx| create(tx, "t-1", &new_ticket(), &stamp(&d, 1))).expect("create");
    doc
}

#[test]
fn a_created_ticket_reads_back_with_every_field() {
    let doc = created();
    let t = read_ticket(&doc).expect("read");
    assert_eq!(t.id, "t-1");
    assert_eq!(t.schema, SCHEMA_VERSION);
    assert_eq!(t.title, "Boiler leaks");
    assert_eq!(t.customer.name, "ACME");
    assert_eq!(t.site, Some(Site { lat: 52.0, lon: 4.0, radius_m: 100.0 }));
    assert_eq!(t.status, Status::Dispatched);
    assert_eq!(t.assignee.as_deref(), Some("eng-1"));
    let kinds: Vec<_> = t.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "dispatched"]);
    assert_eq!(t.checklist.len(), 1);
    assert!(!t.checklist[0].done);
}

/// A newer app version adds fields we do not know, at the root and inside an event; our
/// edits must leave them exactly as they were.
#[test]
fn fields_written_by_a_newer_version_survive_our_edits() {
    let mut newer = created().fork().with_actor(ActorId::from(&[9u8; 16][..]));
    newer
        .transact::<_, _, AutomergeError>(|tx| {
            tx.put(ROOT, "schema", 7_u64)?;
            let extra = tx.put_object(ROOT, "drone_survey", ObjType::Map)?;
            tx.put(&extra, "altitude_m", 120_i64)?;
            let list = tx.put_object(&extra, "frames", ObjType::List)?;
            tx.insert(&list, 0, "frame-a")?;
            let events = match tx.get(ROOT, "events")? {
                Some((_, id)) => id,
                None => unreachable!("created doc has events"),
            };
            let first = match tx.get(&events, 0)? {
                Some((_, id)) => id,
                None => unreachable!("created doc has an event"),
            };
            tx.put(&first, "weather", "rain")?;
            Ok(())
        })
        .expect("newer edit");

    let bytes = newer.save();
    let mut ours = Automerge::load(&bytes).expect("load").with_actor(ActorId::from(&[2u8; 16][..]));
    let e = engineer();
    for (n, draft) in
        [EventDraft::of(EventKind::Accepted), EventDraft::of(EventKind::TravelStarted)].into_iter().enumerate()
    {
        edit(&mut ours, 10, "act", |tx| append_event(tx, &draft, &stamp(&e, 10 + n as i64))).expect("event");
    }
    edit(&mut ours, 12, "note", |tx| append_note(tx, "on my way", false, &stamp(&e, 12))).expect("note");
    edit(&mut ours, 13, "check", |tx| set_checklist_item(tx, "isolate power", true, &stamp(&e, 13))).expect("check");

    let reloaded = Automerge::load(&ours.save()).expect("reload");
    let before = newer.hydrate(None);
    let after = reloaded.hydrate(None);
    let (automerge::hydrate::Value::Map(before), automerge::hydrate::Value::Map(after)) = (before, after) else {
        panic!("root is a map");
    };
    assert_eq!(before.get("drone_survey"), after.get("drone_survey"), "unknown root object kept");
    assert_eq!(before.get("schema"), after.get("schema"), "newer schema number kept");
    let t = read_ticket(&reloaded).expect("read");
    assert_eq!(t.schema, 7);
    assert_eq!(t.status, Status::Travelling);
    assert_eq!(t.notes.len(), 1);
    let first_event = &records(&reloaded, "events")[0];
    assert_eq!(first_event.str("weather").as_deref(), Some("rain"), "unknown event field kept");
}

#[test]
fn mistyped_fields_read_as_absent_not_as_a_panic() {
    let mut doc = created();
    doc.transact::<_, _, AutomergeError>(|tx| {
        tx.put(ROOT, "title", 42_i64)?;
        tx.put(ROOT, "priority", "galactic")?;
        tx.put(ROOT, "events", "not a list")?;
        tx.put_object(ROOT, "customer", ObjType::List)?;
        Ok(())
    })
    .expect("vandalise");
    let t = read_ticket(&doc).expect("still a ticket: it has an id");
    assert_eq!(t.title, "");
    assert_eq!(t.priority, Priority::Normal);
    assert!(t.events.is_empty());
    assert_eq!(t.status, Status::New);
    assert_eq!(t.customer, Customer::default());
}

#[test]
fn a_document_without_an_id_is_not_a_ticket() {
    let doc = Automerge::new();
    assert!(matches!(read_ticket(&doc), Err(ModelError::NotATicket(_))));
    assert!(summarize(&doc, 0, false).is_err());
}

#[test]
fn sla_due_at_is_the_earliest_unmet_deadline() {
    let sla = Sla { respond_by: Some(10), arrive_by: Some(20), resolve_by: Some(30) };
    let none = Milestones::default();
    assert_eq!(sla_due_at(&sla, Status::Dispatched, &none), Some(10));
    let responded = Milestones { responded_at: Some(5), ..none };
    assert_eq!(sla_due_at(&sla, Status::Accepted, &responded), Some(20));
    let arrived = Milestones { arrived_at: Some(15), ..responded };
    assert_eq!(sla_due_at(&sla, Status::OnSite, &arrived), Some(30));
    let resolved = Milestones { resolved_at: Some(25), ..arrived };
    assert_eq!(sla_due_at(&sla, Status::Completed, &resolved), None);
    assert_eq!(sla_due_at(&sla, Status::Cancelled, &none), None);
}

/// The id of the record at `index` of the root list `list`.
fn record_at(doc: &Automerge, list: &str, index: usize) -> ObjId {
    let list = root(doc).object(list, ObjType::List).expect("list");
    match doc.get(&list, index) {
        Ok(Some((Value::Object(ObjType::Map), id))) => id,
        other => panic!("no record at {index}: {other:?}"),
    }
}

/// An engineer's phone forges a `cancelled` event (a dispatcher kind, named as the
/// dispatcher); the server voids it. The event stays in the history with the reason, but the
/// status is as if it had never been written, and it is not reported as a conflict.
#[test]
fn a_voided_forged_event_stays_in_the_history_but_no_longer_moves_the_status() {
    let mut doc = created();
    let e = engineer();
    let d = dispatcher();
    let forger = Identity { device_id: e.device_id.clone(), ..d.clone() };
    edit(&mut doc, 10, "accept", |tx| append_event(tx, &EventDraft::of(EventKind::Accepted), &stamp(&e, 10)))
        .expect("accept");
    let cancel = EventDraft { reason: Some("not my job".into()), ..EventDraft::of(EventKind::Cancelled) };
    edit(&mut doc, 11, "forge", |tx| append_event(tx, &cancel, &stamp(&forger, 11))).expect("forge");
    assert_eq!(derive(&doc).state.status, Status::Cancelled, "unvoided, the forgery counts");

    let forged = record_at(&doc, key::EVENTS, 3);
    let mut server = doc.fork().with_actor(ActorId::from(&[7u8; 16][..]));
    edit(&mut server, 12, "compensate: forged", |tx| {
        tx.put(&forged, VOID, "an engineer may not record a \"cancelled\" event")?;
        Ok(())
    })
    .expect("void");

    let derived = derive(&server);
    assert_eq!(derived.state.status, Status::Accepted, "the voided event is skipped");
    assert!(derived.conflicts.is_empty(), "a voided event is not a conflict: {:?}", derived.conflicts);
    let t = read_ticket(&server).expect("read");
    assert_eq!(t.status, Status::Accepted);
    assert_eq!(t.events.len(), 4, "nothing is lost from the history");
    assert_eq!(t.events[3].kind, "cancelled");
    assert_eq!(t.events[3].void.as_deref(), Some("an engineer may not record a \"cancelled\" event"));
    assert!(t.events[..3].iter().all(|e| e.void.is_none()));
    assert_eq!(workflow_events(&t.events).len(), 3);
    assert_eq!(summarize(&server, 0, false).expect("summary").status, Status::Accepted);

    // The engineer carries on from the real state, on the merged document.
    doc.merge(&mut server).expect("merge");
    edit(&mut doc, 13, "travel", |tx| append_event(tx, &EventDraft::of(EventKind::TravelStarted), &stamp(&e, 13)))
        .expect("travel");
    let derived = derive(&doc);
    assert_eq!(derived.state.status, Status::Travelling);
    assert!(derived.conflicts.is_empty());
}

/// A ticket with two notes, two parts and a time entry, of which the server voided the second
/// note, the first part and the time entry, each with its reason.
fn with_voided_records() -> Automerge {
    let mut doc = created();
    let e = engineer();
    edit(&mut doc, 10, "records", |tx| {
        append_note(tx, "kept", false, &stamp(&e, 10))?;
        append_note(tx, "forged", false, &stamp(&e, 11))?;
        append_part(tx, "SKU-1", 2, &stamp(&e, 12))?;
        append_part(tx, "SKU-2", 1, &stamp(&e, 13))?;
        append_time(tx, 30, "labour", &stamp(&e, 14))
    })
    .expect("records");
    let (note, part, time) =
        (record_at(&doc, key::NOTES, 1), record_at(&doc, key::PARTS, 0), record_at(&doc, key::TIME_ENTRIES, 0));
    edit(&mut doc, 15, "compensate", |tx| {
        tx.put(&note, VOID, "names another user")?;
        tx.put(&part, VOID, "not yours")?;
        tx.put(&time, VOID, "not yours either")?;
        Ok(())
    })
    .expect("void");
    doc
}

#[test]
fn voided_notes_parts_and_time_entries_stay_readable_with_the_reason() {
    let doc = with_voided_records();
    let t = read_ticket(&doc).expect("read");
    assert_eq!(t.notes.len(), 2);
    assert_eq!(t.notes[0].void, None);
    assert_eq!((t.notes[1].text.as_str(), t.notes[1].void.as_deref()), ("forged", Some("names another user")));
    assert_eq!(t.parts[0].void.as_deref(), Some("not yours"));
    assert_eq!(t.time_entries[0].void.as_deref(), Some("not yours either"));
    assert_eq!(t.status, Status::Dispatched);
}

#[test]
fn the_ticket_an_app_shows_leaves_the_voided_notes_parts_and_time_entries_out() {
    let doc = with_voided_records();
    let shown = read_ticket(&doc).expect("read").without_voided();
    assert_eq!(shown.notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(shown.parts.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), ["SKU-2"]);
    assert!(shown.time_entries.is_empty());
    assert_eq!(shown.events.len(), read_ticket(&doc).expect("read").events.len(), "the history is kept whole");
}

#[test]
fn void_defaults_to_none_in_json_written_before_it_existed() {
    let json = r#"{"id":"n","text":"t","at":1,"by":"eli","device":"p"}"#;
    let note: Note = serde_json::from_str(json).expect("old json");
    assert_eq!(note.void, None);
}

#[test]
fn the_customers_records_public_notes_and_the_eta_read_back() {
    let e = engineer();
    let mut doc = created();
    edit(&mut doc, 10, "notes", |tx| {
        append_note(tx, "internal", false, &stamp(&e, 10))?;
        append_note(tx, "for the customer", true, &stamp(&e, 11))
    })
    .expect("notes");
    let travel = EventDraft { eta: Some(1_700_000_900_000), ..EventDraft::of(EventKind::TravelStarted) };
    edit(&mut doc, 12, "travel", |tx| append_event(tx, &travel, &stamp(&e, 12))).expect("travel");
    assert!(!has_customer_feedback(&doc) && customer_message_count(&doc) == 0);
    edit(&mut doc, 13, "customer", |tx| {
        append_customer_message(tx, "m-1", "请先打电话", 13)?;
        append_customer_message(tx, "m-2", "thanks", 14)?;
        put_customer_feedback(tx, 2, "late", 15)
    })
    .expect("customer");
    let t = read_ticket(&doc).expect("read");
    assert_eq!(t.notes.iter().map(|n| n.public).collect::<Vec<_>>(), [false, true]);
    assert_eq!(t.events.last().and_then(|ev| ev.eta), Some(1_700_000_900_000));
    assert_eq!(customer_message_count(&doc), 2);
    assert_eq!(t.customer_messages[0].text, "请先打电话");
    assert!(t.customer_messages.iter().all(|m| m.by == crate::model::CUSTOMER_AUTHOR));
    let rating = t.customer_feedback.expect("the customer's rating");
    assert_eq!((rating.rating, rating.comment.as_str(), rating.by.as_str()), (2, "late", "customer"));
    assert!(t.feedback.is_none(), "the engineer's feedback is another record");
}

/// The index's time, parts and handover figures follow the history: eng-1 rejects, the
/// dispatcher reassigns to eng-2 and then to eng-3, who records time and parts.
#[test]
fn the_index_counts_time_parts_and_handovers_from_the_history() {
    let d = dispatcher();
    let e1 = engineer();
    let e3 = Identity { user_id: "eng-3".into(), device_id: "phone-3".into(), role: Role::Engineer };
    let mut doc = created();
    let mut n = 10;
    let mut act = |doc: &mut Automerge, who: &Identity, draft: EventDraft| {
        n += 1;
        let stamp = stamp(who, n);
        edit(doc, n, "act", |tx| append_event(tx, &draft, &stamp)).expect("event");
    };
    let to = |engineer: &str| EventDraft { assignee: Some(engineer.into()), ..EventDraft::of(EventKind::Reassigned) };
    act(&mut doc, &e1, EventDraft { reason: Some("no parts".into()), ..EventDraft::of(EventKind::Rejected) });
    act(&mut doc, &d, to("eng-2"));
    act(&mut doc, &d, to("eng-3"));
    act(&mut doc, &e3, EventDraft::of(EventKind::Accepted));
    edit(&mut doc, 30, "time", |tx| append_time(tx, 30, "travel", &stamp(&e3, 30))).expect("time");
    edit(&mut doc, 31, "time", |tx| append_time(tx, 45, "labour", &stamp(&e3, 31))).expect("time");
    edit(&mut doc, 32, "part", |tx| append_part(tx, "VALVE-22", 3, &stamp(&e3, 32))).expect("part");
    edit(&mut doc, 33, "part", |tx| append_part(tx, "SEAL-8", 1, &stamp(&e3, 33))).expect("part");

    let index = TicketIndex::of(&doc, &derive(&doc));
    assert_eq!((index.minutes_worked, index.parts_lines, index.parts_quantity), (75, 2, 4));
    assert_eq!((index.rejected_count, index.rejected_by.as_str()), (1, "eng-1"));
    assert_eq!(
        (index.reassigned_count, index.reassigned_from.as_str()),
        (2, "eng-2"),
        "the rejection left nobody holding it; the second reassignment took it from eng-2"
    );
    assert_eq!(index.assignee.as_deref(), Some("eng-3"));
}

/// The server reuses a ticket's index and state for a write that changes only these keys: each
/// must leave both as they were (a field that reads one must take it off the list).
#[test]
fn writes_under_the_index_neutral_keys_leave_the_index_and_state_as_they_were() {
    let e = engineer();
    let mut doc = created();
    edit(&mut doc, 2, "accept", |tx| append_event(tx, &EventDraft::of(EventKind::Accepted), &stamp(&e, 2)))
        .expect("accept");
    let index_of = |doc: &Automerge| {
        let derived = derive(doc);
        (TicketIndex::of(doc, &derived), derived.state)
    };
    let before = index_of(&doc);
    let photo = PhotoMeta {
        sha256: "ab".repeat(32),
        width: 640,
        height: 480,
        bytes: 1_000,
        caption: "valve".into(),
        taken_at: Some(1_700_000_000_100),
        by: "eng-1".into(),
        location: None,
        thumbnail_sha256: String::new(),
    };
    let signature = SignatureMeta {
        signer: "Li Wei".into(),
        signed_at: 1_700_000_000_200,
        png_sha256: "cd".repeat(32),
        summary_sha256: "ef".repeat(32),
    };
    edit(&mut doc, 3, "note", |tx| append_note(tx, "Seal replaced", true, &stamp(&e, 3))).expect("note");
    edit(&mut doc, 4, "photo", |tx| put_photo(tx, &photo, &stamp(&e, 4))).expect("photo");
    edit(&mut doc, 5, "check", |tx| set_checklist_item(tx, "isolate power", true, &stamp(&e, 5))).expect("check");
    edit(&mut doc, 6, "sign", |tx| put_signature(tx, &signature, "[]", &stamp(&e, 6))).expect("sign");
    let mut touched: Vec<String> = doc.keys(ROOT).filter(|k| INDEX_NEUTRAL_KEYS.contains(&k.as_str())).collect();
    touched.sort();
    assert_eq!(touched, ["checklist", "notes", "photos", "signature"], "every neutral key was written");
    assert_eq!(index_of(&doc), before);
    // The test can tell: a write outside the list changes the index.
    edit(&mut doc, 7, "part", |tx| append_part(tx, "SEAL-8", 1, &stamp(&e, 7))).expect("part");
    assert_ne!(index_of(&doc), before);
}
