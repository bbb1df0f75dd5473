//! What a push may touch, and how to undo what it may not (docs/adr/0003).
//!
//! The check looks at what the changes did, not at what they claim: the document is merged
//! into a fork and `diff(before, after)` lists every visible edit with its path from the root.
//! An engineer may insert new records into the append-only lists (`events`, `notes`, `parts`,
//! `time_entries`) and write inside the records just inserted, and change anything inside the
//! engineer-owned maps (`checklist`, `photos`, `signature`, `feedback`), including creating
//! them. Every inserted record must be by the engineer; events and notes must name the
//! engineer's device; events must carry role `engineer` and an engineer kind. Whatever the
//! role, only the server writes `void` into a record, and only the server writes the
//! customer's records (`customer_messages`, `customer_feedback`: the tracking page's, written
//! with the server's customer actor): a device of any role that touches them is undone.
//! A complaint's history is kept whoever pushes (docs/adr/0019): no device, dispatchers'
//! included, may change or remove its existing records or unset `complaint`.
//!
//! A push that breaks a rule is merged anyway; [`check`] returns, with the reasons, the
//! [`Fix`]es that [`compensate`] writes as one server change to undo its effect.

pub(crate) mod causal;
mod fields;

use std::collections::HashSet;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{
    ActorId, Automerge, AutomergeError, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ROOT, ReadDoc,
    ScalarValue, Value,
};
use fieldsync_core::model::doc::{CUSTOMER_KEYS, RECORD_LISTS, VOID};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{EventKind, Role};
use sha2::{Digest, Sha256};

const OWNED_MAPS: [&str; 4] = ["checklist", "photos", "signature", "feedback"];
/// Why a device may not write `void`.
const ONLY_THE_SERVER_VOIDS: &str = "only the server may void a record";
/// Why no device may change or remove what a complaint's history holds (docs/adr/0019).
const COMPLAINT_HISTORY: &str = "a complaint's history is never rewritten or deleted";
/// Why no device may unmark a complaint.
const COMPLAINT_STAYS: &str = "a complaint stays a complaint";
/// Why a device may not write the customer's messages or rating.
const ONLY_THE_CUSTOMER: &str = "only the customer writes the customer's messages and rating (through the server)";

/// Who pushed.
pub(crate) struct Pusher<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub role: Role,
    /// The skill groups the pusher belongs to: a claim on a group's pool is refused from
    /// anyone outside it (docs/adr/0028).
    pub groups: &'a [String],
}

/// One edit of the compensating change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fix {
    /// Put the map key back as it was before the push: the old scalar, a copy of the old
    /// object, or no key at all.
    Restore { obj: ObjId, key: String },
    /// Write `void = reason` into a record the push inserted.
    Void { record: ObjId, reason: String },
    /// Delete an element (not a record) the push inserted into a list.
    Drop { list: ObjId, element: ObjId },
    /// Insert copies of the elements the push removed from (or overwrote in) a list, where
    /// they were.
    Reinsert { list: ObjId },
    /// Write what the server knows better (a clamped time, a recomputed distance), or remove
    /// the key (`None`). Not a refusal: the device is not told its push was rejected.
    Correct { obj: ObjId, key: String, value: Option<ScalarValue> },
}

/// What is wrong with a push, and how to undo it.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Why, each reason once, in the order found.
    pub reasons: Vec<String>,
    /// The compensation, each fix once.
    pub fixes: Vec<Fix>,
    /// Edits that cannot be undone (shown with the reason; the change stays merged).
    pub not_undone: Vec<String>,
}

impl Verdict {
    /// Nothing to refuse.
    pub fn is_clean(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The reasons as one sentence for the device.
    pub fn reason(&self) -> String {
        let mut reason = self.reasons.join("; ");
        if !self.not_undone.is_empty() {
            reason.push_str(&format!(" (not undone: {})", self.not_undone.join("; ")));
        }
        reason
    }

    /// Whether the verdict voids this record already.
    pub fn voids(&self, record: &ObjId) -> bool {
        self.fixes.iter().any(|fix| matches!(fix, Fix::Void { record: r, .. } if r == record))
    }

    /// Corrects `obj.key` to `value` without refusing anything.
    fn correct(&mut self, obj: ObjId, key: &str, value: ScalarValue) {
        self.push_fix(Fix::Correct { obj, key: key.to_owned(), value: Some(value) });
    }

    /// Removes `obj.key`, a value the device could not have known, without refusing anything.
    fn correct_removal(&mut self, obj: ObjId, key: &str) {
        self.push_fix(Fix::Correct { obj, key: key.to_owned(), value: None });
    }

    fn push_fix(&mut self, fix: Fix) {
        if !self.fixes.contains(&fix) {
            self.fixes.push(fix);
        }
    }

    fn broke(&mut self, reason: String, fix: Option<Fix>) {
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
        if let Some(fix) = fix {
            self.push_fix(fix);
        }
    }
}

/// Whether one of `changes` created `obj`: an object's id is the id of the operation that
/// made it, and each change holds its actor's operations `start_op..=max_op`.
fn created_by(changes: &[Change], obj: &ObjId) -> bool {
    match obj {
        ObjId::Root => false,
        ObjId::Id(counter, actor, _) => {
            changes.iter().any(|c| c.actor_id() == actor && (c.start_op().get()..=c.max_op()).contains(counter))
        }
    }
}

/// Judges the edits that took `after` from the server's heads before the merge (`before`) to
/// its heads: `patches` is that diff (`causal::push_diff`), `new` the merged changes. An object
/// one of them created did not exist before the merge: its edits are judged where it is
/// attached.
pub(crate) fn check(
    after: &Automerge,
    before: &[ChangeHash],
    new: &[Change],
    patches: &[Patch],
    who: &Pusher<'_>,
) -> Verdict {
    let existed = |obj: &ObjId| !created_by(new, obj);
    let engineer = who.role == Role::Engineer;
    // Whoever pushes, a complaint's records stay as they are and it stays a complaint.
    let protected = fieldsync_core::model::doc::is_complaint_at(after, before);
    let mut verdict = Verdict::default();
    // Records inserted into the record lists, with their list, in the order found.
    let mut inserted: Vec<(ObjId, &'static str)> = Vec::new();
    for patch in patches {
        if !existed(&patch.obj) {
            continue;
        }
        let top = root_key(patch).unwrap_or_default().to_owned();
        if CUSTOMER_KEYS.contains(&top.as_str()) {
            // Whatever the role: the customer's word is the customer's (the tracking page).
            undo(&mut verdict, ONLY_THE_CUSTOMER.into(), &patch.obj, &patch.action);
            continue;
        }
        let list = RECORD_LISTS.iter().copied().find(|l| *l == top);
        if let (Some(list), 1) = (list, patch.path.len()) {
            // An edit of a record list itself.
            match &patch.action {
                PatchAction::Insert { values, .. } => {
                    for (value, id, _) in values.iter() {
                        if matches!(value, Value::Object(ObjType::Map)) {
                            inserted.push((id.clone(), list));
                        } else if engineer {
                            let fix = Fix::Drop { list: patch.obj.clone(), element: id.clone() };
                            verdict.broke(format!("an engineer may only add records to {list}"), Some(fix));
                        }
                    }
                }
                _ if engineer => {
                    let reason = format!("an engineer may not change or remove existing entries of {list}");
                    undo(&mut verdict, reason, &patch.obj, &patch.action);
                }
                _ if protected => undo(&mut verdict, COMPLAINT_HISTORY.into(), &patch.obj, &patch.action),
                _ => {}
            }
            continue;
        }
        if list.is_some() && patch.path.len() == 2 && action_key(&patch.action).as_deref() == Some(VOID) {
            // `void` written into, or removed from, an existing record.
            undo(&mut verdict, ONLY_THE_SERVER_VOIDS.into(), &patch.obj, &patch.action);
            continue;
        }
        if protected && list.is_some() {
            // Inside a record the complaint already held.
            undo(&mut verdict, COMPLAINT_HISTORY.into(), &patch.obj, &patch.action);
            continue;
        }
        if protected && patch.path.is_empty() && top == COMPLAINT_KEY && !keeps_complaint(&patch.action) {
            undo(&mut verdict, COMPLAINT_STAYS.into(), &patch.obj, &patch.action);
            continue;
        }
        if !engineer || OWNED_MAPS.contains(&top.as_str()) {
            continue;
        }
        let reason = match list {
            Some(list) => format!("an engineer may not change existing entries of {list}"),
            None if top.is_empty() => "an engineer may not change the ticket's fields".into(),
            None => format!("an engineer may not change {top}"),
        };
        undo(&mut verdict, reason, &patch.obj, &patch.action);
    }
    for (record, list) in inserted {
        let reason = if has_key(after, &record, VOID) {
            Some(ONLY_THE_SERVER_VOIDS.to_owned())
        } else if engineer {
            forged(after, &record, list, who)
        } else {
            None
        };
        if let Some(reason) = reason {
            verdict.broke(reason.clone(), Some(Fix::Void { record, reason }));
        }
    }
    verdict
}

/// Why an engineer's new record in `list` is not theirs to write, if it is not (the most
/// telling reason first).
fn forged(doc: &Automerge, record: &ObjId, list: &str, who: &Pusher<'_>) -> Option<String> {
    if text(doc, record, "by").as_deref() != Some(who.user_id) {
        return Some(format!("a record added to {list} names another user"));
    }
    if list == "events" {
        let kind = text(doc, record, "kind").unwrap_or_default();
        // Which kinds are an engineer's is the workflow's rule, not a second list here.
        if !EventKind::parse(&kind).is_some_and(EventKind::is_engineer_kind) {
            return Some(format!("an engineer may not record a {kind:?} event"));
        }
        if text(doc, record, "role").as_deref() != Some("engineer") {
            return Some("an engineer's event must carry the role engineer".into());
        }
    }
    if matches!(list, "events" | "notes") && text(doc, record, "device").as_deref() != Some(who.device_id) {
        return Some(format!("a record added to {list} names another device"));
    }
    None
}

/// Records `reason` with the fix that undoes `action` on the existing object `obj`.
fn undo(verdict: &mut Verdict, reason: String, obj: &ObjId, action: &PatchAction) {
    let fix = match action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
            Some(Fix::Restore { obj: obj.clone(), key: key.clone() })
        }
        PatchAction::Conflict { prop: Prop::Map(key) } | PatchAction::Increment { prop: Prop::Map(key), .. } => {
            Some(Fix::Restore { obj: obj.clone(), key: key.clone() })
        }
        PatchAction::Insert { values, .. } => {
            for (_, id, _) in values.iter() {
                let fix = Fix::Drop { list: obj.clone(), element: id.clone() };
                verdict.broke(reason.clone(), Some(fix));
            }
            return;
        }
        PatchAction::DeleteSeq { .. } => Some(Fix::Reinsert { list: obj.clone() }),
        PatchAction::PutSeq { value: (_, id), .. } => {
            verdict.broke(reason.clone(), Some(Fix::Drop { list: obj.clone(), element: id.clone() }));
            Some(Fix::Reinsert { list: obj.clone() })
        }
        _ => None,
    };
    if fix.is_none() {
        let what = format!("{reason} ({})", action_name(action));
        if !verdict.not_undone.contains(&what) {
            verdict.not_undone.push(what);
        }
    }
    verdict.broke(reason, fix);
}

/// The root key marking a complaint.
const COMPLAINT_KEY: &str = "complaint";

/// Whether a write of the `complaint` key leaves it `true`.
fn keeps_complaint(action: &PatchAction) -> bool {
    matches!(action, PatchAction::PutMap { value: (Value::Scalar(s), _), .. } if **s == ScalarValue::Boolean(true))
}

/// The root key a patch changes something under (`None` when it names none).
pub(crate) fn root_key(patch: &Patch) -> Option<&str> {
    match (patch.path.first(), &patch.action) {
        (Some((_, Prop::Map(key))), _) => Some(key),
        (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => Some(key),
        (
            None,
            PatchAction::Conflict { prop: Prop::Map(key) } | PatchAction::Increment { prop: Prop::Map(key), .. },
        ) => Some(key),
        _ => None,
    }
}

fn action_key(action: &PatchAction) -> Option<String> {
    match action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => Some(key.clone()),
        PatchAction::Conflict { prop: Prop::Map(key) } | PatchAction::Increment { prop: Prop::Map(key), .. } => {
            Some(key.clone())
        }
        _ => None,
    }
}

fn action_name(action: &PatchAction) -> &'static str {
    match action {
        PatchAction::SpliceText { .. } => "text edit",
        PatchAction::Mark { .. } => "marks",
        PatchAction::Increment { .. } => "counter increment in a list",
        PatchAction::Conflict { .. } => "conflict in a list",
        _ => "edit",
    }
}

fn has_key(doc: &Automerge, obj: &ObjId, key: &str) -> bool {
    matches!(doc.get(obj, key), Ok(Some(_)))
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

// ---------------------------------------------------------------------------------------------
// Compensation

/// The server's own Automerge actor for compensating changes. It is registered to no device,
/// and a pushed change made with it is refused, so only the server writes with it.
pub(crate) fn compensation_actor() -> ActorId {
    let digest = Sha256::digest(b"fieldsync-server/compensation");
    ActorId::from(&digest[..16])
}

/// Writes `verdict`'s fixes into `document` as one change by [`compensation_actor`], with the
/// message `compensate: <reason>`; returns its hash (`None` when there was nothing to write).
pub(crate) fn compensate(
    document: &mut Automerge,
    before_heads: &[ChangeHash],
    verdict: &Verdict,
    at: Millis,
) -> Result<Option<ChangeHash>, AutomergeError> {
    if verdict.fixes.is_empty() {
        return Ok(None);
    }
    document.set_actor(compensation_actor());
    let message = if verdict.is_clean() {
        "correct: device times and check-in distances".to_owned()
    } else {
        format!("compensate: {}", verdict.reason())
    };
    let options = CommitOptions::default().with_message(message).with_time(at);
    let mut fixes: Vec<&Fix> = verdict.fixes.iter().collect();
    // Restores and drops first, so re-inserted copies land beside what is left.
    fixes.sort_by_key(|fix| match fix {
        Fix::Restore { .. } => 0,
        Fix::Drop { .. } => 1,
        Fix::Reinsert { .. } => 2,
        Fix::Void { .. } => 3,
        Fix::Correct { .. } => 4,
    });
    let success = document
        .transact_with(
            |_| options,
            |tx| {
                for fix in fixes {
                    apply_fix(tx, before_heads, fix)?;
                }
                Ok::<_, AutomergeError>(())
            },
        )
        .map_err(|failure| failure.error)?;
    Ok(success.hash)
}

fn apply_fix(tx: &mut Transaction<'_>, before: &[ChangeHash], fix: &Fix) -> Result<(), AutomergeError> {
    match fix {
        Fix::Restore { obj, key } => restore(tx, before, obj, key),
        Fix::Void { record, reason } => tx.put(record, VOID, reason.as_str()),
        Fix::Drop { list, element } => {
            let index = tx.list_range(list, ..).find(|item| item.id() == *element).map(|item| item.index);
            match index {
                Some(index) => tx.delete(list, index),
                None => Ok(()),
            }
        }
        Fix::Reinsert { list } => reinsert(tx, before, list),
        Fix::Correct { obj, key, value: Some(value) } => tx.put(obj, key.as_str(), value.clone()),
        Fix::Correct { obj, key, value: None } => tx.delete(obj, key.as_str()),
    }
}

/// Puts `obj.key` back as it was at `before`.
fn restore(tx: &mut Transaction<'_>, before: &[ChangeHash], obj: &ObjId, key: &str) -> Result<(), AutomergeError> {
    // An object the push created has no old value: the key goes.
    let old = tx.get_at(obj, key, before).ok().flatten().map(|(value, id)| (value.to_owned(), id));
    let now: Vec<(Value<'static>, ObjId)> =
        tx.get_all(obj, key)?.into_iter().map(|(value, id)| (value.to_owned(), id)).collect();
    match old {
        None => {
            if !now.is_empty() {
                tx.delete(obj, key)?;
            }
        }
        Some((Value::Scalar(old), _)) => {
            let unchanged = matches!(now.as_slice(), [(Value::Scalar(s), _)] if *s == old);
            if !unchanged {
                tx.put(obj, key, old.into_owned())?;
            }
        }
        Some((Value::Object(_), old_id)) => {
            let unchanged = matches!(now.as_slice(), [(_, id)] if *id == old_id);
            if !unchanged {
                // An object cannot be linked in again: a copy of it as it was takes its place.
                let copy = tx.hydrate(&old_id, Some(before))?;
                tx.batch_create_object(obj, key, &copy, false)?;
            }
        }
    }
    Ok(())
}

/// Inserts copies of the elements of `list` at `before` that are no longer in it, each right
/// after the element that preceded it then.
fn reinsert(tx: &mut Transaction<'_>, before: &[ChangeHash], list: &ObjId) -> Result<(), AutomergeError> {
    let old: Vec<(ObjId, Value<'static>)> =
        tx.list_range_at(list, .., before).map(|item| (item.id(), item.value.into_value().to_owned())).collect();
    let mut now: Vec<ObjId> = tx.list_range(list, ..).map(|item| item.id()).collect();
    let present: HashSet<ObjId> = now.iter().cloned().collect();
    let mut cursor = 0;
    for (id, value) in old {
        if present.contains(&id) {
            if let Some(at) = now.iter().position(|n| *n == id) {
                cursor = at + 1;
            }
            continue;
        }
        let copied = match value {
            Value::Scalar(scalar) => {
                tx.insert(list, cursor, scalar.into_owned())?;
                tx.get(list, cursor)?.map(|(_, id)| id).unwrap_or(ROOT)
            }
            Value::Object(_) => {
                let copy = tx.hydrate(&id, Some(before))?;
                tx.batch_create_object(list, cursor, &copy, true)?
            }
        };
        now.insert(cursor, copied);
        cursor += 1;
    }
    Ok(())
}
