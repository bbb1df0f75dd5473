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
            RoutingRule { ticket_type: String::new(), product: "router-x".into(), group: "network".into(), strategy },
            RoutingRule {
                ticket_type: "on_site_repair".into(),
                product: String::new(),
                group: "boilers".into(),
                strategy,
            },
        ],
    }
}

fn repair(product: &str) -> Classification {
    Classification { ticket_type: "on_site_repair".into(), product: product.into(), ..Default::default() }
}

#[test]
fn the_first_matching_rule_picks_the_group_and_no_rule_no_decision() {
    let r = routing(Strategy::RoundRobin);
    assert_eq!(route(&r, &repair("router-x"), &[]).map(|d| d.engineer).as_deref(), Some("hal"));
    let boiler = route(&r, &repair("boiler-9"), &[]).expect("a rule matches");
    assert_eq!((boiler.engineer.as_str(), boiler.why.as_str()), ("eli", "group boilers, round-robin"));
    let other = Classification { ticket_type: "inspection".into(), ..Default::default() };
    assert_eq!(route(&r, &other, &[]), None);
}

#[test]
fn round_robin_gives_the_next_ticket_to_whoever_had_one_longest_ago() {
    let r = routing(Strategy::RoundRobin);
    let mut rows = Vec::new();
    let mut given = Vec::new();
    for at in 1..=6 {
        let engineer = route(&r, &repair(""), &rows).expect("decision").engineer;
        rows.push(row(&engineer, Status::Completed, at));
        given.push(engineer);
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
    assert_eq!(route(&r, &repair(""), &rows).map(|d| d.engineer).as_deref(), Some("fay"));
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
