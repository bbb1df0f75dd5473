//! The report facts part of the storage conformance suite (docs/adr/0028).

use fieldsync_core::time::Millis;

use crate::storage::Storage;

/// Kept facts come back with the ticket's current sequence, a newer fold replaces an older
/// one and never the reverse, and tickets outside the range are left out (those with no
/// creation time are in: the index cannot place them).
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
    use fieldsync_core::workflow::Status;

    use super::{row, write};

    let s = make();
    let created = |id: &str, at: Option<Millis>| {
        let mut r = row(id, Status::New, None);
        r.index.created_at = at;
        r
    };
    for r in [created("in", Some(1_000)), created("out", Some(5_000)), created("unknown", None)] {
        s.save_ticket(&write(&r.id.clone(), None, b"c", r, &[])).expect("save");
    }
    let found = |s: &dyn Storage| {
        let mut rows = s.report_facts(500, 2_000).expect("read");
        rows.sort_by(|a, b| a.ticket_id.cmp(&b.ticket_id));
        rows
    };
    let rows = found(s.as_ref());
    assert_eq!(rows.iter().map(|r| r.ticket_id.as_str()).collect::<Vec<_>>(), ["in", "unknown"]);
    assert!(rows.iter().all(|r| r.kept.is_none() && r.changed_seq > 0), "{rows:?}");
    let seq = rows[0].changed_seq;
    s.keep_report_facts(&[("in".into(), seq, "{\"v\":2}".into())]).expect("keep");
    s.keep_report_facts(&[("in".into(), seq - 1, "{\"v\":1}".into())]).expect("an older fold");
    assert_eq!(found(s.as_ref())[0].kept, Some((seq, "{\"v\":2}".to_owned())), "the newer fold stays");
    s.keep_report_facts(&[("in".into(), seq + 1, "{\"v\":3}".into())]).expect("keep");
    assert_eq!(found(s.as_ref())[0].kept, Some((seq + 1, "{\"v\":3}".to_owned())));
}
