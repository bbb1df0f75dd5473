//! The loaded ticket documents: least recently used evicted first, within a count and a memory
//! budget, each with what a local action needs to know of it beforehand when that is known.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ReadDoc};

use crate::model::TicketSummary;
use crate::workflow::Derived;

/// Loaded documents, least recently used evicted first, each with what a local action needs
/// to know of it beforehand when that is known.
pub(super) struct DocCache {
    capacity: usize,
    budget_bytes: usize,
    tick: u64,
    docs: HashMap<String, Cached>,
}

struct Cached {
    document: Automerge,
    used: u64,
    /// What was known of the document at these heads: any edit or merge moves the heads, so a
    /// stale entry is never used.
    known: Option<(Vec<ChangeHash>, Known)>,
}

/// What a local action needs to know of a document beforehand: the fold of its history (once
/// an action has made it) and its index row as stored.
#[derive(Clone)]
pub(super) struct Known {
    pub(super) derived: Option<Derived>,
    pub(super) summary: TicketSummary,
}

impl DocCache {
    pub(super) fn new(capacity: usize, budget_bytes: usize) -> Self {
        DocCache { capacity: capacity.max(1), budget_bytes, tick: 0, docs: HashMap::new() }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.docs.contains_key(id)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Automerge> {
        self.tick += 1;
        let tick = self.tick;
        self.docs.get_mut(id).map(|cached| {
            cached.used = tick;
            &mut cached.document
        })
    }

    /// What is known of the cached document, if it was recorded at its current heads.
    pub(super) fn known(&self, id: &str) -> Option<Known> {
        let cached = self.docs.get(id)?;
        let (heads, known) = cached.known.as_ref()?;
        (*heads == cached.document.get_heads()).then(|| known.clone())
    }

    /// Records what is known of the cached document at its current heads.
    pub(super) fn remember(&mut self, id: &str, known: Known) {
        if let Some(cached) = self.docs.get_mut(id) {
            cached.known = Some((cached.document.get_heads(), known));
        }
    }

    /// Caches `document`, then evicts the least recently used others until the cache is
    /// within its count and its memory budget (documents grow as actions land on them, so
    /// the sizes are taken now).
    pub(super) fn insert(&mut self, id: String, document: Automerge) {
        self.tick += 1;
        self.docs.insert(id.clone(), Cached { document, used: self.tick, known: None });
        let mut bytes = self.estimated_bytes();
        while self.docs.len() > self.capacity || (bytes > self.budget_bytes && self.docs.len() > 1) {
            let oldest = self
                .docs
                .iter()
                .filter(|(cached_id, _)| **cached_id != id)
                .min_by_key(|(_, cached)| cached.used)
                .map(|(cached_id, _)| cached_id.clone());
            let Some(evicted) = oldest.and_then(|oldest| self.docs.remove(&oldest)) else { break };
            bytes = bytes.saturating_sub(estimated_document_bytes(&evicted.document));
        }
    }

    /// The estimated memory of the loaded documents.
    pub(super) fn estimated_bytes(&self) -> usize {
        self.docs.values().map(|cached| estimated_document_bytes(&cached.document)).sum()
    }

    /// How many documents are loaded, and their estimated memory.
    #[cfg(test)]
    pub(super) fn footprint(&self) -> (usize, usize) {
        (self.docs.len(), self.estimated_bytes())
    }

    pub(super) fn remove(&mut self, id: &str) {
        self.docs.remove(id);
    }

    /// Forgets every document (the client closed: their memory goes now, not at the last drop).
    pub(super) fn clear(&mut self) {
        self.docs.clear();
    }
}

/// The memory a loaded document takes, estimated from its operation count: measured with
/// Automerge 0.12 (RSS of 200 loaded copies), a ticket takes ≈ 16 KB plus ≈ 57 bytes per
/// operation (36 operations: 18 KB; 6,030 operations, 1,000 changes: 361 KB).
fn estimated_document_bytes(document: &Automerge) -> usize {
    let ops = usize::try_from(document.stats().num_ops).unwrap_or(usize::MAX);
    (16usize << 10).saturating_add(ops.saturating_mul(64))
}
