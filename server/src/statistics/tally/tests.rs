//! The one-pass fold gives the figures the per-grouping `GROUP BY` queries gave (the storage
//! conformance suite checks the rows it folds come out of both backends as saved).

use super::*;
use crate::storage::conformance::statistics::{utc, window_figures};

const HOUR: i64 = 3_600_000;

/// Three tickets of a window, as the scan hands them over (the storage conformance suite saves
/// and scans back the same figures).
fn rows() -> Vec<TicketFigures<'static>> {
    window_figures()
}

fn fold(rows: &[TicketFigures<'_>]) -> Inputs {
    let mut tallies = Tallies::new(8 * HOUR);
    rows.iter().for_each(|row| tallies.add(row));
    tallies.into_inputs(Vec::new(), 0, 0)
}

fn keys(tallies: &[Tally]) -> Vec<(&str, i64)> {
    tallies.iter().map(|t| (t.key.as_str(), t.tickets)).collect()
}

/// Key, tickets, minutes, part lines, parts used, reassignments, rejections.
fn figures(tallies: &[Tally]) -> Vec<(&str, i64, i64, i64, i64, i64, i64)> {
    tallies
        .iter()
        .map(|t| (t.key.as_str(), t.tickets, t.minutes, t.parts_lines, t.parts_quantity, t.reassignments, t.rejections))
        .collect()
}

#[test]
fn every_grouping_comes_out_of_one_pass() {
    let inputs = fold(&rows());
    let bug = Tally {
        key: "bug".into(),
        label: "bug".into(),
        tickets: 2,
        open: 1,
        responded: 2,
        response_ms: 6 * HOUR,
        ftf_known: 1,
        ftf_fixed: 1,
        revisited: 1,
        revisit_due: 1,
        complaints: 0,
        bugs: 2,
        completed: 1,
        minutes: 120,
        parts_lines: 3,
        parts_quantity: 6,
        reassignments: 2,
        rejections: 1,
    };
    assert_eq!(inputs.by_type[0], bug);
    let install = &inputs.by_type[1];
    assert_eq!(
        (install.key.as_str(), install.tickets, install.ftf_known, install.ftf_fixed, install.complaints, install.open),
        ("install", 1, 1, 0, 1, 0)
    );
    let customers: Vec<(&str, &str, i64)> =
        inputs.by_customer.iter().map(|t| (t.key.as_str(), t.label.as_str(), t.tickets)).collect();
    assert_eq!(customers, [("c1", "澳美", 2), ("c2", "Bo", 1)]);
    assert_eq!(keys(&inputs.by_engineer), [("", 1), ("eli", 2)]);
    let day = |y, m, d| (utc(y, m, d, 0) / (24 * HOUR)).to_string();
    let days: Vec<(String, i64)> = inputs.by_day.iter().map(|t| (t.key.clone(), t.tickets)).collect();
    assert_eq!(
        days,
        [(day(2026, 1, 31), 1), (day(2026, 2, 1), 1), (day(2026, 2, 10), 1)],
        "20:00 UTC on 31 January is 1 February at UTC+08:00; days in order"
    );
    assert_eq!(keys(&inputs.complaint_levels), [("serious", 1)], "complaints only");
    assert_eq!(keys(&inputs.complaint_products), [("boiler", 1)]);
    assert_eq!(figures(&inputs.by_customer), [("c1", 2, 120, 3, 6, 2, 1), ("c2", 1, 15, 0, 0, 0, 1)]);
    assert_eq!(figures(&inputs.by_engineer)[1], ("eli", 2, 120, 3, 6, 2, 1));
    assert_eq!(keys(&inputs.by_product), [("boiler", 2), ("heat pump", 1)]);
    assert_eq!(keys(&inputs.by_module), [("", 1), ("boiler / valve", 1), ("heat pump / compressor", 1)]);
    assert_eq!(figures(&inputs.rejected_by), [("ana", 2, 45, 1, 1, 1, 2)], "only tickets ana gave back");
    assert_eq!(keys(&inputs.reassigned_from), [("ana", 1)], "only tickets taken from ana");
}

#[test]
fn a_groups_label_does_not_depend_on_row_order() {
    let renamed = TicketFigures { customer_name: "澳美 (new)", ..rows()[1] };
    let mut rows = rows();
    rows.push(renamed);
    let forward = fold(&rows);
    rows.reverse();
    let backward = fold(&rows);
    assert_eq!(forward.by_customer, backward.by_customer);
    assert_eq!(forward.by_customer[0].label, "澳美 (new)", "the greatest name, as SQL's MAX gave");
}

#[test]
fn a_response_before_creation_is_not_counted_and_bug_is_any_case() {
    let early = TicketFigures {
        ticket_type: "Bug",
        status: "cancelled",
        created_at: 10 * HOUR,
        responded_at: Some(9 * HOUR),
        ..TicketFigures::default()
    };
    let one = Tally::of(&early);
    assert_eq!((one.responded, one.response_ms, one.bugs, one.open, one.completed), (0, 0, 1, 0, 0));
}
