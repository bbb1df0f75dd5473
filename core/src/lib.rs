//! fieldsync-core: everything a field device needs to work on tickets offline.
//!
//! - [`model`]: the ticket document (one Automerge document per ticket) and its typed view.
//! - [`workflow`]: the status state machine, pure and without I/O.
//! - [`store`]: the durable local store (SQLite): chunks, index table, migrations.
//! - [`protocol`]: the sync wire format shared with the server.
//! - [`actions`]: every user action as data, checked and applied by one pure function.
//! - [`sync`]: the device's sync engine (background loop, status, uploads), with all its I/O
//!   behind one transport trait ([`sync::HttpTransport`]; reqwest by default, feature
//!   `reqwest-transport`; the app's own client on phones).
//! - [`report`]: the service report PDF of a ticket at given heads (pure; feature `report`).
//! - [`media`]: photos (sniff, orient, strip metadata, resize, JPEG + thumbnail) and signatures (PNG).
//! - [`logging`]: the library's `tracing` events handed to a sink the app installs.
//! - [`client`]: the facade apps and bindings use: open, act, query, subscribe; and the device
//!   half of the sync protocol without I/O ([`client::Exchange`]).

// The Kotlin/Swift face of the core's own types (Command and what it carries), derived here
// instead of mirrored in the FFI crate (docs/adr/0032).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod actions;
pub mod client;
pub mod error;
pub mod logging;
pub mod media;
pub mod model;
pub mod protocol;
#[cfg(feature = "report")]
pub mod report;
pub mod store;
pub mod sync;
pub mod time;
pub mod workflow;

pub use client::{Client, OpenOptions, QueryUpdate, Subscription};
pub use error::Error;
pub use model::{Identity, Location, NewTicket, Ticket, TicketQuery, TicketSort, TicketSummary};
pub use store::Durability;
pub use workflow::{Role, Status};
