//! The customer's records (docs/adr/0012): messages and the rating from the tracking page.
//! Only the server writes them, with its customer actor; a device that touches them is undone
//! (server/src/rules), so creating their containers on first use races nobody.

use std::collections::HashMap;

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc, Value, hydrate};

use super::{Fields, ModelError, key, put_all, root};
use crate::model::CUSTOMER_AUTHOR;
use crate::time::Millis;

/// Appends a message from the customer (the server's customer writes only; the caller checks
/// [`crate::workflow::check_customer_message`] first).
pub fn append_customer_message(tx: &mut Transaction<'_>, id: &str, text: &str, at: Millis) -> Result<(), ModelError> {
    let list = match tx.get(ROOT, key::CUSTOMER_MESSAGES)? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => tx.put_object(ROOT, key::CUSTOMER_MESSAGES, ObjType::List)?,
    };
    let index = tx.length(&list);
    let record: HashMap<&str, hydrate::Value> =
        HashMap::from([("id", id.into()), ("at", at.into()), ("by", CUSTOMER_AUTHOR.into()), ("text", text.into())]);
    tx.batch_create_object(&list, index, &record.into(), true)?;
    Ok(())
}

/// Records the customer's own rating (the server's customer writes only; the caller checks
/// [`crate::workflow::check_customer_rating`] first).
pub fn put_customer_feedback(
    tx: &mut Transaction<'_>,
    rating: u8,
    comment: &str,
    at: Millis,
) -> Result<(), ModelError> {
    let obj = tx.put_object(ROOT, key::CUSTOMER_FEEDBACK, ObjType::Map)?;
    put_all(
        tx,
        &obj,
        [
            ("rating", u64::from(rating).into()),
            ("comment", comment.into()),
            ("at", at.into()),
            ("by", CUSTOMER_AUTHOR.into()),
        ],
    )
}

/// Whether the customer has rated the visit.
pub fn has_customer_feedback(doc: &Automerge) -> bool {
    root(doc).object(key::CUSTOMER_FEEDBACK, ObjType::Map).is_some()
}

/// The customer's own rating of the visit, once given.
pub fn customer_rating(doc: &Automerge) -> Option<u8> {
    let obj = root(doc).object(key::CUSTOMER_FEEDBACK, ObjType::Map)?;
    super::At { doc, obj }.u64("rating").and_then(|n| u8::try_from(n).ok())
}

/// How many messages the customer has left.
pub fn customer_message_count(doc: &Automerge) -> usize {
    root(doc).object(key::CUSTOMER_MESSAGES, ObjType::List).map_or(0, |list| doc.length(&list))
}
