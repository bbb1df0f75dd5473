//! The Automerge layout of a ticket, and reading it back into typed views.
//!
//! Writes edit the document in place, key by key, so fields written by a newer version (and
//! unknown keys inside records) are preserved untouched. Every container a ticket ever needs
//! is created with the ticket, so two replicas never race to create the same list (which would
//! make one replica's entries disappear in the merge). Reads tolerate missing or mistyped
//! fields: a wrong type reads as absent, never as a panic.

use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::{
    CheckInPlace, ChecklistItem, Customer, CustomerMessage, Feedback, Location, Milestones, Note, PartUsed, PhotoMeta,
    Priority, SignatureMeta, Site, Sla, Ticket, TicketEvent, TicketSummary, TimeEntry,
};
use crate::time::Millis;
use crate::workflow::{self, Derived, EventKind, Role, Status};

/// Document keys, in one place.
pub(crate) mod key {
    pub const SCHEMA: &str = "schema";
    pub const ID: &str = "id";
    pub const CREATED_AT: &str = "created_at";
    pub const CREATED_BY: &str = "created_by";
    pub const TITLE: &str = "title";
    pub const DESCRIPTION: &str = "description";
    pub const CUSTOMER: &str = "customer";
    pub const SITE: &str = "site";
    pub const PRIORITY: &str = "priority";
    pub const SLA: &str = "sla";
    pub const COMPLAINT: &str = "complaint";
    pub const SIGNATURE_REQUIRED: &str = "signature_required";
    pub const EVENTS: &str = "events";
    pub const NOTES: &str = "notes";
    pub const PARTS: &str = "parts";
    pub const TIME_ENTRIES: &str = "time_entries";
    pub const CHECKLIST: &str = "checklist";
    pub const PHOTOS: &str = "photos";
    pub const SIGNATURE: &str = "signature";
    pub const FEEDBACK: &str = "feedback";
    pub const VOID: &str = "void";
    pub const DEVICE_AT: &str = "device_at";
    pub const CUSTOMER_MESSAGES: &str = "customer_messages";
    pub const CUSTOMER_FEEDBACK: &str = "customer_feedback";
    pub const PUBLIC: &str = "public";
    pub const ETA: &str = "eta";
    pub const CLASSIFICATION: &str = "classification";
    pub const ESCALATIONS: &str = "escalations";
    pub const CONTACT: &str = "contact";
    pub const POOL_GROUP: &str = "group";
    pub const REVISIT: &str = "revisit";
    pub const REVISIT_AFTER: &str = "revisit_after";
    pub const COMPLAINT_LEVEL: &str = "complaint_level";
    pub const COMPLAINT_UNIT: &str = "complaint_unit";
    pub const CUSTOMER_CARD: &str = "customer_card";
}

mod at_heads;
mod card;
mod customer;
mod dispatch;
mod index;
mod write;
pub use at_heads::{derive_at, event_count_at, event_ids_at, is_complaint_at, lost_claim_at, pool_group_at};
pub use card::read_customer_card;
pub use customer::{
    append_customer_message, customer_message_count, customer_rating, has_customer_feedback, put_customer_feedback,
};
pub use dispatch::{
    is_complaint, is_escalated, mark_complaint, put_classification, put_complaint, put_escalation, put_priority,
    read_classification, read_complaint_level, read_complaint_unit, read_escalations,
};
pub use index::{INDEX_COLUMNS, INDEX_NEUTRAL_KEYS, INDEX_REVISION, TicketIndex};
use write::put_all;
pub use write::{
    EventDraft, Stamp, append_event, append_note, append_part, append_time, create, edit, has_photo, put_feedback,
    put_photo, put_signature, set_checklist_item,
};

/// The key the server writes into a record of `events`, `notes`, `parts` or `time_entries`
/// that broke a rule: its value is the reason. Only the server writes it; a voided event is
/// kept in the history but skipped by the state machine.
pub const VOID: &str = key::VOID;

/// The key where the server keeps a device's own time when it clamps a record's `at` into the
/// ticket's life (server/src/rules/causal.rs).
pub const DEVICE_AT: &str = key::DEVICE_AT;

/// The parts of a ticket only the server writes, for the customer (the tracking page): a
/// device that writes into them is undone (server/src/rules).
pub const CUSTOMER_KEYS: [&str; 2] = [key::CUSTOMER_MESSAGES, key::CUSTOMER_FEEDBACK];

/// The lists of records a ticket appends to (and the server may void records of).
pub const RECORD_LISTS: [&str; 4] = [key::EVENTS, key::NOTES, key::PARTS, key::TIME_ENTRIES];

/// A document that cannot be read as a ticket.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Automerge refused an operation or the bytes.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    /// The document lacks something every ticket has.
    #[error("not a ticket document: {0}")]
    NotATicket(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Typed, forgiving reads of one map's fields: a missing or mistyped value is `None`.
trait Fields {
    /// The value at `key` (objects as `Value::Object`).
    fn value(&self, key: &str) -> Option<Value<'static>>;
    /// The object at `key`, if it is of type `want`.
    fn object(&self, key: &str, want: ObjType) -> Option<ObjId>;

    fn str(&self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    fn string(&self, key: &str) -> String {
        self.str(key).unwrap_or_default()
    }

    fn i64(&self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Int(n) | ScalarValue::Timestamp(n) => Some(*n),
                ScalarValue::Uint(n) => i64::try_from(*n).ok(),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    fn u64(&self, key: &str) -> Option<u64> {
        match self.value(key)? {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Uint(n) => Some(*n),
                ScalarValue::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    fn u32(&self, key: &str) -> Option<u32> {
        self.u64(key).and_then(|n| u32::try_from(n).ok())
    }

    fn f64(&self, key: &str) -> Option<f64> {
        match self.value(key)? {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::F64(n) => Some(*n),
                ScalarValue::Int(n) => Some(*n as f64),
                ScalarValue::Uint(n) => Some(*n as f64),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    fn bool(&self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Boolean(b) => Some(*b),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    fn location(&self) -> Option<Location> {
        Some(Location {
            lat: self.f64("lat")?,
            lon: self.f64("lon")?,
            accuracy_m: self.f64("accuracy_m").unwrap_or(0.0),
        })
    }
}

/// A map read key by key: for the root and other maps where only a few keys are wanted.
struct At<'a> {
    doc: &'a Automerge,
    obj: ObjId,
}

impl Fields for At<'_> {
    fn value(&self, key: &str) -> Option<Value<'static>> {
        match self.doc.get(&self.obj, key) {
            Ok(Some((value, _))) => Some(value.to_owned()),
            _ => None,
        }
    }

    fn object(&self, key: &str, want: ObjType) -> Option<ObjId> {
        match self.doc.get(&self.obj, key) {
            Ok(Some((Value::Object(found), id))) if found == want => Some(id),
            _ => None,
        }
    }
}

/// One key of a map as [`map_fields`] reads it: the key, its winning value, and the object's
/// id when the value is an object.
pub type MapField = (String, Value<'static>, Option<ObjId>);

/// Every key of the map `obj` with its winning value (as `get` reads it), in one `map_range`:
/// where most keys of a map are wanted, one pass costs less than a `get` per key, each of
/// which seeks the map's ops again. None when `obj` is not a map.
pub fn map_fields(doc: &Automerge, obj: &ObjId) -> Vec<MapField> {
    doc.map_range(obj, ..)
        .map(|item| {
            let id = matches!(item.value, automerge::ValueRef::Object(_)).then(|| item.id());
            (item.key.to_string(), item.value.into_value(), id)
        })
        .collect()
}

/// A map read in one pass: for list records, where every key is wanted. One `map_range`
/// instead of a `get` per key is what keeps a 1,000-entry history quick to read.
struct Record {
    fields: Vec<MapField>,
}

impl Record {
    fn read(doc: &Automerge, obj: &ObjId) -> Record {
        Record { fields: map_fields(doc, obj) }
    }

    fn find(&self, key: &str) -> Option<&MapField> {
        self.fields.iter().find(|(k, _, _)| k == key)
    }
}

impl Fields for Record {
    fn value(&self, key: &str) -> Option<Value<'static>> {
        self.find(key).map(|(_, value, _)| value.clone())
    }

    fn object(&self, key: &str, want: ObjType) -> Option<ObjId> {
        match self.find(key)? {
            (_, Value::Object(found), Some(id)) if *found == want => Some(id.clone()),
            _ => None,
        }
    }
}

fn root(doc: &Automerge) -> At<'_> {
    At { doc, obj: ROOT }
}

/// The map records of the list at `key` of the root, in list order (non-map items skipped).
fn records(doc: &Automerge, key: &str) -> Vec<Record> {
    let Some(list) = root(doc).object(key, ObjType::List) else {
        return Vec::new();
    };
    doc.list_range(&list, ..)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|item| Record::read(doc, &item.id()))
        .collect()
}

/// The (key, record) entries of the map at `key` of the root, in key order.
fn keyed_records(doc: &Automerge, key: &str) -> Vec<(String, Record)> {
    let Some(map) = root(doc).object(key, ObjType::Map) else {
        return Vec::new();
    };
    doc.map_range(&map, ..)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|item| (item.key.to_string(), Record::read(doc, &item.id())))
        .collect()
}

fn map_at<'a>(doc: &'a Automerge, parent: &At<'_>, key: &str) -> Option<At<'a>> {
    parent.object(key, ObjType::Map).map(|obj| At { doc, obj })
}

/// When the ticket was created (`None` if the document does not say).
pub fn created_at(doc: &Automerge) -> Option<Millis> {
    root(doc).i64(key::CREATED_AT)
}

/// The ticket id, or an error when the document is not a ticket.
pub fn ticket_id(doc: &Automerge) -> Result<String, ModelError> {
    root(doc).str(key::ID).ok_or(ModelError::NotATicket("no id"))
}

/// How many entries the history has: a cheap test of whether a write added events, since the
/// history only ever grows.
pub fn event_count(doc: &Automerge) -> usize {
    root(doc).object(key::EVENTS, ObjType::List).map_or(0, |list| doc.length(&list))
}

/// The skill group whose pool the ticket was last put in (the latest `pooled` event not
/// voided), if it names one: only that group's engineers hold it and may claim it
/// (docs/adr/0028). Whether the ticket is still pooled is the derived status's to say.
pub fn pool_group(doc: &Automerge) -> Option<String> {
    records(doc, key::EVENTS)
        .into_iter()
        .filter(|event| {
            event.str("kind").as_deref() == Some(EventKind::Pooled.as_str()) && event.str(key::VOID).is_none()
        })
        .last()
        .and_then(|event| event.str(key::POOL_GROUP))
}

/// The history, in document order.
pub fn read_events(doc: &Automerge) -> Vec<TicketEvent> {
    records(doc, key::EVENTS)
        .into_iter()
        .map(|event| TicketEvent {
            id: event.string("id"),
            kind: event.string("kind"),
            at: event.i64("at").unwrap_or_default(),
            by: event.string("by"),
            role: event.str("role").as_deref().and_then(Role::parse),
            device: event.string("device"),
            assignee: event.str("assignee"),
            place: event.object("location", ObjType::Map).and_then(|obj| {
                let place = At { doc, obj };
                Some(CheckInPlace {
                    location: place.location()?,
                    distance_m: place.f64("distance_m"),
                    inside_site: place.bool("inside_site"),
                })
            }),
            reason: event.str("reason"),
            summary: event.str("summary"),
            eta: event.i64(key::ETA),
            void: event.str(key::VOID),
            device_at: event.i64(key::DEVICE_AT),
            contact: event.str(key::CONTACT),
            revisit: event.bool(key::REVISIT).unwrap_or(false),
        })
        .collect()
}

/// The history as the state machine sees it: voided events (see [`VOID`]) are left out, so
/// they neither move the state nor show as conflicts.
pub fn workflow_events(events: &[TicketEvent]) -> Vec<workflow::Event> {
    events
        .iter()
        .filter(|e| e.void.is_none())
        .map(|e| workflow::Event {
            id: e.id.clone(),
            kind_name: e.kind.clone(),
            kind: EventKind::parse(&e.kind),
            by: e.by.clone(),
            role: e.role,
            assignee: e.assignee.clone(),
            at: e.at,
            revisit: e.revisit,
        })
        .collect()
}

/// Folds the document's history through the state machine.
pub fn derive(doc: &Automerge) -> Derived {
    workflow::derive(&workflow_events(&read_events(doc)))
}

/// The site, if the ticket has a valid one.
pub fn read_site(doc: &Automerge) -> Option<Site> {
    let site = map_at(doc, &root(doc), key::SITE)?;
    Some(Site { lat: site.f64("lat")?, lon: site.f64("lon")?, radius_m: site.f64("radius_m").unwrap_or(0.0) })
}

/// Whether completing needs the customer's signature first.
pub fn signature_required(doc: &Automerge) -> bool {
    root(doc).bool(key::SIGNATURE_REQUIRED).unwrap_or(false)
}

/// Whether the customer's feedback has been recorded.
pub fn has_feedback(doc: &Automerge) -> bool {
    root(doc).object(key::FEEDBACK, ObjType::Map).is_some()
}

/// Whether a signature has been captured.
pub fn has_signature(doc: &Automerge) -> bool {
    root(doc).object(key::SIGNATURE, ObjType::Map).is_some()
}

fn read_sla(doc: &Automerge) -> Sla {
    match map_at(doc, &root(doc), key::SLA) {
        Some(sla) => Sla {
            respond_by: sla.i64("respond_by"),
            arrive_by: sla.i64("arrive_by"),
            resolve_by: sla.i64("resolve_by"),
        },
        None => Sla::default(),
    }
}

/// How long after completion the customer is called back (the policy's revisit target,
/// written at creation), if a revisit is due.
pub fn read_revisit_after(doc: &Automerge) -> Option<Millis> {
    map_at(doc, &root(doc), key::SLA)?.i64(key::REVISIT_AFTER)
}

/// When a revisit of this ticket is due: its revisit target after completion, while it is
/// completed and not yet revisited (docs/adr/0019).
pub fn revisit_due_at(
    status: Status,
    resolved_at: Option<Millis>,
    revisited_at: Option<Millis>,
    revisit_after: Option<Millis>,
) -> Option<Millis> {
    if status != Status::Completed || revisited_at.is_some() {
        return None;
    }
    Some(resolved_at?.saturating_add(revisit_after?))
}

/// The customer snapshot and its record reference.
pub fn read_customer(doc: &Automerge) -> Customer {
    match map_at(doc, &root(doc), key::CUSTOMER) {
        Some(c) => Customer {
            name: c.string("name"),
            phone: c.string("phone"),
            address: c.string("address"),
            tier: c.string("tier"),
            id: c.string("id"),
            site_id: c.string("site_id"),
        },
        None => Customer::default(),
    }
}

fn read_priority(doc: &Automerge) -> Priority {
    root(doc).str(key::PRIORITY).as_deref().and_then(Priority::parse).unwrap_or_default()
}

fn milestones(derived: &Derived) -> Milestones {
    Milestones {
        responded_at: derived.state.responded_at,
        arrived_at: derived.state.arrived_at,
        resolved_at: derived.state.resolved_at,
    }
}

/// The earliest SLA deadline not yet met; none once the ticket is cancelled or all are met.
pub fn sla_due_at(sla: &Sla, status: Status, milestones: &Milestones) -> Option<Millis> {
    if status == Status::Cancelled {
        return None;
    }
    [
        (sla.respond_by, milestones.responded_at),
        (sla.arrive_by, milestones.arrived_at),
        (sla.resolve_by, milestones.resolved_at),
    ]
    .into_iter()
    .filter_map(|(deadline, met)| if met.is_none() { deadline } else { None })
    .min()
}

/// The index row of a ticket (what lists show), from its document.
pub fn summarize(doc: &Automerge, updated_at: Millis, pending: bool) -> Result<TicketSummary, ModelError> {
    summarize_derived(doc, &derive(doc), updated_at, pending)
}

/// [`summarize`] with the history already folded (the write path has just done it).
pub fn summarize_derived(
    doc: &Automerge,
    derived: &Derived,
    updated_at: Millis,
    pending: bool,
) -> Result<TicketSummary, ModelError> {
    Ok(TicketSummary {
        id: ticket_id(doc)?,
        index: TicketIndex::of(doc, derived),
        updated_at,
        pending,
        quarantined: None,
        rejected: None,
    })
}

/// The index row after a local action, from the row before it: the index is computed from
/// the document again (every listed field, whichever the action touched; `client::tests`
/// checks it against [`summarize`] for every kind of action), unless the action wrote only
/// what the index does not read (`index_unchanged`, [`INDEX_NEUTRAL_KEYS`]); the rest is the
/// row's own.
pub fn summary_after_action(
    before: &TicketSummary,
    doc: &Automerge,
    derived: &Derived,
    index_unchanged: bool,
    updated_at: Millis,
) -> TicketSummary {
    TicketSummary {
        id: before.id.clone(),
        index: if index_unchanged { before.index.clone() } else { TicketIndex::of(doc, derived) },
        updated_at,
        pending: true,
        quarantined: None,
        rejected: None,
    }
}

/// A signature is written once; two devices that each captured one offline leave two values
/// under `signature`, and the view reports it as a conflict for people to review.
fn with_signature_conflicts(doc: &Automerge, mut conflicts: Vec<workflow::Conflict>) -> Vec<workflow::Conflict> {
    let values = doc.get_all(ROOT, key::SIGNATURE).unwrap_or_default();
    if values.len() > 1 {
        for (_, obj) in values.iter().skip(1) {
            let other = At { doc, obj: obj.clone() };
            conflicts.push(workflow::Conflict {
                event_id: String::new(),
                kind: "signature".into(),
                by: other.string("by"),
                reason: format!(
                    "cannot capture the signature: the customer also signed on another device (as {})",
                    other.string("signer")
                ),
            });
        }
    }
    conflicts
}

/// The full typed view of a ticket.
pub fn read_ticket(doc: &Automerge) -> Result<Ticket, ModelError> {
    let r = root(doc);
    let id = ticket_id(doc)?;
    let events = read_events(doc);
    let derived = workflow::derive(&workflow_events(&events));
    Ok(Ticket {
        id,
        schema: r.u64(key::SCHEMA).unwrap_or(0),
        created_at: r.i64(key::CREATED_AT).unwrap_or_default(),
        created_by: r.string(key::CREATED_BY),
        title: r.string(key::TITLE),
        description: r.string(key::DESCRIPTION),
        customer: read_customer(doc),
        customer_card: read_customer_card(doc),
        site: read_site(doc),
        priority: read_priority(doc),
        classification: read_classification(doc),
        escalations: read_escalations(doc),
        sla: read_sla(doc),
        revisit_after: read_revisit_after(doc),
        revisited_at: derived.state.revisited_at,
        complaint: r.bool(key::COMPLAINT).unwrap_or(false),
        complaint_level: read_complaint_level(doc),
        complaint_unit: r.string(key::COMPLAINT_UNIT),
        signature_required: r.bool(key::SIGNATURE_REQUIRED).unwrap_or(false),
        status: derived.state.status,
        assignee: derived.state.assignee.clone(),
        milestones: milestones(&derived),
        conflicts: with_signature_conflicts(doc, derived.conflicts),
        events,
        notes: records(doc, key::NOTES)
            .iter()
            .map(|o| Note {
                id: o.string("id"),
                text: o.string("text"),
                at: o.i64("at").unwrap_or_default(),
                by: o.string("by"),
                device: o.string("device"),
                public: o.bool(key::PUBLIC).unwrap_or(false),
                void: o.str(key::VOID),
            })
            .collect(),
        parts: records(doc, key::PARTS)
            .iter()
            .map(|o| PartUsed {
                id: o.string("id"),
                sku: o.string("sku"),
                qty: o.u32("qty").unwrap_or_default(),
                at: o.i64("at").unwrap_or_default(),
                by: o.string("by"),
                void: o.str(key::VOID),
            })
            .collect(),
        time_entries: records(doc, key::TIME_ENTRIES)
            .iter()
            .map(|o| TimeEntry {
                id: o.string("id"),
                minutes: o.u32("minutes").unwrap_or_default(),
                kind: o.string("kind"),
                at: o.i64("at").unwrap_or_default(),
                by: o.string("by"),
                void: o.str(key::VOID),
            })
            .collect(),
        checklist: keyed_records(doc, key::CHECKLIST)
            .into_iter()
            .map(|(item, o)| ChecklistItem {
                item,
                done: o.bool("done").unwrap_or(false),
                at: o.i64("at"),
                by: o.str("by"),
            })
            .collect(),
        photos: keyed_records(doc, key::PHOTOS)
            .into_iter()
            .map(|(sha256, o)| PhotoMeta {
                width: o.u32("width").unwrap_or_default(),
                height: o.u32("height").unwrap_or_default(),
                bytes: o.u64("bytes").unwrap_or_default(),
                caption: o.string("caption"),
                taken_at: o.i64("taken_at"),
                by: o.string("by"),
                location: o.object("location", ObjType::Map).and_then(|obj| At { doc, obj }.location()),
                thumbnail_sha256: o.string("thumbnail_sha256"),
                sha256,
            })
            .collect(),
        signature: map_at(doc, &r, key::SIGNATURE).map(|o| SignatureMeta {
            signer: o.string("signer"),
            signed_at: o.i64("signed_at").unwrap_or_default(),
            png_sha256: o.string("png_sha256"),
            summary_sha256: o.string("summary_sha256"),
        }),
        feedback: map_at(doc, &r, key::FEEDBACK).map(|o| read_feedback(&o)),
        customer_messages: records(doc, key::CUSTOMER_MESSAGES)
            .iter()
            .map(|o| CustomerMessage {
                id: o.string("id"),
                text: o.string("text"),
                at: o.i64("at").unwrap_or_default(),
                by: o.string("by"),
            })
            .collect(),
        customer_feedback: map_at(doc, &r, key::CUSTOMER_FEEDBACK).map(|o| read_feedback(&o)),
    })
}

fn read_feedback(o: &impl Fields) -> Feedback {
    Feedback {
        rating: o.u64("rating").and_then(|n| u8::try_from(n).ok()).unwrap_or_default(),
        comment: o.string("comment"),
        at: o.i64("at").unwrap_or_default(),
        by: o.string("by"),
    }
}

#[cfg(test)]
mod tests;
