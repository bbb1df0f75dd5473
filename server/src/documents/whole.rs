//! Whole tickets as stored, for a device that holds nothing of them (docs/adr/0030).
//!
//! A ticket's stored bytes (its newest snapshot and the change chunks after it) are what
//! `Automerge::load` reads: its whole history. A device that holds none of it can be sent
//! them as they are, with the heads the write recorded beside them, instead of the document
//! being loaded and saved again (a bootstrap of 10,000 tickets spent most of the server's time
//! in `save`'s compression). They are read a batch at a time, in the order the answer takes
//! them, so an answer cut by its byte budget reads little past the cut.

use std::collections::HashMap;

use super::batched;
use crate::AppError;
use crate::storage::{HashBytes, Storage, StoredTicket};

/// How many tickets one storage call reads.
const BATCH: usize = 64;

/// One ticket's whole history as stored, and what it covers.
pub(crate) struct Whole {
    /// The stored bytes: a snapshot and the change chunks after it.
    pub bytes: Vec<u8>,
    /// The heads of those bytes.
    pub heads: Vec<HashBytes>,
    /// The ticket's `changed_seq` at that version: the cursor that covers it.
    pub seq: u64,
}

/// Reads whole tickets in batches, in a given order.
pub(crate) struct WholeTickets<'a> {
    storage: &'a dyn Storage,
    /// The tickets expected to be asked for, in the order they will be.
    order: Vec<String>,
    /// Where the next batch starts in `order`.
    next: usize,
    /// The current batch, taken out as asked for.
    batch: HashMap<String, StoredTicket>,
}

impl<'a> WholeTickets<'a> {
    /// A reader of the tickets in `order`: they are asked for in that order (some may be
    /// skipped, none comes back).
    pub(crate) fn new(storage: &'a dyn Storage, order: Vec<String>) -> Self {
        WholeTickets { storage, order, next: 0, batch: HashMap::new() }
    }

    /// The ticket's whole history as stored; `None` when it is not one of `order` or does not
    /// exist (the caller loads it the usual way). Reads the batch that starts with it when it
    /// is not read yet.
    pub(crate) fn take(&mut self, ticket_id: &str) -> Result<Option<Whole>, AppError> {
        let stored = match self.batch.remove(ticket_id) {
            Some(stored) => stored,
            None => {
                let Some(at) = self.order[self.next..].iter().position(|id| id == ticket_id) else {
                    return Ok(None);
                };
                let start = self.next + at;
                let end = start.saturating_add(BATCH).min(self.order.len());
                // What the last batch held and was not asked for was skipped: asked for in order.
                self.batch = self.storage.load_tickets(&self.order[start..end])?.into_iter().collect();
                self.next = end;
                let Some(stored) = self.batch.remove(ticket_id) else { return Ok(None) };
                stored
            }
        };
        let heads = match stored.heads {
            Some(heads) => heads,
            // Written before heads were kept: loaded once for them, the bytes still go as stored.
            None => batched::load(&stored.bytes)
                .map_err(|e| AppError::Internal(format!("stored document of ticket {ticket_id} does not load: {e}")))?
                .get_heads()
                .iter()
                .map(|h| h.0)
                .collect(),
        };
        Ok(Some(Whole { bytes: stored.bytes, heads, seq: stored.seq }))
    }
}
