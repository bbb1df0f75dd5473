//! The core's error type: rich, for logs and for the boundaries (FFI, HTTP) that map it to
//! their own small public errors in one place each.

use crate::model::doc::ModelError;
use crate::store::StoreError;
use crate::workflow::Refusal;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The workflow refuses the action ("cannot check in: ticket is not accepted; accept
    /// first").
    #[error("{}", .0.explain())]
    Refused(#[from] Refusal),
    /// An argument is out of range or empty; nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No ticket with this id in the store.
    #[error("ticket {0} not found")]
    NotFound(String),
    /// The ticket's stored document cannot be loaded; it is set aside, the others work.
    #[error("ticket {id} is set aside: {reason}")]
    Quarantined {
        /// The ticket.
        id: String,
        /// Why.
        reason: String,
    },
    /// The local store failed (or another client of this process has it open:
    /// [`StoreError::InUse`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client was closed ([`crate::Client::close`]); open the store again to go on.
    #[error("this client is closed")]
    Closed,
    /// A document could not be edited or read as a ticket.
    #[error(transparent)]
    Document(#[from] ModelError),
    /// A photo or signature could not be processed.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// The service report could not be made (no usable font, unknown heads).
    #[cfg(feature = "report")]
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::Sqlite(e))
    }
}
