//! The statistics part of the storage conformance suite.

use crate::storage::statistics::*;

/// The scan returns the figures of exactly the tickets created in the range (its start in, its
/// end out), as they were saved; the ageing list is the oldest open tickets. How the figures
/// fold into tallies is the pure module's (`statistics::tally`, its tests).
pub(super) fn run(make: &dyn Fn() -> Box<dyn crate::storage::Storage>) {
    use fieldsync_core::workflow::Status;

    use super::{row, write};

    let s = make();
    let utc = |y, m, d, h| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .expect("time")
    };
    let (from, to) = (utc(2025, 12, 31, 16), utc(2026, 12, 31, 16));
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
            t.revisit_due_at = Some(utc(2026, 3, 1, 0));
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
        ticket("t6", Status::Completed, None, "bug", ("c1", "澳美"), from),
        ticket("t7", Status::Completed, None, "bug", ("c1", "澳美"), to),
    ];
    for r in rows {
        s.save_ticket(&write(&r.id.clone(), None, b"c", r, &[])).expect("save");
    }
    let mut scanned = Vec::new();
    s.each_created(from, to, &mut |f| scanned.push((f.created_at, format!("{f:?}")))).expect("scan");
    scanned.sort();
    let expected = [
        TicketFigures {
            ticket_type: "bug",
            customer_id: "c1",
            customer_name: "澳美",
            status: Status::Completed.as_str(),
            created_at: from,
            ..TicketFigures::default()
        },
        TicketFigures {
            ticket_type: "bug",
            customer_id: "c1",
            customer_name: "澳美",
            assignee: "eli",
            status: Status::Accepted.as_str(),
            product: "boiler",
            rejected_by: "ana",
            created_at: utc(2026, 1, 31, 10),
            responded_at: Some(utc(2026, 1, 31, 14)),
            revisit_due_at: Some(utc(2026, 3, 1, 0)),
            minutes_worked: 30,
            parts_lines: 1,
            parts_quantity: 1,
            reassigned_count: 1,
            rejected_count: 1,
            ..TicketFigures::default()
        },
        TicketFigures {
            ticket_type: "bug",
            customer_id: "c1",
            customer_name: "澳美",
            assignee: "eli",
            status: Status::Completed.as_str(),
            product: "boiler",
            module: "valve",
            reassigned_from: "ana",
            created_at: utc(2026, 1, 31, 20),
            responded_at: Some(utc(2026, 1, 31, 22)),
            first_time_fix: Some(true),
            revisited_at: Some(utc(2026, 2, 5, 0)),
            minutes_worked: 90,
            parts_lines: 2,
            parts_quantity: 5,
            reassigned_count: 1,
            ..TicketFigures::default()
        },
        TicketFigures {
            ticket_type: "install",
            customer_id: "c2",
            customer_name: "Bo",
            status: Status::Completed.as_str(),
            product: "heat pump",
            module: "compressor",
            complaint_level: "serious",
            complaint_product: "boiler",
            rejected_by: "ana",
            created_at: utc(2026, 2, 10, 3),
            first_time_fix: Some(false),
            revisited_at: Some(utc(2026, 2, 12, 0)),
            complaint: true,
            minutes_worked: 15,
            rejected_count: 1,
            ..TicketFigures::default()
        },
    ];
    let expected: Vec<(i64, String)> = expected.iter().map(|f| (f.created_at, format!("{f:?}"))).collect();
    assert_eq!(
        scanned, expected,
        "t4 was created before the range, t5 has no creation time, t7 at its end; t6 at its start is in"
    );
    let (oldest, open) = s.oldest_open(10).expect("oldest");
    let ids: Vec<&str> = oldest.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t4", "t2"], "oldest first; a row without a creation time is left out");
    assert_eq!(open, 3);
    assert_eq!(s.oldest_open(1).expect("one").0.len(), 1);
}
