//! Writing a ticket: creating it and appending events and records, key by key, in place (see
//! the parent module for why).

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use std::collections::HashMap;

use automerge::hydrate;

use super::{Fields, ModelError, card, key, put_classification, put_complaint, root};
use crate::model::{CheckInPlace, Identity, NewTicket, PhotoMeta, SCHEMA_VERSION, SignatureMeta};
use crate::time::Millis;
use crate::workflow::{self, EventKind};

/// Who records an entry, and when: stamped on every event and record.
#[derive(Clone, Debug)]
pub struct Stamp<'a> {
    /// The new entry's id.
    pub id: String,
    /// Device time.
    pub at: Millis,
    /// Who, on which device, in which role.
    pub identity: &'a Identity,
}

/// An event about to be recorded.
#[derive(Clone, Debug, Default)]
pub struct EventDraft {
    /// Its kind.
    pub kind: Option<EventKind>,
    /// Engineer named by `dispatched` / `reassigned`.
    pub assignee: Option<String>,
    /// Reason for `rejected` / `cancelled` / `reopened`.
    pub reason: Option<String>,
    /// Where a `checked_in` happened.
    pub place: Option<CheckInPlace>,
    /// Summary with `completed`.
    pub summary: Option<String>,
    /// Estimated arrival shared with `travel_started`.
    pub eta: Option<Millis>,
    /// Whom a revisit call reached.
    pub contact: Option<String>,
    /// A `reopened` recording a revisit's "not fixed".
    pub revisit: bool,
    /// The skill group a `pooled` puts the ticket in the pool of (docs/adr/0028).
    pub group: Option<String>,
}

impl EventDraft {
    /// A draft of `kind` with nothing else.
    pub fn of(kind: EventKind) -> Self {
        EventDraft { kind: Some(kind), ..Default::default() }
    }

    /// The event as the state machine will see it once written.
    pub fn to_workflow_event(&self, stamp: &Stamp<'_>) -> workflow::Event {
        let kind = self.kind;
        workflow::Event {
            id: stamp.id.clone(),
            kind_name: kind.map(EventKind::as_str).unwrap_or_default().to_owned(),
            kind,
            by: stamp.identity.user_id.clone(),
            role: Some(stamp.identity.role),
            assignee: self.assignee.clone(),
            at: stamp.at,
            revisit: self.revisit,
        }
    }
}

/// Runs `edit` in one Automerge transaction stamped with the action's time and name; returns
/// the change's hash.
pub fn edit<F>(doc: &mut Automerge, at: Millis, message: &str, edit: F) -> Result<ChangeHash, ModelError>
where
    F: FnOnce(&mut Transaction<'_>) -> Result<(), ModelError>,
{
    let options = CommitOptions::default().with_message(message.to_owned()).with_time(at);
    let success = doc.transact_with(|_| options, |tx| edit(tx)).map_err(|failure| failure.error)?;
    // Every edit here writes at least one op, so a hash always exists.
    success.hash.ok_or(ModelError::NotATicket("edit wrote nothing"))
}

/// Writes a new ticket into an empty document: dispatcher fields, empty containers, the
/// `created` event, and `dispatched` when an assignee is named.
pub fn create(tx: &mut Transaction<'_>, ticket_id: &str, new: &NewTicket, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    tx.put(ROOT, key::SCHEMA, SCHEMA_VERSION)?;
    tx.put(ROOT, key::ID, ticket_id)?;
    tx.put(ROOT, key::CREATED_AT, stamp.at)?;
    tx.put(ROOT, key::CREATED_BY, stamp.identity.user_id.as_str())?;
    tx.put(ROOT, key::TITLE, new.title.as_str())?;
    tx.put(ROOT, key::DESCRIPTION, new.description.as_str())?;
    let customer = tx.put_object(ROOT, key::CUSTOMER, ObjType::Map)?;
    put_all(
        tx,
        &customer,
        [
            ("name", new.customer.name.as_str().into()),
            ("phone", new.customer.phone.as_str().into()),
            ("address", new.customer.address.as_str().into()),
            ("tier", new.customer.tier.as_str().into()),
        ],
    )?;
    card::put_customer_reference(tx, &customer, &new.customer, new.customer_card.as_ref())?;
    if let Some(site) = new.site {
        let obj = tx.put_object(ROOT, key::SITE, ObjType::Map)?;
        put_all(tx, &obj, [("lat", site.lat.into()), ("lon", site.lon.into()), ("radius_m", site.radius_m.into())])?;
    }
    tx.put(ROOT, key::PRIORITY, new.priority.as_str())?;
    if new.classification != crate::model::Classification::default() {
        put_classification(tx, &new.classification)?;
    }
    let sla = tx.put_object(ROOT, key::SLA, ObjType::Map)?;
    for (name, deadline) in
        [("respond_by", new.sla.respond_by), ("arrive_by", new.sla.arrive_by), ("resolve_by", new.sla.resolve_by)]
    {
        if let Some(deadline) = deadline {
            tx.put(&sla, name, deadline)?;
        }
    }
    if let Some(after) = new.revisit_after {
        tx.put(&sla, key::REVISIT_AFTER, after)?;
    }
    // Filed as a complaint in any way, it is one for good (docs/adr/0019).
    let complaint = new.complaint
        || new.complaint_level.is_some()
        || new.classification.ticket_type == crate::workflow::complaints::COMPLAINT_TYPE;
    tx.put(ROOT, key::COMPLAINT, complaint)?;
    if complaint {
        put_complaint(tx, new.complaint_level, &new.complaint_unit)?;
    }
    tx.put(ROOT, key::SIGNATURE_REQUIRED, new.signature_required)?;
    for list in [key::EVENTS, key::NOTES, key::PARTS, key::TIME_ENTRIES] {
        tx.put_object(ROOT, list, ObjType::List)?;
    }
    let checklist = tx.put_object(ROOT, key::CHECKLIST, ObjType::Map)?;
    for item in &new.checklist {
        let obj = tx.put_object(&checklist, item.as_str(), ObjType::Map)?;
        tx.put(&obj, "done", false)?;
    }
    tx.put_object(ROOT, key::PHOTOS, ObjType::Map)?;

    append_event(tx, &EventDraft::of(EventKind::Created), stamp)?;
    if let Some(engineer) = &new.assignee {
        let dispatched = EventDraft { assignee: Some(engineer.clone()), ..EventDraft::of(EventKind::Dispatched) };
        let dispatch_stamp = Stamp { id: crate::model::ids::new_id(), ..stamp.clone() };
        append_event(tx, &dispatched, &dispatch_stamp)?;
    }
    Ok(())
}

/// Appends an event to the history.
pub fn append_event(tx: &mut Transaction<'_>, draft: &EventDraft, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    let kind = draft.kind.map(EventKind::as_str).unwrap_or_default();
    let mut fields: Vec<(&str, hydrate::Value)> = vec![
        ("kind", kind.into()),
        ("role", stamp.identity.role.as_str().into()),
        ("device", stamp.identity.device_id.as_str().into()),
    ];
    for (name, value) in [
        ("assignee", &draft.assignee),
        ("reason", &draft.reason),
        ("summary", &draft.summary),
        (key::CONTACT, &draft.contact),
        (key::POOL_GROUP, &draft.group),
    ] {
        if let Some(value) = value {
            fields.push((name, value.as_str().into()));
        }
    }
    if let Some(eta) = draft.eta {
        fields.push((key::ETA, eta.into()));
    }
    if draft.revisit {
        fields.push((key::REVISIT, ScalarValue::Boolean(true).into()));
    }
    if let Some(place) = &draft.place {
        let l = place.location;
        let mut location: HashMap<&str, hydrate::Value> =
            HashMap::from([("lat", l.lat.into()), ("lon", l.lon.into()), ("accuracy_m", l.accuracy_m.into())]);
        if let Some(distance) = place.distance_m {
            location.insert("distance_m", distance.into());
        }
        if let Some(inside) = place.inside_site {
            location.insert("inside_site", ScalarValue::Boolean(inside).into());
        }
        fields.push(("location", location.into()));
    }
    append_record(tx, key::EVENTS, stamp, fields)
}

/// Appends a note; a `public` one is shown to the customer on the tracking page.
pub fn append_note(tx: &mut Transaction<'_>, text: &str, public: bool, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    let mut fields = vec![("text", text.into()), ("device", stamp.identity.device_id.as_str().into())];
    if public {
        fields.push((key::PUBLIC, ScalarValue::Boolean(true).into()));
    }
    append_record(tx, key::NOTES, stamp, fields)
}

/// Appends a part used.
pub fn append_part(tx: &mut Transaction<'_>, sku: &str, qty: u32, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    append_record(tx, key::PARTS, stamp, vec![("sku", sku.into()), ("qty", u64::from(qty).into())])
}

/// Appends a time entry.
pub fn append_time(tx: &mut Transaction<'_>, minutes: u32, kind: &str, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    append_record(tx, key::TIME_ENTRIES, stamp, vec![("minutes", u64::from(minutes).into()), ("kind", kind.into())])
}

/// Ticks or unticks a checklist item (an item not on the list is added).
pub fn set_checklist_item(
    tx: &mut Transaction<'_>,
    item: &str,
    done: bool,
    stamp: &Stamp<'_>,
) -> Result<(), ModelError> {
    let checklist = ensure_map(tx, &ROOT, key::CHECKLIST)?;
    let obj = ensure_map(tx, &checklist, item)?;
    put_all(tx, &obj, [("done", done.into()), ("at", stamp.at.into()), ("by", stamp.identity.user_id.as_str().into())])
}

/// Records the customer's feedback (written once: the caller checks there is none yet).
pub fn put_feedback(tx: &mut Transaction<'_>, rating: u8, comment: &str, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    let obj = ensure_map(tx, &ROOT, key::FEEDBACK)?;
    put_all(
        tx,
        &obj,
        [
            ("rating", u64::from(rating).into()),
            ("comment", comment.into()),
            ("at", stamp.at.into()),
            ("by", stamp.identity.user_id.as_str().into()),
        ],
    )
}

/// Adds a photo's metadata under its hash (the caller checks it is not there yet).
pub fn put_photo(tx: &mut Transaction<'_>, photo: &PhotoMeta, stamp: &Stamp<'_>) -> Result<(), ModelError> {
    let photos = ensure_map(tx, &ROOT, key::PHOTOS)?;
    let obj = tx.put_object(&photos, photo.sha256.as_str(), ObjType::Map)?;
    put_all(
        tx,
        &obj,
        [
            ("width", u64::from(photo.width).into()),
            ("height", u64::from(photo.height).into()),
            ("bytes", photo.bytes.into()),
            ("caption", photo.caption.as_str().into()),
            ("thumbnail_sha256", photo.thumbnail_sha256.as_str().into()),
            ("at", stamp.at.into()),
            ("by", stamp.identity.user_id.as_str().into()),
            ("device", stamp.identity.device_id.as_str().into()),
        ],
    )?;
    if let Some(taken_at) = photo.taken_at {
        tx.put(&obj, "taken_at", taken_at)?;
    }
    if let Some(l) = photo.location {
        let location = tx.put_object(&obj, "location", ObjType::Map)?;
        put_all(tx, &location, [("lat", l.lat.into()), ("lon", l.lon.into()), ("accuracy_m", l.accuracy_m.into())])?;
    }
    Ok(())
}

/// Whether the ticket already has the photo with this hash.
pub fn has_photo(doc: &Automerge, sha256: &str) -> bool {
    root(doc)
        .object(key::PHOTOS, ObjType::Map)
        .is_some_and(|photos| matches!(doc.get(&photos, sha256), Ok(Some((Value::Object(ObjType::Map), _)))))
}

/// Writes the customer's signature (the caller checks there is none yet).
pub fn put_signature(
    tx: &mut Transaction<'_>,
    signature: &SignatureMeta,
    strokes_json: &str,
    stamp: &Stamp<'_>,
) -> Result<(), ModelError> {
    let obj = tx.put_object(ROOT, key::SIGNATURE, ObjType::Map)?;
    put_all(
        tx,
        &obj,
        [
            ("signer", signature.signer.as_str().into()),
            ("signed_at", signature.signed_at.into()),
            ("png_sha256", signature.png_sha256.as_str().into()),
            ("summary_sha256", signature.summary_sha256.as_str().into()),
            ("strokes", strokes_json.into()),
            ("by", stamp.identity.user_id.as_str().into()),
            ("device", stamp.identity.device_id.as_str().into()),
        ],
    )
}

/// Appends a map record {id, at, by, ...fields} to the list at `list_key`.
///
/// The record goes in as one batch: Automerge splices the new map and all its fields into its
/// op columns twice in all, instead of once per field (a third of a note's CPU before).
pub(super) fn append_record(
    tx: &mut Transaction<'_>,
    list_key: &str,
    stamp: &Stamp<'_>,
    fields: Vec<(&str, hydrate::Value)>,
) -> Result<(), ModelError> {
    let list = match tx.get(ROOT, list_key)? {
        Some((Value::Object(ObjType::List), id)) => id,
        // A document from a version without this list: create it (the only writer that can).
        _ => tx.put_object(ROOT, list_key, ObjType::List)?,
    };
    let index = tx.length(&list);
    let mut record: HashMap<&str, hydrate::Value> = HashMap::with_capacity(fields.len() + 3);
    record.insert("id", stamp.id.as_str().into());
    record.insert("at", stamp.at.into());
    record.insert("by", stamp.identity.user_id.as_str().into());
    record.extend(fields);
    tx.batch_create_object(&list, index, &record.into(), true)?;
    Ok(())
}

pub(super) fn ensure_map(tx: &mut Transaction<'_>, parent: &ObjId, key: &str) -> Result<ObjId, ModelError> {
    Ok(match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(parent, key, ObjType::Map)?,
    })
}

pub(super) fn put_all<const N: usize>(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    fields: [(&str, ScalarValue); N],
) -> Result<(), ModelError> {
    for (name, value) in fields {
        tx.put(obj, name, value)?;
    }
    Ok(())
}
