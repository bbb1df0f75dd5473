//! Changes forged field by field from an honest one, as a hostile device could send them: each
//! one the checks let through and Automerge applies must leave a document the server can still
//! send, save and load (a forged `start_op` once passed, and every later `get_changes` of its
//! ticket panicked).

use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{self, ElementId, Key, ObjectId, OpId, OpType};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ObjType, ROOT, ReadDoc, ScalarValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{misnumbered, not_as_written};

/// A ticket-like document written by `device` and another actor: a map, a list of maps, text.
fn base(device: &ActorId) -> Automerge {
    let mut doc = Automerge::new().with_actor(device.clone());
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "Boiler").expect("put");
    let notes = tx.put_object(ROOT, "notes", ObjType::List).expect("list");
    for n in 0..3 {
        let note = tx.insert_object(&notes, n, ObjType::Map).expect("note");
        tx.put(&note, "text", format!("note {n}")).expect("text");
    }
    tx.put_object(ROOT, "summary", ObjType::Text).expect("text");
    tx.commit();
    let mut other = doc.fork().with_actor(ActorId::random());
    let mut tx = other.transaction();
    tx.put(ROOT, "status", "open").expect("put");
    tx.commit();
    doc.merge(&mut other).expect("merge");
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "Boiler, 2nd floor").expect("put");
    tx.commit();
    doc
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

/// An honest next change of `device` on `doc`, expanded.
fn honest(doc: &Automerge, device: &ActorId) -> legacy::Change {
    let mut fork = doc.fork().with_actor(device.clone());
    let mut tx = fork.transaction();
    tx.put(ROOT, "title", "Boiler, checked").expect("put");
    let notes = match tx.get(ROOT, "notes") {
        Ok(Some((_, id))) => id,
        other => panic!("notes: {other:?}"),
    };
    let note = tx.insert_object(&notes, 1, ObjType::Map).expect("note");
    tx.put(&note, "text", "gasket").expect("text");
    tx.delete(&notes, 0).expect("delete");
    let hash = tx.commit().0.expect("a change");
    fork.get_change_by_hash(&hash).expect("change").decode()
}

/// One field or op of `change` changed at random.
fn forge(rng: &mut StdRng, change: &mut legacy::Change, ids: &[OpId], stored: &[automerge::ChangeHash]) {
    let actors = [change.actor_id.clone(), ids[0].1.clone(), ActorId::random()];
    let some_id = |rng: &mut StdRng| -> OpId {
        if rng.random_bool(0.8) { pick(rng, ids) } else { OpId(rng.random_range(1..40), pick(rng, &actors)) }
    };
    match rng.random_range(0..10) {
        0 => change.seq = rng.random_range(0..6),
        1 => change.start_op = NonZeroU64::new(rng.random_range(1..40)).expect("nonzero"),
        2 => {
            if rng.random_bool(0.5) {
                change.deps.clear();
            }
            change.deps.push(pick(rng, stored));
        }
        3 => change.time = rng.random(),
        _ => {
            let n = rng.random_range(0..change.operations.len());
            let op = &mut change.operations[n];
            match rng.random_range(0..6) {
                0 => op.obj = if rng.random_bool(0.2) { ObjectId::Root } else { ObjectId::Id(some_id(rng)) },
                1 => {
                    op.key = match rng.random_range(0..3) {
                        0 => Key::Map(pick(rng, &["title", "notes", "text", ""]).into()),
                        1 => Key::Seq(ElementId::Head),
                        _ => Key::Seq(ElementId::Id(some_id(rng))),
                    }
                }
                2 => op.pred = vec![some_id(rng)].into(),
                3 => op.insert = !op.insert,
                4 => op.pred = Vec::new().into(),
                _ => {
                    op.action = match rng.random_range(0..6) {
                        0 => OpType::Make(ObjType::Map),
                        1 => OpType::Make(ObjType::List),
                        2 => OpType::Make(ObjType::Text),
                        3 => OpType::Delete,
                        4 => OpType::Increment(1),
                        _ => OpType::Put(ScalarValue::Counter(1.into())),
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
    let mut joined = Automerge::new();
    joined.apply_changes(all).expect("a joining device applies the whole history");
    assert_eq!(joined.get_heads(), doc.get_heads(), "a joining device has it all");
    let _ = doc.hydrate(None);
    let _ = doc.diff(before, &doc.get_heads());
}

#[test]
fn forged_changes_that_pass_leave_a_document_that_is_still_served() {
    let device = ActorId::random();
    let doc = base(&device);
    let ids = op_ids(&doc);
    let stored: Vec<_> = doc.get_changes(&[]).iter().map(Change::hash).collect();
    let before = doc.get_heads();
    let (mut refused, mut failed, mut applied) = (0, 0, 0);
    for seed in 0..3_000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut forged = honest(&doc, &device);
        for _ in 0..rng.random_range(1..4) {
            forge(&mut rng, &mut forged, &ids, &stored);
        }
        let Ok(change) = catch_unwind(AssertUnwindSafe(|| Change::from(forged.clone()))) else {
            refused += 1;
            continue;
        };
        if misnumbered(&doc, std::slice::from_ref(&change)).is_some() {
            refused += 1;
            continue;
        }
        let mut target = doc.clone();
        match catch_unwind(AssertUnwindSafe(|| target.apply_changes([change.clone()]))) {
            Ok(Ok(())) if target.get_missing_deps(&[]).is_empty() => {}
            _ => {
                failed += 1;
                continue;
            }
        }
        if not_as_written(&target, std::slice::from_ref(&change)).is_some() {
            refused += 1;
            continue;
        }
        applied += 1;
        if catch_unwind(AssertUnwindSafe(|| still_served(&target, &before))).is_err() {
            panic!("seed {seed}: a forged change passed the checks and broke the document: {forged:?}");
        }
    }
    eprintln!("forged changes: {refused} refused by the checks, {failed} not applied, {applied} applied and served");
    assert!(refused > 0, "some forgeries are refused");
    assert!(applied > 0, "some forgeries are harmless and go through");
}
