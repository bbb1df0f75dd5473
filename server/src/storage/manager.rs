//! Storage of the service manager's settings and of escalation claims (docs/adr/0014).
//!
//! Settings (the classification taxonomy, the SLA policy, the escalation rules) are small JSON
//! documents kept whole under a name, each write bumping a version and appending the document
//! with who wrote it and when to a change log, in one transaction: a policy change is recorded.
//! The pure modules in `crate::sla` parse and check them; storage only keeps them.
//!
//! An escalation is claimed before it is acted on, like a webhook delivery: the claim is one
//! statement keyed by the breach (ticket, rule, clock, deadline), so of several server instances
//! evaluating the same breach exactly one wins; a claim whose lease runs out unfinished (its
//! instance died) may be taken over, and a finished one never again.

use fieldsync_core::time::Millis;

use super::StorageError;

/// A setting as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingRecord {
    /// Its name ("taxonomy", "sla_policy", "escalation_rules").
    pub name: String,
    /// The JSON document.
    pub json: String,
    /// 1 for the first write, one more per write.
    pub version: i64,
    /// When it was last written (UTC ms).
    pub updated_at: Millis,
    /// Who last wrote it.
    pub updated_by: String,
}

/// A breach to claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationClaim {
    /// The breach's id (ticket, rule, clock, deadline).
    pub id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The rule.
    pub rule_id: String,
    /// "respond", "arrive" or "resolve".
    pub clock: String,
    /// The deadline.
    pub deadline: Millis,
}

/// An escalation as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EscalationRecord {
    /// The breach's id.
    pub id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The rule.
    pub rule_id: String,
    /// The clock.
    pub clock: String,
    /// The deadline.
    pub deadline: Millis,
    /// `claimed` (being acted on) or `done`.
    pub state: String,
    /// What was done.
    pub summary: String,
    /// When it was first claimed (UTC ms).
    pub created_at: Millis,
    /// When it was done.
    pub done_at: Option<Millis>,
}

/// Settings and escalation claims; part of every [`Storage`].
pub trait ManagerStorage {
    /// The setting called `name`, if it was ever written.
    fn setting(&self, name: &str) -> Result<Option<SettingRecord>, StorageError>;
    /// Writes the setting and logs the write, atomically; returns the new version.
    fn put_setting(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError>;
    /// [`ManagerStorage::put_setting`] for a setting that decides who may hold pooled tickets
    /// (the skill groups, docs/adr/0028), and in the same transaction a new change sequence
    /// number for every pooled ticket, one each in their old order: no document changed, but the
    /// devices that now gain or lose them learn it the way they learn every change, by the
    /// cursor. Nothing else of a ticket moves (version, document, `updated_at`).
    fn put_setting_resequencing_pool(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError>;
    /// The logged writes of `name`, newest first, at most `limit`.
    fn setting_changes(&self, name: &str, limit: usize) -> Result<Vec<SettingRecord>, StorageError>;
    /// Claims a breach for `owner` until `lease_until`: `true` when the breach was new, or
    /// claimed by `owner` already, or claimed by someone whose lease ran out before `now`;
    /// `false` when another owner holds it or it is done.
    fn claim_escalation(
        &self,
        claim: &EscalationClaim,
        owner: &str,
        lease_until: Millis,
        now: Millis,
    ) -> Result<bool, StorageError>;
    /// Marks a breach `owner` holds as done; `false` if `owner` no longer holds it.
    fn finish_escalation(&self, id: &str, owner: &str, summary: &str, at: Millis) -> Result<bool, StorageError>;
    /// Which of these breach ids are done (so a pass skips them without a write).
    fn done_escalations(&self, ids: &[String]) -> Result<Vec<String>, StorageError>;
    /// The most recent escalations (claimed or done), newest first, at most `limit`.
    fn escalations(&self, limit: usize) -> Result<Vec<EscalationRecord>, StorageError>;
}
