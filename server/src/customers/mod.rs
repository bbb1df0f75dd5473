//! Customers as records (docs/adr/0018), pure: what a record may hold and how it reads
//! ([`Record`], [`RecordInput::validate`]), the text search matches, the snapshot and card a
//! ticket made for a record carries ([`snapshot`], [`card`]), and a customer's figures from the
//! ticket index ([`figures`]). Storage, the REST API and the console call these; none of them
//! decides anything about customers itself.

pub(crate) mod api;
mod figures;
pub(crate) mod service;

pub use fieldsync_core::model::CARD_RECENT_TICKETS;
use fieldsync_core::model::{CARD_CONTACTS, Contact, Contract, Customer, CustomerCard, CustomerSite, RecentTicket};
use fieldsync_core::time::Millis;
use serde::{Deserialize, Serialize};

use crate::storage::IndexRow;

pub use figures::{Figures, breached, figures};

/// Longest name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest tier, phone number, contract level, id.
pub const MAX_SHORT_CHARS: usize = 64;
/// Longest address, contact role, site label.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// Longest notes.
pub const MAX_NOTES_CHARS: usize = 4_000;
/// Most contacts of one customer.
pub const MAX_CONTACTS: usize = 50;
/// Most sites of one customer.
pub const MAX_SITES: usize = 200;

/// A customer record as stored and served.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// Name ("ACME", "上海张江科技有限公司").
    pub name: String,
    /// Service tier ("gold", "silver", "standard", ...): a ticket made for the customer takes
    /// it, and with it the SLA policy's rules for that tier.
    pub tier: String,
    /// The main phone number.
    pub phone: String,
    /// People to talk to.
    pub contacts: Vec<Contact>,
    /// Where work happens; tickets name one.
    pub sites: Vec<CustomerSite>,
    /// The service contract, if any.
    pub contract: Option<Contract>,
    /// Free notes for dispatchers (not sent to devices).
    pub notes: String,
}

/// What a dispatcher posts to create a record (`id` optional: one is made) or to edit one
/// (`version`: the version read, required for an edit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordInput {
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// For an edit: the version it was read at.
    pub version: Option<i64>,
}

/// Why a record or a reference to one was refused: the REST API's typed errors
/// (`crate::error::AppError::from`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// A field is longer than its limit, or a list has too many entries.
    #[error("{field} is too long (at most {max})")]
    TooLong {
        /// Which field.
        field: String,
        /// Its limit.
        max: usize,
    },
    /// A field's value is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which field.
        field: String,
        /// Why.
        reason: String,
    },
    /// No customer record with this id here.
    #[error("no customer {0:?}")]
    UnknownCustomer(String),
    /// The record has no such site.
    #[error("customer {customer:?} has no site {site:?}")]
    UnknownSite {
        /// The customer.
        customer: String,
        /// The site asked for.
        site: String,
    },
}

fn too_long(field: impl Into<String>, max: usize) -> CustomerError {
    CustomerError::TooLong { field: field.into(), max }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CustomerError {
    CustomerError::Invalid { field: field.into(), reason: reason.into() }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), CustomerError> {
    if text.chars().count() > max {
        return Err(too_long(field, max));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "control characters are not allowed"));
    }
    Ok(())
}

/// Whether `id` is a usable record or site id: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SHORT_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_day(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return false };
    let number = |s: &str, len: usize| {
        (s.len() == len && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten()
    };
    matches!((number(y, 4), number(m, 2), number(d, 2)), (Some(_), Some(1..=12), Some(1..=31)))
}

impl Record {
    /// The record trimmed and checked: a name, sizes within the limits, ids that are ids, site
    /// ids unique (a site without one gets `s1`, `s2`, ... — the first unused), contract days as
    /// `YYYY-MM-DD` in order, the tier lowercased.
    pub fn normalized(mut self) -> Result<Record, CustomerError> {
        self.name = self.name.trim().to_owned();
        self.tier = self.tier.trim().to_lowercase();
        self.phone = self.phone.trim().to_owned();
        self.notes = self.notes.trim().to_owned();
        if self.name.is_empty() {
            return Err(invalid("name", "a customer needs a name"));
        }
        check_text("name", &self.name, MAX_NAME_CHARS)?;
        check_text("tier", &self.tier, MAX_SHORT_CHARS)?;
        check_text("phone", &self.phone, MAX_SHORT_CHARS)?;
        check_text("notes", &self.notes, MAX_NOTES_CHARS)?;
        if !self.id.is_empty() && !is_id(&self.id) {
            return Err(invalid("id", "use 1 to 64 letters, digits, '-', '_' or '.'"));
        }
        if self.contacts.len() > MAX_CONTACTS {
            return Err(too_long("contacts", MAX_CONTACTS));
        }
        for (n, contact) in self.contacts.iter_mut().enumerate() {
            contact.name = contact.name.trim().to_owned();
            contact.phone = contact.phone.trim().to_owned();
            contact.role = contact.role.trim().to_owned();
            check_text(&format!("contacts[{n}].name"), &contact.name, MAX_NAME_CHARS)?;
            check_text(&format!("contacts[{n}].phone"), &contact.phone, MAX_SHORT_CHARS)?;
            check_text(&format!("contacts[{n}].role"), &contact.role, MAX_ADDRESS_CHARS)?;
        }
        self.contacts.retain(|c| !(c.name.is_empty() && c.phone.is_empty()));
        if self.sites.len() > MAX_SITES {
            return Err(too_long("sites", MAX_SITES));
        }
        for (n, site) in self.sites.iter_mut().enumerate() {
            site.id = site.id.trim().to_owned();
            site.label = site.label.trim().to_owned();
            site.address = site.address.trim().to_owned();
            if !site.id.is_empty() && !is_id(&site.id) {
                return Err(invalid(format!("sites[{n}].id"), "use 1 to 64 letters, digits, '-', '_' or '.'"));
            }
            check_text(&format!("sites[{n}].label"), &site.label, MAX_ADDRESS_CHARS)?;
            check_text(&format!("sites[{n}].address"), &site.address, MAX_ADDRESS_CHARS)?;
        }
        self.sites.retain(|s| !(s.id.is_empty() && s.label.is_empty() && s.address.is_empty()));
        let mut next = 1;
        for n in 0..self.sites.len() {
            if self.sites[n].id.is_empty() {
                while self.sites.iter().any(|s| s.id == format!("s{next}")) {
                    next += 1;
                }
                self.sites[n].id = format!("s{next}");
            }
            if self.sites[..n].iter().any(|s| s.id == self.sites[n].id) {
                return Err(invalid(format!("sites[{n}].id"), format!("site id {:?} is used twice", self.sites[n].id)));
            }
        }
        if let Some(contract) = &mut self.contract {
            contract.level = contract.level.trim().to_owned();
            contract.valid_from = contract.valid_from.trim().to_owned();
            contract.valid_until = contract.valid_until.trim().to_owned();
            check_text("contract.level", &contract.level, MAX_SHORT_CHARS)?;
            for (field, day) in
                [("contract.valid_from", &contract.valid_from), ("contract.valid_until", &contract.valid_until)]
            {
                if !day.is_empty() && !is_day(day) {
                    return Err(invalid(field, "write the day as YYYY-MM-DD"));
                }
            }
            if !contract.valid_from.is_empty()
                && !contract.valid_until.is_empty()
                && contract.valid_from > contract.valid_until
            {
                return Err(invalid("contract.valid_until", "the contract ends before it starts"));
            }
            if *contract == Contract::default() {
                self.contract = None;
            }
        }
        Ok(self)
    }

    /// The site a ticket names (`site_id`; empty: the first site, if any).
    pub fn site(&self, site_id: &str) -> Result<Option<&CustomerSite>, CustomerError> {
        if site_id.is_empty() {
            return Ok(self.sites.first());
        }
        self.sites
            .iter()
            .find(|s| s.id == site_id)
            .map(Some)
            .ok_or_else(|| CustomerError::UnknownSite { customer: self.id.clone(), site: site_id.to_owned() })
    }

    /// The lowercased text search matches: name, phones, contacts, sites.
    pub fn search_text(&self) -> String {
        let mut parts = vec![self.name.as_str(), self.phone.as_str(), self.tier.as_str(), self.id.as_str()];
        for c in &self.contacts {
            parts.extend([c.name.as_str(), c.phone.as_str(), c.role.as_str()]);
        }
        for s in &self.sites {
            parts.extend([s.label.as_str(), s.address.as_str()]);
        }
        parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("\n").to_lowercase()
    }

    /// The phone to call: the record's, else the first contact's that has one.
    pub fn phone_to_call(&self) -> &str {
        if !self.phone.is_empty() {
            return &self.phone;
        }
        self.contacts.iter().map(|c| c.phone.as_str()).find(|p| !p.is_empty()).unwrap_or("")
    }
}

/// What a search box's text matches: trimmed and lowercased, like [`Record::search_text`].
pub fn needle(query: &str) -> String {
    query.trim().to_lowercase()
}

/// The customer snapshot a new ticket for `record` at `site` carries: the record's name, phone
/// and tier, the site's address, and the reference to both.
pub fn snapshot(record: &Record, site: Option<&CustomerSite>) -> Customer {
    Customer {
        name: record.name.clone(),
        phone: record.phone_to_call().to_owned(),
        address: site.map(|s| s.address.clone()).unwrap_or_default(),
        tier: record.tier.clone(),
        id: record.id.clone(),
        site_id: site.map(|s| s.id.clone()).unwrap_or_default(),
    }
}

/// The card the engineer's device gets with the ticket: the record without the dispatchers'
/// notes, at most [`CARD_CONTACTS`] contacts, the ticket's site, and the last
/// [`CARD_RECENT_TICKETS`] tickets at that site (`earlier`, newest first), as of `now`.
pub fn card(record: &Record, site: Option<&CustomerSite>, earlier: &[IndexRow], now: Millis) -> CustomerCard {
    CustomerCard {
        customer_id: record.id.clone(),
        name: record.name.clone(),
        tier: record.tier.clone(),
        contract: record.contract.clone(),
        contacts: record.contacts.iter().take(CARD_CONTACTS).cloned().collect(),
        site: site.cloned(),
        recent_tickets: earlier
            .iter()
            .take(CARD_RECENT_TICKETS)
            .map(|row| RecentTicket {
                id: row.id.clone(),
                title: row.title.clone(),
                status: row.status.as_str().to_owned(),
                ticket_type: row.ticket_type.clone(),
                created_at: row.created_at,
            })
            .collect(),
        as_of: now,
    }
}

#[cfg(test)]
mod tests;
