//! The customer reference and card (docs/adr/0018). The reference (`customer.id`,
//! `customer.site_id`) sits beside the snapshot the device shows; the card is one string of
//! JSON under `customer_card`, written once with the ticket by the server and never edited: a
//! read-only snapshot has no concurrent edits to merge, so one scalar is its simplest honest
//! form. Engineers cannot write either (neither is an engineer-owned path, server/src/rules).

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjId, ROOT};

use super::{Fields, ModelError, key, root};
use crate::model::{Customer, CustomerCard};

/// Writes the record reference into the customer map (only when there is one, so documents of
/// free-text customers stay as they were) and the card, if any.
pub(super) fn put_customer_reference(
    tx: &mut Transaction<'_>,
    customer_map: &ObjId,
    customer: &Customer,
    card: Option<&CustomerCard>,
) -> Result<(), ModelError> {
    if !customer.id.is_empty() {
        tx.put(customer_map, "id", customer.id.as_str())?;
        tx.put(customer_map, "site_id", customer.site_id.as_str())?;
    }
    if let Some(card) = card {
        let json = serde_json::to_string(card).map_err(|_| ModelError::NotATicket("customer card"))?;
        tx.put(ROOT, key::CUSTOMER_CARD, json)?;
    }
    Ok(())
}

/// The customer card, if the ticket carries one that reads (anything else reads as none).
pub fn read_customer_card(doc: &Automerge) -> Option<CustomerCard> {
    root(doc).str(key::CUSTOMER_CARD).and_then(|json| serde_json::from_str(&json).ok())
}
