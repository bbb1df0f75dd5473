//! The service manager's rules as data (docs/adr/0014): the classification taxonomy
//! ([`taxonomy`]), the SLA policy (this module: which deadlines a new ticket gets), how a clock
//! reads ([`clock`]), and when a clock escalates ([`escalation`]). Pure: the REST API, the
//! console and the escalation evaluator load the settings from storage and ask these modules;
//! none of them decides on its own.

pub mod clock;
pub mod escalation;
pub mod revisit;
pub mod taxonomy;

use fieldsync_core::model::{Priority, Sla};
use fieldsync_core::time::Millis;
use serde::{Deserialize, Serialize};

pub use clock::{Clock, ClockState, MilestoneView, SOON, clock, duration, milestones};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
/// Longest target a policy may set: a year.
const MAX_TARGET: Millis = 366 * 24 * HOUR;

/// Per-step targets, as offsets: respond, arrive and resolve from the ticket's creation;
/// revisit from its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Accept within (ms).
    pub respond: Millis,
    /// Be on site within (ms).
    pub arrive: Millis,
    /// Complete within (ms).
    pub resolve: Millis,
    /// Call the customer back within this long after completion (ms), if revisits are due.
    #[serde(default)]
    pub revisit: Option<Millis>,
}

/// One line of the policy: the targets of tickets matching its priority, tier and type (an
/// absent one matches any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// Priority, or any.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Customer tier ("gold", ...), or any.
    #[serde(default)]
    pub tier: Option<String>,
    /// Ticket type, or any.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    /// The targets.
    pub targets: Targets,
}

impl PolicyRule {
    fn matches(&self, priority: Priority, tier: &str, ticket_type: &str) -> bool {
        self.priority.is_none_or(|p| p == priority)
            && self.tier.as_deref().is_none_or(|t| t.eq_ignore_ascii_case(tier.trim()))
            && self.ticket_type.as_deref().is_none_or(|t| t == ticket_type)
    }

    /// How many of the three it names: a rule naming more wins over one naming fewer.
    fn specificity(&self) -> usize {
        usize::from(self.priority.is_some())
            + usize::from(self.tier.is_some())
            + usize::from(self.ticket_type.is_some())
    }
}

/// The SLA policy: rules per priority × tier × type. Kept in storage as the `sla_policy`
/// setting; [`Policy::default`] is the policy before an admin changes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The rules; the most specific match decides, the first of equals.
    pub rules: Vec<PolicyRule>,
}

/// The tiers offered before an admin names others, best first, with the share (percent) of the
/// standard targets each gets in the default policy.
pub const TIERS: [(&str, Millis); 3] = [("gold", 50), ("silver", 75), ("standard", 100)];

/// The default policy's standard-tier targets of a priority.
pub fn default_targets(priority: Priority) -> Targets {
    let (respond, arrive, resolve) = match priority {
        Priority::Urgent => (15 * MINUTE, 2 * HOUR, 8 * HOUR),
        Priority::High => (30 * MINUTE, 4 * HOUR, 24 * HOUR),
        Priority::Normal => (2 * HOUR, 24 * HOUR, 72 * HOUR),
        Priority::Low => (8 * HOUR, 72 * HOUR, 168 * HOUR),
    };
    Targets { respond, arrive, resolve, revisit: Some(72 * HOUR) }
}

impl Default for Policy {
    /// Per priority for each tier of [`TIERS`] (better tiers get a share of the standard
    /// targets), and the standard targets for any other tier.
    fn default() -> Self {
        let mut rules = Vec::new();
        for priority in Priority::ALL {
            let standard = default_targets(priority);
            for (tier, percent) in TIERS {
                let share = |ms: Millis| ms * percent / 100;
                rules.push(PolicyRule {
                    priority: Some(priority),
                    tier: Some(tier.to_owned()),
                    ticket_type: None,
                    targets: Targets {
                        respond: share(standard.respond),
                        arrive: share(standard.arrive),
                        resolve: share(standard.resolve),
                        revisit: standard.revisit,
                    },
                });
            }
            rules.push(PolicyRule { priority: Some(priority), tier: None, ticket_type: None, targets: standard });
        }
        Policy { rules }
    }
}

/// A policy that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPolicy(pub String);

impl Policy {
    /// The targets of a ticket with this priority, tier and type: the most specific matching
    /// rule's, or the default policy's standard targets of the priority when none matches.
    pub fn targets(&self, priority: Priority, tier: &str, ticket_type: &str) -> Targets {
        let mut best: Option<&PolicyRule> = None;
        for rule in self.rules.iter().filter(|r| r.matches(priority, tier, ticket_type)) {
            if best.is_none_or(|b| rule.specificity() > b.specificity()) {
                best = Some(rule);
            }
        }
        best.map_or_else(|| default_targets(priority), |r| r.targets)
    }

    /// The deadlines of a ticket created at `created_at`.
    pub fn deadlines(&self, priority: Priority, tier: &str, ticket_type: &str, created_at: Millis) -> Sla {
        let t = self.targets(priority, tier, ticket_type);
        let after = |offset: Millis| Some(created_at.saturating_add(offset));
        Sla { respond_by: after(t.respond), arrive_by: after(t.arrive), resolve_by: after(t.resolve) }
    }

    /// Fills the deadlines a new ticket was not given from the policy: a ticket made through
    /// the REST API, the console or the CLI gets the same policy.
    pub fn apply(&self, sla: Sla, priority: Priority, tier: &str, ticket_type: &str, created_at: Millis) -> Sla {
        let policy = self.deadlines(priority, tier, ticket_type, created_at);
        Sla {
            respond_by: sla.respond_by.or(policy.respond_by),
            arrive_by: sla.arrive_by.or(policy.arrive_by),
            resolve_by: sla.resolve_by.or(policy.resolve_by),
        }
    }

    /// Checks targets are positive, in order (respond ≤ arrive ≤ resolve) and at most a year,
    /// and that no two rules name the same priority, tier and type.
    pub fn validate(&self) -> Result<(), BadPolicy> {
        if self.rules.len() > 1_000 {
            return Err(BadPolicy("a policy has at most 1000 rules".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (n, rule) in self.rules.iter().enumerate() {
            let t = rule.targets;
            let name = format!("rule {}", n + 1);
            let all = [t.respond, t.arrive, t.resolve].into_iter().chain(t.revisit);
            if all.into_iter().any(|ms| ms <= 0 || ms > MAX_TARGET) {
                return Err(BadPolicy(format!("{name}: every target must be over 0 and at most a year")));
            }
            if !(t.respond <= t.arrive && t.arrive <= t.resolve) {
                return Err(BadPolicy(format!("{name}: respond ≤ arrive ≤ resolve")));
            }
            for text in [&rule.tier, &rule.ticket_type].into_iter().flatten() {
                if text.trim().is_empty() || text.chars().count() > 100 || text.chars().any(char::is_control) {
                    return Err(BadPolicy(format!("{name}: a tier or type is 1 to 100 printable characters")));
                }
            }
            let key = (rule.priority, rule.tier.as_ref().map(|t| t.to_lowercase()), rule.ticket_type.clone());
            if !seen.insert(key) {
                return Err(BadPolicy(format!("{name} names the same priority, tier and type as an earlier one")));
            }
        }
        Ok(())
    }
}

/// One step up: low → normal → high → urgent (urgent stays).
pub fn raised(priority: Priority) -> Priority {
    match priority {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_old_table() {
        let policy = Policy::default();
        let standard = policy.deadlines(Priority::High, "standard", "", 1_000);
        assert_eq!(standard.respond_by, Some(1_000 + 30 * MINUTE));
        assert_eq!(standard.arrive_by, Some(1_000 + 4 * HOUR));
        assert_eq!(standard.resolve_by, Some(1_000 + 24 * HOUR));
        let gold = policy.deadlines(Priority::High, "Gold", "", 1_000);
        assert_eq!(gold.respond_by, Some(1_000 + 15 * MINUTE), "gold gets half the time");
        let unknown = policy.deadlines(Priority::High, "platinum-ish", "bug", 1_000);
        assert_eq!(unknown, standard, "an unknown tier is standard");
        assert!(policy.validate().is_ok());
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let t = |respond| Targets { respond, arrive: 10_000, resolve: 20_000, revisit: None };
        let policy = Policy {
            rules: vec![
                PolicyRule { priority: None, tier: None, ticket_type: Some("bug".into()), targets: t(100) },
                PolicyRule {
                    priority: Some(Priority::Urgent),
                    tier: None,
                    ticket_type: Some("bug".into()),
                    targets: t(50),
                },
                PolicyRule { priority: Some(Priority::Urgent), tier: None, ticket_type: None, targets: t(70) },
            ],
        };
        assert_eq!(policy.targets(Priority::Urgent, "gold", "bug").respond, 50);
        assert_eq!(policy.targets(Priority::Low, "gold", "bug").respond, 100);
        assert_eq!(policy.targets(Priority::Urgent, "gold", "installation").respond, 70);
        assert_eq!(policy.targets(Priority::Low, "", "installation"), default_targets(Priority::Low), "no match");
        let given = Sla { respond_by: Some(5), ..Sla::default() };
        let applied = policy.apply(given, Priority::Urgent, "", "bug", 1_000);
        assert_eq!((applied.respond_by, applied.arrive_by), (Some(5), Some(11_000)), "given deadlines are kept");
    }

    #[test]
    fn bad_policies_are_refused_with_a_reason() {
        let rule = |respond, arrive| PolicyRule {
            priority: Some(Priority::Low),
            tier: None,
            ticket_type: None,
            targets: Targets { respond, arrive, resolve: 50_000, revisit: None },
        };
        assert!(Policy { rules: vec![rule(0, 10)] }.validate().is_err(), "zero");
        assert!(Policy { rules: vec![rule(20, 10)] }.validate().is_err(), "out of order");
        assert!(Policy { rules: vec![rule(1, 10), rule(2, 10)] }.validate().is_err(), "duplicate");
        assert!(Policy { rules: vec![rule(1, 10)] }.validate().is_ok());
        assert_eq!(raised(Priority::Normal), Priority::High);
        assert_eq!(raised(Priority::Urgent), Priority::Urgent);
    }
}
