//! A ticket as it stood at some heads: what the author of a change had seen when it wrote it,
//! and what the server held before a push it merged into the same document. The server judges
//! each pushed change against this (server/src/rules/causal.rs), and reads what a write added
//! from the written document alone (docs/adr/0026).
//!
//! Empty heads are the empty document (a ticket before its first change): nothing is read.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::key;
use crate::workflow::{self, Derived, EventKind, Role};

/// The list of events as it was at `heads`, if there was one.
fn events_list_at(doc: &Automerge, heads: &[ChangeHash]) -> Option<ObjId> {
    if heads.is_empty() {
        return None;
    }
    match doc.get_at(ROOT, key::EVENTS, heads) {
        Ok(Some((Value::Object(ObjType::List), list))) => Some(list),
        _ => None,
    }
}

/// The scalar fields of each map record of the history at `heads`, in list order.
fn event_records_at(doc: &Automerge, heads: &[ChangeHash]) -> Vec<HashMap<String, ScalarValue>> {
    let Some(list) = events_list_at(doc, heads) else {
        return Vec::new();
    };
    doc.list_range_at(&list, .., heads)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|item| {
            doc.map_range_at(item.id(), .., heads)
                .filter_map(|field| match field.value.into_value() {
                    Value::Scalar(s) => Some((field.key.to_string(), s.into_owned())),
                    Value::Object(_) => None,
                })
                .collect()
        })
        .collect()
}

fn text<'a>(record: &'a HashMap<String, ScalarValue>, k: &str) -> Option<&'a str> {
    match record.get(k) {
        Some(ScalarValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// How many entries the history had at `heads`.
pub fn event_count_at(doc: &Automerge, heads: &[ChangeHash]) -> usize {
    events_list_at(doc, heads).map_or(0, |list| doc.length_at(&list, heads))
}

/// The ids of the history's entries at `heads`, voided ones included: what a write's new
/// events are told apart from.
pub fn event_ids_at(doc: &Automerge, heads: &[ChangeHash]) -> HashSet<String> {
    event_records_at(doc, heads).iter().filter_map(|record| text(record, "id").map(str::to_owned)).collect()
}

/// Whether the ticket was a complaint at `heads` ([`super::is_complaint`] then).
pub fn is_complaint_at(doc: &Automerge, heads: &[ChangeHash]) -> bool {
    !heads.is_empty()
        && matches!(doc.get_at(ROOT, key::COMPLAINT, heads), Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
}

/// The skill group whose pool the ticket was last put in at `heads` ([`super::pool_group`]
/// then).
pub fn pool_group_at(doc: &Automerge, heads: &[ChangeHash]) -> Option<String> {
    event_records_at(doc, heads)
        .iter()
        .rfind(|event| text(event, "kind") == Some(EventKind::Pooled.as_str()) && text(event, key::VOID).is_none())
        .and_then(|event| text(event, key::POOL_GROUP).map(str::to_owned))
}

/// Whether the history at `heads` holds a claim by `user` that the server voided: a claim
/// that user lost to an earlier one.
pub fn lost_claim_at(doc: &Automerge, heads: &[ChangeHash], user: &str) -> bool {
    event_records_at(doc, heads).iter().any(|event| {
        event.get(key::VOID).is_some()
            && text(event, "by") == Some(user)
            && text(event, "kind").and_then(EventKind::parse) == Some(EventKind::Claimed)
    })
}

/// The history at `heads` folded through the state machine, voided events left out as
/// [`super::derive`] does: the status and assignee the author of a change depending on
/// `heads` knew.
pub fn derive_at(doc: &Automerge, heads: &[ChangeHash]) -> Derived {
    let events: Vec<workflow::Event> = event_records_at(doc, heads)
        .into_iter()
        .filter(|record| !record.contains_key(key::VOID))
        .map(|record| {
            let owned = |k: &str| text(&record, k).map(str::to_owned);
            let at = match record.get("at") {
                Some(ScalarValue::Int(n) | ScalarValue::Timestamp(n)) => *n,
                Some(ScalarValue::Uint(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
                _ => 0,
            };
            let kind_name = owned("kind").unwrap_or_default();
            workflow::Event {
                id: owned("id").unwrap_or_default(),
                kind: EventKind::parse(&kind_name),
                kind_name,
                by: owned("by").unwrap_or_default(),
                role: text(&record, "role").and_then(Role::parse),
                assignee: owned("assignee"),
                at,
                revisit: matches!(record.get("revisit"), Some(ScalarValue::Boolean(true))),
            }
        })
        .collect();
    workflow::derive(&events)
}
