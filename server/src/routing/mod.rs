//! Automatic assignment by rule (issue 16 item 7; docs/adr/0023): engineers belong to skill
//! groups; a rule sends tickets of a type and/or product to a group, and the group picks an
//! engineer round-robin or least-loaded. Pure: the settings (`crate::manage`, versioned like
//! the SLA policy) and the index rows come in, a decision comes out. Every new ticket that
//! names no engineer goes through [`route`] (`manage::prepare_new_ticket`).

use std::collections::BTreeMap;

use fieldsync_core::model::Classification;
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;
use serde::{Deserialize, Serialize};

use crate::storage::IndexRow;

/// Most groups, rules and members a routing setting holds.
pub const MAX_GROUPS: usize = 100;
/// Most rules.
pub const MAX_RULES: usize = 200;
/// Most engineers in one group.
pub const MAX_MEMBERS: usize = 500;
const MAX_ID_CHARS: usize = 64;

/// Skill groups and the rules that send tickets to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// The skill groups.
    #[serde(default)]
    pub groups: Vec<SkillGroup>,
    /// The rules, first match wins.
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

/// Engineers who share a skill.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillGroup {
    /// Its id ("boilers").
    pub id: String,
    /// Its engineers' user ids, in round-robin order.
    #[serde(default)]
    pub engineers: Vec<String>,
}

/// How a group picks its engineer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In turn: the member given a ticket longest ago (never first).
    #[default]
    RoundRobin,
    /// The member with the fewest open tickets (ties: round-robin order).
    LeastLoaded,
}

/// Tickets of this type and product go to this group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The ticket type it matches; empty: any.
    #[serde(default)]
    pub ticket_type: String,
    /// The product it matches; empty: any.
    #[serde(default)]
    pub product: String,
    /// The group it sends them to.
    pub group: String,
    /// How the group picks.
    #[serde(default)]
    pub strategy: Strategy,
}

/// Why a routing setting is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRouting(pub String);

/// Whom a rule picked, and why (for the timeline and the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The engineer.
    pub engineer: String,
    /// "group boilers, round-robin".
    pub why: String,
}

impl Routing {
    /// Checks ids, sizes and that every rule names a group.
    pub fn validate(&self) -> Result<(), BadRouting> {
        let bad = |s: String| Err(BadRouting(s));
        if self.groups.len() > MAX_GROUPS || self.rules.len() > MAX_RULES {
            return bad(format!("at most {MAX_GROUPS} groups and {MAX_RULES} rules"));
        }
        let mut ids: Vec<&str> = Vec::new();
        for group in &self.groups {
            let id = group.id.trim();
            if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id != group.id {
                return bad(format!("group id {:?}: 1 to {MAX_ID_CHARS} characters, no spaces around", group.id));
            }
            if ids.contains(&id) {
                return bad(format!("group {id} is listed twice"));
            }
            ids.push(id);
            if group.engineers.len() > MAX_MEMBERS {
                return bad(format!("group {id}: at most {MAX_MEMBERS} engineers"));
            }
            if group.engineers.iter().any(|e| e.trim().is_empty() || e.chars().count() > MAX_ID_CHARS) {
                return bad(format!("group {id}: an engineer's id is empty or too long"));
            }
        }
        for (n, rule) in self.rules.iter().enumerate() {
            if !ids.contains(&rule.group.as_str()) {
                return bad(format!("rule {}: no group {:?}", n + 1, rule.group));
            }
            if rule.ticket_type.chars().count() > MAX_ID_CHARS || rule.product.chars().count() > MAX_ID_CHARS {
                return bad(format!("rule {}: type and product are at most {MAX_ID_CHARS} characters", n + 1));
            }
        }
        Ok(())
    }

    /// The first rule matching the classification.
    pub fn rule_for(&self, classification: &Classification) -> Option<&RoutingRule> {
        let matches = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
        self.rules.iter().find(|rule| {
            matches(&rule.ticket_type, &classification.ticket_type) && matches(&rule.product, &classification.product)
        })
    }
}

/// Open work of an engineer: dispatched to them or in their hands.
fn is_open_load(status: Status) -> bool {
    status == Status::Dispatched || status.is_active()
}

/// The engineer for a new ticket of `classification`, if a rule matches and its group has
/// members; `rows` are the tickets' index rows (loads, and who was given one when).
pub fn route(routing: &Routing, classification: &Classification, rows: &[IndexRow]) -> Option<Decision> {
    let rule = routing.rule_for(classification)?;
    let group = routing.groups.iter().find(|g| g.id == rule.group)?;
    let members: Vec<&String> = group.engineers.iter().collect();
    if members.is_empty() {
        return None;
    }
    // When each member was last given a ticket (its creation), and how many are open.
    let mut last: BTreeMap<&str, Millis> = BTreeMap::new();
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        let Some(engineer) = row.assignee.as_deref() else { continue };
        if !members.iter().any(|m| m.as_str() == engineer) {
            continue;
        }
        let at = row.created_at.unwrap_or(row.updated_at);
        let entry = last.entry(engineer).or_insert(at);
        *entry = (*entry).max(at);
        if is_open_load(row.status) {
            *load.entry(engineer).or_default() += 1;
        }
    }
    // Round-robin order: never given one first (in group order), then longest ago.
    let turn = |m: &&String| last.get(m.as_str()).copied().unwrap_or(Millis::MIN);
    let chosen = match rule.strategy {
        Strategy::RoundRobin => members.iter().enumerate().min_by_key(|(n, m)| (turn(m), *n)).map(|(_, m)| *m),
        Strategy::LeastLoaded => members
            .iter()
            .enumerate()
            .min_by_key(|(n, m)| (load.get(m.as_str()).copied().unwrap_or(0), turn(m), *n))
            .map(|(_, m)| *m),
    }?;
    let how = match rule.strategy {
        Strategy::RoundRobin => "round-robin",
        Strategy::LeastLoaded => "least loaded",
    };
    Some(Decision { engineer: chosen.clone(), why: format!("group {}, {how}", group.id) })
}

#[cfg(test)]
mod tests;
