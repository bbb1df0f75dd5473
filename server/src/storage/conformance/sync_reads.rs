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
    let last = s.save_ticket(&write("pool", None, b"1", row("pool", Status::Pooled, None), &[])).expect("pool");
    let held = SyncState { confirmed: vec![[7; 32]], pending: Some((3, vec![[8; 32]])), evicted_at: None };
    s.put_sync_states("d1", &[("old".into(), held.clone()), ("mine".into(), SyncState::default())]).expect("states");
    s.put_sync_states("d2", &[("theirs".into(), held.clone())]).expect("other device");

    static PUSHED: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["mine".into(), "gone".into(), "theirs".into()]);
    for cursor in [0, 1, last.seq] {
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
    assert_eq!(ids(&reads.changed), ["old", "mine", "pool"], "in scope, by changed_seq");
    assert_eq!(ids(&reads.held), ["old"]);
    let states: Vec<&str> = reads.states.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(states, ["mine", "old"], "this device's states, each once, in the order first named");
    assert_eq!(reads.states[1].1, held);
}
