//! Dispatcher-owned fields written after creation: the classification (docs/adr/0014) and the
//! escalations the server records when an SLA clock breaks. Engineers read them; the server's
//! rules refuse an engineer's change to either (neither is an engineer-owned path).

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc};

use super::{Fields, ModelError, key, keyed_records, map_at, put_all, root};
use crate::model::{Classification, ComplaintLevel, Escalation, Priority};

/// Writes the classification map, replacing the fields that changed (unknown keys kept).
pub fn put_classification(tx: &mut Transaction<'_>, classification: &Classification) -> Result<(), ModelError> {
    let obj = match root_map(tx, key::CLASSIFICATION)? {
        Some(obj) => obj,
        None => tx.put_object(ROOT, key::CLASSIFICATION, ObjType::Map)?,
    };
    for (name, value) in classification.fields() {
        tx.put(&obj, name, value)?;
    }
    Ok(())
}

fn root_map(tx: &Transaction<'_>, name: &str) -> Result<Option<automerge::ObjId>, ModelError> {
    Ok(match tx.get(ROOT, name)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

/// The classification (empty fields when the ticket has none).
pub fn read_classification(doc: &Automerge) -> Classification {
    match map_at(doc, &root(doc), key::CLASSIFICATION) {
        Some(c) => Classification {
            ticket_type: c.string("type"),
            product: c.string("product"),
            module: c.string("module"),
            version: c.string("version"),
        },
        None => Classification::default(),
    }
}

/// Whether the ticket is a complaint (then never deleted, its history never rewritten).
pub fn is_complaint(doc: &Automerge) -> bool {
    root(doc).bool(key::COMPLAINT).unwrap_or(false)
}

/// Marks the ticket a complaint (reclassified into one); it stays one.
pub fn mark_complaint(tx: &mut Transaction<'_>) -> Result<(), ModelError> {
    tx.put(ROOT, key::COMPLAINT, true)?;
    Ok(())
}

/// Writes a complaint's level (when given) and unit.
pub fn put_complaint(tx: &mut Transaction<'_>, level: Option<ComplaintLevel>, unit: &str) -> Result<(), ModelError> {
    if let Some(level) = level {
        tx.put(ROOT, key::COMPLAINT_LEVEL, level.as_str())?;
    }
    tx.put(ROOT, key::COMPLAINT_UNIT, unit)?;
    Ok(())
}

/// A complaint's level, once set.
pub fn read_complaint_level(doc: &Automerge) -> Option<ComplaintLevel> {
    root(doc).str(key::COMPLAINT_LEVEL).as_deref().and_then(ComplaintLevel::parse)
}

/// The organisation unit a complaint concerns (empty when none).
pub fn read_complaint_unit(doc: &Automerge) -> String {
    root(doc).string(key::COMPLAINT_UNIT)
}

/// Sets the priority (the server raising it on escalation).
pub fn put_priority(tx: &mut Transaction<'_>, priority: Priority) -> Result<(), ModelError> {
    tx.put(ROOT, key::PRIORITY, priority.as_str())?;
    Ok(())
}

/// Records an escalation under its id; one written already is kept as it is (the evaluator
/// may retry after a crash and must not record a breach twice).
pub fn put_escalation(tx: &mut Transaction<'_>, escalation: &Escalation) -> Result<bool, ModelError> {
    let map = match root_map(tx, key::ESCALATIONS)? {
        Some(obj) => obj,
        None => tx.put_object(ROOT, key::ESCALATIONS, ObjType::Map)?,
    };
    if tx.get(&map, escalation.id.as_str())?.is_some() {
        return Ok(false);
    }
    let obj = tx.put_object(&map, escalation.id.as_str(), ObjType::Map)?;
    put_all(
        tx,
        &obj,
        [
            ("rule", escalation.rule.as_str().into()),
            ("clock", escalation.clock.as_str().into()),
            ("deadline", escalation.deadline.into()),
            ("at", escalation.at.into()),
            ("summary", escalation.summary.as_str().into()),
        ],
    )?;
    Ok(true)
}

/// The escalations recorded, oldest first.
pub fn read_escalations(doc: &Automerge) -> Vec<Escalation> {
    let mut all: Vec<Escalation> = keyed_records(doc, key::ESCALATIONS)
        .into_iter()
        .map(|(id, e)| Escalation {
            id,
            rule: e.string("rule"),
            clock: e.string("clock"),
            deadline: e.i64("deadline").unwrap_or_default(),
            at: e.i64("at").unwrap_or_default(),
            summary: e.string("summary"),
        })
        .collect();
    all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    all
}

/// Whether the server has escalated the ticket.
pub fn is_escalated(doc: &Automerge) -> bool {
    root(doc).object(key::ESCALATIONS, ObjType::Map).is_some_and(|map| doc.length(&map) > 0)
}
