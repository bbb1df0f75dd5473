//! `fieldsync check`: every stored ticket's history re-examined with the checks a push passes
//! today (docs/adr/0034).
//!
//! A server before those checks stored what devices pushed as long as Automerge took it, and
//! some forged changes leave a ticket that nobody can open whole again (its stored changes
//! panic Automerge when loaded, or one is rebuilt under another hash than the one stored). The
//! server only finds such a ticket when it next loads it; a device only when the ticket reaches
//! it. This finds them all at once, without changing anything: each ticket's stored bytes are
//! loaded, and its changes replayed one at a time, in the order of its history, onto an empty
//! document through the push's checks (kinds of operation, numbers, places, read back as
//! written). Automerge panicking anywhere on the way is a finding, never a crash.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, Change};
use fieldsync_core::model::doc;

use crate::limits::{self, ChangeRefusal, PushLimits};
use crate::storage::{ChangeLogRow, Scope, Storage, StorageError};

/// What one ticket's check found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The ticket.
    pub ticket_id: String,
    /// What is wrong with its stored history, in words.
    pub problem: String,
    /// The first change a push would be refused for (hex hash), when one change is to blame
    /// (not when the stored bytes do not load at all).
    pub change: Option<String>,
    /// Who sent that change and when, from the ticket's change log: the device to look at
    /// (and perhaps revoke) once a forgery is found. `None`: not logged (a server before the
    /// log, or bytes that name no change).
    pub received: Option<ChangeLogRow>,
}

/// What is wrong with one ticket's stored history ([`check_ticket`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// In words.
    pub why: String,
    /// The change to blame (hex hash), if one is.
    pub change: Option<String>,
}

impl Problem {
    fn whole(why: impl Into<String>) -> Option<Problem> {
        Some(Problem { why: why.into(), change: None })
    }
}

/// What [`check_stored_tickets`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Tickets examined.
    pub tickets: u64,
    /// Changes replayed, over all tickets.
    pub changes: u64,
    /// The tickets whose history a push would be refused for today, in the index's order.
    pub findings: Vec<Finding>,
}

/// Examines every ticket in `storage` (read only). `progress` is called after each batch of
/// tickets with how many have been examined and how many there are.
pub fn check_stored_tickets(
    storage: &dyn Storage,
    mut progress: impl FnMut(u64, u64),
) -> Result<CheckReport, StorageError> {
    let ids: Vec<String> = storage.changed_since(0, &Scope::All)?.into_iter().map(|row| row.id).collect();
    let total = ids.len() as u64;
    let mut report = CheckReport::default();
    // In batches: one round trip each where the backend can (`load_tickets`), a bounded few
    // documents' bytes held at once.
    for batch in ids.chunks(LOAD_BATCH) {
        // A ticket deleted since the listing is left out, not a finding.
        for (ticket_id, stored) in storage.load_tickets(batch)? {
            let (changes, problem) = check_ticket(&ticket_id, &stored.bytes);
            report.changes += changes;
            if let Some(Problem { why, change }) = problem {
                // Rare (a finding), so the log is read for these tickets only.
                let received = match &change {
                    Some(hash) => storage.change_log(&ticket_id)?.into_iter().find(|row| row.change_hash == *hash),
                    None => None,
                };
                report.findings.push(Finding { ticket_id, problem: why, change, received });
            }
        }
        report.tickets += batch.len() as u64;
        progress(report.tickets, total);
    }
    Ok(report)
}

/// Tickets loaded per call of [`Storage::load_tickets`].
const LOAD_BATCH: usize = 64;

/// Checks one ticket's stored bytes: how many changes were replayed, and what is wrong, if
/// anything. Pure.
pub fn check_ticket(ticket_id: &str, bytes: &[u8]) -> (u64, Option<Problem>) {
    let loaded = match catch_unwind(|| Automerge::load(bytes)) {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(e)) => return (0, Problem::whole(format!("its stored bytes do not load: {e}"))),
        Err(_) => return (0, Problem::whole("Automerge panics loading its stored bytes")),
    };
    let history: Vec<Change> = match catch_unwind(AssertUnwindSafe(|| loaded.get_changes(&[]))) {
        Ok(changes) => changes,
        Err(_) => return (0, Problem::whole("Automerge panics reading its history back")),
    };
    let mut replayed = Automerge::new();
    let mut count = 0;
    for change in &history {
        count += 1;
        if let Some(why) = replay(&mut replayed, change) {
            return (count, Some(Problem { why, change: Some(change.hash().to_string()) }));
        }
    }
    // The second first change is the one to blame: a ticket is created once.
    if let Some(second) = history.iter().filter(|c| c.deps().is_empty()).nth(1) {
        let why = "its history has more than one first change".to_owned();
        return (count, Some(Problem { why, change: Some(second.hash().to_string()) }));
    }
    let mut stored_heads = loaded.get_heads();
    let mut replayed_heads = replayed.get_heads();
    stored_heads.sort();
    replayed_heads.sort();
    if stored_heads != replayed_heads {
        return (count, Problem::whole("its history replayed does not end where its stored document does"));
    }
    match catch_unwind(AssertUnwindSafe(|| doc::ticket_id(&replayed))) {
        Ok(Ok(found)) if found == ticket_id => (count, None),
        Ok(Ok(found)) => (count, Problem::whole(format!("its document names another ticket, {found:?}"))),
        Ok(Err(e)) => (count, Problem::whole(format!("its document is not a ticket: {e}"))),
        Err(_) => (count, Problem::whole("Automerge panics reading its document")),
    }
}

/// Applies one change of a history to `document` (everything before it applied) as a push of it
/// alone would be checked: why not, if it would be refused.
fn replay(document: &mut Automerge, change: &Change) -> Option<String> {
    let one = std::slice::from_ref(change);
    // Only what a ticket is made of: the caps of a push are not a history's concern.
    match limits::change_cost(change.raw_bytes(), &unbounded()) {
        Err(ChangeRefusal::Unsupported(why) | ChangeRefusal::Malformed(why)) => {
            return Some(format!("change {}: {why}", change.hash()));
        }
        Err(ChangeRefusal::AboveLimit(_)) | Ok(_) => {}
    }
    if let Some(why) = crate::op_numbers::misnumbered(document, one) {
        return Some(why);
    }
    if let Some(why) = crate::op_places::misplaced(document, one) {
        return Some(why);
    }
    match catch_unwind(AssertUnwindSafe(|| document.apply_changes([change.clone()]))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(format!("change {} cannot be applied: {e}", change.hash())),
        Err(_) => return Some(format!("Automerge panics applying change {}", change.hash())),
    }
    crate::op_numbers::not_as_written(document, one)
}

/// Caps no stored change is above.
fn unbounded() -> PushLimits {
    PushLimits { max_change_bytes: usize::MAX, max_change_ops: u64::MAX, ..PushLimits::default() }
}
