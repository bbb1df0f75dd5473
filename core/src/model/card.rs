//! The customer card a ticket carries (docs/adr/0018): a read-only snapshot of the customer
//! record and the last few tickets at the ticket's site, written by the server when the ticket
//! is created for a customer record, so the engineer's device has it offline with the ticket.

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// How many earlier tickets at the site a card lists at most.
pub const CARD_RECENT_TICKETS: usize = 5;
/// How many contacts a card lists at most.
pub const CARD_CONTACTS: usize = 5;

/// A person to talk to at the customer.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "CustomerContact"))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// What they are ("site manager", "IT", ...).
    pub role: String,
}

/// The service contract: its level and when it is valid.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "CustomerContract"))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contract {
    /// The contract's level ("24x7", "business hours", ...).
    pub level: String,
    /// First valid day, `YYYY-MM-DD` (empty: no start).
    pub valid_from: String,
    /// Last valid day, `YYYY-MM-DD` (empty: open-ended).
    pub valid_until: String,
}

/// One of the customer's sites (where work happens).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerSite {
    /// Its id within the customer record.
    pub id: String,
    /// A short name ("plant 2").
    pub label: String,
    /// Street address.
    pub address: String,
}

/// An earlier ticket at the same site, as the card lists it.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecentTicket {
    /// Ticket id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Its status when the card was written (`Status::as_str`).
    pub status: String,
    /// Ticket type.
    pub ticket_type: String,
    /// When it was created (UTC ms), if known.
    pub created_at: Option<Millis>,
}

/// What the engineer's device is told about the customer, read-only.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerCard {
    /// The customer record's id.
    pub customer_id: String,
    /// Name.
    pub name: String,
    /// Service tier.
    pub tier: String,
    /// The service contract, if any.
    pub contract: Option<Contract>,
    /// Contacts, at most [`CARD_CONTACTS`].
    pub contacts: Vec<Contact>,
    /// The ticket's site.
    pub site: Option<CustomerSite>,
    /// Earlier tickets at that site, newest first, at most [`CARD_RECENT_TICKETS`].
    pub recent_tickets: Vec<RecentTicket>,
    /// When the server wrote the card (UTC ms): the figures are as of then.
    pub as_of: Millis,
}
