//! Changes forged field by field from an honest one, as a hostile device could send them: each
//! one the checks let through and Automerge applies must leave a ticket the server can still
//! send, save, load and read (a forged `start_op` once passed, and every later `get_changes` of its
//! ticket panicked).

use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{self, ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc, ScalarValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{misnumbered, not_as_written};

/// A ticket as devices write it: created by the office, given back by one engineer, worked on
/// by `device` (time and parts), with `device`'s own changes in its history.
fn base(device: &ActorId) -> Automerge {
    use fieldsync_core::model::doc::{self, EventDraft, Stamp};
    use fieldsync_core::model::{Customer, Identity, NewTicket};
    use fieldsync_core::workflow::{EventKind, Role};

    let dana = Identity { user_id: "dana".into(), device_id: "d1".into(), role: Role::Dispatcher };
    let eli = Identity { user_id: "eli".into(), device_id: "e1".into(), role: Role::Engineer };
    let ana = Identity { user_id: "ana".into(), device_id: "a1".into(), role: Role::Engineer };
    let new = NewTicket {
        title: "Boiler leaks".into(),
        customer: Customer { name: "Acme".into(), ..Default::default() },
        assignee: Some("eli".into()),
        ..Default::default()
    };
    let at = 1_700_000_000_000;
    let stamp = |n: i64, who| Stamp { id: format!("e{n}"), at: at + n, identity: who };
    let mut office = Automerge::new();
    doc::edit(&mut office, at, "create", |tx| doc::create(tx, "t1", &new, &stamp(0, &dana))).expect("create");
    let reject = EventDraft { reason: Some("no parts".into()), ..EventDraft::of(EventKind::Rejected) };
    doc::edit(&mut office, at + 1, "reject", |tx| doc::append_event(tx, &reject, &stamp(1, &eli))).expect("reject");
    let to_ana = EventDraft { assignee: Some("ana".into()), ..EventDraft::of(EventKind::Reassigned) };
    doc::edit(&mut office, at + 2, "reassign", |tx| doc::append_event(tx, &to_ana, &stamp(2, &dana)))
        .expect("reassign");
    let mut phone = office.fork().with_actor(device.clone());
    doc::edit(&mut phone, at + 3, "time", |tx| doc::append_time(tx, 50, "labour", &stamp(3, &ana))).expect("time");
    doc::edit(&mut phone, at + 4, "part", |tx| doc::append_part(tx, "VALVE-22", 2, &stamp(4, &ana))).expect("part");
    doc::edit(&mut phone, at + 5, "note", |tx| doc::append_note(tx, "valve seized", false, &stamp(5, &ana)))
        .expect("note");
    phone
}

/// Every op id of `change`'s ops and the ones before it in `doc`'s history (as legacy ids).
fn op_ids(doc: &Automerge) -> Vec<OpId> {
    doc.get_changes(&[])
        .iter()
        .flat_map(|c| {
            let actor = c.actor_id().clone();
            (c.start_op().get()..=c.max_op()).map(move |n| OpId(n, actor.clone()))
        })
        .collect()
}

fn pick<T: Clone>(rng: &mut StdRng, from: &[T]) -> T {
    from[rng.random_range(0..from.len())].clone()
}

/// An honest next change of `device` on `doc`: a note and a part, expanded.
fn honest(doc: &Automerge, device: &ActorId) -> legacy::Change {
    use fieldsync_core::model::Identity;
    use fieldsync_core::model::doc::{self, Stamp};
    use fieldsync_core::workflow::Role;

    let ana = Identity { user_id: "ana".into(), device_id: "a1".into(), role: Role::Engineer };
    let stamp = Stamp { id: "e9".into(), at: 1_700_000_000_009, identity: &ana };
    let mut fork = doc.fork().with_actor(device.clone());
    doc::edit(&mut fork, stamp.at, "note", |tx| {
        doc::append_note(tx, "gasket replaced", true, &stamp)?;
        doc::append_part(tx, "GASKET-3", 1, &stamp)
    })
    .expect("note");
    let hash = fork.get_heads()[0];
    fork.get_change_by_hash(&hash).expect("change").decode()
}

/// Two honest changes of `device` on `doc`, the second made on the first: a note, then a part
/// (a device that was offline pushes several).
fn honest_pair(doc: &Automerge, device: &ActorId) -> [legacy::Change; 2] {
    use fieldsync_core::model::Identity;
    use fieldsync_core::model::doc::{self, Stamp};
    use fieldsync_core::workflow::Role;

    let ana = Identity { user_id: "ana".into(), device_id: "a1".into(), role: Role::Engineer };
    let stamp = Stamp { id: "e9".into(), at: 1_700_000_000_009, identity: &ana };
    let mut fork = doc.fork().with_actor(device.clone());
    doc::edit(&mut fork, stamp.at, "note", |tx| doc::append_note(tx, "gasket replaced", true, &stamp)).expect("note");
    let first = fork.get_heads()[0];
    doc::edit(&mut fork, stamp.at + 1, "part", |tx| doc::append_part(tx, "GASKET-3", 1, &stamp)).expect("part");
    let second = fork.get_heads()[0];
    [first, second].map(|hash| fork.get_change_by_hash(&hash).expect("change").decode())
}

/// One field or op of `change` changed at random.
fn forge(rng: &mut StdRng, change: &mut legacy::Change, ids: &[OpId], stored: &[automerge::ChangeHash]) {
    let actors = [change.actor_id.clone(), ids[0].1.clone(), ActorId::random()];
    let some_id = |rng: &mut StdRng| -> OpId {
        if rng.random_bool(0.8) { pick(rng, ids) } else { OpId(rng.random_range(1..40), pick(rng, &actors)) }
    };
    match rng.random_range(0..10) {
        0 if rng.random_bool(0.3) => {
            // Another (new) actor's first change: its ops are renumbered with it.
            change.actor_id = ActorId::random();
            change.seq = 1;
        }
        0 => change.seq = rng.random_range(0..6),
        1 => change.start_op = NonZeroU64::new(rng.random_range(1..40)).expect("nonzero"),
        2 => {
            if rng.random_bool(0.5) {
                change.deps.clear();
            }
            change.deps.push(pick(rng, stored));
        }
        3 => {
            if rng.random_bool(0.5) {
                change.time = rng.random();
            } else {
                // An author: Automerge takes one only on an actor's first change.
                change.author = Some(automerge::Author::from(vec![rng.random::<u8>(); rng.random_range(0..40)]));
            }
        }
        _ => {
            let n = rng.random_range(0..change.operations.len());
            let op = &mut change.operations[n];
            match rng.random_range(0..6) {
                0 => op.obj = if rng.random_bool(0.2) { ObjectId::Root } else { ObjectId::Id(some_id(rng)) },
                1 => {
                    op.key = match rng.random_range(0..3) {
                        0 => Key::Map(
                            pick(rng, &["title", "events", "notes", "text", "status", "kind", "at", ""]).into(),
                        ),
                        1 => Key::Seq(ElementId::Head),
                        _ => Key::Seq(ElementId::Id(some_id(rng))),
                    }
                }
                2 => op.pred = vec![some_id(rng)].into(),
                3 => op.insert = !op.insert,
                4 => op.pred = Vec::new().into(),
                _ => {
                    op.action = match rng.random_range(0..14) {
                        0 => OpType::Make(ObjType::Map),
                        1 => OpType::Make(ObjType::List),
                        2 => OpType::Make(ObjType::Text),
                        3 => OpType::Make(ObjType::Table),
                        4 => OpType::Delete,
                        5 => OpType::Increment(if rng.random_bool(0.5) { 1 } else { i64::MAX }),
                        6 => OpType::Put(ScalarValue::Counter(1.into())),
                        7 => OpType::Put(ScalarValue::F64(f64::NAN)),
                        8 => OpType::Put(ScalarValue::Timestamp(i64::MIN)),
                        9 => OpType::Put(ScalarValue::Bytes(vec![0xff; 3])),
                        10 => OpType::Put(ScalarValue::Unknown { type_code: 12, bytes: vec![1, 2] }),
                        11 => OpType::MarkBegin(legacy::MarkData {
                            name: "bold".into(),
                            value: ScalarValue::Boolean(true),
                            expand: rng.random_bool(0.5),
                        }),
                        12 => OpType::MarkEnd(rng.random_bool(0.5)),
                        _ => OpType::Put(ScalarValue::Null),
                    }
                }
            }
        }
    }
}

/// What the server does with a stored document after a push: answer other devices, save a
/// snapshot, load it back, give a joining device all of it, read it whole.
fn still_served(doc: &Automerge, before: &[automerge::ChangeHash]) {
    let all = doc.get_changes(&[]);
    let _ = doc.get_changes(before);
    let _ = doc.save_after(before);
    let loaded = Automerge::load(&doc.save()).expect("the saved document loads");
    assert_eq!(loaded.get_heads(), doc.get_heads(), "the same heads once loaded");
    // The ticket as stored, change by change (a server loading it again, a device sent it).
    let stored: Vec<u8> = all.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
    let reloaded = Automerge::load(&stored).expect("the stored changes load");
    assert_eq!(reloaded.get_heads(), doc.get_heads(), "the stored changes make the same document");
    let mut joined = Automerge::new();
    joined.apply_changes(all).expect("a joining device applies the whole history");
    assert_eq!(joined.get_heads(), doc.get_heads(), "a joining device has it all");
    let _ = doc.hydrate(None);
    let _ = doc.diff(before, &doc.get_heads());
    // What the server and every device read of a ticket.
    use fieldsync_core::model::doc;
    let derived = doc::derive(doc);
    let _ = doc::TicketIndex::of(doc, &derived);
    let _ = doc::read_ticket(doc);
    let _ = doc::summarize(doc, 0, false);
    let _ = doc::read_events(doc);
}

#[test]
fn forged_changes_that_pass_leave_a_document_that_is_still_served() {
    let device = ActorId::random();
    let doc = base(&device);
    let ids = op_ids(&doc);
    let stored: Vec<_> = doc.get_changes(&[]).iter().map(Change::hash).collect();
    let before = doc.get_heads();
    let (mut refused, mut failed, mut read_back, mut applied) = (0, 0, 0, 0);
    // More when exploring: FIELDSYNC_FORGED_SEEDS=100000 cargo test --release … forged_changes
    let seeds = std::env::var("FIELDSYNC_FORGED_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(3_000u64);
    for seed in 0..seeds {
        let Some(push) = forged_push(seed, &doc, &device, &ids, &stored) else {
            refused += 1;
            continue;
        };
        let limits = crate::limits::PushLimits::default();
        if push.iter().any(|c| crate::limits::change_cost(c.raw_bytes(), &limits).is_err())
            || misnumbered(&doc, &push).is_some()
            || crate::op_places::misplaced(&doc, &push).is_some()
        {
            refused += 1;
            continue;
        }
        let mut target = doc.clone();
        match catch_unwind(AssertUnwindSafe(|| target.apply_changes(push.clone()))) {
            Ok(Ok(())) if target.get_missing_deps(&[]).is_empty() => {}
            _ => {
                failed += 1;
                continue;
            }
        }
        if not_as_written(&target, &push).is_some() {
            read_back += 1;
            continue;
        }
        applied += 1;
        if catch_unwind(AssertUnwindSafe(|| still_served(&target, &before))).is_err() {
            let forged: Vec<_> = push.iter().map(Change::decode).collect();
            panic!("seed {seed}: forged changes passed the checks and broke the document: {forged:?}");
        }
    }
    eprintln!(
        "forged changes: {refused} refused before applying, {failed} not applied, {read_back} refused as not read back, {applied} applied and served"
    );
    assert!(refused > 0, "some forgeries are refused");
    assert!(applied > 0, "some forgeries are harmless and go through");
}

/// The changes of seed `seed`'s forgery of an honest push to `doc` (`None`: Automerge would not
/// even encode them). One change, or two made one on the other with either (or both) forged; a
/// forged first one keeps the second depending on it.
fn forged_push(
    seed: u64,
    doc: &Automerge,
    device: &ActorId,
    ids: &[OpId],
    stored: &[automerge::ChangeHash],
) -> Option<Vec<Change>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut forged = if rng.random_bool(0.5) { vec![honest(doc, device)] } else { honest_pair(doc, device).to_vec() };
    let first_hash = forged[0].hash;
    for _ in 0..rng.random_range(1..4) {
        let which = rng.random_range(0..forged.len());
        forge(&mut rng, &mut forged[which], ids, stored);
    }
    let mut push =
        catch_unwind(AssertUnwindSafe(|| forged.iter().map(|c| Change::from(c.clone())).collect::<Vec<Change>>()))
            .ok()?;
    if push.len() == 2 && forged[1].deps == first_hash.into_iter().collect::<Vec<_>>() {
        forged[1].deps = vec![push[0].hash()];
        push[1] = catch_unwind(AssertUnwindSafe(|| Change::from(forged[1].clone()))).ok()?;
    }
    Some(push)
}

/// What a server before the push's checks would have stored for `push` on `doc`: the document's
/// bytes and the pushed change chunks after them, as storage keeps a ticket.
fn stored_unchecked(doc: &Automerge, push: &[Change]) -> Vec<u8> {
    let mut bytes = doc.save();
    for change in push {
        bytes.extend_from_slice(change.raw_bytes());
    }
    bytes
}

/// `fieldsync check` (crate::check) agrees with the push's checks on every forgery a server
/// before them could have stored: a ticket holding one the push refuses is found, one holding
/// a forgery the push lets through is not, and nothing the stored bytes hold makes it panic.
#[test]
fn the_check_finds_every_stored_forgery_that_a_push_is_refused_for() {
    let device = ActorId::random();
    let doc = base(&device);
    let ids = op_ids(&doc);
    let stored: Vec<_> = doc.get_changes(&[]).iter().map(Change::hash).collect();
    assert_eq!(crate::check::check_ticket("t1", &doc.save()).1, None, "the honest ticket passes");
    let (mut found, mut passed) = (0, 0);
    let seeds = std::env::var("FIELDSYNC_FORGED_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000u64);
    for seed in 0..seeds {
        let Some(push) = forged_push(seed, &doc, &device, &ids, &stored) else { continue };
        let limits = crate::limits::PushLimits::default();
        let costs: Vec<_> = push.iter().map(|c| crate::limits::change_cost(c.raw_bytes(), &limits)).collect();
        // Caps are the push's, not the history's: the check does not apply them.
        if costs.iter().any(|c| matches!(c, Err(crate::limits::ChangeRefusal::AboveLimit(_)))) {
            continue;
        }
        let refused = costs.iter().any(Result::is_err)
            || misnumbered(&doc, &push).is_some()
            || crate::op_places::misplaced(&doc, &push).is_some()
            || {
                let mut target = doc.clone();
                match catch_unwind(AssertUnwindSafe(|| target.apply_changes(push.clone()))) {
                    Ok(Ok(())) => {
                        !target.get_missing_deps(&[]).is_empty()
                            || not_as_written(&target, &push).is_some()
                            // As `sync::apply_push`: still this ticket.
                            || fieldsync_core::model::doc::ticket_id(&target).ok().as_deref() != Some("t1")
                    }
                    _ => true,
                }
            };
        let bytes = stored_unchecked(&doc, &push);
        let (_, problem) = catch_unwind(|| crate::check::check_ticket("t1", &bytes))
            .unwrap_or_else(|_| panic!("seed {seed}: the check panicked"));
        // Whether the stored bytes hold the forgery at all (Automerge may refuse them whole,
        // or keep a change whose dependencies are missing out of the document).
        let held = catch_unwind(AssertUnwindSafe(|| {
            Automerge::load(&bytes).ok().map(|d| push.iter().all(|c| d.get_change_meta_by_hash(&c.hash()).is_some()))
        }));
        match held {
            Ok(Some(true)) if refused => {
                assert!(problem.is_some(), "seed {seed}: a stored forgery the push refuses was not found");
                found += 1;
            }
            Ok(Some(true)) => {
                assert_eq!(problem, None, "seed {seed}: a forgery the push lets through was reported");
                passed += 1;
            }
            // Bytes Automerge cannot load, or panics on: the ticket cannot be opened.
            Err(_) | Ok(None) => assert!(problem.is_some(), "seed {seed}: unloadable bytes were not found"),
            Ok(Some(false)) => {}
        }
    }
    eprintln!("stored forgeries: {found} found, {passed} harmless and passed");
    assert!(found > 0 && passed > 0, "both kinds were tried");
}
