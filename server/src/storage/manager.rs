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

use super::{Storage, StorageError};

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

/// The settings and escalation checks of the conformance suite.
pub(crate) fn conformance(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    assert_eq!(s.setting("taxonomy").expect("none"), None);
    assert_eq!(s.put_setting("taxonomy", r#"{"a":1}"#, "admin", 1_000).expect("first"), 1);
    assert_eq!(s.put_setting("taxonomy", r#"{"a":2}"#, "root", 2_000).expect("second"), 2);
    let now = s.setting("taxonomy").expect("read").expect("written");
    assert_eq!((now.json.as_str(), now.version, now.updated_by.as_str()), (r#"{"a":2}"#, 2, "root"));
    let log = s.setting_changes("taxonomy", 10).expect("log");
    assert_eq!(log.iter().map(|c| (c.version, c.updated_at)).collect::<Vec<_>>(), [(2, 2_000), (1, 1_000)]);
    assert_eq!(log[1].json, r#"{"a":1}"#, "the log keeps every version");
    assert!(s.setting_changes("sla_policy", 10).expect("other").is_empty());

    let claim = EscalationClaim {
        id: "t1/r1/resolve/500".into(),
        ticket_id: "t1".into(),
        rule_id: "r1".into(),
        clock: "resolve".into(),
        deadline: 500,
    };
    assert!(s.claim_escalation(&claim, "a", 2_000, 1_000).expect("claim"), "a new breach");
    assert!(!s.claim_escalation(&claim, "b", 2_100, 1_100).expect("held"), "held by a");
    assert!(s.claim_escalation(&claim, "a", 2_200, 1_200).expect("own"), "its own claim");
    assert!(s.claim_escalation(&claim, "b", 4_000, 3_000).expect("expired"), "a's lease ran out");
    assert!(!s.finish_escalation(&claim.id, "a", "late", 3_100).expect("not a's"), "a lost it");
    assert!(s.finish_escalation(&claim.id, "b", "escalated", 3_100).expect("done"));
    assert!(!s.claim_escalation(&claim, "c", 9_000, 8_000).expect("done"), "never again once done");
    let asked = [claim.id.clone(), "t2/r1/respond/1".to_owned()];
    assert_eq!(s.done_escalations(&asked).expect("done ones"), vec![claim.id.as_str()]);
    assert!(s.done_escalations(&[]).expect("none asked").is_empty());
    let all = s.escalations(10).expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].state.as_str(), all[0].summary.as_str(), all[0].done_at), ("done", "escalated", Some(3_100)));
}
