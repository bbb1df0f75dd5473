//! The manager's settings page (docs/adr/0014): the taxonomy, the SLA policy with its change
//! log, the escalation rules, and the skill groups with their routing rules (docs/adr/0023),
//! shown to dispatchers and edited by admins. Each list is a
//! text area, one entry a line; this module only turns lines into the settings' types and
//! back. Whether a setting holds is decided by `crate::sla`, storing it by `crate::manage`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::model::Priority;
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::routing::{Routing, RoutingRule, SkillGroup, Strategy};
use crate::sla::escalation::{Rule, Rules, Watched};
use crate::sla::taxonomy::{Entry, Taxonomy};
use crate::sla::{Policy, PolicyRule, Targets};
use crate::{AppError, AppState, blocking, manage};

const MINUTE: i64 = 60_000;

/// One logged policy write, as listed.
pub(crate) struct ChangeRow {
    version: i64,
    at: String,
    by: String,
    rules: usize,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    is_admin: bool,
    types: String,
    products: String,
    modules: String,
    versions: String,
    policy: String,
    policy_version: i64,
    rules: String,
    changes: Vec<ChangeRow>,
    groups: String,
    routing_rules: String,
}

/// `boilers: eli fay gus`, a group a line.
fn groups_text(routing: &Routing) -> String {
    routing.groups.iter().map(|g| format!("{}: {}", g.id, g.engineers.join(" "))).collect::<Vec<_>>().join("\n")
}

/// `type product target [strategy] [priority=P] [tier=T]`, a rule a line, `*` for any; the
/// target is a group id, or `@user` for one engineer.
fn routing_rules_text(routing: &Routing) -> String {
    let any = |s: &str| if s.is_empty() { "*".to_owned() } else { s.to_owned() };
    routing
        .rules
        .iter()
        .map(|r| {
            let mut words = vec![any(&r.ticket_type), any(&r.product)];
            if r.engineer.is_empty() {
                words.push(r.group.clone());
                words.push(strategy_word(r.strategy).to_owned());
            } else {
                words.push(format!("@{}", r.engineer));
            }
            if let Some(priority) = r.priority {
                words.push(format!("priority={}", priority.as_str()));
            }
            if !r.tier.is_empty() {
                words.push(format!("tier={}", r.tier));
            }
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn strategy_word(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RoundRobin => "round_robin",
        Strategy::LeastLoaded => "least_loaded",
        Strategy::Pool => "pool",
    }
}

/// The routing setting from the two text areas; a bad line says which.
fn routing_of(groups: &str, rules: &str) -> Result<Routing, AppError> {
    let bad = |n: usize, what: &str| AppError::BadRequest(format!("line {}: {what}", n + 1));
    let mut routing = Routing::default();
    for (n, line) in groups.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (id, members) = line.split_once(':').ok_or_else(|| bad(n, "a group is `id: engineer engineer …`"))?;
        routing.groups.push(SkillGroup {
            id: id.trim().to_owned(),
            engineers: members.split_whitespace().map(str::to_owned).collect(),
        });
    }
    const SHAPE: &str =
        "a rule is `type product group|@engineer [round_robin|least_loaded|pool] [priority=P] [tier=T]`";
    for (n, line) in rules.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [ticket_type, product, target, rest @ ..] = words.as_slice() else {
            return Err(bad(n, SHAPE));
        };
        let any = |s: &str| if s == "*" { String::new() } else { s.to_owned() };
        let mut rule = RoutingRule { ticket_type: any(ticket_type), product: any(product), ..Default::default() };
        match target.strip_prefix('@') {
            Some(engineer) => rule.engineer = engineer.to_owned(),
            None => rule.group = (*target).to_owned(),
        }
        for word in rest {
            match word.split_once('=') {
                Some(("priority", p)) => {
                    rule.priority =
                        Some(Priority::parse(p).ok_or_else(|| bad(n, "priority is low, normal, high or urgent"))?);
                }
                Some(("tier", tier)) => rule.tier = tier.to_owned(),
                Some(_) => return Err(bad(n, SHAPE)),
                None => {
                    rule.strategy = [Strategy::RoundRobin, Strategy::LeastLoaded, Strategy::Pool]
                        .into_iter()
                        .find(|s| strategy_word(*s) == *word)
                        .ok_or_else(|| bad(n, "the strategy is round_robin, least_loaded or pool"))?;
                }
            }
        }
        routing.rules.push(rule);
    }
    Ok(routing)
}

fn entries_text(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| if e.label.is_empty() { e.value.clone() } else { format!("{} | {}", e.value, e.label) })
        .collect::<Vec<_>>()
        .join("\n")
}

fn entries_of(text: &str) -> Vec<Entry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once('|') {
            Some((value, label)) => Entry { value: value.trim().to_owned(), label: label.trim().to_owned() },
            None => Entry { value: line.to_owned(), label: String::new() },
        })
        .collect()
}

fn any_or<T>(word: &str, f: impl FnOnce(&str) -> Result<T, AppError>) -> Result<Option<T>, AppError> {
    if word == "*" { Ok(None) } else { f(word).map(Some) }
}

/// Minutes for people: whole when they are ("120"), with decimals when not ("7.5": the default
/// policy's shares of the standard targets), so saving the page unchanged changes nothing.
fn minutes_text(ms: i64) -> String {
    if ms % MINUTE == 0 { (ms / MINUTE).to_string() } else { format!("{}", ms as f64 / MINUTE as f64) }
}

/// A policy line: `priority tier type respond arrive resolve [revisit]`, `*` for any, targets
/// in minutes (decimals allowed).
fn policy_of(text: &str) -> Result<Policy, AppError> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
        let bad = |why: &str| AppError::BadRequest(format!("policy line {}: {why}: {line:?}", n + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        if !(6..=7).contains(&words.len()) {
            return Err(bad("priority tier type respond arrive resolve [revisit], minutes, * for any"));
        }
        let minutes = |w: &str| {
            w.parse::<f64>()
                .ok()
                .filter(|m| m.is_finite() && (0.0..=1e9).contains(m))
                .map(|m| (m * MINUTE as f64).round() as i64)
                .ok_or_else(|| bad("targets are minutes"))
        };
        rules.push(PolicyRule {
            priority: any_or(words[0], |w| Priority::parse(w).ok_or_else(|| bad("unknown priority")))?,
            tier: any_or(words[1], |w| Ok(w.to_lowercase()))?,
            ticket_type: any_or(words[2], |w| Ok(w.to_owned()))?,
            targets: Targets {
                respond: minutes(words[3])?,
                arrive: minutes(words[4])?,
                resolve: minutes(words[5])?,
                revisit: words.get(6).map(|w| minutes(w)).transpose()?,
            },
        });
    }
    Ok(Policy { rules })
}

fn policy_text(policy: &Policy) -> String {
    let any = |v: Option<&str>| v.unwrap_or("*").to_owned();
    policy
        .rules
        .iter()
        .map(|r| {
            let t = r.targets;
            let mut line = format!(
                "{} {} {} {} {} {}",
                any(r.priority.map(Priority::as_str)),
                any(r.tier.as_deref()),
                any(r.ticket_type.as_deref()),
                minutes_text(t.respond),
                minutes_text(t.arrive),
                minutes_text(t.resolve)
            );
            if let Some(revisit) = t.revisit {
                line.push_str(&format!(" {}", minutes_text(revisit)));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A rule line: `id clock minutes_before [notify] [raise] [assign=user]`.
fn rules_of(text: &str) -> Result<Rules, AppError> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
        let bad = |why: &str| AppError::BadRequest(format!("rule line {}: {why}: {line:?}", n + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 {
            return Err(bad("id clock minutes_before [notify] [raise] [assign=user]"));
        }
        let clock = match words[1] {
            "any" => Watched::Any,
            "respond" => Watched::Respond,
            "arrive" => Watched::Arrive,
            "resolve" => Watched::Resolve,
            _ => return Err(bad("the clock is any, respond, arrive or resolve")),
        };
        let mut rule = Rule {
            id: words[0].to_owned(),
            clock,
            minutes_before: words[2].parse().map_err(|_| bad("minutes before is a whole number"))?,
            notify: false,
            raise_priority: false,
            assign_to: None,
        };
        for word in &words[3..] {
            match *word {
                "notify" => rule.notify = true,
                "raise" => rule.raise_priority = true,
                other => match other.strip_prefix("assign=") {
                    Some(user) => rule.assign_to = Some(user.to_owned()),
                    None => return Err(bad("options are notify, raise and assign=user")),
                },
            }
        }
        rules.push(rule);
    }
    Ok(Rules { rules })
}

fn rules_text(rules: &Rules) -> String {
    rules
        .rules
        .iter()
        .map(|r| {
            let clock = match r.clock {
                Watched::Any => "any",
                Watched::Respond => "respond",
                Watched::Arrive => "arrive",
                Watched::Resolve => "resolve",
            };
            let mut line = format!("{} {clock} {}", r.id, r.minutes_before);
            if r.notify {
                line.push_str(" notify");
            }
            if r.raise_priority {
                line.push_str(" raise");
            }
            if let Some(user) = &r.assign_to {
                line.push_str(&format!(" assign={user}"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GET /console/settings`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let (taxonomy, policy, rules, changes, routing) = blocking(move || {
        Ok((
            manage::taxonomy(&state)?.value,
            manage::sla_policy(&state)?,
            manage::escalation_rules(&state)?.value,
            manage::policy_change_log(&state, 20)?,
            manage::routing(&state)?.value,
        ))
    })
    .await?;
    html(&SettingsPage {
        is_admin: session.caller.require_admin().is_ok(),
        nav: Nav::of(&session, "settings"),
        types: entries_text(&taxonomy.types),
        products: entries_text(&taxonomy.products),
        modules: entries_text(&taxonomy.modules),
        versions: entries_text(&taxonomy.versions),
        policy: policy_text(&policy.value),
        policy_version: policy.version,
        rules: rules_text(&rules),
        groups: groups_text(&routing),
        routing_rules: routing_rules_text(&routing),
        changes: changes
            .into_iter()
            .map(|c| ChangeRow {
                version: c.version,
                at: session.words.when(c.updated_at),
                by: c.updated_by,
                rules: serde_json::from_str::<Policy>(&c.json).map_or(0, |p| p.rules.len()),
            })
            .collect(),
    })
}

/// A settings form as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SettingsForm {
    csrf: String,
    types: String,
    products: String,
    modules: String,
    versions: String,
    policy: String,
    rules: String,
    groups: String,
    routing_rules: String,
}

/// `POST /console/settings/{which}`: `taxonomy`, `policy`, `escalation` or `routing`.
pub(crate) async fn save(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(which): Path<String>,
    axum::Form(form): axum::Form<SettingsForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let caller = session.caller.clone();
    blocking(move || {
        match which.as_str() {
            "taxonomy" => {
                let taxonomy = Taxonomy {
                    types: entries_of(&form.types),
                    products: entries_of(&form.products),
                    modules: entries_of(&form.modules),
                    versions: entries_of(&form.versions),
                };
                manage::set_taxonomy(&state, &caller, &taxonomy)?
            }
            "policy" => manage::set_sla_policy(&state, &caller, &policy_of(&form.policy)?)?,
            "escalation" => manage::set_escalation_rules(&state, &caller, &rules_of(&form.rules)?)?,
            "routing" => manage::set_routing(&state, &caller, &routing_of(&form.groups, &form.routing_rules)?)?,
            other => return Err(AppError::NotFound(format!("no setting {other:?}"))),
        };
        Ok(())
    })
    .await?;
    Ok(Redirect::to("/console/settings").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_say_which() {
        let policy = Policy::default();
        assert!(policy_text(&policy).contains("urgent gold * 7.5 60 240"), "{}", policy_text(&policy));
        assert_eq!(policy_of(&policy_text(&policy)).expect("parses"), policy, "saving unchanged changes nothing");
        assert_eq!(policy_of("low * * 0.5 1 2").expect("decimals").rules[0].targets.respond, 30_000);
        let rules = rules_of("late any 0 notify raise assign=sup\nwarn respond 15").expect("rules");
        assert_eq!(rules.rules[0].assign_to.as_deref(), Some("sup"));
        assert!(rules.rules[0].notify && !rules.rules[1].notify);
        assert_eq!(rules_of(&rules_text(&rules)).expect("again"), rules);
        let err = policy_of("urgent * bug 5 60").expect_err("too few words").to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(policy_of("urgentish * * 1 2 3").is_err());
        assert!(rules_of("x sometime 0").is_err());
        let t = entries_of(" bug | Bug \n\nmaintenance\n");
        assert_eq!(
            t,
            [
                Entry { value: "bug".into(), label: "Bug".into() },
                Entry { value: "maintenance".into(), label: String::new() }
            ]
        );
        assert_eq!(entries_text(&t), "bug | Bug\nmaintenance");
    }

    #[test]
    fn routing_lines_round_trip_and_bad_lines_say_which() {
        let routing =
            routing_of("boilers: eli fay\n\nnet: hal\n", "bug * boilers\n* router-x net least_loaded").expect("parses");
        assert_eq!(routing.groups[0].engineers, ["eli", "fay"]);
        assert_eq!(routing.rules[0].product, "", "* is any");
        assert_eq!(routing.rules[1].strategy, Strategy::LeastLoaded);
        let again = routing_of(&groups_text(&routing), &routing_rules_text(&routing)).expect("again");
        assert_eq!(again, routing);
        let err = routing_of("boilers eli", "").expect_err("no colon").to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(routing_of("", "bug * boilers sometimes").is_err());
        let rich = routing_of(
            "boilers: eli fay",
            "* * boilers pool priority=urgent\n* * @eli tier=gold\n* * boilers least_loaded priority=high tier=gold",
        )
        .expect("priority, tier, pool and an engineer parse");
        assert_eq!((rich.rules[0].strategy, rich.rules[0].priority), (Strategy::Pool, Some(Priority::Urgent)));
        assert_eq!((rich.rules[1].engineer.as_str(), rich.rules[1].tier.as_str()), ("eli", "gold"));
        assert_eq!(routing_of("boilers: eli fay", &routing_rules_text(&rich)).expect("again"), rich);
        assert!(routing_of("", "* * boilers priority=soon").is_err());
        assert!(routing_of("", "* * boilers colour=red").is_err());
    }
}
