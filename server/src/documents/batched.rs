//! Building a document from changes in bounded batches (issue 13: bounded cost per request).
//!
//! Automerge 0.12 applies a batch of changes by importing all their ops at once, and keeps
//! about 600 bytes of bookkeeping per op of the batch until the batch is in (the op import and
//! a patch log that fills even when nobody reads it). `Automerge::load` of a stored ticket
//! (its snapshot and every change chunk written since) applies all those chunks as one batch:
//! 16 MB for a ticket at the 25,000-op cap stored as change chunks. Applied in batches of at
//! most [`BATCH_OPS`] ops, a load holds one batch's bookkeeping at a time (~1.2 MB; a single
//! larger change is its own batch). Each batch walks the document once, which is why a batch
//! is not a single change (2,000 one-change batches on a ticket at the cap take seconds).
//! docs/adr/0022.

use automerge::{Automerge, Change, Patch, PatchLog, ReadDoc};

use crate::limits::{self, CHUNK_DOCUMENT};

/// Most ops applied in one `apply_changes` call (a single change larger than this is one batch).
pub(crate) const BATCH_OPS: usize = 2_000;

/// Applies `changes` to `document` in batches of at most [`BATCH_OPS`] ops (or one change).
/// Changes whose dependencies come in a later batch wait in automerge's queue, as in one call.
pub(crate) fn apply(document: &mut Automerge, changes: impl IntoIterator<Item = Change>) -> Result<(), String> {
    let mut batch = Vec::new();
    let mut ops = 0usize;
    for change in changes {
        if !batch.is_empty() && ops.saturating_add(change.len()) > BATCH_OPS {
            document.apply_changes(std::mem::take(&mut batch)).map_err(|e| e.to_string())?;
            ops = 0;
        }
        ops = ops.saturating_add(change.len());
        batch.push(change);
    }
    if !batch.is_empty() {
        document.apply_changes(batch).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Applies one change (its own batch, as in [`apply`]) and returns what it did to `document`
/// as it was: for a change written on the document's heads, the same patches as
/// `diff(heads, [change])`, logged while applying instead of by a second walk of the whole
/// document (8% of the server's CPU per small sync, docs/adr/0026).
pub(crate) fn apply_one_logged(document: &mut Automerge, change: Change) -> Result<Vec<Patch>, String> {
    let mut log = PatchLog::active();
    document.apply_changes_log_patches([change], &mut log).map_err(|e| e.to_string())?;
    Ok(document.make_patches(&mut log))
}

/// What `Automerge::load(bytes)` makes of stored document bytes (an optional snapshot first,
/// then change chunks), built in bounded batches. Every dependency must be present.
pub(crate) fn load(bytes: &[u8]) -> Result<Automerge, String> {
    let chunks = limits::split_chunks(bytes).map_err(|e| e.to_string())?;
    let (mut document, rest) = match chunks.split_first() {
        Some(((CHUNK_DOCUMENT, snapshot), rest)) => (Automerge::load(snapshot).map_err(|e| e.to_string())?, rest),
        _ => (Automerge::new(), &chunks[..]),
    };
    let mut changes = Vec::with_capacity(rest.len());
    for (kind, chunk) in rest {
        if *kind == CHUNK_DOCUMENT {
            return Err("a snapshot after the first chunk".into());
        }
        changes.push(Change::try_from(*chunk).map_err(|e| e.to_string())?);
    }
    apply(&mut document, changes)?;
    if !document.get_missing_deps(&[]).is_empty() {
        return Err("changes depend on changes that are not stored".into());
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    /// A document's stored form: a snapshot of its first change, then `changes` change chunks
    /// of `ops` ops each (by two actors, interleaved).
    fn stored(changes: usize, ops: usize) -> (Automerge, Vec<u8>) {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "id", "t").expect("put");
        tx.commit();
        let mut bytes = doc.save();
        let mut other = doc.fork().with_actor(ActorId::random());
        for n in 0..changes {
            let writer = if n % 2 == 0 { &mut doc } else { &mut other };
            let before = writer.get_heads();
            let mut tx = writer.transaction();
            for k in 0..ops {
                tx.put(ROOT, format!("k{n}_{k}"), k as i64).expect("put");
            }
            tx.commit();
            for change in writer.get_changes(&before) {
                bytes.extend_from_slice(change.raw_bytes());
            }
        }
        doc.merge(&mut other).expect("merge");
        (doc, bytes)
    }

    #[test]
    fn a_batched_load_is_the_document_automerge_loads() {
        for (changes, ops) in [(0, 0), (3, 1), (7, 900), (2, 2_500)] {
            let (doc, bytes) = stored(changes, ops);
            let loaded = load(&bytes).expect("load");
            let reference = Automerge::load(&bytes).expect("reference");
            let mut heads = loaded.get_heads();
            heads.sort();
            let mut expected = doc.get_heads();
            expected.sort();
            assert_eq!(heads, expected, "{changes} x {ops}");
            assert_eq!(loaded.save(), reference.save(), "{changes} x {ops}");
        }
        assert_eq!(load(&[]).map(|d| d.get_heads().len()), Ok(0));
    }

    #[test]
    fn a_change_without_its_dependency_or_cut_bytes_do_not_load() {
        let (_, bytes) = stored(3, 10);
        let chunks = limits::split_chunks(&bytes).expect("split");
        // Without the snapshot, the changes depend on a change that is not there.
        let orphans: Vec<u8> = chunks[1..].iter().flat_map(|(_, c)| c.to_vec()).collect();
        assert!(load(&orphans).is_err());
        assert!(load(&bytes[..bytes.len() - 3]).is_err());
        assert!(load(b"not automerge").is_err());
    }
}
