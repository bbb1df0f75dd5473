//! The customers part of the storage conformance suite.

use crate::storage::customers::*;
use crate::storage::{Storage, StorageError};

/// The customer checks of the conformance suite.
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
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
