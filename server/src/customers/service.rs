//! Customer records on storage, for the REST API, the console and ticket creation. Blocking
//! functions on [`AppState`]; what a record may hold and what a ticket gets from it is decided
//! in [`super`].

use fieldsync_core::model::{Customer, CustomerCard};
use fieldsync_core::time::Millis;
use serde::Serialize;

use super::{CustomerError, Figures, Record, RecordInput, card, figures, needle, snapshot};
use crate::storage::IndexRow;
use crate::storage::customers::StoredCustomer;
use crate::{AppError, AppState, Caller};

/// Most records one search returns.
pub const SEARCH_LIMIT: usize = 100;
/// Most tickets a customer page lists and counts.
pub const HISTORY_LIMIT: usize = 500;

/// A record with its version and who last wrote it, as served.
#[derive(Clone, Debug, Serialize)]
pub struct Versioned {
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// Its version (pass it back to edit).
    pub version: i64,
    /// When it was created (UTC ms).
    pub created_at: Millis,
    /// When it was last written (UTC ms).
    pub updated_at: Millis,
    /// Who last wrote it.
    pub updated_by: String,
}

/// A customer's page: the record, their tickets (newest first) and the figures over them.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// The record.
    pub customer: Versioned,
    /// Their tickets, newest created first, at most [`HISTORY_LIMIT`].
    #[serde(skip)]
    pub tickets: Vec<IndexRow>,
    /// The figures over those tickets.
    pub figures: Figures,
}

fn read(stored: StoredCustomer) -> Result<Versioned, AppError> {
    let record: Record = serde_json::from_str(&stored.json)
        .map_err(|e| AppError::Internal(format!("stored customer {} does not read: {e}", stored.id)))?;
    Ok(Versioned {
        record,
        version: stored.version,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        updated_by: stored.updated_by,
    })
}

fn stored(record: &Record, by: &str, at: Millis) -> Result<StoredCustomer, AppError> {
    Ok(StoredCustomer {
        id: record.id.clone(),
        name: record.name.clone(),
        tier: record.tier.clone(),
        json: serde_json::to_string(record).map_err(|e| AppError::Internal(e.to_string()))?,
        search_text: record.search_text(),
        version: 1,
        created_at: at,
        updated_at: at,
        updated_by: by.to_owned(),
    })
}

/// Creates a record (dispatchers and admins); returns it as stored.
pub fn create(state: &AppState, caller: &Caller, input: RecordInput) -> Result<Versioned, AppError> {
    caller.require_dispatcher()?;
    let mut record = input.record.normalized()?;
    if record.id.is_empty() {
        record.id = fieldsync_core::model::ids::new_id();
    }
    let at = state.now();
    state.storage().create_customer(&stored(&record, &caller.0.user_id, at)?)?;
    get(state, &record.id)
}

/// Replaces a record read at `input.version` (dispatchers and admins): a stale version is a
/// conflict, so an edit never overwrites one it did not see.
pub fn update(state: &AppState, caller: &Caller, id: &str, input: RecordInput) -> Result<Versioned, AppError> {
    caller.require_dispatcher()?;
    let version = input.version.ok_or_else(|| {
        AppError::from(CustomerError::Invalid {
            field: "version".into(),
            reason: "an edit names the version it was read at".into(),
        })
    })?;
    let record = Record { id: id.to_owned(), ..input.record }.normalized()?;
    let existing = state.storage().customer(id)?.ok_or_else(|| CustomerError::UnknownCustomer(id.to_owned()))?;
    let mut row = stored(&record, &caller.0.user_id, state.now())?;
    row.created_at = existing.created_at;
    match state.storage().update_customer(&row, version) {
        Ok(_) => get(state, id),
        Err(crate::storage::StorageError::VersionConflict(_)) => Err(AppError::Conflict(format!(
            "customer {id} was changed since version {version} (now {}); reload and edit again",
            existing.version
        ))),
        Err(crate::storage::StorageError::NotFound(_)) => Err(CustomerError::UnknownCustomer(id.to_owned()).into()),
        Err(e) => Err(e.into()),
    }
}

/// A record by id.
pub fn get(state: &AppState, id: &str) -> Result<Versioned, AppError> {
    let stored = state.storage().customer(id)?.ok_or_else(|| CustomerError::UnknownCustomer(id.to_owned()))?;
    read(stored)
}

/// The records whose name, phones, contacts or site addresses contain `query`, by name.
pub fn search(state: &AppState, query: &str) -> Result<Vec<Versioned>, AppError> {
    if query.chars().count() > super::MAX_NAME_CHARS {
        return Err(CustomerError::TooLong { field: "q".into(), max: super::MAX_NAME_CHARS }.into());
    }
    state.storage().search_customers(&needle(query), SEARCH_LIMIT)?.into_iter().map(read).collect()
}

/// A customer's page: the record, their tickets and figures at `now`.
pub fn page(state: &AppState, id: &str, now: Millis) -> Result<Page, AppError> {
    // A page asked for by its address: no such customer is a 404, like any other page. (A
    // ticket or an edit naming one is a bad request: `unknown_customer`.)
    let customer = get(state, id).map_err(|e| match e {
        AppError::UnknownCustomer(message) => AppError::NotFound(message),
        other => other,
    })?;
    let tickets = state.storage().customer_tickets(id, None, HISTORY_LIMIT)?;
    let figures = figures(&tickets, now);
    Ok(Page { customer, tickets, figures })
}

/// What a new ticket for a customer record carries: the snapshot (name, phone, the site's
/// address, the record's tier — which the SLA policy then applies) and the card for the device.
/// `None` when the ticket names no record (free text, as before). Blocking.
pub fn for_new_ticket(
    state: &AppState,
    customer: &Customer,
    at: Millis,
) -> Result<Option<(Customer, CustomerCard)>, AppError> {
    if customer.id.is_empty() {
        if !customer.site_id.is_empty() {
            return Err(CustomerError::Invalid {
                field: "customer.site_id".into(),
                reason: "a site is named only with a customer id".into(),
            }
            .into());
        }
        return Ok(None);
    }
    if !super::is_id(&customer.id) {
        return Err(CustomerError::UnknownCustomer(customer.id.clone()).into());
    }
    let record = get(state, &customer.id)?.record;
    let site = record.site(&customer.site_id)?;
    let earlier =
        state.storage().customer_tickets(&record.id, site.map(|s| s.id.as_str()), super::CARD_RECENT_TICKETS)?;
    Ok(Some((snapshot(&record, site), card(&record, site, &earlier, at))))
}
