//! The manager part of the storage conformance suite.

use fieldsync_core::workflow::Status;

use super::{row, write};
use crate::storage::Storage;
use crate::storage::manager::*;

/// The settings and escalation checks of the conformance suite.
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    assert_eq!(s.setting("taxonomy").expect("none"), None);
    assert_eq!(s.put_setting("taxonomy", r#"{"a":1}"#, "admin", 1_000).expect("first"), 1);
    assert_eq!(s.put_setting("taxonomy", r#"{"a":2}"#, "root", 2_000).expect("second"), 2);
    let now = s.setting("taxonomy").expect("read").expect("written");
    assert_eq!((now.json.as_str(), now.version, now.updated_by.as_str()), (r#"{"a":2}"#, 2, "root"));
    let log = s.setting_changes("taxonomy", 10).expect("log");
    assert_eq!(log.iter().map(|c| (c.version, c.updated_at)).collect::<Vec<_>>(), [(2, 2_000), (1, 1_000)]);
    assert_eq!(log[1].json, r#"{"a":1}"#, "the log keeps every version");
    assert!(s.setting_changes("sla_policy", 10).expect("other").is_empty());
    resequencing_the_pool(make);

    let claim = EscalationClaim {
        id: "t1/r1/resolve/500".into(),
        ticket_id: "t1".into(),
        rule_id: "r1".into(),
        clock: "resolve".into(),
        deadline: 500,
    };
    assert!(s.claim_escalation(&claim, "a", 2_000, 1_000).expect("claim"), "a new breach");
    assert!(!s.claim_escalation(&claim, "b", 2_100, 1_100).expect("held"), "held by a");
    assert!(s.claim_escalation(&claim, "a", 2_200, 1_200).expect("own"), "its own claim");
    assert!(s.claim_escalation(&claim, "b", 4_000, 3_000).expect("expired"), "a's lease ran out");
    assert!(!s.finish_escalation(&claim.id, "a", "late", 3_100).expect("not a's"), "a lost it");
    assert!(s.finish_escalation(&claim.id, "b", "escalated", 3_100).expect("done"));
    assert!(!s.claim_escalation(&claim, "c", 9_000, 8_000).expect("done"), "never again once done");
    let asked = [claim.id.clone(), "t2/r1/respond/1".to_owned()];
    assert_eq!(s.done_escalations(&asked).expect("done ones"), vec![claim.id.as_str()]);
    assert!(s.done_escalations(&[]).expect("none asked").is_empty());
    let all = s.escalations(10).expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].state.as_str(), all[0].summary.as_str(), all[0].done_at), ("done", "escalated", Some(3_100)));
}

/// A setting that decides who may hold pooled tickets moves every pooled ticket, and only
/// those, to new sequence numbers in the same write (docs/adr/0028).
fn resequencing_the_pool(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    for (id, status) in [("p1", Status::Pooled), ("mine", Status::Accepted), ("p2", Status::Pooled)] {
        s.save_ticket(&write(id, None, b"c", row(id, status, None), &[])).expect("save");
    }
    let seq_of = |id: &str| s.ticket_row(id).expect("row").expect("there").changed_seq;
    let before = s.current_seq().expect("seq");
    let (p1, mine, p2) = (seq_of("p1"), seq_of("mine"), seq_of("p2"));
    assert_eq!(s.put_setting_resequencing_pool("routing", "{}", "root", 3_000).expect("put"), 1);
    assert_eq!(s.setting("routing").expect("read").expect("written").json, "{}");
    assert_eq!(s.current_seq().expect("seq"), before + 2, "one number per pooled ticket");
    assert_eq!((seq_of("p1"), seq_of("p2")), (before + 1, before + 2), "new numbers, in the old order");
    assert!(p1 < p2);
    assert_eq!(seq_of("mine"), mine, "a ticket out of the pool keeps its number");
    let stored = s.load_ticket("p1").expect("load").expect("there");
    assert_eq!((stored.version, stored.seq), (1, before + 1), "the document did not change, its number did");
    assert_eq!(s.setting_changes("routing", 10).expect("log").len(), 1, "logged like any setting write");
}
