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

use super::{IndexRow, Storage, StorageError};

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

fn record(id: &str, name: &str, search: &str) -> StoredCustomer {
    StoredCustomer {
        id: id.into(),
        name: name.into(),
        tier: "gold".into(),
        json: format!(r#"{{"name":"{name}"}}"#),
        search_text: search.into(),
        version: 1,
        created_at: 1_000,
        updated_at: 1_000,
        updated_by: "disp".into(),
    }
}

/// The customer checks of the conformance suite.
pub(crate) fn conformance(make: &dyn Fn() -> Box<dyn Storage>) {
    let s = make();
    let acme = record("c1", "ACME", "acme 555-0100 ada 1 main st");
    let zhang = record("c2", "张三科技", "张三科技 138 0000 李四 上海市浦东新区");
    s.create_customer(&acme).expect("create");
    s.create_customer(&zhang).expect("create chinese");
    assert!(matches!(s.create_customer(&acme), Err(StorageError::Duplicate(_))), "an id is taken once");
    assert_eq!(s.customer("c1").expect("read"), Some(acme.clone()));
    assert_eq!(s.customer("nope").expect("none"), None);
    let names = |needle: &str| -> Vec<String> {
        s.search_customers(needle, 10).expect("search").into_iter().map(|c| c.id).collect()
    };
    assert_eq!(names(""), ["c1", "c2"], "all, by name");
    assert_eq!(names("张三"), ["c2"], "a Chinese name by substring");
    assert_eq!(names("浦东"), ["c2"], "a site address");
    assert_eq!(names("555-01"), ["c1"], "a phone");
    assert!(names("50%").is_empty(), "LIKE wildcards are literal");
    assert!(names("_").is_empty(), "LIKE wildcards are literal");

    let edited = StoredCustomer { name: "ACME Ltd".into(), updated_at: 2_000, ..acme.clone() };
    assert_eq!(s.update_customer(&edited, 1).expect("edit"), 2);
    assert!(matches!(s.update_customer(&edited, 1), Err(StorageError::VersionConflict(_))), "a stale edit");
    let missing = StoredCustomer { id: "nope".into(), ..edited.clone() };
    assert!(matches!(s.update_customer(&missing, 1), Err(StorageError::NotFound(_))));
    let now = s.customer("c1").expect("read").expect("there");
    assert_eq!((now.name.as_str(), now.version, now.updated_at), ("ACME Ltd", 2, 2_000));
    assert!(s.customer_tickets("c1", None, 10).expect("no tickets yet").is_empty());
}
