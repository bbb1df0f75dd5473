//! The tracking part of the storage conformance suite.

use crate::storage::Storage;
use crate::storage::tracking::*;
use fieldsync_core::time::Millis;

/// The tracking checks of the conformance suite.
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    let secret = s.tracking_secret(b"first").expect("secret");
    assert_eq!(secret, b"first");
    assert_eq!(s.tracking_secret(b"second").expect("secret"), b"first", "kept once made");

    let link = |ticket: &str, generation: u32, byte: u8| TrackingLink {
        ticket_id: ticket.into(),
        generation,
        token_sha256: [byte; 32],
        created_at: 1_000,
        revoked_at: None,
    };
    assert!(s.add_tracking_link(&link("t1", 1, 1)).expect("add"));
    assert!(!s.add_tracking_link(&link("t1", 1, 9)).expect("again"), "one link per generation");
    assert!(s.add_tracking_link(&link("t2", 1, 2)).expect("add"));
    assert_eq!(s.tracking_link(&[1; 32]).expect("find"), Some(link("t1", 1, 1)));
    assert_eq!(s.tracking_link(&[7; 32]).expect("find"), None);
    assert_eq!(s.revoke_tracking_links("t1", 2_000).expect("revoke"), 1);
    assert_eq!(s.revoke_tracking_links("t1", 3_000).expect("revoke"), 0, "revoked once");
    assert_eq!(s.tracking_link(&[1; 32]).expect("find").and_then(|l| l.revoked_at), Some(2_000));
    assert_eq!(s.tracking_link(&[2; 32]).expect("find").and_then(|l| l.revoked_at), None, "only that ticket's");
    assert!(s.add_tracking_link(&link("t1", 2, 3)).expect("new generation"));
    assert_eq!(s.latest_tracking_link("t1").expect("latest").map(|l| l.generation), Some(2));
    assert_eq!(s.latest_tracking_link("t9").expect("latest"), None);

    let follow_up = |ticket: &str, at: Millis| FollowUp {
        ticket_id: ticket.into(),
        rating: 2,
        comment: "late, 迟到".into(),
        opened_at: at,
        followed_up_by: None,
        followed_up_at: None,
        outcome: None,
    };
    assert!(s.open_follow_up(&follow_up("t1", 10)).expect("open"));
    assert!(!s.open_follow_up(&follow_up("t1", 11)).expect("open"), "once per ticket");
    assert!(s.open_follow_up(&follow_up("t2", 20)).expect("open"));
    assert!(s.record_follow_up("t2", "dana", 30, "called, apologised").expect("record"));
    assert!(!s.record_follow_up("t9", "dana", 30, "nobody").expect("record"));
    let all = s.follow_ups().expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], follow_up("t1", 10), "open first");
    assert_eq!(
        (all[1].followed_up_by.as_deref(), all[1].followed_up_at, all[1].outcome.as_deref()),
        (Some("dana"), Some(30), Some("called, apologised"))
    );
}
