//! The service reports' per-ticket facts, kept beside the index (docs/adr/0028): each row is
//! one ticket's `console::reports::Facts` as JSON, folded from its document at the ticket's
//! `changed_seq`. The reports page reads them with the index rows in one query and folds only
//! the tickets whose facts are missing or older than their last change, so a page view no
//! longer loads every document. A cache: losing it costs one fold per ticket, never a figure.

use fieldsync_core::time::Millis;

use super::StorageError;

/// A ticket created in the range, with its kept facts if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactsRow {
    /// The ticket.
    pub ticket_id: String,
    /// Its `changed_seq` now.
    pub changed_seq: u64,
    /// The `changed_seq` its kept facts were folded at, and the facts (JSON); `None` when none
    /// were kept.
    pub kept: Option<(u64, String)>,
}

/// The kept facts; part of every [`super::Storage`].
pub trait ReportFactsStorage {
    /// The tickets created in `from..to` (UTC ms), and those whose creation time the index
    /// does not know, with their kept facts.
    fn report_facts(&self, from: Millis, to: Millis) -> Result<Vec<FactsRow>, StorageError>;
    /// Keeps `(ticket, changed_seq, facts JSON)`, replacing older ones.
    fn keep_report_facts(&self, facts: &[(String, u64, String)]) -> Result<(), StorageError>;
}

/// The read, PostgreSQL placeholders (`$1` from, `$2` to).
pub(crate) const REPORT_FACTS_SQL: &str = "SELECT t.id, t.changed_seq, f.seq, f.facts
     FROM tickets t LEFT JOIN report_facts f ON f.ticket_id = t.id
     WHERE (t.created_at >= $1 AND t.created_at < $2) OR t.created_at IS NULL";

/// The upsert, PostgreSQL placeholders; a row already folded at a later sequence stays (two
/// page views racing keep the newer fold).
pub(crate) const KEEP_REPORT_FACTS_SQL: &str = "INSERT INTO report_facts (ticket_id, seq, facts) VALUES ($1, $2, $3)
     ON CONFLICT (ticket_id) DO UPDATE SET seq = excluded.seq, facts = excluded.facts
     WHERE report_facts.seq <= excluded.seq";
