//! [`Storage::sync_reads`] answers what the single reads answer, one after the other.

use fieldsync_core::workflow::Status;

use super::{row, write};
use crate::storage::sync_reads::separately;
use crate::storage::{Scope, Storage, SyncReads, SyncReadsQuery, SyncState};

/// Runs the checks on one fresh storage.
pub(super) fn run(s: &dyn Storage) {
    let eli = Scope::Engineer { user_id: "eli".into(), device_id: "d1".into() };
    let query = |pushed: &'static [String], cursor, scope| SyncReadsQuery {
        device_id: "d1",
        pushed,
        cursor,
        scope,
        expired_before: 2_000,
    };
    let empty = s.sync_reads(&query(&[], 0, &eli)).expect("reads");
    assert_eq!(empty, SyncReads::default(), "nothing stored: nothing read, cursor 0");

    let mut done = row("old", Status::Completed, Some("eli"));
    done.resolved_at = Some(1_000);
    s.save_ticket(&write("old", None, b"1", done, &[])).expect("old");
    s.save_ticket(&write("mine", None, b"1", row("mine", Status::Accepted, Some("eli")), &[])).expect("mine");
    s.save_ticket(&write("theirs", None, b"1", row("theirs", Status::Accepted, Some("fay")), &[])).expect("theirs");
    // Reassigned from eli's device to fay: still held by it, so still in its scope (it must
    // hear that it lost the ticket), though neither eli's nor pooled.
    let moved =
        s.save_ticket(&write("moved", None, b"1", row("moved", Status::Accepted, Some("fay")), &[])).expect("moved");
    let last = s.save_ticket(&write("pool", None, b"1", row("pool", Status::Pooled, None), &[])).expect("pool");
    let held = SyncState { confirmed: vec![[7; 32]], pending: Some((3, vec![[8; 32]])), evicted_at: None };
    let states =
        [("old".into(), held.clone()), ("mine".into(), SyncState::default()), ("moved".into(), SyncState::default())];
    s.put_sync_states("d1", &states).expect("states");
    s.put_sync_states("d2", &[("theirs".into(), held.clone())]).expect("other device");

    static PUSHED: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["mine".into(), "gone".into(), "theirs".into()]);
    // Cursors on both sides of the line between walking and the indexes (2 changes, none per
    // held ticket, under test): a near cursor's rows are walked, a far one's found by index.
    let walked = crate::storage::sync_reads::walk_changed;
    assert!(walked(2, 3) && !walked(3, 3), "the line is where this suite expects it");
    for cursor in [0, 1, moved.seq - 2, moved.seq - 1, last.seq - 1, last.seq] {
        for scope in [&eli, &Scope::All] {
            for pushed in [&PUSHED[..], &[]] {
                let q = query(pushed, cursor, scope);
                let together = s.sync_reads(&q).expect("together");
                assert_eq!(together, separately(s, &q).expect("separately"), "sync_reads of {q:?}");
            }
        }
    }
    let reads = s.sync_reads(&query(&PUSHED, 0, &eli)).expect("reads");
    let ids = |rows: &[crate::storage::IndexRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(reads.current_seq, last.seq);
    let pushed: Vec<Option<&str>> = reads.pushed.iter().map(|r| r.as_ref().map(|r| r.id.as_str())).collect();
    assert_eq!(pushed, [Some("mine"), None, Some("theirs")], "in push order, a missing ticket as None");
    assert_eq!(ids(&reads.changed), ["old", "mine", "moved", "pool"], "in scope, by changed_seq");
    assert_eq!(ids(&reads.held), ["old"]);
    let states: Vec<&str> = reads.states.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(states, ["mine", "old", "moved"], "this device's states, each once, in the order first named");
    assert_eq!(reads.states[1].1, held);
    // The same rows whichever way they are found: walked (2 changes behind) and by the
    // indexes (3 behind, the extra one another engineer's).
    for (cursor, how) in [(last.seq - 2, "walked"), (last.seq - 3, "by the indexes")] {
        let reads = s.sync_reads(&query(&[], cursor, &eli)).expect("reads");
        assert_eq!(ids(&reads.changed), ["moved", "pool"], "{how}, from cursor {cursor}");
        assert_eq!(ids(&s.changed_since(cursor, &eli).expect("alone")), ["moved", "pool"], "{how}, alone");
    }
}
