//! Escalation rules, and which breaches they call for at a moment. Pure: the evaluator
//! (`crate::escalator`) loads the rules and the open tickets' index rows, asks [`due`], and
//! acts on each breach once.

use fieldsync_core::model::{Priority, Sla};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;
use serde::{Deserialize, Serialize};

/// Which clock a rule watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Watched {
    /// Whichever clock runs next (the earliest unmet deadline).
    #[default]
    Any,
    /// Acceptance.
    Respond,
    /// Arrival on site.
    Arrive,
    /// Completion.
    Resolve,
}

/// One escalation rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id (part of each breach's id; letters, digits, `-`, `_`).
    pub id: String,
    /// The clock it watches.
    #[serde(default)]
    pub clock: Watched,
    /// Fire this many minutes before the deadline (0: when it breaks).
    #[serde(default)]
    pub minutes_before: u32,
    /// Send an `escalated` webhook event.
    #[serde(default = "yes")]
    pub notify: bool,
    /// Raise the priority one step.
    #[serde(default)]
    pub raise_priority: bool,
    /// Reassign the ticket to this user (a supervisor, a queue's user), if set.
    #[serde(default)]
    pub assign_to: Option<String>,
}

fn yes() -> bool {
    true
}

/// The rules; kept in storage as the `escalation_rules` setting. None by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// The rules.
    pub rules: Vec<Rule>,
}

impl Rules {
    /// Checks ids (unique, 1 to 64 of letters, digits, `-`, `_`), leads (at most 30 days) and
    /// the user to assign to.
    pub fn validate(&self) -> Result<(), super::BadPolicy> {
        let bad = |s: String| Err(super::BadPolicy(s));
        let mut seen = std::collections::HashSet::new();
        for rule in &self.rules {
            let id_ok = (1..=64).contains(&rule.id.len())
                && rule.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok {
                return bad(format!("rule id {:?}: 1 to 64 letters, digits, - or _", rule.id));
            }
            if !seen.insert(rule.id.as_str()) {
                return bad(format!("rule id {:?} is used twice", rule.id));
            }
            if rule.minutes_before > 30 * 24 * 60 {
                return bad(format!("rule {}: at most 30 days before the deadline", rule.id));
            }
            if rule.assign_to.as_deref().is_some_and(|u| u.trim().is_empty() || u.len() > 128) {
                return bad(format!("rule {}: the user to assign to is 1 to 128 characters", rule.id));
            }
        }
        Ok(())
    }

    /// The longest lead of any rule (how far ahead of now the evaluator must look).
    pub fn longest_lead(&self) -> Millis {
        self.rules.iter().map(|r| Millis::from(r.minutes_before) * 60_000).max().unwrap_or(0)
    }
}

/// What the evaluator knows of a ticket: its index row's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockView<'a> {
    /// The ticket.
    pub ticket_id: &'a str,
    /// Its status.
    pub status: Status,
    /// Its deadlines.
    pub sla: Sla,
    /// The earliest unmet deadline.
    pub sla_due_at: Option<Millis>,
}

/// One breach a rule calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// Its id: ticket, rule, clock and deadline; the same breach always has the same id.
    pub id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The rule.
    pub rule: Rule,
    /// "respond", "arrive" or "resolve".
    pub clock: &'static str,
    /// The deadline.
    pub deadline: Millis,
    /// Already past the deadline (not only about to be).
    pub broken: bool,
}

/// The running clock of a ticket: which of its deadlines is the earliest unmet one.
fn running(view: &ClockView<'_>) -> Option<(&'static str, Millis)> {
    let due = view.sla_due_at.filter(|_| !view.status.is_final())?;
    [("respond", view.sla.respond_by), ("arrive", view.sla.arrive_by), ("resolve", view.sla.resolve_by)]
        .into_iter()
        .find(|(_, deadline)| *deadline == Some(due))
        .map(|(name, _)| (name, due))
}

/// The breaches the rules call for on this ticket at `now`: each rule whose clock is running
/// and whose moment (the deadline less its lead) has come.
pub fn due(rules: &Rules, view: &ClockView<'_>, now: Millis) -> Vec<Breach> {
    let Some((clock, deadline)) = running(view) else {
        return Vec::new();
    };
    rules
        .rules
        .iter()
        .filter(|rule| match rule.clock {
            Watched::Any => true,
            Watched::Respond => clock == "respond",
            Watched::Arrive => clock == "arrive",
            Watched::Resolve => clock == "resolve",
        })
        .filter(|rule| now >= deadline - Millis::from(rule.minutes_before) * 60_000)
        .map(|rule| Breach {
            id: format!("{}/{}/{}/{}", view.ticket_id, rule.id, clock, deadline),
            ticket_id: view.ticket_id.to_owned(),
            rule: rule.clone(),
            clock,
            deadline,
            broken: now >= deadline,
        })
        .collect()
}

/// What acting on a breach changes on the ticket: the new priority (if raised) and the user to
/// assign it to (if moved), given its priority and assignee now.
pub fn plan(rule: &Rule, priority: Priority, assignee: Option<&str>) -> (Option<Priority>, Option<String>) {
    let raise = Some(super::raised(priority)).filter(|p| rule.raise_priority && *p != priority);
    let moved = rule.assign_to.clone().filter(|to| Some(to.as_str()) != assignee);
    (raise, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, clock: Watched, minutes_before: u32) -> Rule {
        Rule { id: id.into(), clock, minutes_before, notify: true, raise_priority: true, assign_to: None }
    }

    #[test]
    fn a_rule_fires_on_the_running_clock_at_its_lead() {
        let sla = Sla { respond_by: Some(1_000_000), arrive_by: Some(2_000_000), resolve_by: Some(3_000_000) };
        let view = ClockView { ticket_id: "t", status: Status::Dispatched, sla, sla_due_at: Some(1_000_000) };
        let rules = Rules { rules: vec![rule("warn", Watched::Any, 10), rule("late", Watched::Resolve, 0)] };
        assert!(due(&rules, &view, 1_000_000 - 600_001).is_empty(), "before the lead");
        let warned = due(&rules, &view, 1_000_000 - 600_000);
        assert_eq!(warned.len(), 1);
        assert_eq!(
            (warned[0].id.as_str(), warned[0].clock, warned[0].broken),
            ("t/warn/respond/1000000", "respond", false)
        );
        let view = ClockView { sla_due_at: Some(3_000_000), ..view };
        let late = due(&rules, &view, 3_000_000);
        assert_eq!(late.iter().map(|b| b.rule.id.as_str()).collect::<Vec<_>>(), ["warn", "late"]);
        assert!(late.iter().all(|b| b.broken));
        let done = ClockView { status: Status::Completed, ..view };
        assert!(due(&rules, &done, 9_000_000).is_empty(), "a final ticket's clocks stop");
    }

    #[test]
    fn the_plan_raises_and_moves_only_when_it_changes_something() {
        let mut r = rule("r", Watched::Any, 0);
        r.assign_to = Some("sup".into());
        assert_eq!(plan(&r, Priority::High, Some("eli")), (Some(Priority::Urgent), Some("sup".into())));
        assert_eq!(plan(&r, Priority::Urgent, Some("sup")), (None, None));
        assert!(Rules { rules: vec![r.clone(), r] }.validate().is_err(), "ids are unique");
    }
}
