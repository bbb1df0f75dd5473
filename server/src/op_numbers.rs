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
//! An actor's changes are also numbered 1, 2, 3, … (their `seq`), which Automerge asserts as it
//! applies one: a gap, a repeat or a first change numbered 3 panicked the sync (test
//! `attack_changes_numbered_out_of_their_actors_sequence_are_refused`).
//!
//! Once applied, each must also read back from the document as it was written
//! ([`not_as_written`]).
//!
//! So each pushed change must:
//! - start after the last counter of every change it depends on (pushed or stored);
//! - have every stored change of its own actor in its history, so that its counters come after
//!   them too, and every pushed one numbered before it or the same. An honest device never
//!   writes beside its own earlier changes: it has them; and
//! - be numbered next after its actor's latest change in its history (1 when there is none).

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};

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
        // Its actor's other pushed changes numbered up to its own: in its history (two
        // numbered the same cannot both be).
        for other in
            new.iter().filter(|o| o.actor_id() == actor && o.seq() <= change.seq() && o.hash() != change.hash())
        {
            if !in_pushed_history(change, other.hash(), &pushed) {
                return Some(format!("change {} was written beside its own actor's earlier changes", change.hash()));
            }
        }
        if let Some(why) = out_of_sequence(base, change, &pushed) {
            return Some(why);
        }
    }
    None
}

/// Why one of `new`, applied to `document`, does not read back from it as it was written, if
/// one does not. Automerge applies some ops no transaction of its own writes (a deletion
/// marked as an insertion, seen by `forged::forged_changes_that_pass_leave_a_document_that_is_still_served`)
/// and then rebuilds the change differently whenever it is asked for it: a release build sends
/// devices a change under another hash than the one stored and depended on, a debug build
/// panics. Either way the ticket could no longer be sent whole. Run after the push is applied
/// to a document that is dropped if it fails.
pub(crate) fn not_as_written(document: &Automerge, new: &[Change]) -> Option<String> {
    new.iter().find_map(|change| {
        let again =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| document.get_change_by_hash(&change.hash())));
        match again {
            Ok(Some(again)) if again.hash() == change.hash() => None,
            _ => Some(format!("change {} holds operations Automerge does not write", change.hash())),
        }
    })
}

/// Why `change`'s sequence number is not the next of its actor's, if it is not. Automerge
/// numbers an actor's changes 1, 2, 3, … and asserts it when it applies one (a gap, a repeat, a
/// first change numbered 3 panicked the sync). Its actor's latest change is found by walking
/// its history back to the nearest of its actor's changes on every path: each of them has its
/// actor's earlier ones in its own history (an actor's changes follow one another; the
/// "beside" rule holds the stored ones to it).
fn out_of_sequence(base: &Automerge, change: &Change, pushed: &HashMap<ChangeHash, &Change>) -> Option<String> {
    let actor = change.actor_id();
    if change.author().is_some() && change.seq() != 1 {
        return Some(format!("change {} names an author but is not first in its actor's sequence", change.hash()));
    }
    let (mut latest, mut seen, mut walk) = (0, HashSet::new(), change.deps().to_vec());
    while let Some(hash) = walk.pop() {
        if !seen.insert(hash) {
            continue;
        }
        let (of_actor, seq, deps) = match pushed.get(&hash) {
            Some(pushed) => (pushed.actor_id() == actor, pushed.seq(), pushed.deps().to_vec()),
            None => match base.get_change_meta_by_hash(&hash) {
                Some(meta) => (meta.actor.as_ref() == actor, meta.seq, meta.deps),
                // A dependency nobody has is refused later, as a gap in the history.
                None => continue,
            },
        };
        if of_actor {
            latest = latest.max(seq);
        } else {
            walk.extend(deps);
        }
    }
    let next = latest + 1;
    (change.seq() != next).then(|| {
        format!("change {} is number {} in its actor's sequence, where {next} comes next", change.hash(), change.seq())
    })
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

    /// `change` numbered `seq` in its actor's sequence.
    fn resequenced(change: &Change, seq: u64) -> Change {
        let mut expanded = change.decode();
        expanded.seq = seq;
        Change::from(expanded)
    }

    #[test]
    fn a_change_out_of_its_actors_sequence_is_refused() {
        let mut device = Automerge::new().with_actor(ActorId::random());
        let first = edit(&mut device, "a");
        let second = edit(&mut device, "b");
        let mut server = Automerge::new();
        server.apply_changes([first.clone()]).expect("apply");
        for (what, forged) in [
            ("a gap", resequenced(&second, 4)),
            ("a repeat", resequenced(&second, 1)),
            ("a first change numbered 3", resequenced(&first, 3)),
        ] {
            let base = if what.starts_with("a first") { Automerge::new() } else { server.clone() };
            let why = misnumbered(&base, std::slice::from_ref(&forged)).unwrap_or_else(|| panic!("{what} passed"));
            assert!(why.contains("sequence"), "{what}: {why}");
            // What the check keeps from Automerge: applying it does not go through.
            let applied = std::panic::catch_unwind(move || base.clone().apply_changes([forged]).is_ok());
            assert!(!applied.unwrap_or(false), "{what} would have been applied");
        }
        // Two changes numbered the same, neither having the other: one is refused.
        let mut other = server.fork().with_actor(device.get_actor().clone());
        let twin = resequenced(&edit(&mut other, "c"), second.seq());
        let why = misnumbered(&server, &[second.clone(), twin]).expect("refused");
        assert!(why.contains("beside its own actor's earlier changes"), "{why}");
        assert_eq!(misnumbered(&server, std::slice::from_ref(&second)), None, "the honest one passes");
    }
}

#[cfg(test)]
mod forged;
