//! Who may read and write what, decided in one place for every handler: which tickets a
//! device may push to and should hold, and which blobs a caller may upload for and download.
//! Pure decisions over what the documents service loaded (`crate::documents`), plus the loads
//! the blob checks need.

use automerge::Automerge;
use fieldsync_core::actions::Command;
use fieldsync_core::model::doc;
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{EventKind, Role, Status};

use crate::auth::Caller;
use crate::blobs::BlobId;
use crate::documents::{self, Loaded};
use crate::storage::{IndexRow, Principal};
use crate::{AppError, AppState};

/// Engineers push only to tickets that are, or were, assigned to them, or that are or were in
/// the shared pool (a claim; the rules judge every change of it against what its author had
/// seen and what the server already has, rules/causal.rs); dispatchers and admins to any
/// ticket, and they may create tickets.
pub(crate) fn may_push(who: &Principal, existing: Option<&Loaded>) -> Result<(), String> {
    if who.role.dispatches() {
        return Ok(());
    }
    if who.role == Role::ComplaintHandler {
        return Err("complaint handlers act through the API, not by syncing documents".into());
    }
    let Some(loaded) = existing else {
        return Err("unknown ticket".into());
    };
    if loaded.assignee() == Some(who.user_id.as_str())
        || is_or_was_assigned(&loaded.doc, &who.user_id)
        || was_pooled(&loaded.doc)
    {
        Ok(())
    } else {
        Err("ticket is not assigned to you".into())
    }
}

/// Whether the ticket is assigned to `user_id`, or was dispatched or reassigned to them
/// earlier: the tickets an engineer may write (pushes, blob uploads) and read blobs of.
pub(crate) fn is_or_was_assigned(document: &Automerge, user_id: &str) -> bool {
    if doc::derive(document).state.assignee.as_deref() == Some(user_id) {
        return true;
    }
    doc::read_events(document).iter().any(|e| {
        e.void.is_none()
            && matches!(EventKind::parse(&e.kind), Some(EventKind::Dispatched | EventKind::Reassigned))
            && e.assignee.as_deref() == Some(user_id)
    })
}

/// Whether the ticket is, or was, in the shared pool: any engineer may have claimed it.
fn was_pooled(document: &Automerge) -> bool {
    doc::read_events(document).iter().any(|e| e.void.is_none() && EventKind::parse(&e.kind) == Some(EventKind::Pooled))
}

/// Whether the device should hold the ticket now: an engineer's own tickets and the shared
/// pool's (to claim them offline; the pool is small, and the response budget bounds every
/// answer); everything for dispatchers and admins. A pooled ticket someone else claimed is no
/// longer held, so it leaves the other engineers' devices.
pub(crate) fn should_hold(who: &Principal, row: &IndexRow, expired_before: Millis) -> bool {
    let mine =
        who.role.dispatches() || row.assignee.as_deref() == Some(who.user_id.as_str()) || row.status == Status::Pooled;
    let expired = row.status == Status::Completed && row.resolved_at.is_some_and(|at| at < expired_before);
    mine && !expired
}

/// An engineer's skill groups, read from the routing setting the first time a ticket pooled for
/// a group asks (docs/adr/0028): most syncs bring no such ticket and read no setting. Dispatchers
/// and admins take from every pool and read nothing.
pub(crate) struct SkillGroups<'a> {
    state: &'a AppState,
    who: &'a Principal,
    read: Option<Vec<String>>,
}

impl<'a> SkillGroups<'a> {
    /// `who`'s groups, not read yet.
    pub(crate) fn of(state: &'a AppState, who: &'a Principal) -> SkillGroups<'a> {
        SkillGroups { state, who, read: None }
    }

    fn get(&mut self) -> Result<&[String], AppError> {
        if self.read.is_none() {
            self.read = Some(crate::manage::routing(self.state)?.value.groups_of(&self.who.user_id));
        }
        Ok(self.read.as_deref().unwrap_or_default())
    }
}

/// Whether `groups`' engineer may hold and claim pooled ticket `row`: a ticket pooled for a skill
/// group is only its members' (docs/adr/0028), read from the document's `pooled` event (the pool
/// is small; the document is usually cached).
pub(crate) fn may_take_from_pool(
    state: &AppState,
    groups: &mut SkillGroups<'_>,
    row: &IndexRow,
) -> Result<bool, AppError> {
    if groups.who.role.dispatches() {
        return Ok(true);
    }
    let Some(loaded) = documents::load_at(state, &row.id, row.changed_seq)? else { return Ok(false) };
    match doc::pool_group(&loaded.doc) {
        None => Ok(true),
        Some(group) => Ok(crate::routing::may_take_from_pool(Some(&group), groups.get()?)),
    }
}

/// Engineers upload only for tickets they may push to (assigned now or earlier); dispatchers
/// and admins for any existing ticket.
pub(crate) fn may_write_blobs(state: &AppState, caller: &Caller, ticket: &str) -> Result<(), AppError> {
    let not_found = || AppError::NotFound(format!("ticket {ticket} not found"));
    let row = state.storage().ticket_row(ticket)?.ok_or_else(not_found)?;
    if caller.0.role.dispatches() {
        return Ok(());
    }
    let loaded = documents::load_at(state, ticket, row.changed_seq)?.ok_or_else(not_found)?;
    if is_or_was_assigned(&loaded.doc, &caller.0.user_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("ticket {ticket} is not assigned to you")))
    }
}

/// Whether `caller` may read a blob: it is linked to a ticket the caller may read now
/// (engineers: assigned to them now; dispatchers and admins: any) whose document references
/// it (a photo, its thumbnail, the signature image). A link alone is not enough: a device
/// proves it had the bytes, the document says the ticket uses them.
pub(crate) fn may_read_blob(state: &AppState, caller: &Caller, id: &BlobId) -> Result<bool, AppError> {
    for ticket in state.storage().blob_tickets(id.as_str())? {
        let Some(row) = state.storage().ticket_row(&ticket)? else { continue };
        if !caller.0.role.dispatches() && row.assignee.as_deref() != Some(caller.0.user_id.as_str()) {
            continue;
        }
        let Some(loaded) = documents::load_at(state, &ticket, row.changed_seq)? else { continue };
        if references(&loaded.doc, id.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a ticket document references blob `sha256`.
fn references(document: &automerge::Automerge, sha256: &str) -> bool {
    if doc::has_photo(document, sha256) {
        return true;
    }
    doc::read_ticket(document).is_ok_and(|ticket| {
        ticket.photos.iter().any(|p| p.thumbnail_sha256 == sha256)
            || ticket.signature.is_some_and(|s| s.png_sha256 == sha256)
    })
}

/// Dispatchers and admins list and read tickets; complaint handlers complaints only (the list
/// is filtered, a detail checked by [`may_read_detail`]); engineers use their devices.
pub(crate) fn may_list(caller: &Caller) -> Result<(), AppError> {
    if caller.0.role.handles_complaints() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only dispatchers, admins and complaint handlers may use this".into()))
    }
}

/// Whether `caller` may read ticket `id`'s detail: a dispatcher or admin any, a complaint
/// handler a complaint. A ticket the caller may not read is "not found" to a handler, as it is
/// absent from their list.
pub(crate) fn may_read_detail(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
    if caller.0.role.dispatches() {
        return Ok(());
    }
    let row = state.storage().ticket_row(id)?;
    match row {
        Some(row) if may_read_ticket(&caller.0, &row) => Ok(()),
        _ => Err(AppError::NotFound(format!("ticket {id} not found"))),
    }
}

/// Whether `caller` may give `command` on ticket `id` through the API: dispatchers and admins
/// any (the workflow judges it), complaint handlers a complaint's level and classification on
/// a complaint (docs/adr/0019), engineers nothing (they act on their devices).
pub(crate) fn may_act(state: &AppState, caller: &Caller, id: &str, command: &Command) -> Result<(), AppError> {
    match caller.0.role {
        Role::Dispatcher | Role::Admin => Ok(()),
        Role::Engineer => caller.require_dispatcher(),
        Role::ComplaintHandler => {
            may_read_detail(state, caller, id)?;
            match command {
                Command::Reclassify { .. } | Command::SetComplaint { .. } => Ok(()),
                _ => Err(AppError::Forbidden("a complaint handler sets a complaint's level and classification".into())),
            }
        }
    }
}

/// Whether `who` may read a ticket now (its detail, report, blobs): engineers the tickets
/// assigned to them, complaint handlers complaints, dispatchers and admins any.
pub(crate) fn may_read_ticket(who: &Principal, row: &IndexRow) -> bool {
    who.role.dispatches()
        || row.assignee.as_deref() == Some(who.user_id.as_str())
        || (who.role == Role::ComplaintHandler && row.complaint)
}
