//! Pushed operations must be placed as an Automerge transaction places them, checked before
//! they are applied.
//!
//! Automerge applies a change to a document one op after another without checking that an op
//! inserted into a list goes after an element of that list, or that a map is written by key and
//! a list by element. A forged change did both (`op_numbers::forged`): the server applied it and
//! could read it back, but a document made from the ticket's stored changes (the server loading
//! the ticket again, a device joining it) panicked applying them. One push could make a ticket
//! that no new device could open and the server could not load after its cache let it go.
//!
//! So every op of a pushed change must:
//! - act on the root, an object the ticket has, or one the push made;
//! - in a map, be keyed by a name and not be an insertion;
//! - in a list, be keyed by an element of that list (or its head, for an insertion), and be an
//!   insertion only when it makes an object or puts a value, replacing nothing.

use std::collections::HashMap;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{Automerge, Change, ObjType, ReadDoc};

/// Why an op of `new` (the push's changes `base` lacks, in the order they will be applied) is
/// not placed as Automerge places ops; `None` when all are.
pub(crate) fn misplaced(base: &Automerge, new: &[Change]) -> Option<String> {
    // What the push makes: its objects with their type, its elements with their list.
    let mut objects: HashMap<OpId, ObjType> = HashMap::new();
    let mut elements: HashMap<OpId, OpId> = HashMap::new();
    for change in new {
        let expanded = change.decode();
        let refuse = |why: &str| Some(format!("change {} {why}", change.hash()));
        for (n, op) in expanded.operations.iter().enumerate() {
            let id = OpId(expanded.start_op.get() + n as u64, expanded.actor_id.clone());
            let (obj, kind) = match &op.obj {
                ObjectId::Root => (None, ObjType::Map),
                ObjectId::Id(obj) => match objects.get(obj) {
                    Some(kind) => (Some(obj), *kind),
                    None => match base.import(&exported(obj)) {
                        Ok((_, kind)) => (Some(obj), kind),
                        Err(_) => return refuse("writes to an object the ticket does not have"),
                    },
                },
            };
            match (kind, &op.key) {
                (ObjType::Map | ObjType::Table, Key::Map(_)) if !op.insert => {}
                (ObjType::Map | ObjType::Table, _) => return refuse("writes to a map by position"),
                (ObjType::List | ObjType::Text, Key::Map(_)) => return refuse("writes to a list by name"),
                (ObjType::List | ObjType::Text, Key::Seq(element)) => {
                    let Some(list) = obj else { return refuse("writes to the root by position") };
                    match element {
                        ElementId::Head if op.insert => {}
                        ElementId::Head => return refuse("writes to a list's head"),
                        ElementId::Id(element) => {
                            let in_list = match elements.get(element) {
                                Some(owner) => owner == list,
                                None => in_base_list(base, list, element),
                            };
                            if !in_list {
                                return refuse("writes after an element of another list");
                            }
                        }
                    }
                    if op.insert {
                        if !matches!(op.action, OpType::Make(_) | OpType::Put(_)) {
                            return refuse("inserts what is not a value");
                        }
                        if !op.pred.is_empty() {
                            return refuse("inserts an element that replaces others");
                        }
                        elements.insert(id.clone(), list.clone());
                    }
                }
            }
            if let OpType::Make(kind) = op.action {
                objects.insert(id, kind);
            }
        }
    }
    None
}

/// `id` as Automerge's `import` and cursors read an op id: `counter@actor`.
fn exported(id: &OpId) -> String {
    format!("{}@{}", id.0, id.1.to_hex_string())
}

/// Whether `element` is an element of the list `list` in `base`: where a cursor at it finds it.
/// Automerge asserts (panics) rather than erring when the element is in another object; that
/// answer is "no" too.
fn in_base_list(base: &Automerge, list: &OpId, element: &OpId) -> bool {
    let Ok(list) = base.import_obj(&exported(list)) else { return false };
    let Ok(cursor) = automerge::Cursor::try_from(exported(element)) else {
        return false;
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| base.get_cursor_position(&list, &cursor, None).is_ok()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    /// A document with a list of two notes, and `write`'s change on it, expanded.
    fn on_notes(
        write: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
    ) -> (Automerge, automerge::legacy::Change) {
        let mut doc = Automerge::new().with_actor(ActorId::random());
        let mut tx = doc.transaction();
        let notes = tx.put_object(ROOT, "notes", ObjType::List).expect("list");
        tx.put_object(ROOT, "parts", ObjType::List).expect("list");
        for n in 0..2 {
            let note = tx.insert_object(&notes, n, ObjType::Map).expect("note");
            tx.put(&note, "text", format!("note {n}")).expect("text");
        }
        tx.commit();
        let mut fork = doc.fork();
        let mut tx = fork.transaction();
        write(&mut tx, &notes);
        let hash = tx.commit().0.expect("a change");
        let change = fork.get_change_by_hash(&hash).expect("change").decode();
        (doc, change)
    }

    #[test]
    fn what_transactions_write_is_placed_right() {
        let (doc, change) = on_notes(|tx, notes| {
            let note = tx.insert_object(notes, 2, ObjType::Map).expect("note");
            tx.put(&note, "text", "gasket").expect("text");
            tx.delete(notes, 0).expect("delete");
            let tags = tx.put_object(&note, "tags", ObjType::List).expect("tags");
            tx.insert(&tags, 0, "urgent").expect("tag");
            tx.insert(&tags, 1, "boiler").expect("tag");
        });
        assert_eq!(misplaced(&doc, &[Change::from(change)]), None);
    }

    #[test]
    fn ops_placed_where_no_transaction_would_are_refused() {
        let parts = |doc: &Automerge| match doc.get(ROOT, "parts") {
            Ok(Some((_, automerge::ObjId::Id(ctr, actor, _)))) => OpId(ctr, actor),
            other => panic!("parts: {other:?}"),
        };
        let forge = |what: &str, edit: &dyn Fn(&mut automerge::legacy::Change, OpId)| {
            let (doc, mut change) = on_notes(|tx, notes| {
                let note = tx.insert_object(notes, 2, ObjType::Map).expect("note");
                tx.put(&note, "text", "gasket").expect("text");
            });
            edit(&mut change, parts(&doc));
            let why = misplaced(&doc, &[Change::from(change)]).unwrap_or_else(|| panic!("{what} passed"));
            assert!(why.contains("writes") || why.contains("inserts"), "{what}: {why}");
        };
        // The note inserted into another list, after an element of the notes list.
        forge("another list's element", &|c, parts| c.operations[0].obj = ObjectId::Id(parts));
        forge("an object the ticket lacks", &|c, _| {
            c.operations[0].obj = ObjectId::Id(OpId(999, ActorId::random()));
        });
        forge("a map written by position", &|c, _| c.operations[1].insert = true);
        forge("a list written by name", &|c, _| c.operations[0].key = Key::Map("text".into()));
        forge("a deletion marked as an insertion", &|c, _| c.operations[0].action = OpType::Delete);
        forge("an insertion replacing an op", &|c, parts| c.operations[0].pred = vec![parts].into());
        forge("a list's head written", &|c, _| {
            c.operations[0].key = Key::Seq(ElementId::Head);
            c.operations[0].insert = false;
        });
    }
}
