use super::*;

fn tally(key: &str, tickets: i64) -> Tally {
    Tally { key: key.into(), label: key.into(), tickets, ..Tally::default() }
}

#[test]
fn windows_cut_days_at_the_organisations_zone() {
    // 2026-03-01 00:00 at UTC+08:00 is 2026-02-28 16:00 UTC.
    let day = day_of(NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"));
    let window = Window::new(day, day, 480);
    assert_eq!(window.from_ms(), day * DAY - 8 * 3_600_000);
    assert_eq!(window.to_ms() - window.from_ms(), DAY);
    assert_eq!(local_day(window.from_ms(), 480), day);
    assert_eq!(local_day(window.from_ms() - 1, 480), day - 1, "a minute before midnight there is the day before");
    assert_eq!(day_label(day), "2026-03-01");
    assert_eq!(Window::new(day + 5, day, 0), Window::new(day, day + 5, 0), "swapped when backwards");
    assert_eq!(Window::new(day, day + 10_000, 0).last, day + MAX_DAYS - 1);
    let default = Window::default_at(window.from_ms() + 1, 480);
    assert_eq!(day_label(default.first), "2025-01-01");
    assert_eq!(default.last, day);
}

#[test]
fn days_fold_into_months_quarters_and_years_in_calendar_order() {
    let d = |y, m, dd| day_of(NaiveDate::from_ymd_opt(y, m, dd).expect("date")).to_string();
    let by_day =
        vec![tally(&d(2025, 12, 31), 2), tally(&d(2026, 1, 1), 3), tally(&d(2026, 3, 31), 4), tally(&d(2026, 4, 1), 5)];
    let months: Vec<(String, i64)> =
        fold_periods(&by_day, Period::Month).into_iter().map(|(l, t)| (l, t.tickets)).collect();
    assert_eq!(months, [("2025-12".into(), 2), ("2026-01".into(), 3), ("2026-03".into(), 4), ("2026-04".into(), 5)]);
    let quarters: Vec<(String, i64)> =
        fold_periods(&by_day, Period::Quarter).into_iter().map(|(l, t)| (l, t.tickets)).collect();
    assert_eq!(quarters, [("2025 Q4".into(), 2), ("2026 Q1".into(), 7), ("2026 Q2".into(), 5)]);
    let inputs = Inputs { by_day, ..Inputs::default() };
    let years = comparison(&inputs, Period::Year);
    assert_eq!(years.rows[0][..2], ["2025".to_owned(), "2".to_owned()]);
    assert_eq!(years.rows[1][..2], ["2026".to_owned(), "12".to_owned()]);
    assert_eq!(years.rows[1][6], "+500.0", "change against the year before");
}

#[test]
fn types_are_most_frequent_first_with_shares() {
    let inputs = Inputs { by_type: vec![tally("install", 1), tally("bug", 3), tally("", 1)], ..Inputs::default() };
    let report = types(&inputs);
    let firsts: Vec<&str> = report.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(firsts, ["bug", "(none)", "install"]);
    assert_eq!(report.rows[0][2], "60.0");
    assert_eq!(report.bars[0], Bar { label: "bug".into(), value: 3.0 });
}

#[test]
fn customers_show_mean_first_response_and_bug_share() {
    let acme = Tally {
        key: "c1".into(),
        label: "澳美".into(),
        tickets: 4,
        responded: 2,
        response_ms: 3 * 3_600_000,
        bugs: 1,
        ..Tally::default()
    };
    let report = customers(&Inputs { by_customer: vec![acme], ..Inputs::default() });
    assert_eq!(report.rows[0][..4], ["澳美".to_owned(), "4".into(), "1.5".into(), "25.0".into()]);
}

#[test]
fn revisits_count_first_time_fix() {
    let t = Tally {
        tickets: 10,
        completed: 8,
        revisited: 5,
        revisit_due: 2,
        ftf_known: 5,
        ftf_fixed: 4,
        ..Tally::default()
    };
    let report = revisits(&Inputs { by_type: vec![t], ..Inputs::default() });
    let values: Vec<&str> = report.rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(values, ["8", "5", "2", "4", "1", "80.0"]);
}

#[test]
fn csv_starts_with_a_bom_and_keeps_chinese_text() {
    let report = customers(&Inputs { by_customer: vec![tally("c1", 2)], ..Inputs::default() });
    let text = csv(&report, |c| if c == "Customer" { "客户".into() } else { c.to_owned() });
    assert!(text.as_bytes().starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 BOM first");
    assert!(text.starts_with("\u{feff}客户,Tickets,"));
    assert_eq!(csv_field("=1+1"), "'=1+1");
    assert_eq!(csv_field("-12.5"), "-12.5", "a negative number stays a number");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
}

#[test]
fn bars_scale_and_escape() {
    assert_eq!(chart::bar_length(5.0, 10.0, 100.0), 50.0);
    assert_eq!(chart::bar_length(5.0, 0.0, 100.0), 0.0);
    let svg = bars_svg(&[Bar { label: "<b>".into(), value: 2.0 }], "x");
    assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
}

#[test]
fn customers_show_hours_invested_and_parts() {
    let acme = Tally { minutes: 150, parts_lines: 3, parts_quantity: 7, ..tally("c1", 2) };
    let report = customers(&Inputs { by_customer: vec![acme], ..Inputs::default() });
    let at = |heading: &str| report.columns.iter().position(|c| *c == heading).expect("column");
    let row = &report.rows[0];
    assert_eq!((row[at("Hours invested")].as_str(), row[at("Part lines")].as_str()), ("2.5", "3"));
    assert_eq!(row[at("Parts used")], "7");
}

#[test]
fn engineers_show_tickets_given_back_and_reassigned_away_even_with_none_held() {
    let inputs = Inputs {
        by_engineer: vec![Tally { minutes: 90, ..tally("eli", 3) }, tally("", 2)],
        rejected_by: vec![tally("eli", 1), tally("ana", 2)],
        reassigned_from: vec![tally("ana", 1)],
        ..Inputs::default()
    };
    let report = engineers(&inputs);
    let at = |heading: &str| report.columns.iter().position(|c| *c == heading).expect("column");
    let line = |name: &str| {
        let row = report.rows.iter().find(|r| r[0] == name).expect("row");
        (
            row[1].clone(),
            row[at("Hours invested")].clone(),
            row[at("Given back")].clone(),
            row[at("Reassigned away")].clone(),
        )
    };
    assert_eq!(line("eli"), ("3".into(), "1.5".into(), "1".into(), "0".into()));
    assert_eq!(line("ana"), ("0".into(), "0.0".into(), "2".into(), "1".into()), "ana holds none now");
    let names: Vec<&str> = report.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["eli", "(unassigned)", "ana"], "most tickets held first");
}

#[test]
fn products_and_modules_are_most_frequent_first() {
    let by_product = vec![tally("boiler", 3), tally("heat pump", 1), Tally { bugs: 2, ..tally("", 4) }];
    let report = problems_by(&by_product, "products", "Most frequent problems by product", "Product");
    let firsts: Vec<(&str, &str)> = report.rows.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(firsts, [("(none)", "50.0"), ("boiler", "37.5"), ("heat pump", "12.5")]);
    assert_eq!(report.rows[0][4], "50.0", "bug share within the group");
    let inputs = Inputs { by_module: vec![tally("boiler / valve", 2)], ..Inputs::default() };
    let window = Window::new(0, 0, 0);
    let all = reports(&inputs, &window);
    assert_eq!(all.iter().map(|r| r.key).collect::<Vec<_>>(), KEYS, "every report, in page order");
    assert_eq!(all[2].rows[0][0], "boiler / valve");
}
