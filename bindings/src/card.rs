//! The customer card a ticket carries (docs/adr/0018) as Kotlin and Swift see it: read-only,
//! written by the server when the ticket was made for a customer record.

use fieldsync_core::model as core_model;

/// A person to talk to at the customer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CustomerContact {
    /// Name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// What they are ("site manager", ...).
    pub role: String,
}

/// The customer's service contract.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CustomerContract {
    /// Its level ("7x24", ...).
    pub level: String,
    /// First valid day, `YYYY-MM-DD` (empty: no start).
    pub valid_from: String,
    /// Last valid day, `YYYY-MM-DD` (empty: open-ended).
    pub valid_until: String,
}

/// The customer's site the ticket is at.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CustomerSite {
    /// Its id in the customer record.
    pub id: String,
    /// A short name.
    pub label: String,
    /// Street address.
    pub address: String,
}

/// An earlier ticket at the same site.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RecentTicket {
    /// Ticket id (the ticket itself is usually not on this device).
    pub id: String,
    /// Title.
    pub title: String,
    /// Its status when the card was written.
    pub status: String,
    /// Ticket type.
    pub ticket_type: String,
    /// When it was created, if known.
    pub created_at: Option<i64>,
}

/// What the server told the device about the customer when the ticket was made.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CustomerCard {
    /// The customer record's id.
    pub customer_id: String,
    /// Name.
    pub name: String,
    /// Service tier.
    pub tier: String,
    /// The service contract, if any.
    pub contract: Option<CustomerContract>,
    /// Contacts.
    pub contacts: Vec<CustomerContact>,
    /// The ticket's site.
    pub site: Option<CustomerSite>,
    /// Earlier tickets at that site, newest first.
    pub recent_tickets: Vec<RecentTicket>,
    /// When the server wrote the card.
    pub as_of: i64,
}

impl From<core_model::CustomerCard> for CustomerCard {
    fn from(c: core_model::CustomerCard) -> Self {
        CustomerCard {
            customer_id: c.customer_id,
            name: c.name,
            tier: c.tier,
            contract: c.contract.map(|k| CustomerContract {
                level: k.level,
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            }),
            contacts: c
                .contacts
                .into_iter()
                .map(|p| CustomerContact { name: p.name, phone: p.phone, role: p.role })
                .collect(),
            site: c.site.map(|s| CustomerSite { id: s.id, label: s.label, address: s.address }),
            recent_tickets: c
                .recent_tickets
                .into_iter()
                .map(|t| RecentTicket {
                    id: t.id,
                    title: t.title,
                    status: t.status,
                    ticket_type: t.ticket_type,
                    created_at: t.created_at,
                })
                .collect(),
            as_of: c.as_of,
        }
    }
}
