//! The escalation evaluator (docs/adr/0014): a task per server instance that, every
//! [`EscalationConfig::interval`], asks `crate::sla::escalation` which breaches the rules call
//! for on the open tickets, claims each breach in storage (one winner across instances, with a
//! lease), and acts on it once: records the escalation in the ticket's document (so it shows on
//! the board, the detail page and the timeline), raises the priority, reassigns, and enqueues an
//! `escalated` webhook event. Time comes from the server's clock (`ServerConfig::clock`,
//! docs/adr/0029), so tests and the demo move it instead of sleeping.

use std::time::Duration;

use automerge::{ActorId, ReadDoc};
use fieldsync_core::actions::{self, Command};
use fieldsync_core::model::doc;
use fieldsync_core::model::{Escalation, Identity, ids};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{Role, Status};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::sla::escalation::{self as rules, Breach, ClockView};
use crate::storage::TicketFilter;
use crate::storage::manager::EscalationClaim;
use crate::{AppError, AppState, blocking, documents, manage};

/// How escalations are evaluated.
#[derive(Clone, Debug)]
pub struct EscalationConfig {
    /// How often the open tickets are looked at. Default 15 s.
    pub interval: Duration,
    /// How long a claimed breach is held before another instance may take it over (its
    /// instance died while acting). Default 60 s.
    pub lease: Duration,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig { interval: Duration::from_secs(15), lease: Duration::from_secs(60) }
    }
}

/// The Automerge actor of the server's escalation changes (reserved: no device may push
/// under it).
pub(crate) fn escalation_actor() -> ActorId {
    let digest = Sha256::digest(b"fieldsync-server/escalation");
    ActorId::from(&digest[..16])
}

/// The device id the escalation changes are logged under.
pub const DEVICE: &str = "server-escalation";

fn identity() -> Identity {
    Identity { user_id: "server".into(), device_id: DEVICE.into(), role: Role::Admin }
}

/// Runs until `shutdown` turns true.
pub(crate) async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let owner = ids::new_id();
    let mut failing = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let (s, o) = (state.clone(), owner.clone());
        match blocking(move || evaluate(&s, &o)).await {
            Ok(_) => failing = false,
            Err(e) => {
                if !failing {
                    eprintln!("fieldsync-server: evaluating escalations failed: {e}");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(state.config().escalation.interval) => {}
        }
    }
}

/// One pass: every breach due now, claimed and acted on by `owner` (an instance's id). Returns
/// how many `owner` escalated. Blocking. The task calls it every interval; tests call it to run
/// a pass at a moment of their choosing.
pub fn evaluate(state: &AppState, owner: &str) -> Result<usize, AppError> {
    let rules = manage::escalation_rules(state)?.value;
    if rules.rules.is_empty() {
        return Ok(0);
    }
    let config = &state.config().escalation;
    let now = state.now();
    let filter = TicketFilter {
        statuses: Status::ALL.into_iter().filter(|s| !s.is_final()).collect(),
        sla_due_before: Some(now.saturating_add(rules.longest_lead()).saturating_add(1)),
        ..Default::default()
    };
    let mut breaches = Vec::new();
    for row in state.storage().list_tickets(&filter)? {
        let view = ClockView { ticket_id: &row.id, status: row.status, sla: row.sla, sla_due_at: row.sla_due_at };
        breaches.extend(rules::due(&rules, &view, now));
    }
    // Breaches acted on in earlier passes are skipped with one read, not a write each.
    let ids: Vec<String> = breaches.iter().map(|b| b.id.clone()).collect();
    let done: std::collections::HashSet<String> = state.storage().done_escalations(&ids)?.into_iter().collect();
    let lease_until = now.saturating_add(Millis::try_from(config.lease.as_millis()).unwrap_or(Millis::MAX));
    let mut escalated = 0;
    for breach in breaches.into_iter().filter(|b| !done.contains(&b.id)) {
        let claim = EscalationClaim {
            id: breach.id.clone(),
            ticket_id: breach.ticket_id.clone(),
            rule_id: breach.rule.id.clone(),
            clock: breach.clock.to_owned(),
            deadline: breach.deadline,
        };
        if !state.storage().claim_escalation(&claim, owner, lease_until, now)? {
            continue;
        }
        let summary = act(state, &breach, now)?;
        if state.storage().finish_escalation(&breach.id, owner, &summary, now)? {
            escalated += 1;
        }
    }
    Ok(escalated)
}

/// Records the breach in the ticket, raises and moves it as the rule says, and notifies.
/// Acting twice on one breach (after a lease ran out) records it once: the document keeps one
/// entry per breach id, and a webhook subscription gets one delivery per event id.
fn act(state: &AppState, breach: &Breach, now: Millis) -> Result<String, AppError> {
    let actor = escalation_actor();
    for _ in 0..documents::WRITE_ATTEMPTS {
        let Some(loaded) = documents::load_for_write(state, &breach.ticket_id)? else {
            return Ok("ticket gone".into());
        };
        let mut document = loaded.doc.fork().with_actor(actor.clone());
        let ticket = doc::read_ticket(&document).map_err(|e| AppError::Internal(e.to_string()))?;
        if ticket.escalations.iter().any(|e| e.id == breach.id) {
            return Ok("recorded already".into());
        }
        let (raise, moved) = rules::plan(&breach.rule, ticket.priority, ticket.assignee.as_deref());
        let mut parts =
            vec![format!("{} clock {}", breach.clock, if breach.broken { "broken" } else { "about to break" })];
        if let Some(to) = raise {
            parts.push(format!("priority {} → {}", ticket.priority.as_str(), to.as_str()));
        }
        let escalation = Escalation {
            id: breach.id.clone(),
            rule: breach.rule.id.clone(),
            clock: breach.clock.to_owned(),
            deadline: breach.deadline,
            at: now,
            summary: String::new(),
        };
        let mut hashes = Vec::new();
        if let Some(engineer) = &moved {
            let command = Command::Assign { engineer: engineer.clone() };
            match actions::perform(&mut document, &identity(), &command, now) {
                Ok(performed) => {
                    hashes.push(performed.hash);
                    parts.push(format!("assigned to {engineer}"));
                }
                Err(e) => parts.push(format!("not assigned to {engineer}: {e}")),
            }
        }
        let summary = parts.join("; ");
        let recorded = Escalation { summary: summary.clone(), ..escalation };
        let hash = doc::edit(&mut document, now, &format!("escalate: {summary}"), |tx| {
            doc::put_escalation(tx, &recorded)?;
            if let Some(to) = raise {
                doc::put_priority(tx, to)?;
            }
            Ok(())
        })
        .map_err(|e| AppError::Internal(e.to_string()))?;
        hashes.push(hash);
        let changes: Vec<_> = hashes.iter().filter_map(|h| document.get_change_by_hash(h)).collect();
        let after = document.clone();
        if documents::commit(state, &breach.ticket_id, Some(&loaded), document, &changes, DEVICE, now)?.is_some() {
            if breach.rule.notify {
                crate::webhooks::enqueue_escalation(state, &breach.ticket_id, &recorded, &after, now);
            }
            return Ok(summary);
        }
    }
    Err(AppError::Conflict(format!("ticket {} is busy; the escalation is retried", breach.ticket_id)))
}
