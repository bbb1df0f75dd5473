use super::*;
use crate::model::{Classification, Customer, Priority, Site, Sla};
use crate::workflow::{Action, Reason, Refusal, Role};
use std::time::Duration;

pub(super) struct World {
    pub(super) _dir: tempfile::TempDir,
    pub(super) dispatcher: Client,
    pub(super) engineer: Client,
}

fn identity(user: &str, role: Role) -> Identity {
    Identity { user_id: user.into(), device_id: format!("{user}-device"), role }
}

pub(super) fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let dispatcher = Client::open(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher)).expect("open");
    let engineer = Client::open(dir.path().join("eng.sqlite"), identity("eng-1", Role::Engineer)).expect("open");
    World { _dir: dir, dispatcher, engineer }
}

pub(super) fn boiler() -> NewTicket {
    NewTicket {
        title: "Boiler leaks".into(),
        description: "Water under the boiler".into(),
        customer: Customer {
            name: "ACME 100% Ltd".into(),
            address: "1 Main St".into(),
            tier: "gold".into(),
            ..Default::default()
        },
        site: Some(Site { lat: 52.3676, lon: 4.9041, radius_m: 150.0 }),
        priority: Priority::High,
        sla: Sla { respond_by: Some(1_000), arrive_by: Some(2_000), resolve_by: Some(3_000) },
        assignee: Some("eng-1".into()),
        checklist: vec!["isolate power".into(), "photograph meter".into()],
        ..Default::default()
    }
}

/// Copies a ticket from one client to another, as sync will.
pub(super) fn deliver(from: &Client, to: &Client, id: &str) {
    to.merge_remote(id, &from.export(id).expect("export")).expect("merge");
}

fn photo_meta() -> crate::model::PhotoMeta {
    crate::model::PhotoMeta::sample()
}

fn signature_meta() -> crate::model::SignatureMeta {
    let sha = "b".repeat(64);
    crate::model::SignatureMeta { signer: "Ann".into(), signed_at: 1, png_sha256: sha.clone(), summary_sha256: sha }
}

pub(super) fn on_site() -> Location {
    Location { lat: 52.3680, lon: 4.9045, accuracy_m: 8.0 }
}

/// Every engineer action once, in workflow order, from dispatched to completed; `after_each`
/// gets the step's name once it succeeded.
fn engineer_day(e: &Client, id: &str, mut after_each: impl FnMut(&str)) {
    type Step<'a> = &'a dyn Fn() -> Result<(), Error>;
    let steps: [(&str, Step<'_>); 12] = [
        ("accept", &|| e.accept(id)),
        ("travel", &|| e.start_travel(id)),
        ("check in", &|| e.check_in(id, on_site())),
        ("work", &|| e.start_work(id)),
        ("note", &|| e.add_note(id, "Valve corroded")),
        ("part", &|| e.add_part(id, "VALVE-22", 2)),
        ("time", &|| e.log_time(id, 45, "labour")),
        ("checklist", &|| e.set_checklist_item(id, "isolate power", true)),
        ("pause", &|| e.pause(id)),
        ("resume", &|| e.resume(id)),
        ("feedback", &|| e.record_feedback(id, 5, "Quick and tidy")),
        ("complete", &|| e.complete(id, "Replaced valve")),
    ];
    for (name, step) in steps {
        step().unwrap_or_else(|err| panic!("{name}: {err}"));
        after_each(name);
    }
}

#[test]
fn the_whole_engineer_flow_is_recorded_and_derived() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    let e = &w.engineer;
    engineer_day(e, &id, |_| {});

    let t = e.get(&id).expect("get");
    assert_eq!(t.status, Status::Completed);
    let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "accepted",
            "travel_started",
            "checked_in",
            "work_started",
            "paused",
            "resumed",
            "completed"
        ]
    );
    assert!(t.conflicts.is_empty());
    assert_eq!(t.notes[0].text, "Valve corroded");
    assert_eq!(t.notes[0].device, "eng-1-device");
    assert_eq!((t.parts[0].sku.as_str(), t.parts[0].qty), ("VALVE-22", 2));
    assert_eq!((t.time_entries[0].minutes, t.time_entries[0].kind.as_str()), (45, "labour"));
    let isolate = t.checklist.iter().find(|c| c.item == "isolate power").expect("item");
    assert!(isolate.done);
    assert_eq!(t.feedback.as_ref().map(|f| f.rating), Some(5));
    assert_eq!(t.events.last().and_then(|e| e.summary.as_deref()), Some("Replaced valve"));
    assert!(
        t.milestones.responded_at.is_some() && t.milestones.arrived_at.is_some() && t.milestones.resolved_at.is_some()
    );

    let summary = &e.list(&ListFilter::default()).expect("list")[0];
    assert_eq!(summary.status, Status::Completed);
    assert!(summary.pending, "local changes are pending until the server acknowledges them");
    assert_eq!(summary.sla_due_at, None, "every milestone met");
}

/// The index row as the write path left it, beside the one summarized from scratch out of the
/// stored document (pending and time are the write's own, so they are left out).
fn row_and_recomputed(client: &Client, id: &str) -> (TicketSummary, TicketSummary) {
    let row = client.store().read(|tx| -> Result<_, Error> { Ok(tickets::summary(tx, id)?) }).expect("read");
    let mut row = row.expect("row");
    let document = Automerge::load(&client.export(id).expect("export")).expect("load");
    let mut recomputed = doc::summarize(&document, row.updated_at, row.pending).expect("summarize");
    row.rejected = None;
    recomputed.rejected = None;
    (row, recomputed)
}

#[test]
fn the_index_row_a_cached_action_writes_is_the_one_the_document_gives() {
    // Actions on a cached document reuse the fold and the row they left last time; after every
    // kind of action the row must still be what the whole document says.
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    let e = &w.engineer;
    engineer_day(e, &id, |step| {
        let (row, recomputed) = row_and_recomputed(e, &id);
        assert_eq!(row, recomputed, "after {step}");
    });
    // The dispatcher's side: reassign, cancel, reopen on its cached document.
    let d = &w.dispatcher;
    d.assign(&id, "eng-2").expect("reassign");
    d.cancel(&id, "duplicate").expect("cancel");
    d.reopen(&id, "needed after all").expect("reopen");
    let (row, recomputed) = row_and_recomputed(d, &id);
    assert_eq!(row, recomputed, "after reassign, cancel, reopen");
}

#[test]
fn an_action_on_a_document_just_loaded_writes_the_row_the_document_gives() {
    // A cache of one document: every action below loads its ticket from the store and starts
    // from the stored index row.
    let dir = tempfile::tempdir().expect("tempdir");
    let options = OpenOptions { doc_cache_capacity: 1, ..OpenOptions::default() };
    let d =
        Client::open_with(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher), options).expect("open");
    let (a, b) = (d.create_ticket(&boiler()).expect("a"), d.create_ticket(&boiler()).expect("b"));
    for (n, step) in ["note", "reassign", "note", "cancel", "note", "reopen"].iter().enumerate() {
        for id in [&a, &b] {
            match *step {
                "note" => d.add_note(id, &format!("note {n}")).expect("note"),
                "reassign" => d.assign(id, "eng-2").expect("reassign"),
                "cancel" => d.cancel(id, "duplicate").expect("cancel"),
                _ => d.reopen(id, "needed after all").expect("reopen"),
            }
            let (row, recomputed) = row_and_recomputed(&d, id);
            assert_eq!(row, recomputed, "after {step} on {id}");
        }
    }
    assert_eq!(d.get(&a).expect("a").status, Status::Dispatched);
}

#[test]
fn a_merge_retires_what_the_cache_knew_of_a_document() {
    // The engineer's device folds its history once and keeps the result; a cancellation
    // merged in from the server must be seen by the very next action.
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    w.engineer.add_note(&id, "on my way soon").expect("note");
    w.dispatcher.cancel(&id, "customer cancelled").expect("cancel");
    deliver(&w.dispatcher, &w.engineer, &id);
    let refused = w.engineer.start_travel(&id).expect_err("travel after cancel");
    assert!(matches!(refused, Error::Refused(Refusal { action: Action::StartTravel, .. })), "{refused:?}");
    let (row, recomputed) = row_and_recomputed(&w.engineer, &id);
    assert_eq!(row.status, Status::Cancelled);
    assert_eq!(row, recomputed);
}

#[test]
fn check_in_records_distance_and_whether_inside_the_site() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    let id2 = w.dispatcher.create_ticket(&boiler()).expect("create");
    for id in [&id, &id2] {
        deliver(&w.dispatcher, &w.engineer, id);
        w.engineer.accept(id).expect("accept");
    }
    w.engineer.check_in(&id, on_site()).expect("near");
    let far = Location { lat: 52.3800, lon: 4.9041, accuracy_m: 5.0 };
    w.engineer.check_in(&id2, far).expect("far");
    let place = |id: &str| w.engineer.get(id).expect("get").events.last().and_then(|e| e.place).expect("place");
    let near = place(&id);
    assert!(near.distance_m.expect("distance") < 60.0, "{near:?}");
    assert_eq!(near.inside_site, Some(true));
    let far = place(&id2);
    let d = far.distance_m.expect("distance");
    assert!((1_300.0..1_400.0).contains(&d), "0.0124 degrees of latitude is about 1379 m, got {d}");
    assert_eq!(far.inside_site, Some(false));
}

#[test]
fn refused_actions_are_typed_errors_and_write_nothing() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    let before = w.engineer.export(&id).expect("export");

    let err = w.engineer.check_in(&id, on_site()).expect_err("not accepted yet");
    assert_eq!(err.to_string(), "cannot check in: ticket is not accepted; accept first");
    assert!(matches!(
        err,
        Error::Refused(Refusal { action: Action::CheckIn, reason: Reason::WrongStatus { status: Status::Dispatched } })
    ));

    let err = w.engineer.cancel(&id, "no").expect_err("engineers cannot cancel");
    assert!(matches!(err, Error::Refused(Refusal { reason: Reason::NotDispatcher, .. })), "{err}");
    let err = w.engineer.create_ticket(&boiler()).expect_err("engineers cannot create");
    assert!(matches!(err, Error::Refused(Refusal { action: Action::Create, reason: Reason::NotDispatcher })));
    let err = w.dispatcher.accept(&id).expect_err("dispatcher is not the assignee");
    assert!(matches!(err, Error::Refused(Refusal { reason: Reason::NotAssignee { .. }, .. })), "{err}");
    let err = w.engineer.add_part(&id, "X", 1).expect_err("not accepted");
    assert_eq!(err.to_string(), "cannot add a part: ticket is not accepted; accept first");

    for bad in [
        w.engineer.add_note(&id, "   "),
        w.engineer.add_part(&id, "X", 0),
        w.engineer.log_time(&id, 0, "labour"),
        w.engineer.record_feedback(&id, 6, "great"),
        w.engineer.reject(&id, ""),
        w.engineer.check_in(&id, Location { lat: f64::NAN, lon: 0.0, accuracy_m: 1.0 }),
        w.engineer.check_in(&id, Location { lat: 91.0, lon: 0.0, accuracy_m: 1.0 }),
        // The bindings' one `perform` (ADR 0032): a photo or a signature points at media the
        // command does not carry; add_photo and capture_signature bring it.
        w.engineer.perform(&id, Command::AddPhoto { photo: photo_meta() }),
        w.engineer.perform(&id, Command::CaptureSignature { signature: signature_meta(), strokes_json: "[]".into() }),
    ] {
        assert!(matches!(bad, Err(Error::InvalidInput(_))), "{bad:?}");
    }
    assert!(matches!(w.engineer.accept("no-such-ticket"), Err(Error::NotFound(_))));
    assert_eq!(w.engineer.export(&id).expect("export"), before, "nothing was written");

    let mut no_title = boiler();
    no_title.title = " ".into();
    assert!(matches!(w.dispatcher.create_ticket(&no_title), Err(Error::InvalidInput(_))));
}

#[test]
fn completion_needs_the_signature_when_the_policy_says_so() {
    let w = world();
    let id = w.dispatcher.create_ticket(&NewTicket { signature_required: true, ..boiler() }).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    w.engineer.check_in(&id, on_site()).expect("check in");
    let err = w.engineer.complete(&id, "done").expect_err("no signature yet");
    assert!(matches!(err, Error::Refused(Refusal { reason: Reason::SignatureRequired, .. })));
    assert_eq!(w.engineer.get(&id).expect("get").status, Status::OnSite);
}

#[test]
fn a_dispatcher_reclassifies_an_engineer_cannot_and_the_index_follows() {
    let w = world();
    let classified =
        Classification { ticket_type: "maintenance".into(), product: "boiler-x".into(), ..Default::default() };
    let id = w.dispatcher.create_ticket(&NewTicket { classification: classified.clone(), ..boiler() }).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    assert_eq!(w.engineer.get(&id).expect("get").classification, classified, "engineers see it");
    let bug = Classification { ticket_type: "bug".into(), ..classified.clone() };
    let err = w.engineer.reclassify(&id, &bug).expect_err("not a dispatcher");
    assert!(
        matches!(err, Error::Refused(Refusal { action: Action::Reclassify, reason: Reason::NotDispatcher })),
        "{err:?}"
    );
    let by_type = |c: &Client, t: &str| {
        c.list(&ListFilter { ticket_type: Some(t.into()), ..Default::default() }).expect("list").len()
    };
    assert_eq!(by_type(&w.engineer, "maintenance"), 1);
    let err = w.dispatcher.reclassify(&id, &classified).expect_err("nothing to change");
    assert!(matches!(err, Error::InvalidInput(_)));
    w.dispatcher.reclassify(&id, &bug).expect("reclassify");
    let document = Automerge::load(&w.dispatcher.export(&id).expect("export")).expect("load");
    let last = document.get_changes(&[]).last().and_then(|c| c.message().map(str::to_owned));
    assert_eq!(last.as_deref(), Some("reclassify: type maintenance → bug"), "the timeline says what changed");
    assert_eq!((by_type(&w.dispatcher, "bug"), by_type(&w.dispatcher, "maintenance")), (1, 0));
    let (row, recomputed) = row_and_recomputed(&w.dispatcher, &id);
    assert_eq!(row, recomputed, "the written row is the one the document gives");
    deliver(&w.dispatcher, &w.engineer, &id);
    assert_eq!(by_type(&w.engineer, "bug"), 1, "a merge rewrites the engineer's row");
    let long = Classification { version: "v".repeat(101), ..bug };
    assert!(matches!(w.dispatcher.reclassify(&id, &long), Err(Error::InvalidInput(_))));
}

#[test]
fn cancel_versus_offline_completion_is_a_visible_conflict_on_both_sides() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    deliver(&w.engineer, &w.dispatcher, &id);
    // Both act without hearing from each other.
    w.engineer.check_in(&id, on_site()).expect("check in");
    w.engineer.complete(&id, "fixed").expect("complete offline");
    w.dispatcher.cancel(&id, "customer cancelled by phone").expect("cancel");
    deliver(&w.engineer, &w.dispatcher, &id);
    deliver(&w.dispatcher, &w.engineer, &id);
    let (a, b) = (w.engineer.get(&id).expect("get"), w.dispatcher.get(&id).expect("get"));
    assert_eq!(a.status, b.status);
    assert_eq!(a.conflicts, b.conflicts);
    assert_eq!(a.conflicts.len(), 1, "{:?}", a.conflicts);
    assert_eq!(a.events.len(), 6, "created, dispatched, accepted, checked_in, completed, cancelled: none dropped");
    let summary = &w.dispatcher.list(&ListFilter::default()).expect("list")[0];
    assert_eq!(summary.conflicts, 1);
}

#[test]
fn lists_filter_on_the_index_without_loading_documents() {
    let w = world();
    let d = &w.dispatcher;
    let a = d.create_ticket(&boiler()).expect("a");
    let b = d
        .create_ticket(&NewTicket {
            title: "Lift stuck".into(),
            customer: Customer { name: "Tower_Block".into(), ..Default::default() },
            assignee: Some("eng-2".into()),
            sla: Sla { respond_by: Some(500), ..Default::default() },
            ..boiler()
        })
        .expect("b");
    let c = d
        .create_ticket(&NewTicket { title: "Annual check".into(), assignee: None, sla: Sla::default(), ..boiler() })
        .expect("c");
    d.cancel(&c, "duplicate").expect("cancel");

    let ids = |filter: ListFilter| -> Vec<String> {
        let mut ids: Vec<String> = d.list(&filter).expect("list").into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids(ListFilter::default()), sorted(vec![a.clone(), b.clone(), c.clone()]));
    assert_eq!(ids(ListFilter { statuses: vec![Status::Cancelled], ..Default::default() }), vec![c.clone()]);
    assert_eq!(
        ids(ListFilter { statuses: vec![Status::Dispatched, Status::Cancelled], ..Default::default() }),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(ids(ListFilter { assignee: Some("eng-2".into()), ..Default::default() }), vec![b.clone()]);
    assert_eq!(ids(ListFilter { sla_due_before: Some(900), ..Default::default() }), vec![b.clone()]);
    assert_eq!(
        ids(ListFilter { sla_due_before: Some(1_001), ..Default::default() }),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(ids(ListFilter { text: Some("lift".into()), ..Default::default() }), vec![b.clone()]);
    assert_eq!(ids(ListFilter { text: Some("100%".into()), ..Default::default() }).len(), 2, "% is literal");
    assert_eq!(ids(ListFilter { text: Some("r_b".into()), ..Default::default() }), vec![b.clone()], "_ is literal");
    assert!(ids(ListFilter { text: Some("ACME_100".into()), ..Default::default() }).is_empty());

    let counts = d.counts().expect("counts");
    assert_eq!(counts, vec![(Status::Dispatched, 2), (Status::Cancelled, 1)]);

    // Lists read the index table only: with every document chunk gone they still answer.
    d.store()
        .write(|tx| -> Result<(), Error> {
            tx.execute("DELETE FROM doc_chunks", [])?;
            Ok(())
        })
        .expect("delete chunks");
    assert_eq!(d.list(&ListFilter::default()).expect("list").len(), 3);
}

#[test]
fn actions_are_durable_across_reopen_and_the_store_refuses_another_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let id = {
        let d = Client::open(&path, identity("disp", Role::Dispatcher)).expect("open");
        let id = d.create_ticket(&boiler()).expect("create");
        d.add_note(&id, "call before arriving").expect("note");
        id
    };
    let d = Client::open(&path, identity("disp", Role::Dispatcher)).expect("reopen");
    assert_eq!(d.get(&id).expect("get").notes.len(), 1);
    d.add_note(&id, "second").expect("note after reopen");
    assert_eq!(d.get(&id).expect("get").notes.len(), 2);
    drop(d);
    let err = Client::open(&path, identity("someone-else", Role::Dispatcher)).expect_err("another user");
    assert!(matches!(err, Error::Store(StoreError::WrongUser)));
}

#[test]
fn long_histories_are_compacted_and_load_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let options = OpenOptions { compact_after_changes: 8, doc_cache_capacity: 1, ..OpenOptions::default() };
    let d = Client::open_with(&path, identity("disp", Role::Dispatcher), options.clone()).expect("open");
    let id = d.create_ticket(&boiler()).expect("create");
    let other = d.create_ticket(&boiler()).expect("other evicts the first from the cache");
    for n in 0..30 {
        d.add_note(&id, &format!("note {n}")).expect("note");
        d.get(&other).expect("touch the other ticket so the first is reloaded from disk");
    }
    let chunks = d.store().read(|tx| -> Result<_, Error> { Ok(tickets::all_chunks(tx, &id)?.len()) }).expect("chunks");
    assert!(chunks <= 9, "compacted to a snapshot plus at most 8 changes, found {chunks} chunks");
    let before = d.get(&id).expect("get");
    drop(d);
    let d = Client::open_with(&path, identity("disp", Role::Dispatcher), options).expect("reopen");
    let after = d.get(&id).expect("get");
    assert_eq!(before, after);
    assert_eq!(after.notes.len(), 30);
    assert_eq!(after.notes[29].text, "note 29");
}

#[test]
fn a_corrupt_chunk_quarantines_that_ticket_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let (bad, good) = {
        let d = Client::open(&path, identity("disp", Role::Dispatcher)).expect("open");
        let bad = d.create_ticket(&boiler()).expect("bad");
        let good = d.create_ticket(&boiler()).expect("good");
        d.add_note(&bad, "will be damaged").expect("note");
        d.store()
            .write(|tx| -> Result<(), Error> {
                tx.execute(
                    "UPDATE doc_chunks SET bytes = x'856f4a83deadbeef' WHERE ticket_id = ?1 AND seq = 2",
                    [&bad],
                )?;
                Ok(())
            })
            .expect("damage");
        (bad, good)
    };
    let d = Client::open(&path, identity("disp", Role::Dispatcher)).expect("reopen");
    let err = d.get(&bad).expect_err("quarantined");
    assert!(matches!(&err, Error::Quarantined { id, .. } if *id == bad), "{err:?}");
    assert!(matches!(d.add_note(&bad, "more"), Err(Error::Quarantined { .. })));
    assert_eq!(d.get(&good).expect("the other ticket loads").notes.len(), 0);
    d.add_note(&good, "still works").expect("other ticket writable");
    let listed = d.list(&ListFilter::default()).expect("list");
    let bad_row = listed.iter().find(|s| s.id == bad).expect("still listed");
    assert!(bad_row.quarantined.as_deref().is_some_and(|r| r.contains("cannot be loaded")), "{bad_row:?}");
    assert!(listed.iter().find(|s| s.id == good).expect("listed").quarantined.is_none());
}

#[test]
fn merge_remote_refuses_garbage_and_other_tickets_without_changing_anything() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    let other = w.dispatcher.create_ticket(&boiler()).expect("other");
    deliver(&w.dispatcher, &w.engineer, &id);
    let before = w.engineer.export(&id).expect("export");
    assert!(w.engineer.merge_remote(&id, b"\x85\x6f\x4a\x83garbage").is_err());
    // Another ticket from the same device: same actor, clashing sequence numbers.
    let other_bytes = w.dispatcher.export(&other).expect("export");
    let err = w.engineer.merge_remote(&id, &other_bytes).expect_err("another ticket");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    // Another ticket from another device: a second history root, refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let second = Client::open(dir.path().join("d2.sqlite"), identity("disp-2", Role::Dispatcher)).expect("open");
    let foreign = second.create_ticket(&boiler()).expect("foreign");
    let foreign_bytes = second.export(&foreign).expect("export");
    let err = w.engineer.merge_remote(&id, &foreign_bytes).expect_err("foreign document");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(w.engineer.export(&id).expect("export"), before);
    assert!(!w.engineer.merge_remote(&id, &before).expect("idempotent"), "nothing new the second time");
}

#[test]
fn subscribers_hear_of_changes_until_they_drop_the_handle() {
    let w = world();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<String>>();
    let first = w.dispatcher.subscribe(move |ids| {
        let _ = tx.send(ids.to_vec());
    });
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("notified of create"), vec![id.clone()]);
    w.dispatcher.add_note(&id, "hello").expect("note");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("notified of note"), vec![id.clone()]);

    // A panicking subscriber does not stop the others.
    let _panicky = w.dispatcher.subscribe(|_| panic!("app bug"));
    drop(first);
    let (probe_tx, probe_rx) = std::sync::mpsc::channel::<Vec<String>>();
    let _probe = w.dispatcher.subscribe(move |ids| {
        let _ = probe_tx.send(ids.to_vec());
    });
    w.dispatcher.add_note(&id, "after drop").expect("note");
    // The probe is called in the same delivery as the dropped one would have been.
    assert_eq!(probe_rx.recv_timeout(Duration::from_secs(10)).expect("probe notified"), vec![id.clone()]);
    assert!(rx.try_recv().is_err(), "the dropped subscription was not called");

    // Remote merges notify too.
    deliver(&w.dispatcher, &w.engineer, &id);
    let (eng_tx, eng_rx) = std::sync::mpsc::channel::<Vec<String>>();
    let _eng = w.engineer.subscribe(move |ids| {
        let _ = eng_tx.send(ids.to_vec());
    });
    w.dispatcher.add_note(&id, "news").expect("note");
    deliver(&w.dispatcher, &w.engineer, &id);
    assert_eq!(eng_rx.recv_timeout(Duration::from_secs(10)).expect("remote merge notified"), vec![id]);
}

/// A small camera-like JPEG made in the test.
pub(super) fn camera_jpeg(width: u16, height: u16, seed: u8) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            rgb.extend_from_slice(&[(x as u8).wrapping_add(seed), (y as u8).wrapping_mul(3), seed]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode test jpeg");
    out
}

pub(super) fn photo(bytes: Vec<u8>) -> crate::model::NewPhoto {
    crate::model::NewPhoto {
        source: crate::model::PhotoInput::Bytes(bytes),
        caption: "meter before".into(),
        taken_at: Some(1_700_000_000_000),
        location: Some(on_site()),
    }
}

#[test]
fn photos_are_processed_stored_once_queued_and_recorded_in_one_step() {
    let w = world();
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    let refused = w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(64, 48, 1)));
    assert!(matches!(refused, Err(Error::Refused(_))), "refused before acceptance, before processing: {refused:?}");
    w.engineer.accept(&id).expect("accept");

    let meta = w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(2000, 1500, 7))).expect("add photo");
    assert_eq!((meta.width, meta.height), (1600, 1200), "downscaled to the 1600 px long edge");
    let again = w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(2000, 1500, 7))).expect("same photo again");
    assert_eq!(again.sha256, meta.sha256);
    let ticket = w.engineer.get(&id).expect("get");
    assert_eq!(ticket.photos.len(), 1, "the same photo twice is one entry");
    assert_eq!(ticket.photos[0].caption, "meter before");
    assert_eq!(ticket.photos[0].thumbnail_sha256, meta.thumbnail_sha256);
    let stored = w.engineer.blob(&meta.sha256).expect("blob").expect("photo stored");
    assert_eq!(crate::model::JobSummary::sha256_hex(&stored), meta.sha256, "content-addressed");
    assert!(w.engineer.blob(&meta.thumbnail_sha256).expect("blob").is_some());
    let uploads = w.engineer.uploads().expect("uploads");
    assert_eq!(uploads.len(), 2, "photo and thumbnail queued once: {uploads:?}");
    assert!(uploads.iter().all(|u| u.state == "pending" && u.ticket_id == id));

    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    let err = w.engineer.add_photo_blocking(&id, &photo(heic)).expect_err("HEIC");
    assert!(err.to_string().contains("HEIC"), "{err}");
    assert_eq!(w.engineer.get(&id).expect("get").photos.len(), 1, "nothing written for a refused photo");
}

#[test]
fn the_signature_is_bound_to_the_summary_written_once_and_unlocks_completion() {
    let w = world();
    let id = w.dispatcher.create_ticket(&NewTicket { signature_required: true, ..boiler() }).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    w.engineer.check_in(&id, on_site()).expect("check in");
    w.engineer.add_part(&id, "VALVE-22", 1).expect("part");
    assert!(w.engineer.complete(&id, "done").is_err(), "no signature yet");
    let stroke =
        |y: f32| (0..20).map(|n| crate::media::StrokePoint { x: n as f32 / 20.0, y, t: n * 10 }).collect::<Vec<_>>();
    let summary = w.engineer.job_summary(&id).expect("summary");
    assert_eq!(summary.parts, vec![("VALVE-22".to_owned(), 1)]);
    let signature = w.engineer.capture_signature(&id, "Ms Jansen", &[stroke(0.4), stroke(0.6)]).expect("sign");
    assert_eq!(signature.summary_sha256, summary.sha256());
    let png = w.engineer.blob(&signature.png_sha256).expect("blob").expect("png stored");
    assert!(png.starts_with(b"\x89PNG"));
    let err = w.engineer.capture_signature(&id, "Someone else", &[stroke(0.5)]).expect_err("second signature");
    assert!(matches!(err, Error::Refused(Refusal { reason: Reason::AlreadySigned, .. })), "{err}");
    let ticket = w.engineer.get(&id).expect("get");
    assert_eq!(ticket.signature.as_ref().map(|s| s.signer.as_str()), Some("Ms Jansen"));
    w.engineer.complete(&id, "Replaced valve").expect("complete once signed");
}

#[test]
fn two_signatures_captured_offline_on_two_devices_show_as_a_conflict() {
    let w = world();
    let dir = tempfile::tempdir().expect("tempdir");
    let tablet = Client::open(
        dir.path().join("tablet.sqlite"),
        Identity { user_id: "eng-1".into(), device_id: "eng-1-tablet".into(), role: Role::Engineer },
    )
    .expect("second device of the same engineer");
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    w.engineer.check_in(&id, on_site()).expect("check in");
    deliver(&w.engineer, &tablet, &id);
    let stroke =
        || vec![(0..10).map(|n| crate::media::StrokePoint { x: n as f32 / 10.0, y: 0.5, t: n }).collect::<Vec<_>>()];
    w.engineer.capture_signature(&id, "Ms Jansen", &stroke()).expect("phone");
    tablet.capture_signature(&id, "Mr Jansen", &stroke()).expect("tablet, offline");
    deliver(&tablet, &w.engineer, &id);
    deliver(&w.engineer, &tablet, &id);
    let (a, b) = (w.engineer.get(&id).expect("get"), tablet.get(&id).expect("get"));
    assert_eq!(a.signature, b.signature, "both show the same signature");
    assert_eq!(a.conflicts, b.conflicts);
    let conflict = a.conflicts.iter().find(|c| c.kind == "signature").expect("a signature conflict");
    assert!(conflict.reason.contains("signed on another device"), "{conflict:?}");
}

/// Encryption at rest (docs/adr/0011), through the facade: the ticket, a note, a processed
/// photo and a signature PNG all live in the one encrypted file, and none of their bytes can be
/// found on the disk; the same check on a plaintext store finds them (the control).
#[test]
fn an_encrypted_store_keeps_tickets_photos_and_signatures_off_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = crate::store::StoreKey::from_bytes(&[42; 32]).expect("key");
    let dispatcher = Client::open(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher)).expect("open");
    let id = dispatcher.create_ticket(&boiler()).expect("create");
    for key in [None, Some(key.clone())] {
        let name = if key.is_some() { "encrypted" } else { "plain" };
        let path = dir.path().join(format!("{name}.sqlite"));
        let options = OpenOptions { store_key: key.clone(), ..OpenOptions::default() };
        let engineer = Client::open_with(&path, identity("eng-1", Role::Engineer), options.clone()).expect("open");
        deliver(&dispatcher, &engineer, &id);
        engineer.accept(&id).expect("accept");
        engineer.check_in(&id, on_site()).expect("check in");
        engineer.add_note(&id, "Isolated the boiler at the fused spur").expect("note");
        let photo = engineer.add_photo_blocking(&id, &photo(camera_jpeg(800, 600, 3))).expect("photo");
        let stroke: Vec<_> = (0..20).map(|n| crate::media::StrokePoint { x: n as f32 / 20.0, y: 0.5, t: n }).collect();
        let signature = engineer.capture_signature(&id, "Ms Jansen", &[stroke]).expect("sign");
        let photo_bytes = engineer.blob(&photo.sha256).expect("blob").expect("photo");
        let png = engineer.blob(&signature.png_sha256).expect("blob").expect("png");
        drop(engineer);

        // The store file and its WAL, where committed pages wait for a checkpoint.
        let mut raw = std::fs::read(&path).expect("read store file");
        raw.extend(std::fs::read(crate::store::encryption::sibling(&path, "-wal")).unwrap_or_default());
        let found = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
        let plaintext = key.is_none();
        assert_eq!(found(b"Isolated the boiler at the fused spur"), plaintext, "{name}: the note");
        assert_eq!(found(b"ACME 100% Ltd"), plaintext, "{name}: the customer in the index table");
        assert_eq!(found(&photo_bytes[photo_bytes.len() / 2..][..64]), plaintext, "{name}: the photo's bytes");
        assert_eq!(found(&png[png.len() / 2..][..32]), plaintext, "{name}: the signature's bytes");

        let engineer = Client::open_with(&path, identity("eng-1", Role::Engineer), options).expect("reopen");
        let ticket = engineer.get(&id).expect("get");
        assert_eq!((ticket.notes.len(), ticket.photos.len()), (1, 1));
        assert_eq!(engineer.blob(&photo.sha256).expect("blob"), Some(photo_bytes));
    }
    let err = Client::open(dir.path().join("encrypted.sqlite"), identity("eng-1", Role::Engineer)).expect_err("no key");
    assert!(matches!(err, Error::Store(StoreError::KeyRequired)), "{err:?}");
}

fn cache_footprint(client: &Client) -> (usize, usize) {
    client.inner.docs.lock().expect("docs").footprint()
}

#[test]
fn the_document_cache_keeps_within_its_memory_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one_ticket = {
        let probe = Client::open_with(
            dir.path().join("probe.sqlite"),
            identity("disp", Role::Dispatcher),
            OpenOptions::default(),
        )
        .expect("open probe");
        probe.create_ticket(&boiler()).expect("create");
        cache_footprint(&probe).1
    };
    // Room for three new tickets by memory; by count there would be room for 128.
    let budget = 3 * one_ticket + one_ticket / 2;
    let options = OpenOptions { doc_cache_bytes: budget, ..OpenOptions::default() };
    let d =
        Client::open_with(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher), options).expect("open");
    let ids: Vec<String> = (0..6).map(|_| d.create_ticket(&boiler()).expect("create")).collect();
    for id in ids.iter().chain(&ids) {
        d.add_note(id, "checked").expect("note");
        let (count, bytes) = cache_footprint(&d);
        assert!(count <= 3, "{count} documents cached");
        // Notes grow the documents between loads; the check at each load keeps it near.
        assert!(bytes <= budget + one_ticket / 2, "{bytes} bytes cached, budget {budget}");
    }
    for id in &ids {
        assert_eq!(d.get(id).expect("reloaded").notes.len(), 2);
    }

    // A long history takes the room of many short ones: loading a new ticket next to it
    // evicts it.
    let long = ids[0].clone();
    for n in 0..100 {
        d.add_note(&long, &format!("note {n}")).expect("note");
    }
    assert!(cache_footprint(&d).1 > budget, "the long ticket alone is over the budget");
    d.add_note(&ids[1], "short").expect("note");
    assert_eq!(cache_footprint(&d).0, 1, "only the ticket just loaded stays");
    assert_eq!(d.get(&long).expect("long ticket").notes.len(), 102);
}

#[test]
fn a_manual_clock_stamps_every_action_and_the_default_is_the_system_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ninety_days_ago = crate::time::now_ms() - 90 * 86_400_000;
    let manual = crate::time::ManualClock::at(ninety_days_ago);
    let options = OpenOptions { clock: manual.clock(), ..OpenOptions::default() };
    let dispatcher =
        Client::open_with(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher), options).expect("open");
    let id = dispatcher.create_ticket(&boiler()).expect("create");
    manual.advance(3_600_000);
    dispatcher.add_note(&id, "Called the customer").expect("note");
    let ticket = dispatcher.get(&id).expect("get");
    assert_eq!(ticket.created_at, ninety_days_ago, "created at the clock's time");
    assert_eq!(ticket.events[0].at, ninety_days_ago, "dispatched at the clock's time");
    assert_eq!(ticket.notes[0].at, ninety_days_ago + 3_600_000, "the note moved with the clock");
    assert_eq!(dispatcher.now(), ninety_days_ago + 3_600_000);

    let before = crate::time::now_ms();
    let engineer = Client::open(dir.path().join("eng.sqlite"), identity("eng-1", Role::Engineer)).expect("open");
    deliver(&dispatcher, &engineer, &id);
    engineer.accept(&id).expect("accept");
    let accepted = engineer.get(&id).expect("get").events.last().expect("an event").at;
    assert!(accepted >= before, "the default clock is the system clock: {accepted} >= {before}");
}
