//! A ticket as it stood at some heads: what the author of a change had seen when it wrote it.
//! The server judges each pushed change against this (server/src/rules/causal.rs).

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::key;
use crate::workflow::{self, Derived, EventKind, Role};

/// The list of events as it was at `heads`, if there was one.
fn events_list_at(doc: &Automerge, heads: &[ChangeHash]) -> Option<ObjId> {
    match doc.get_at(ROOT, key::EVENTS, heads) {
        Ok(Some((Value::Object(ObjType::List), list))) => Some(list),
        _ => None,
    }
}

/// How many entries the history had at `heads`.
pub fn event_count_at(doc: &Automerge, heads: &[ChangeHash]) -> usize {
    events_list_at(doc, heads).map_or(0, |list| doc.length_at(&list, heads))
}

/// The history at `heads` folded through the state machine, voided events left out as
/// [`super::derive`] does: the status and assignee the author of a change depending on
/// `heads` knew.
pub fn derive_at(doc: &Automerge, heads: &[ChangeHash]) -> Derived {
    let Some(list) = events_list_at(doc, heads) else {
        return Derived::default();
    };
    let events: Vec<workflow::Event> = doc
        .list_range_at(&list, .., heads)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
        .filter_map(|item| {
            let record: HashMap<String, ScalarValue> = doc
                .map_range_at(item.id(), .., heads)
                .filter_map(|field| match field.value.into_value() {
                    Value::Scalar(s) => Some((field.key.to_string(), s.into_owned())),
                    Value::Object(_) => None,
                })
                .collect();
            if record.contains_key(key::VOID) {
                return None;
            }
            let text = |k: &str| match record.get(k) {
                Some(ScalarValue::Str(s)) => Some(s.to_string()),
                _ => None,
            };
            let at = match record.get("at") {
                Some(ScalarValue::Int(n) | ScalarValue::Timestamp(n)) => *n,
                Some(ScalarValue::Uint(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
                _ => 0,
            };
            let kind_name = text("kind").unwrap_or_default();
            Some(workflow::Event {
                id: text("id").unwrap_or_default(),
                kind: EventKind::parse(&kind_name),
                kind_name,
                by: text("by").unwrap_or_default(),
                role: text("role").as_deref().and_then(Role::parse),
                assignee: text("assignee"),
                at,
                revisit: matches!(record.get("revisit"), Some(ScalarValue::Boolean(true))),
            })
        })
        .collect();
    workflow::derive(&events)
}
