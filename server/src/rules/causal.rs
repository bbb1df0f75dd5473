//! Each pushed change judged by what it means, in its author's frame (docs/security.md).
//!
//! The path rules (`super::check`) say which parts of a ticket a role may touch at all. These
//! rules read every new change against the ticket as it stood at the change's dependencies —
//! what its author had seen when it wrote it:
//!
//! - an event goes after every event its author had seen (nothing inserted before a
//!   cancellation or a reassignment the device had received);
//! - each new event is one the state machine allows from the status and assignee its author
//!   knew, and content (notes, parts, time, checklist, photos, signature, feedback) comes from
//!   the assignee its author knew, in a status that allows it: a former assignee who knew it was
//!   one writes nothing, and a signature after completion is refused;
//! - the signature, the customer's feedback and each photo are written once;
//! - every value is within the rules the device checks too (`workflow::values`).
//!
//! Work done concurrently with a decision its author had not seen is judged as its author saw
//! it: it is kept, and the state machine shows the clash as a conflict. What the server knows
//! better it corrects without refusing anything: device times are clamped into [the ticket's
//! creation, the server's receipt] (the device's own time is kept as `device_at`), and a
//! check-in's distance to the site and `inside_site` are recomputed from its coordinates.

use std::borrow::Cow;

use automerge::{
    Automerge, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use fieldsync_core::model::Location;
use fieldsync_core::model::doc::{self, DEVICE_AT, RECORD_LISTS};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::values::{self as v, BadValue};
use fieldsync_core::workflow::{self, Action, Actor, EventKind, Reason, Refusal, Role, Status, TicketState};

use super::fields::{Fields, int};
use super::{Fix, OWNED_MAPS, Pusher, Verdict};

/// A recomputed check-in distance differing by less than this is left as the device wrote it.
const DISTANCE_TOLERANCE_M: f64 = 1.0;

/// One new change as its author saw the ticket.
pub(crate) struct Frame {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    /// The state its author knew.
    known: TicketState,
    /// How many events its author had seen.
    events_seen: usize,
    /// What the change did, in its author's frame.
    patches: Vec<Patch>,
}

/// Why this push is refused whole when its author lost a claim the server already refused in
/// an earlier push (its copy still shows the ticket as theirs; an honest device dropped it on
/// being told): every record it writes is undone.
fn lost_earlier(
    document: &Automerge,
    before: &[ChangeHash],
    base_assignee: Option<&str>,
    frames: &[Frame],
    who: &Pusher<'_>,
) -> Option<String> {
    // The common case, the assignee pushing as the server knows it, folds nothing.
    if who.role != Role::Engineer
        || base_assignee == Some(who.user_id)
        || !frames.iter().any(|f| f.known.assignee.as_deref() == Some(who.user_id))
    {
        return None;
    }
    let lost = doc::lost_claim_at(document, before, who.user_id);
    let holds = doc::derive_at(document, before).state.assignee.as_deref() == Some(who.user_id);
    (lost && !holds).then(|| Refusal { action: Action::Claim, reason: Reason::ClaimedByOther }.to_string())
}

/// What the server had of the ticket before a push, so that a change written on exactly that
/// (the common push: a device that had everything the server had) is framed without reading
/// the document at the change's dependencies again (docs/adr/0026).
#[derive(Default)]
pub(crate) struct Base<'a> {
    /// The server's heads before the push.
    pub heads: &'a [ChangeHash],
    /// The state and event count at `heads`, when the cached document carries them.
    pub known: Option<(&'a TicketState, usize)>,
    /// What applying the push did, when it is one change: that change's own diff when it was
    /// written on `heads`.
    pub applied: Option<Vec<Patch>>,
}

/// The frames of `changes`, all already applied to `document`; `base` as [`Base`] says.
pub(crate) fn frames(document: &Automerge, changes: &[Change], mut base: Base<'_>) -> Vec<Frame> {
    let mut base_heads = base.heads.to_vec();
    base_heads.sort_unstable();
    let one_change = changes.len() == 1;
    changes
        .iter()
        .map(|change| {
            let deps = change.deps().to_vec();
            let hash = change.hash();
            let mut sorted = deps.clone();
            sorted.sort_unstable();
            let on_base = sorted == base_heads;
            let (known, events_seen) = match base.known.filter(|_| on_base) {
                Some((state, events)) => (state.clone(), events),
                None => (doc::derive_at(document, &deps).state, doc::event_count_at(document, &deps)),
            };
            let applied = if on_base && one_change { base.applied.take() } else { None };
            Frame { known, events_seen, patches: applied.unwrap_or_else(|| document.diff(&deps, &[hash])), hash, deps }
        })
        .collect()
}

/// What the whole push did to the ticket: `diff(before, heads)` of `document`, which holds the
/// push on top of the server's heads `before`. When the push is one change written on exactly
/// those heads (the common push: a device that had everything the server had), that is the
/// same diff as the change's own frame, taken from it instead of computed again.
pub(crate) fn push_diff<'a>(document: &Automerge, before: &[ChangeHash], frames: &'a [Frame]) -> Cow<'a, [Patch]> {
    let heads = document.get_heads();
    if let [frame] = frames {
        let mut deps = frame.deps.clone();
        let mut before = before.to_vec();
        deps.sort_unstable();
        before.sort_unstable();
        if heads == [frame.hash] && deps == before {
            return Cow::Borrowed(&frame.patches);
        }
    }
    Cow::Owned(document.diff(before, &heads))
}

/// Whether an engineer wrote one of these changes already knowing the ticket was not (or no
/// longer) theirs: such a push is refused whole and nothing of it is stored. An honest device
/// drops a ticket as soon as it learns it is no longer its own, so only a hostile one does this.
/// A ticket its author knew in the shared pool is anyone's to claim: such frames are judged
/// change by change (a claim, and nothing else, passes).
pub(crate) fn knew_not_assignee(frames: &[Frame], who: &Pusher<'_>) -> bool {
    who.role == Role::Engineer
        && frames.iter().any(|f| f.known.status != Status::Pooled && f.known.assignee.as_deref() != Some(who.user_id))
}

/// A record a change inserted into one of the record lists.
struct Inserted {
    list: &'static str,
    record: ObjId,
    /// Its index in the list as the author's frame had it.
    index: usize,
}

/// Why `who` may not claim from the pool the ticket was in at `before`: it is a skill group's
/// and `who` is not a member (docs/adr/0028).
fn outside_pool_group(document: &Automerge, before: &[ChangeHash], who: &Pusher<'_>) -> Option<String> {
    let group = doc::pool_group_at(document, before)?;
    (!crate::routing::may_take_from_pool(Some(&group), who.groups))
        .then(|| format!("cannot claim: the pool is skill group {group}'s"))
}

/// Adds to `verdict` what the frames' changes broke and what the server corrects. `document`
/// holds every change of the push; records the path rules already voided are not judged again.
/// `before` are the server's heads before the push (`document` read at them is the ticket as
/// the server had it): a claim is judged against that too, so the first claim the server
/// receives wins (docs/adr/0023), and whatever the losing author wrote after its claim is
/// undone with it. `base_assignee` is the assignee the server recorded at `before` when it
/// knows it without folding (`documents::Loaded::assignee`).
pub(crate) fn judge(
    document: &Automerge,
    frames: &[Frame],
    who: &Pusher<'_>,
    before: &[ChangeHash],
    base_assignee: Option<&str>,
    received_at: Millis,
    verdict: &mut Verdict,
) {
    // Folded only when the push claims something.
    let current = std::cell::OnceCell::new();
    let mut lost_claim = lost_earlier(document, before, base_assignee, frames, who);
    let created_at = match document.get(ROOT, "created_at") {
        Ok(Some((Value::Scalar(s), _))) => int(&s).unwrap_or(0),
        _ => 0,
    };
    let actor = Actor { user: who.user_id, role: Some(who.role) };
    for frame in frames {
        let (records, maps) = touched(frame);
        if let Some(reason) = &lost_claim {
            for record in &records {
                void(verdict, record, reason.clone());
            }
            continue;
        }
        let mut state = frame.known.clone();
        let mut events: Vec<&Inserted> = records.iter().filter(|r| r.list == "events").collect();
        events.sort_by_key(|r| r.index);
        for event in events {
            if verdict.voids(&event.record) {
                continue;
            }
            if event.index < frame.events_seen {
                void(verdict, event, "an event may not be placed before events its author had already seen".into());
                continue;
            }
            let read = read_event(&Fields::read(document, &event.record));
            if read.kind == Some(EventKind::Claimed) {
                let judged = workflow::apply(current.get_or_init(|| doc::derive_at(document, before).state), &read)
                    .map_err(|refusal| refusal.to_string())
                    .and_then(|_| outside_pool_group(document, before, who).map_or(Ok(()), Err));
                if let Err(reason) = judged {
                    void(verdict, event, reason.clone());
                    lost_claim = Some(reason);
                    continue;
                }
            }
            match workflow::apply(&state, &read) {
                Ok(next) => {
                    if read.kind == Some(EventKind::Completed) {
                        let signed = matches!(document.get_at(ROOT, "signature", &[frame.hash]), Ok(Some(_)));
                        if let Err(refusal) = workflow::check_completion(doc::signature_required(document), signed) {
                            void(verdict, event, known(&refusal));
                            continue;
                        }
                    }
                    state = next;
                }
                Err(refusal) => void(verdict, event, known(&refusal)),
            }
        }
        for record in records.iter().filter(|r| r.list != "events") {
            if verdict.voids(&record.record) {
                continue;
            }
            let action = match record.list {
                "notes" => Action::AddNote,
                "parts" => Action::AddPart,
                _ => Action::LogTime,
            };
            if let Err(refusal) = workflow::check_content(&state, action, &actor) {
                void(verdict, record, known(&refusal));
            }
        }
        for record in &records {
            if verdict.voids(&record.record) {
                continue;
            }
            if record.index >= v::MAX_RECORDS_PER_LIST {
                void(verdict, record, format!("{} holds at most {} records", record.list, v::MAX_RECORDS_PER_LIST));
                continue;
            }
            let fields = Fields::read(document, &record.record);
            if let Err(bad) = record_values(document, &fields, record.list) {
                void(verdict, record, bad.0);
            } else {
                correct_time(&fields, created_at, received_at, verdict);
                if record.list == "events" {
                    correct_check_in(document, &fields, verdict);
                }
            }
        }
        for (map, item) in maps {
            if !frame.known.created {
                // The change that creates the ticket sets up its containers and checklist.
                continue;
            }
            judge_map_write(document, frame, &state, &actor, map, item.as_deref(), verdict);
            if let Some(obj) = written_object(document, map, item.as_deref()) {
                correct_time(&Fields::read(document, &obj), created_at, received_at, verdict);
            }
        }
    }
}

/// The records a frame inserted, and the owned maps (with the item, for checklist and photos)
/// it wrote.
fn touched(frame: &Frame) -> (Vec<Inserted>, Vec<(&'static str, Option<String>)>) {
    let mut records = Vec::new();
    let mut maps: Vec<(&'static str, Option<String>)> = Vec::new();
    for patch in &frame.patches {
        let top = match (patch.path.first(), &patch.action) {
            (Some((_, Prop::Map(key))), _) => key.clone(),
            (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => key.clone(),
            _ => continue,
        };
        if let Some(list) = RECORD_LISTS.iter().copied().find(|l| *l == top) {
            if let (1, PatchAction::Insert { index, values, .. }) = (patch.path.len(), &patch.action) {
                for (offset, (value, id, _)) in values.iter().enumerate() {
                    if matches!(value, Value::Object(ObjType::Map)) {
                        records.push(Inserted { list, record: id.clone(), index: index + offset });
                    }
                }
            }
            continue;
        }
        let Some(map) = OWNED_MAPS.iter().copied().find(|m| *m == top) else { continue };
        let item = match map {
            "checklist" | "photos" => match (patch.path.get(1), &patch.action) {
                (Some((_, Prop::Map(item))), _) => Some(item.clone()),
                (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) if !patch.path.is_empty() => {
                    Some(key.clone())
                }
                _ => None,
            },
            _ => None,
        };
        if (map == "checklist" || map == "photos") && item.is_none() {
            // The map itself replaced: judged as a write of the whole map.
            if !maps.contains(&(map, None)) {
                maps.push((map, None));
            }
            continue;
        }
        if !maps.contains(&(map, item.clone())) {
            maps.push((map, item));
        }
    }
    (records, maps)
}

/// Judges one write into an owned map; refusals restore what was there before the push.
fn judge_map_write(
    document: &Automerge,
    frame: &Frame,
    state: &TicketState,
    actor: &Actor<'_>,
    map: &'static str,
    item: Option<&str>,
    verdict: &mut Verdict,
) {
    let (action, once) = match map {
        "checklist" => (Action::SetChecklistItem, None),
        "photos" => (Action::AddPhoto, Some("a photo is added once and not replaced")),
        "signature" => (Action::CaptureSignature, Some("the customer has already signed")),
        _ => (Action::RecordFeedback, Some("the customer's feedback is recorded once")),
    };
    let restore = match (map, item, document.get(ROOT, map)) {
        ("checklist" | "photos", Some(item), Ok(Some((Value::Object(ObjType::Map), obj)))) => {
            Fix::Restore { obj, key: item.to_owned() }
        }
        _ => Fix::Restore { obj: ROOT, key: map.to_owned() },
    };
    let existed = match (map, item) {
        ("checklist" | "photos", Some(item)) => match document.get_at(ROOT, map, &frame.deps) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => {
                matches!(document.get_at(&obj, item, &frame.deps), Ok(Some(_)))
            }
            _ => false,
        },
        _ => matches!(document.get_at(ROOT, map, &frame.deps), Ok(Some(_))),
    };
    let container = item.is_none() && matches!(map, "checklist" | "photos");
    if container && !existed {
        // An empty container created (a document from an older version had none); what goes
        // into it is judged item by item.
        return;
    }
    let reason = if container {
        Some(format!("{map} may only be changed item by item"))
    } else if let Err(refusal) = workflow::check_content(state, action, actor) {
        Some(known(&refusal))
    } else if let (true, Some(once)) = (existed, once) {
        Some(once.to_owned())
    } else {
        map_values(document, frame, map, item, existed).err().map(|bad| bad.0)
    };
    if let Some(reason) = reason {
        verdict.broke(reason, Some(restore));
    }
}

/// The object a map write left: the feedback or signature map, or a checklist or photo item.
fn written_object(document: &Automerge, map: &str, item: Option<&str>) -> Option<ObjId> {
    let parent = match document.get(ROOT, map) {
        Ok(Some((Value::Object(ObjType::Map), obj))) => obj,
        _ => return None,
    };
    match item {
        None => Some(parent),
        Some(item) => match document.get(&parent, item) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => Some(obj),
            _ => None,
        },
    }
}

fn void(verdict: &mut Verdict, record: &Inserted, reason: String) {
    verdict.broke(reason.clone(), Some(Fix::Void { record: record.record.clone(), reason }));
}

/// A refusal worded as what the author knew.
fn known(refusal: &Refusal) -> String {
    match refusal.reason {
        Reason::NotAssignee { .. } | Reason::WrongStatus { .. } => {
            format!("{refusal} (as its author had already seen)")
        }
        _ => refusal.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// Why a record of `list` holds a value out of the rules, if it does.
fn record_values(document: &Automerge, r: &Fields, list: &str) -> Result<(), BadValue> {
    r.bounded("id", "record id", v::MAX_USER_ID_CHARS, false)?;
    r.bounded("by", "author", v::MAX_USER_ID_CHARS, false)?;
    match list {
        "events" => {
            r.bounded("kind", "event kind", v::MAX_USER_ID_CHARS, true)?;
            r.bounded("assignee", "assignee", v::MAX_USER_ID_CHARS, false)?;
            r.bounded("reason", "reason", v::MAX_REASON_CHARS, false)?;
            r.bounded("summary", "summary", v::MAX_SUMMARY_CHARS, false)?;
            if let Some((location, _)) = check_in_place(document, r) {
                if !location.is_valid() {
                    return Err(BadValue("check-in location out of range".into()));
                }
            }
            if let Some(eta) = r.scalar("eta") {
                // The customer sees it: within a day of when the engineer set off.
                let eta = int(&eta).ok_or_else(|| BadValue("the ETA must be a time".into()))?;
                let at = r.scalar("at").and_then(|at| int(&at)).unwrap_or(eta);
                v::eta(eta, at)?;
            }
            Ok(())
        }
        "notes" => {
            r.bounded("text", "note", v::MAX_NOTE_CHARS, true)?;
            match r.scalar("public") {
                None | Some(ScalarValue::Boolean(_)) => Ok(()),
                Some(_) => Err(BadValue("a note's public flag must be true or false".into())),
            }
        }
        "parts" => {
            r.bounded("sku", "sku", v::MAX_SKU_CHARS, true)?;
            v::part_qty(r.whole("qty", "quantity")?)
        }
        _ => {
            r.bounded("kind", "time kind", v::MAX_TIME_KIND_CHARS, true)?;
            v::minutes(r.whole("minutes", "minutes")?)
        }
    }
}

fn map_values(
    document: &Automerge,
    frame: &Frame,
    map: &str,
    item: Option<&str>,
    existed: bool,
) -> Result<(), BadValue> {
    let Some(obj) = written_object(document, map, item) else {
        // Deleted, or not a map: a checklist item may be removed by no one but the server.
        return match map {
            "checklist" => Err(BadValue("a checklist item may not be removed".into())),
            _ => Err(BadValue(format!("{map} must be a map"))),
        };
    };
    let count_at = |heads: &[ChangeHash]| match document.get_at(ROOT, map, heads) {
        Ok(Some((Value::Object(ObjType::Map), list))) => document.length_at(&list, heads),
        _ => 0,
    };
    let obj = Fields::read(document, &obj);
    match map {
        "checklist" => {
            let item = item.unwrap_or_default();
            v::required_text(item, "checklist item", v::MAX_CHECKLIST_ITEM_CHARS)?;
            if !existed && count_at(&[frame.hash]) > v::MAX_CHECKLIST_ITEMS {
                return Err(BadValue(format!("a checklist holds at most {} items", v::MAX_CHECKLIST_ITEMS)));
            }
            match obj.scalar("done") {
                Some(ScalarValue::Boolean(_)) => Ok(()),
                _ => Err(BadValue("a checklist item is done or not".into())),
            }
        }
        "photos" => {
            v::sha256_hex(item.unwrap_or_default(), "photo")?;
            if !existed && count_at(&[frame.hash]) > v::MAX_PHOTOS {
                return Err(BadValue(format!("a ticket holds at most {} photos", v::MAX_PHOTOS)));
            }
            obj.bounded("caption", "caption", v::MAX_CAPTION_CHARS, false)
        }
        "signature" => {
            obj.bounded("signer", "signer's name", v::MAX_SIGNER_CHARS, true)?;
            v::sha256_hex(&obj.text("png_sha256").unwrap_or_default(), "signature image")?;
            v::sha256_hex(&obj.text("summary_sha256").unwrap_or_default(), "job summary")?;
            match obj.text("strokes") {
                Some(strokes) if strokes.len() > v::MAX_STROKES_BYTES => {
                    Err(BadValue(format!("signature strokes are over {} bytes", v::MAX_STROKES_BYTES)))
                }
                _ => Ok(()),
            }
        }
        _ => {
            v::rating(obj.whole("rating", "rating")?)?;
            obj.bounded("comment", "comment", v::MAX_COMMENT_CHARS, false)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the server knows better

fn read_event(record: &Fields) -> workflow::Event {
    let kind_name = record.text("kind").unwrap_or_default();
    workflow::Event {
        id: record.text("id").unwrap_or_default(),
        kind: EventKind::parse(&kind_name),
        kind_name,
        by: record.text("by").unwrap_or_default(),
        role: record.text("role").as_deref().and_then(Role::parse),
        assignee: record.text("assignee"),
        at: record.scalar("at").as_ref().and_then(int).unwrap_or(0),
        revisit: matches!(record.scalar("revisit"), Some(ScalarValue::Boolean(true))),
    }
}

/// A check-in's location with its place's fields, when it has one.
fn check_in_place(document: &Automerge, record: &Fields) -> Option<(Location, Fields)> {
    let place = Fields::read(document, &record.map("location")?);
    let number = |key: &str| match place.scalar(key)? {
        ScalarValue::F64(n) => Some(n),
        other => int(&other).map(|n| n as f64),
    };
    let location =
        Location { lat: number("lat")?, lon: number("lon")?, accuracy_m: number("accuracy_m").unwrap_or(0.0) };
    Some((location, place))
}

/// Clamps the object's `at` into [created_at, received_at], keeping the device's own time as
/// [`DEVICE_AT`]; an object without a readable `at` gets the server's receipt time.
fn correct_time(obj: &Fields, created_at: Millis, received_at: Millis, verdict: &mut Verdict) {
    let at = obj.scalar("at").as_ref().and_then(int);
    let clamped = match at {
        Some(at) => v::clamp_time(at, created_at, received_at),
        None => Some(received_at.max(created_at)),
    };
    if let Some(clamped) = clamped {
        verdict.correct(obj.id().clone(), "at", ScalarValue::Int(clamped));
        if let Some(at) = at {
            verdict.correct(obj.id().clone(), DEVICE_AT, ScalarValue::Int(at));
        }
    }
}

/// Recomputes a check-in's distance to the site and whether it was inside, as the device's
/// own rule (`actions::check_in_place`) does, from the coordinates it sent.
fn correct_check_in(document: &Automerge, record: &Fields, verdict: &mut Verdict) {
    if record.text("kind").as_deref() != Some(EventKind::CheckedIn.as_str()) {
        return;
    }
    let Some((location, place)) = check_in_place(document, record) else {
        return;
    };
    let claimed_distance = match place.scalar("distance_m") {
        Some(ScalarValue::F64(n)) => Some(n),
        Some(other) => int(&other).map(|n| n as f64),
        None => None,
    };
    let claimed_inside = match place.scalar("inside_site") {
        Some(ScalarValue::Boolean(b)) => Some(b),
        _ => None,
    };
    let place = place.id().clone();
    match doc::read_site(document) {
        Some(site) => {
            let distance = location.distance_m(site.lat, site.lon);
            let inside = distance <= site.radius_m;
            if claimed_distance.is_none_or(|d| !d.is_finite() || (d - distance).abs() > DISTANCE_TOLERANCE_M) {
                verdict.correct(place.clone(), "distance_m", ScalarValue::F64(distance));
            }
            if claimed_inside != Some(inside) {
                verdict.correct(place, "inside_site", ScalarValue::Boolean(inside));
            }
        }
        None => {
            // No site to measure against: the device cannot know a distance either.
            if claimed_distance.is_some() {
                verdict.correct_removal(place.clone(), "distance_m");
            }
            if claimed_inside.is_some() {
                verdict.correct_removal(place, "inside_site");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    /// The server's document with one note, and two devices' forks of it.
    fn base_and_forks() -> (Automerge, Automerge, Automerge) {
        let mut base = Automerge::new();
        let mut tx = base.transaction();
        let notes = tx.put_object(ROOT, "notes", ObjType::List).expect("list");
        tx.insert(&notes, 0, "first").expect("note");
        tx.commit();
        let (a, b) = (base.fork(), base.fork());
        (base, a, b)
    }

    fn note(device: &mut Automerge, text: &str) -> Change {
        let notes = match device.get(ROOT, "notes") {
            Ok(Some((_, id))) => id,
            other => panic!("notes: {other:?}"),
        };
        let mut tx = device.transaction();
        tx.insert(&notes, 0, text).expect("note");
        tx.commit();
        device.get_last_local_change().expect("change").clone()
    }

    #[test]
    fn the_push_diff_is_the_frame_of_one_change_on_the_heads_and_the_whole_diff_otherwise() {
        let (base, mut a, mut b) = base_and_forks();
        let before = base.get_heads();
        // One change on the server's heads: the frame's own diff, not computed again.
        let mut document = base.fork();
        let change = note(&mut a, "on the heads");
        document.apply_changes([change.clone()]).expect("apply");
        let judged = frames(&document, std::slice::from_ref(&change), Base::default());
        let diff = push_diff(&document, &before, &judged);
        assert!(matches!(diff, Cow::Borrowed(_)));
        assert_eq!(*diff, document.diff(&before, &document.get_heads()));
        // A change written beside another one the server has: the whole diff.
        let mut server = document.fork();
        let concurrent = note(&mut b, "beside it");
        let before = server.get_heads();
        server.apply_changes([concurrent.clone()]).expect("apply");
        let judged = frames(&server, std::slice::from_ref(&concurrent), Base::default());
        let diff = push_diff(&server, &before, &judged);
        assert!(matches!(diff, Cow::Owned(_)));
        assert_eq!(*diff, server.diff(&before, &server.get_heads()));
        // Two changes: the whole diff.
        let (base, mut a, _) = base_and_forks();
        let before = base.get_heads();
        let mut document = base.fork();
        let two = [note(&mut a, "one"), note(&mut a, "two")];
        document.apply_changes(two.iter().cloned()).expect("apply");
        let judged = frames(&document, &two, Base::default());
        let diff = push_diff(&document, &before, &judged);
        assert!(matches!(diff, Cow::Owned(_)));
        assert_eq!(*diff, document.diff(&before, &document.get_heads()));
    }

    /// The events list with a ticket's created event, written in `tx`; the list's id.
    fn created(tx: &mut impl Transactable) -> ObjId {
        let events = tx.put_object(ROOT, "events", ObjType::List).expect("list");
        let e = tx.insert_object(&events, 0, ObjType::Map).expect("event");
        tx.put(&e, "kind", "created").expect("kind");
        tx.put(&e, "role", "dispatcher").expect("role");
        events
    }

    #[test]
    fn a_frame_sees_only_what_its_change_depended_on() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let events = created(&mut tx);
        tx.commit();
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        let n = tx.insert_object(&events, 1, ObjType::Map).expect("event");
        tx.put(&n, "kind", "dispatched").expect("kind");
        tx.put(&n, "assignee", "eli").expect("assignee");
        tx.put(&n, "role", "dispatcher").expect("role");
        tx.commit();
        let change = doc.get_changes(&before);
        let frames = frames(&doc, &change, Base::default());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].events_seen, 1, "the author had seen the created event only");
        assert!(frames[0].known.created && frames[0].known.assignee.is_none());
        let (records, _) = touched(&frames[0]);
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].list, records[0].index), ("events", 1));
    }

    /// A ticket with its created event, and a device's copy that adds a dispatch and a note.
    fn ticket_and_device_change() -> (Automerge, Change) {
        let mut server = Automerge::new();
        let mut tx = server.transaction();
        created(&mut tx);
        tx.put_object(ROOT, "notes", ObjType::List).expect("notes");
        tx.commit();
        let mut device = server.fork();
        let (events, notes) = match (device.get(ROOT, "events"), device.get(ROOT, "notes")) {
            (Ok(Some((_, e))), Ok(Some((_, n)))) => (e, n),
            other => panic!("{other:?}"),
        };
        let mut tx = device.transaction();
        let n = tx.insert_object(&events, 1, ObjType::Map).expect("event");
        tx.put(&n, "kind", "dispatched").expect("kind");
        tx.put(&n, "assignee", "eli").expect("assignee");
        let note = tx.insert_object(&notes, 0, ObjType::Map).expect("note");
        tx.put(&note, "text", "Seal replaced").expect("text");
        tx.put(ROOT, "priority", "high").expect("priority");
        tx.commit();
        let change = device.get_last_local_change().expect("change").clone();
        (server, change)
    }

    #[test]
    fn a_change_on_the_servers_heads_is_framed_from_what_the_server_knew_exactly_as_read_again() {
        let (server, change) = ticket_and_device_change();
        let before = server.get_heads();
        let known = doc::derive(&server).state;
        let events = doc::event_count(&server);
        let mut fast = server.fork();
        let applied = crate::documents::batched::apply_one_logged(&mut fast, change.clone()).expect("apply");
        let base = Base { heads: &before, known: Some((&known, events)), applied: Some(applied) };
        let fast = frames(&fast, std::slice::from_ref(&change), base);
        let mut read = server.fork();
        read.apply_changes([change.clone()]).expect("apply");
        let read = frames(&read, std::slice::from_ref(&change), Base::default());
        assert_eq!(fast[0].known, read[0].known);
        assert_eq!(fast[0].events_seen, read[0].events_seen);
        assert_eq!(fast[0].patches, read[0].patches, "the logged patches are the change's diff");
    }

    #[test]
    fn what_the_server_knew_is_not_used_for_a_change_written_on_other_heads() {
        let (server, change) = ticket_and_device_change();
        // The server moved on meanwhile: the change was not written on its heads.
        let mut moved = server.fork();
        let mut tx = moved.transaction();
        tx.put(ROOT, "site_note", "gate code 4711").expect("put");
        tx.commit();
        let before = moved.get_heads();
        let wrong = TicketState { assignee: Some("mallory".into()), ..TicketState::default() };
        let mut document = moved.fork();
        let applied = crate::documents::batched::apply_one_logged(&mut document, change.clone()).expect("apply");
        let base = Base { heads: &before, known: Some((&wrong, 99)), applied: Some(applied) };
        let judged = frames(&document, std::slice::from_ref(&change), base);
        assert_eq!(judged[0].known, doc::derive_at(&document, change.deps()).state);
        assert_eq!(judged[0].events_seen, 1);
        assert_eq!(judged[0].patches, document.diff(change.deps(), &[change.hash()]));
    }

    #[test]
    fn times_outside_the_tickets_life_are_clamped_and_the_device_time_kept() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let obj = tx.put_object(ROOT, "feedback", ObjType::Map).expect("map");
        tx.put(&obj, "at", 5_i64).expect("at");
        tx.commit();
        let obj = match doc.get(ROOT, "feedback") {
            Ok(Some((_, obj))) => obj,
            other => panic!("{other:?}"),
        };
        let mut verdict = Verdict::default();
        correct_time(&Fields::read(&doc, &obj), 100, 200, &mut verdict);
        assert!(verdict.is_clean(), "a correction is not a refusal");
        assert_eq!(verdict.fixes.len(), 2, "{:?}", verdict.fixes);
        let mut verdict = Verdict::default();
        correct_time(&Fields::read(&doc, &obj), 0, 200, &mut verdict);
        assert!(verdict.fixes.is_empty());
    }
}
