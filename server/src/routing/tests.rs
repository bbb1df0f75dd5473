use fieldsync_core::model::TicketIndex;

use super::*;

fn row(assignee: &str, status: Status, created_at: i64) -> IndexRow {
    IndexRow {
        id: format!("{assignee}-{created_at}"),
        index: TicketIndex {
            status,
            assignee: Some(assignee.to_owned()),
            created_at: Some(created_at),
            ..Default::default()
        },
        updated_at: created_at,
        changed_seq: 0,
    }
}

fn routing(strategy: Strategy) -> Routing {
    Routing {
        groups: vec![
            SkillGroup { id: "boilers".into(), engineers: vec!["eli".into(), "fay".into(), "gus".into()] },
            SkillGroup { id: "network".into(), engineers: vec!["hal".into()] },
        ],
        rules: vec![
            RoutingRule { product: "router-x".into(), group: "network".into(), strategy, ..Default::default() },
            RoutingRule {
                ticket_type: "on_site_repair".into(),
                group: "boilers".into(),
                strategy,
                ..Default::default()
            },
        ],
    }
}

fn repair(product: &str) -> Classification {
    Classification { ticket_type: "on_site_repair".into(), product: product.into(), ..Default::default() }
}

fn facts(classification: &Classification) -> Facts<'_> {
    Facts { classification, priority: Priority::Normal, tier: "" }
}

fn engineer(routing: &Routing, classification: &Classification, rows: &[IndexRow]) -> Option<String> {
    route(routing, &facts(classification), rows).and_then(|d| d.engineer().map(str::to_owned))
}

#[test]
fn the_first_matching_rule_picks_the_group_and_no_rule_no_decision() {
    let r = routing(Strategy::RoundRobin);
    assert_eq!(engineer(&r, &repair("router-x"), &[]).as_deref(), Some("hal"));
    let boiler = route(&r, &facts(&repair("boiler-9")), &[]).expect("a rule matches");
    assert_eq!((boiler.engineer(), boiler.why.as_str()), (Some("eli"), "group boilers, round-robin"));
    let other = Classification { ticket_type: "inspection".into(), ..Default::default() };
    assert_eq!(route(&r, &facts(&other), &[]), None);
}

#[test]
fn round_robin_gives_the_next_ticket_to_whoever_had_one_longest_ago() {
    let r = routing(Strategy::RoundRobin);
    let mut rows = Vec::new();
    let mut given = Vec::new();
    for at in 1..=6 {
        let picked = engineer(&r, &repair(""), &rows).expect("decision");
        rows.push(row(&picked, Status::Completed, at));
        given.push(picked);
    }
    assert_eq!(given, ["eli", "fay", "gus", "eli", "fay", "gus"]);
}

#[test]
fn least_loaded_counts_open_work_only() {
    let r = routing(Strategy::LeastLoaded);
    let rows = vec![
        row("eli", Status::Working, 1),
        row("eli", Status::Dispatched, 2),
        row("fay", Status::Accepted, 3),
        row("gus", Status::Completed, 4),
        row("gus", Status::Cancelled, 5),
        row("gus", Status::Travelling, 6),
    ];
    // fay and gus have one open each; fay was given hers longer ago.
    assert_eq!(engineer(&r, &repair(""), &rows).as_deref(), Some("fay"));
}

#[test]
fn settings_are_checked() {
    assert!(routing(Strategy::RoundRobin).validate().is_ok());
    let mut dangling = routing(Strategy::RoundRobin);
    dangling.rules[0].group = "nobody".into();
    assert!(dangling.validate().expect_err("refused").0.contains("no group"));
    let mut twice = routing(Strategy::RoundRobin);
    twice.groups[1].id = "boilers".into();
    assert!(twice.validate().expect_err("refused").0.contains("twice"));
    let mut blank = routing(Strategy::RoundRobin);
    blank.groups[0].engineers.push("  ".into());
    assert!(blank.validate().is_err());
    let json = r#"{"groups":[{"id":"g","engineers":["eli"]}],"rules":[{"group":"g","strategy":"least_loaded"}]}"#;
    let parsed: Routing = serde_json::from_str(json).expect("reads");
    assert_eq!(parsed.rules[0].strategy, Strategy::LeastLoaded);
}

#[test]
fn rules_match_priority_and_tier_and_send_to_an_engineer_or_a_groups_pool() {
    let mut r = routing(Strategy::RoundRobin);
    r.rules.insert(
        0,
        RoutingRule {
            priority: Some(Priority::Urgent),
            group: "boilers".into(),
            strategy: Strategy::Pool,
            ..Default::default()
        },
    );
    r.rules.insert(0, RoutingRule { tier: "gold".into(), engineer: "gus".into(), ..Default::default() });
    assert!(r.validate().is_ok());
    let repair = repair("");
    let urgent = Facts { classification: &repair, priority: Priority::Urgent, tier: "standard" };
    let decision = route(&r, &urgent, &[]).expect("the urgent rule");
    assert_eq!(decision.target, Target::Pool { group: "boilers".into() });
    assert_eq!(decision.engineer(), None);
    let gold = Facts { classification: &repair, priority: Priority::Urgent, tier: "GOLD" };
    assert_eq!(route(&r, &gold, &[]).expect("the gold rule").target, Target::Engineer("gus".into()));
    // Neither: the type rule's round-robin.
    assert_eq!(engineer(&r, &repair, &[]).as_deref(), Some("eli"));
}

#[test]
fn a_groups_pool_is_its_members_only() {
    let r = routing(Strategy::RoundRobin);
    assert_eq!(r.groups_of("eli"), ["boilers"]);
    assert!(may_take_from_pool(Some("boilers"), &r.groups_of("eli")));
    assert!(!may_take_from_pool(Some("boilers"), &r.groups_of("hal")));
    assert!(may_take_from_pool(None, &r.groups_of("hal")), "a pool of no group is everyone's");
    assert!(!may_take_from_pool(Some("gone"), &r.groups_of("eli")), "a removed group has no members");
}

#[test]
fn a_rule_names_a_group_or_an_engineer_and_a_pool_is_a_groups() {
    let mut both = routing(Strategy::RoundRobin);
    both.rules[0].engineer = "eli".into();
    assert!(both.validate().expect_err("refused").0.contains("not both"));
    let mut neither = routing(Strategy::RoundRobin);
    neither.rules[0].group.clear();
    assert!(neither.validate().is_err());
    let engineers_pool = Routing {
        rules: vec![RoutingRule { engineer: "eli".into(), strategy: Strategy::Pool, ..Default::default() }],
        ..Default::default()
    };
    assert!(engineers_pool.validate().expect_err("refused").0.contains("pool"));
}
