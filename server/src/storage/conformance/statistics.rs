//! The statistics part of the storage conformance suite.

use crate::storage::statistics::*;

/// The tallies and the ageing list agree with rows whose figures the test chose, days cut at
/// the zone given (a ticket at 20:00 UTC counts on the next day at UTC+08:00).
pub(super) fn run(make: &dyn Fn() -> Box<dyn crate::storage::Storage>) {
    use fieldsync_core::workflow::Status;

    use super::{row, write};

    const HOUR: i64 = 3_600_000;
    let s = make();
    let utc = |y, m, d, h| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .expect("time")
    };
    let ticket = |id: &str, status, assignee, kind: &str, customer: (&str, &str), created: i64| {
        row(id, status, assignee).with(|t| {
            t.ticket_type = kind.into();
            t.customer_id = customer.0.into();
            t.customer_name = customer.1.into();
            t.created_at = Some(created);
        })
    };
    let rows = [
        ticket("t1", Status::Completed, Some("eli"), "bug", ("c1", "澳美"), utc(2026, 1, 31, 20)).with(|t| {
            t.responded_at = Some(utc(2026, 1, 31, 22));
            t.first_time_fix = Some(true);
            t.revisited_at = Some(utc(2026, 2, 5, 0));
            (t.product, t.module) = ("boiler".into(), "valve".into());
            (t.minutes_worked, t.parts_lines, t.parts_quantity) = (90, 2, 5);
            (t.reassigned_count, t.reassigned_from) = (1, "ana".into());
        }),
        ticket("t2", Status::Accepted, Some("eli"), "bug", ("c1", "澳美"), utc(2026, 1, 31, 10)).with(|t| {
            t.responded_at = Some(utc(2026, 1, 31, 14));
            t.product = "boiler".into();
            (t.minutes_worked, t.parts_lines, t.parts_quantity) = (30, 1, 1);
            (t.rejected_count, t.rejected_by, t.reassigned_count) = (1, "ana".into(), 1);
        }),
        ticket("t3", Status::Completed, None, "install", ("c2", "Bo"), utc(2026, 2, 10, 3)).with(|t| {
            t.first_time_fix = Some(false);
            t.revisited_at = Some(utc(2026, 2, 12, 0));
            t.complaint = true;
            t.complaint_level = "serious".into();
            t.complaint_product = "boiler".into();
            (t.product, t.module, t.minutes_worked) = ("heat pump".into(), "compressor".into(), 15);
            (t.rejected_count, t.rejected_by) = (1, "ana".into());
        }),
        ticket("t4", Status::New, None, "install", ("c2", "Bo"), utc(2025, 6, 1, 3)).with(|t| {
            (t.product, t.minutes_worked, t.rejected_count, t.rejected_by) = ("boiler".into(), 999, 1, "ana".into());
        }),
        row("t5", Status::New, None),
    ];
    for r in rows {
        s.save_ticket(&write(&r.id.clone(), None, b"c", r, &[])).expect("save");
    }
    let (from, to, zone) = (utc(2025, 12, 31, 16), utc(2026, 12, 31, 16), 8 * HOUR);
    let tally = |g| {
        let mut t = s.tally(g, from, to, zone).expect("tally");
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t
    };
    let by_type = tally(Grouping::TicketType);
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
        revisit_due: 0,
        complaints: 0,
        bugs: 2,
        completed: 1,
        minutes: 120,
        parts_lines: 3,
        parts_quantity: 6,
        reassignments: 2,
        rejections: 1,
    };
    assert_eq!(by_type[0], bug);
    assert_eq!(
        (
            by_type[1].key.as_str(),
            by_type[1].tickets,
            by_type[1].ftf_known,
            by_type[1].ftf_fixed,
            by_type[1].complaints
        ),
        ("install", 1, 1, 0, 1),
        "t4 was created before the range"
    );
    let customers: Vec<(String, String, i64)> =
        tally(Grouping::Customer).into_iter().map(|t| (t.key, t.label, t.tickets)).collect();
    assert_eq!(customers, [("c1".into(), "澳美".into(), 2), ("c2".into(), "Bo".into(), 1)]);
    let engineers: Vec<(String, i64)> = tally(Grouping::Engineer).into_iter().map(|t| (t.key, t.tickets)).collect();
    assert_eq!(engineers, [(String::new(), 1), ("eli".into(), 2)]);
    let day = |y, m, d| ((utc(y, m, d, 0)) / (24 * HOUR)).to_string();
    let mut days: Vec<(String, i64)> = tally(Grouping::Day).into_iter().map(|t| (t.key, t.tickets)).collect();
    days.sort();
    let mut expected = vec![(day(2026, 1, 31), 1), (day(2026, 2, 1), 1), (day(2026, 2, 10), 1)];
    expected.sort();
    assert_eq!(days, expected, "20:00 UTC on 31 January is 1 February at UTC+08:00");
    let levels: Vec<(String, i64)> = tally(Grouping::ComplaintLevel).into_iter().map(|t| (t.key, t.tickets)).collect();
    assert_eq!(levels, [("serious".into(), 1)]);
    let products: Vec<(String, i64)> =
        tally(Grouping::ComplaintProduct).into_iter().map(|t| (t.key, t.tickets)).collect();
    assert_eq!(products, [("boiler".into(), 1)]);
    // What the statistics take from time entries, parts and handovers (docs/adr/0025).
    let figures = |g| -> Vec<(String, i64, i64, i64, i64, i64, i64)> {
        tally(g)
            .into_iter()
            .map(|t| (t.key, t.tickets, t.minutes, t.parts_lines, t.parts_quantity, t.reassignments, t.rejections))
            .collect()
    };
    assert_eq!(
        figures(Grouping::Customer),
        [("c1".into(), 2, 120, 3, 6, 2, 1), ("c2".into(), 1, 15, 0, 0, 0, 1)],
        "t4's 999 minutes are before the range"
    );
    assert_eq!(figures(Grouping::Engineer)[1], ("eli".into(), 2, 120, 3, 6, 2, 1));
    let keys = |g| -> Vec<(String, i64)> { tally(g).into_iter().map(|t| (t.key, t.tickets)).collect() };
    assert_eq!(keys(Grouping::Product), [("boiler".into(), 2), ("heat pump".into(), 1)]);
    assert_eq!(
        keys(Grouping::Module),
        [(String::new(), 1), ("boiler / valve".into(), 1), ("heat pump / compressor".into(), 1)]
    );
    assert_eq!(figures(Grouping::RejectedBy), [("ana".into(), 2, 45, 1, 1, 1, 2)], "only tickets ana gave back");
    assert_eq!(keys(Grouping::ReassignedFrom), [("ana".into(), 1)], "only tickets taken from ana");
    let (oldest, open) = s.oldest_open(10).expect("oldest");
    let ids: Vec<&str> = oldest.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t4", "t2"], "oldest first; a row without a creation time is left out");
    assert_eq!(open, 3);
    assert_eq!(s.oldest_open(1).expect("one").0.len(), 1);
}
