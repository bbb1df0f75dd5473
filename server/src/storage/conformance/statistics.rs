//! The statistics part of the storage conformance suite, and the window of ticket figures it
//! saves and scans back, which the pure tally tests (`statistics::tally`) fold too: one fixture.

use fieldsync_core::workflow::Status;

use super::{row, write};
use crate::storage::IndexRow;
use crate::storage::statistics::*;

/// UTC milliseconds of an hour of a day.
pub(crate) fn utc(y: i32, m: u32, d: u32, h: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|date| date.and_hms_opt(h, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .expect("time")
}

/// Three tickets of a window as the scan hands them over: two of a customer's bugs (one
/// completed and fixed at the first visit, one accepted with a revisit due), and another
/// customer's install that became a complaint and was not fixed at the first visit.
pub(crate) fn window_figures() -> Vec<TicketFigures<'static>> {
    vec![
        TicketFigures {
            ticket_type: "bug",
            customer_id: "c1",
            customer_name: "澳美",
            assignee: "eli",
            status: "completed",
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
            ticket_type: "bug",
            customer_id: "c1",
            customer_name: "澳美",
            assignee: "eli",
            status: "accepted",
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
            ticket_type: "install",
            customer_id: "c2",
            customer_name: "Bo",
            status: "completed",
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
    ]
}

/// The index row a ticket with figures `f` is saved with.
fn saved(id: &str, f: &TicketFigures<'_>) -> IndexRow {
    let count = |n: i64| u32::try_from(n).expect("a count");
    let status = Status::parse(f.status).expect("a status");
    row(id, status, (!f.assignee.is_empty()).then_some(f.assignee)).with(|t| {
        (t.ticket_type, t.customer_id, t.customer_name) =
            (f.ticket_type.into(), f.customer_id.into(), f.customer_name.into());
        (t.product, t.module) = (f.product.into(), f.module.into());
        (t.complaint, t.complaint_level, t.complaint_product) =
            (f.complaint, f.complaint_level.into(), f.complaint_product.into());
        (t.reassigned_from, t.rejected_by) = (f.reassigned_from.into(), f.rejected_by.into());
        (t.created_at, t.responded_at) = (Some(f.created_at), f.responded_at);
        (t.first_time_fix, t.revisited_at, t.revisit_due_at) = (f.first_time_fix, f.revisited_at, f.revisit_due_at);
        (t.minutes_worked, t.parts_lines, t.parts_quantity) =
            (count(f.minutes_worked), count(f.parts_lines), count(f.parts_quantity));
        (t.reassigned_count, t.rejected_count) = (count(f.reassigned_count), count(f.rejected_count));
    })
}

/// The scan returns the figures of exactly the tickets created in the range (its start in, its
/// end out), as they were saved; the ageing list is the oldest open tickets. How the figures
/// fold into tallies is the pure module's (`statistics::tally`, its tests).
pub(super) fn run(make: &dyn Fn() -> Box<dyn crate::storage::Storage>) {
    let s = make();
    let (from, to) = (utc(2025, 12, 31, 16), utc(2026, 12, 31, 16));
    let window = window_figures();
    let at_start = TicketFigures {
        ticket_type: "bug",
        customer_id: "c1",
        customer_name: "澳美",
        status: Status::Completed.as_str(),
        created_at: from,
        ..TicketFigures::default()
    };
    let before = TicketFigures {
        ticket_type: "install",
        customer_id: "c2",
        customer_name: "Bo",
        status: Status::New.as_str(),
        product: "boiler",
        rejected_by: "ana",
        created_at: utc(2025, 6, 1, 3),
        minutes_worked: 999,
        rejected_count: 1,
        ..TicketFigures::default()
    };
    let at_end = TicketFigures { created_at: to, ..at_start };
    let mut rows: Vec<IndexRow> = window.iter().enumerate().map(|(n, f)| saved(&format!("t{}", n + 1), f)).collect();
    rows.push(saved("t4", &before));
    rows.push(row("t5", Status::New, None));
    rows.push(saved("t6", &at_start));
    rows.push(saved("t7", &at_end));
    for r in rows {
        s.save_ticket(&write(&r.id.clone(), None, b"c", r, &[])).expect("save");
    }
    let mut scanned = Vec::new();
    s.each_created(from, to, &mut |f| scanned.push((f.created_at, format!("{f:?}")))).expect("scan");
    scanned.sort();
    let mut expected: Vec<(i64, String)> =
        window.iter().chain([&at_start]).map(|f| (f.created_at, format!("{f:?}"))).collect();
    expected.sort();
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
