//! Storage of customer records (docs/adr/0018).
//!
//! A record is kept whole as JSON (contacts, sites and the contract are small lists read
//! together), beside the columns lists and search need: name, tier, and a lowercased search
//! text (name, phones, contacts, site addresses) matched by substring, which works for Chinese
//! as for Latin names. Edits are optimistic like ticket writes: the caller passes the version it
//! read and gets [`StorageError::VersionConflict`] if someone wrote in between, so nothing
//! anyone wrote is silently overwritten. The tickets of a customer are read from the ticket
//! index (`tickets.customer_id`, `site_id`), never from documents.

use fieldsync_core::time::Millis;

use super::{IndexRow, StorageError};

/// A customer record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCustomer {
    /// Its id.
    pub id: String,
    /// Name (for sorting lists).
    pub name: String,
    /// Service tier.
    pub tier: String,
    /// The whole record, JSON (`crate::customers::Customer`).
    pub json: String,
    /// Lowercased text searched by substring.
    pub search_text: String,
    /// 1 when created, one more per edit.
    pub version: i64,
    /// When it was created (UTC ms).
    pub created_at: Millis,
    /// When it was last written (UTC ms).
    pub updated_at: Millis,
    /// Who last wrote it.
    pub updated_by: String,
}

/// Customer records; part of every [`Storage`].
pub trait CustomerStorage {
    /// Stores a new record; [`StorageError::Duplicate`] if the id is taken.
    fn create_customer(&self, customer: &StoredCustomer) -> Result<(), StorageError>;
    /// Replaces a record written at `expected_version` (its version becomes one more);
    /// [`StorageError::NotFound`] when there is none, [`StorageError::VersionConflict`] when it
    /// was written since.
    fn update_customer(&self, customer: &StoredCustomer, expected_version: i64) -> Result<i64, StorageError>;
    /// A record by id.
    fn customer(&self, id: &str) -> Result<Option<StoredCustomer>, StorageError>;
    /// Records whose search text contains `needle` (already lowercased; empty: all), by name,
    /// at most `limit`.
    fn search_customers(&self, needle: &str, limit: usize) -> Result<Vec<StoredCustomer>, StorageError>;
    /// Index rows of the customer's tickets (only at `site_id` when given), newest created
    /// first, at most `limit`.
    fn customer_tickets(
        &self,
        customer_id: &str,
        site_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IndexRow>, StorageError>;
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
