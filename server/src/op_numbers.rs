//! Pushed changes must number their operations as Automerge does, checked before they are
//! applied.
//!
//! An operation's id is its counter and its change's actor; a change holds the counters
//! `start_op..=max_op`. Automerge numbers a change after everything it depends on, and an
//! actor's changes follow one another. It does not check either when it applies a change,
//! although its document relies on them: a change that reuses counters its actor already
//! used is applied and stored, and then every later `get_changes` of the document panics
//! (seen: a forged `start_op`, test `attack_a_forged_op_range_makes_an_old_record_look_new`).
//! The ticket could then no longer be sent to anyone. The server's rules also tell an object a
//! push created by its id falling in the push's ranges (`rules::check`), which a reused range
//! would fool.
//!
//! So each pushed change must:
//! - start after the last counter of every change it depends on (pushed or stored); and
//! - have every stored change of its own actor in its history, so that its counters come after
//!   them too. An honest device never writes beside its own earlier changes: it has them.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash};

/// Why one of `new` (the push's changes `base` lacks) does not number its operations after
/// what it depends on and its actor's earlier changes; `None` when all do.
pub(crate) fn misnumbered(base: &Automerge, new: &[Change]) -> Option<String> {
    let pushed: HashMap<ChangeHash, &Change> = new.iter().map(|c| (c.hash(), c)).collect();
    for change in new {
        let start = change.start_op().get();
        for dep in change.deps() {
            let last = match pushed.get(dep) {
                Some(pushed) => Some(pushed.max_op()),
                None => base.get_change_meta_by_hash(dep).map(|meta| meta.max_op),
            };
            // A dependency nobody has is refused later, as a gap in the history.
            if last.is_some_and(|last| start <= last) {
                return Some(format!(
                    "change {} numbers its operations from {start}, not after a change it depends on",
                    change.hash()
                ));
            }
        }
        let known = stored_frontier(base, change, &pushed);
        let actor = change.actor_id();
        let beside = |meta: &automerge::ChangeMetadata<'_>| meta.actor.as_ref() == actor;
        // The stored changes outside its history; with no stored dependency, all of them.
        if base.get_changes_meta(&known).iter().any(beside) {
            return Some(format!("change {} was written beside its own actor's earlier changes", change.hash()));
        }
        // Its actor's other pushed changes: the earlier ones in its history.
        for other in new.iter().filter(|o| o.actor_id() == actor && o.seq() < change.seq()) {
            if !in_pushed_history(change, other.hash(), &pushed) {
                return Some(format!("change {} was written beside its own actor's earlier changes", change.hash()));
            }
        }
    }
    None
}

/// The stored changes `change`'s history reaches first: its stored dependencies, and those of
/// the pushed changes it depends on.
fn stored_frontier(base: &Automerge, change: &Change, pushed: &HashMap<ChangeHash, &Change>) -> Vec<ChangeHash> {
    let (mut frontier, mut seen, mut walk) = (Vec::new(), HashSet::new(), vec![change]);
    while let Some(next) = walk.pop() {
        for dep in next.deps() {
            if !seen.insert(*dep) {
                continue;
            }
            match pushed.get(dep) {
                Some(pushed) => walk.push(pushed),
                None if base.get_change_meta_by_hash(dep).is_some() => frontier.push(*dep),
                None => {}
            }
        }
    }
    frontier
}

/// Whether `ancestor` is in `change`'s history within the push.
fn in_pushed_history(change: &Change, ancestor: ChangeHash, pushed: &HashMap<ChangeHash, &Change>) -> bool {
    let (mut seen, mut walk) = (HashSet::new(), vec![change]);
    while let Some(next) = walk.pop() {
        for dep in next.deps() {
            if *dep == ancestor {
                return true;
            }
            if seen.insert(*dep) {
                if let Some(pushed) = pushed.get(dep) {
                    walk.push(pushed);
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT, ReadDoc};

    use super::*;

    fn edit(doc: &mut Automerge, key: &str) -> Change {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).expect("put");
        let hash = tx.commit().0.expect("a change");
        doc.get_change_by_hash(&hash).expect("change").clone()
    }

    /// `change` with its op numbers starting at `start`.
    fn renumbered(change: &Change, start: u64) -> Change {
        let mut expanded = change.decode();
        expanded.start_op = NonZeroU64::new(start).expect("counters start at 1");
        Change::from(expanded)
    }

    #[test]
    fn honest_changes_pass_alone_and_in_a_row() {
        let mut device = Automerge::new().with_actor(ActorId::random());
        let first = edit(&mut device, "a");
        let base = Automerge::new();
        assert_eq!(misnumbered(&base, std::slice::from_ref(&first)), None);
        let second = edit(&mut device, "b");
        let third = edit(&mut device, "c");
        assert_eq!(misnumbered(&base, &[first.clone(), second.clone(), third.clone()]), None);
        let mut server = Automerge::new();
        server.apply_changes([first, second.clone()]).expect("apply");
        // Another actor's change on what the server has.
        let mut other = server.fork().with_actor(ActorId::random());
        let theirs = edit(&mut other, "d");
        assert_eq!(misnumbered(&server, &[third, theirs]), None);
    }

    #[test]
    fn a_change_numbered_into_what_it_depends_on_is_refused() {
        let mut device = Automerge::new().with_actor(ActorId::random());
        let mut server = Automerge::new();
        server.apply_changes([edit(&mut device, "a"), edit(&mut device, "b")]).expect("apply");
        let next = edit(&mut device, "c");
        let forged = renumbered(&next, 1);
        let why = misnumbered(&server, &[forged]).expect("refused");
        assert!(why.contains("not after a change it depends on"), "{why}");
    }

    #[test]
    fn a_change_beside_its_actors_earlier_changes_is_refused() {
        let actor = ActorId::random();
        let mut device = Automerge::new().with_actor(actor.clone());
        let first = edit(&mut device, "a");
        let mut server = Automerge::new();
        server.apply_changes([first.clone()]).expect("apply");
        // The same actor writing on the empty document again, numbered past the first change
        // but without it: seq 2, no dependency.
        let mut expanded = edit(&mut Automerge::new().with_actor(actor.clone()), "b").decode();
        expanded.seq = 2;
        expanded.start_op = NonZeroU64::new(first.max_op() + 1).expect("nonzero");
        let beside = Change::from(expanded);
        let why = misnumbered(&server, std::slice::from_ref(&beside)).expect("refused");
        assert!(why.contains("beside its own actor's earlier changes"), "{why}");
        // Both in one push: the later one does not have the earlier.
        let why = misnumbered(&Automerge::new(), &[first, beside]).expect("refused");
        assert!(why.contains("beside its own actor's earlier changes"), "{why}");
    }
}
