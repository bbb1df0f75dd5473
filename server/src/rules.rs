//! What an engineer's changes may touch: engineer-owned parts of a ticket only.
//!
//! The check looks at what the changes did, not at what they claim: the document is merged
//! into a fork and `diff(before, after)` lists every visible edit with its path from the root.
//! Allowed: inserting new records at the end of the append-only lists (`events`, `notes`,
//! `parts`, `time_entries`) and writing inside the records just inserted; anything inside the
//! engineer-owned maps (`checklist`, `photos`, `signature`, `feedback`), including creating
//! them. Every inserted event and note must be by the engineer; events must carry role
//! `engineer` and an engineer kind.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, Value};
use fieldsync_core::workflow::EventKind;

const APPEND_LISTS: [&str; 4] = ["events", "notes", "parts", "time_entries"];
const OWNED_MAPS: [&str; 4] = ["checklist", "photos", "signature", "feedback"];
const ENGINEER_KINDS: [EventKind; 8] = [
    EventKind::Accepted,
    EventKind::Rejected,
    EventKind::TravelStarted,
    EventKind::CheckedIn,
    EventKind::WorkStarted,
    EventKind::Paused,
    EventKind::Resumed,
    EventKind::Completed,
];

/// Checks that the edits between `before_heads` and `after`'s heads are allowed for the
/// engineer `user_id`; the error says what is not.
pub(crate) fn check_engineer_edit(after: &Automerge, before_heads: &[ChangeHash], user_id: &str) -> Result<(), String> {
    let patches = after.diff(before_heads, &after.get_heads());
    // Records inserted into the append-only lists, and which list.
    let mut inserted: HashMap<ObjId, &'static str> = HashMap::new();
    for patch in &patches {
        if let (Some(list), PatchAction::Insert { values, .. }) = (append_list_itself(&patch.path), &patch.action) {
            for (value, id, _) in values.iter() {
                if !matches!(value, Value::Object(ObjType::Map)) {
                    return Err(format!("an engineer may only add records to {list}"));
                }
                inserted.insert(id.clone(), list);
            }
        }
    }
    for patch in &patches {
        let top = match (patch.path.first(), &patch.action) {
            (Some((_, Prop::Map(key))), _) => key.as_str(),
            (None, PatchAction::PutMap { key, .. }) if OWNED_MAPS.contains(&key.as_str()) => continue,
            (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => {
                return Err(format!("an engineer may not change {key}"));
            }
            (None, PatchAction::Conflict { prop: Prop::Map(key) }) if OWNED_MAPS.contains(&key.as_str()) => continue,
            _ => return Err("an engineer may not change the ticket's fields".into()),
        };
        if OWNED_MAPS.contains(&top) {
            continue;
        }
        let Some(list) = APPEND_LISTS.iter().find(|l| **l == top) else {
            return Err(format!("an engineer may not change {top}"));
        };
        if patch.path.len() == 1 {
            if !matches!(patch.action, PatchAction::Insert { .. }) {
                return Err(format!("an engineer may not change or remove existing entries of {list}"));
            }
            continue;
        }
        let record = match patch.path.get(2) {
            Some((obj, _)) => obj,
            None => &patch.obj,
        };
        if !inserted.contains_key(record) {
            return Err(format!("an engineer may not change existing entries of {list}"));
        }
    }
    for (record, list) in &inserted {
        if !matches!(*list, "events" | "notes") {
            continue;
        }
        if text(after, record, "by").as_deref() != Some(user_id) {
            return Err(format!("a record added to {list} names another user"));
        }
        if *list == "events" {
            if text(after, record, "role").as_deref() != Some("engineer") {
                return Err("an engineer's event must carry the role engineer".into());
            }
            let kind = text(after, record, "kind").unwrap_or_default();
            if !ENGINEER_KINDS.iter().any(|k| k.as_str() == kind) {
                return Err(format!("an engineer may not record a {kind:?} event"));
            }
        }
    }
    Ok(())
}

/// The list name when `path` is exactly the root key of an append-only list.
fn append_list_itself(path: &[(ObjId, Prop)]) -> Option<&'static str> {
    match path {
        [(obj, Prop::Map(key))] if *obj == ROOT => APPEND_LISTS.iter().copied().find(|l| l == key),
        _ => None,
    }
}

fn text(doc: &Automerge, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}
