//! Automatic assignment by rule (issue 16 item 7; docs/adr/0023, 0028): engineers belong to
//! skill groups; a rule sends tickets of a type, product, priority and/or customer tier to a
//! group, which picks an engineer round-robin or least-loaded or puts the ticket in the
//! group's own pool, or straight to one engineer. Pure: the settings (`crate::manage`,
//! versioned like the SLA policy) and the index rows come in, a decision comes out. Every new
//! ticket that names no engineer goes through [`route`] (`manage::prepare_new_ticket`).

use std::collections::BTreeMap;

use fieldsync_core::model::{Classification, Priority};
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
    /// Nobody: the ticket goes into the group's pool, which only its members hold and may
    /// claim from (docs/adr/0028).
    Pool,
}

/// Tickets of this type, product, priority and customer tier go to this group (or engineer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The ticket type it matches; empty: any.
    #[serde(default)]
    pub ticket_type: String,
    /// The product it matches; empty: any.
    #[serde(default)]
    pub product: String,
    /// The priority it matches; none: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// The customer tier it matches ("gold"); empty: any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// The group it sends them to (empty when it names an engineer).
    #[serde(default)]
    pub group: String,
    /// The one engineer it sends them to instead of a group (empty: the group decides).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub engineer: String,
    /// How the group picks.
    #[serde(default)]
    pub strategy: Strategy,
}

/// What a rule matches a new ticket on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// Type, product, module, version.
    pub classification: &'a Classification,
    /// Its priority.
    pub priority: Priority,
    /// Its customer's tier (empty: none).
    pub tier: &'a str,
}

/// Why a routing setting is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRouting(pub String);

/// Where a rule sends a new ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Dispatched to this engineer.
    Engineer(String),
    /// Put into this skill group's pool.
    Pool {
        /// The group whose members hold and may claim it.
        group: String,
    },
}

/// Whom a rule picked, and why (for the timeline and the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The engineer, or the group's pool.
    pub target: Target,
    /// "group boilers, round-robin".
    pub why: String,
}

impl Decision {
    /// The engineer picked, if the decision names one.
    pub fn engineer(&self) -> Option<&str> {
        match &self.target {
            Target::Engineer(engineer) => Some(engineer),
            Target::Pool { .. } => None,
        }
    }
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
            let n = n + 1;
            match (rule.group.is_empty(), rule.engineer.trim().is_empty()) {
                (false, true) if !ids.contains(&rule.group.as_str()) => {
                    return bad(format!("rule {n}: no group {:?}", rule.group));
                }
                (false, true) => {}
                (true, false) if rule.strategy == Strategy::Pool => {
                    return bad(format!("rule {n}: a pool is a group's, not one engineer's"));
                }
                (true, false) if rule.engineer.chars().count() > MAX_ID_CHARS => {
                    return bad(format!("rule {n}: an engineer's id is at most {MAX_ID_CHARS} characters"));
                }
                (true, false) => {}
                _ => return bad(format!("rule {n}: name a group or an engineer, not both")),
            }
            if [&rule.ticket_type, &rule.product, &rule.tier].iter().any(|s| s.chars().count() > MAX_ID_CHARS) {
                return bad(format!("rule {n}: type, product and tier are at most {MAX_ID_CHARS} characters"));
            }
        }
        Ok(())
    }

    /// The first rule matching the ticket.
    pub fn rule_for(&self, facts: &Facts<'_>) -> Option<&RoutingRule> {
        let matches = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
        self.rules.iter().find(|rule| {
            matches(&rule.ticket_type, &facts.classification.ticket_type)
                && matches(&rule.product, &facts.classification.product)
                && matches(&rule.tier, facts.tier)
                && rule.priority.is_none_or(|p| p == facts.priority)
        })
    }

    /// The skill groups `user_id` belongs to.
    pub fn groups_of(&self, user_id: &str) -> Vec<String> {
        self.groups.iter().filter(|g| g.engineers.iter().any(|e| e == user_id)).map(|g| g.id.clone()).collect()
    }
}

/// Whether an engineer in `groups` may hold and claim a ticket pooled for `pool_group`: a
/// ticket pooled for no group is everyone's, one pooled for a group only its members' (a
/// group since removed from the setting has no members).
pub fn may_take_from_pool(pool_group: Option<&str>, groups: &[String]) -> bool {
    pool_group.is_none_or(|wanted| groups.iter().any(|g| g == wanted))
}

/// Open work of an engineer: dispatched to them or in their hands.
fn is_open_load(status: Status) -> bool {
    status == Status::Dispatched || status.is_active()
}

/// Where a new ticket goes, if a rule matches: the rule's engineer, the group's pool, or the
/// member its group picks (none when the group has no members); `rows` are the tickets' index
/// rows (loads, and who was given one when).
pub fn route(routing: &Routing, facts: &Facts<'_>, rows: &[IndexRow]) -> Option<Decision> {
    let rule = routing.rule_for(facts)?;
    if !rule.engineer.is_empty() {
        return Some(Decision { target: Target::Engineer(rule.engineer.clone()), why: "routing rule".into() });
    }
    let group = routing.groups.iter().find(|g| g.id == rule.group)?;
    if rule.strategy == Strategy::Pool {
        return Some(Decision {
            target: Target::Pool { group: group.id.clone() },
            why: format!("group {}, pool", group.id),
        });
    }
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
        Strategy::LeastLoaded | Strategy::Pool => members
            .iter()
            .enumerate()
            .min_by_key(|(n, m)| (load.get(m.as_str()).copied().unwrap_or(0), turn(m), *n))
            .map(|(_, m)| *m),
    }?;
    let how = match rule.strategy {
        Strategy::RoundRobin => "round-robin",
        Strategy::LeastLoaded | Strategy::Pool => "least loaded",
    };
    Some(Decision { target: Target::Engineer(chosen.clone()), why: format!("group {}, {how}", group.id) })
}

#[cfg(test)]
mod tests;
