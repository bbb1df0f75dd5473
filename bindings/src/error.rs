//! The one public error of the bindings, and the one place core errors are mapped to it.
//!
//! Messages are for people and carry no personal data and no internals: a refusal says what
//! was refused and why ("cannot accept: ticket is accepted"); a store failure says what kind.
//! The field is `reason`, not `message`: Kotlin exceptions already have a `message`.

use fieldsync_core::Error;
use fieldsync_core::media::MediaError;
use fieldsync_core::report::ReportError;
use fieldsync_core::store::StoreError;
use fieldsync_core::sync::SyncError;

/// Everything a fieldsync call can fail with.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// The workflow refuses the action; nothing was written.
    #[error("{reason}")]
    Refused {
        /// What was refused and why, e.g. "cannot accept: ticket is accepted".
        reason: String,
    },
    /// An argument is out of range or empty, or a photo or signature is unusable; nothing
    /// was written.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong with it.
        reason: String,
    },
    /// No ticket with this id on this device.
    #[error("ticket {id} not found")]
    NotFound {
        /// The ticket id asked for.
        id: String,
    },
    /// The ticket's stored copy cannot be read; it is set aside, the others work.
    #[error("ticket {id} is set aside")]
    SetAside {
        /// The ticket.
        id: String,
    },
    /// The app said the device is offline.
    #[error("offline")]
    Offline,
    /// The server refused this device's token: sign in again.
    #[error("the server refused this device's token")]
    Unauthorized,
    /// The token belongs to another user or device than this store: nothing was sent and
    /// nothing changed. Sign in as the store's user on this device (or open that user's store).
    #[error("{reason}")]
    WrongAccount {
        /// What to do, without naming anyone.
        reason: String,
    },
    /// The server could not be reached or the connection broke; retry later.
    #[error("network: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// The server's certificate is not trusted by this device (the platform's trust store and
    /// the app's network security config decide), or the TLS handshake failed. Retrying will
    /// not help until the server's certificate or the device's trust settings change.
    #[error("TLS: {reason}")]
    Tls {
        /// What the platform said.
        reason: String,
    },
    /// A bug in the library: a task failed unexpectedly. Reported, never a silent stop.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
    /// The server answered with an error or with something this version cannot read.
    #[error("server: {reason}")]
    Server {
        /// The server's message.
        reason: String,
    },
    /// The store key does not fit the store: a wrong key, no key for an encrypted store, or a
    /// key for a store not encrypted yet (`encrypt_existing_store`). The store was not changed.
    #[error("store key: {reason}")]
    WrongKey {
        /// Which of the three.
        reason: String,
    },
    /// The service report could not be made: no usable font (pass `font_path`, a CJK font for
    /// Chinese text), or the PDF writer failed. Nothing was written.
    #[error("service report: {reason}")]
    Report {
        /// What is wrong, without the ticket's text.
        reason: String,
    },
    /// The local store failed (disk full, a store of another user, a newer app's store).
    #[error("storage: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// Another client of this process has this store open: one client per store per process.
    /// Use that one, or close it first. The store was not touched.
    #[error("{reason}")]
    StoreInUse {
        /// What to do.
        reason: String,
    },
    /// This client was closed; open the store again to go on.
    #[error("the client is closed")]
    Closed,
    /// The call was cancelled by the app (a Swift task cancelled; Kotlin coroutines throw
    /// their own `CancellationException` instead). What it had done stays done; the rest is
    /// for the next call.
    #[error("cancelled")]
    Cancelled,
}

impl From<Error> for FieldsyncError {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused(refusal) => FieldsyncError::Refused { reason: refusal.explain() },
            Error::InvalidInput(reason) => FieldsyncError::InvalidInput { reason },
            Error::NotFound(id) => FieldsyncError::NotFound { id },
            Error::Quarantined { id, .. } => FieldsyncError::SetAside { id },
            Error::Store(e @ (StoreError::WrongKey | StoreError::KeyRequired | StoreError::NotEncrypted)) => {
                FieldsyncError::WrongKey { reason: e.to_string() }
            }
            Error::Store(StoreError::InvalidKey(reason)) => FieldsyncError::InvalidInput { reason },
            Error::Store(e @ StoreError::InUse) => {
                FieldsyncError::StoreInUse { reason: format!("{e} (this app has it open in another client)") }
            }
            Error::Closed => FieldsyncError::Closed,
            Error::Store(e) => FieldsyncError::Storage { reason: store_reason(&e) },
            Error::Document(_) => FieldsyncError::Storage { reason: "a ticket document cannot be read".into() },
            Error::Media(MediaError::Io(_)) => {
                FieldsyncError::InvalidInput { reason: "cannot read the photo file".into() }
            }
            Error::Media(e) => FieldsyncError::InvalidInput { reason: e.to_string() },
            Error::Report(e) => report_error(e),
        }
    }
}

fn report_error(e: ReportError) -> FieldsyncError {
    match e {
        ReportError::UnknownHead(_) => FieldsyncError::InvalidInput { reason: e.to_string() },
        ReportError::Document(_) => FieldsyncError::Storage { reason: "a ticket document cannot be read".into() },
        // The characters come from the customer's data: not in the message.
        ReportError::MissingGlyphs(_) => FieldsyncError::Report {
            reason: "the font cannot show some of the ticket's text: pass a font that covers it (a CJK font)".into(),
        },
        ReportError::NoFont(_) | ReportError::Pdf(_) => FieldsyncError::Report { reason: e.to_string() },
    }
}

impl From<StoreError> for FieldsyncError {
    fn from(e: StoreError) -> Self {
        Error::Store(e).into()
    }
}

fn store_reason(e: &StoreError) -> String {
    match e {
        // The SQLite code says what kind (disk full, read-only, locked); the SQL does not help.
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, _)) => format!("local database: {code}"),
        StoreError::Sqlite(_) => "local database failed".into(),
        StoreError::Io(e) => format!("file system: {}", e.kind()),
        other => other.to_string(),
    }
}

impl From<SyncError> for FieldsyncError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Offline => FieldsyncError::Offline,
            SyncError::Unauthorized => FieldsyncError::Unauthorized,
            SyncError::Network(reason) => FieldsyncError::Network { reason },
            SyncError::Tls(reason) => FieldsyncError::Tls { reason },
            SyncError::Internal(reason) => FieldsyncError::Internal { reason },
            SyncError::Server { status, message } => FieldsyncError::Server { reason: format!("{status}: {message}") },
            SyncError::Protocol(_) => FieldsyncError::Server { reason: "unreadable answer: update the app".into() },
            SyncError::Local(_) => FieldsyncError::Storage { reason: "the local store failed during sync".into() },
            SyncError::Closed => FieldsyncError::Closed,
            // The ids stay in the core's message (logs, CLI); people get what to do.
            SyncError::ForeignToken { .. } => FieldsyncError::WrongAccount {
                reason: "this sign-in belongs to another user or device than this phone's data; nothing was sent: \
                         sign in again as this phone's user"
                    .into(),
            },
        }
    }
}

/// What kind of failure a sync ended with, for an app to decide on without reading text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SyncFailureKind {
    /// The app said the device is offline.
    Offline,
    /// The server could not be reached; it retries by itself.
    Network,
    /// The server's certificate is not trusted: the server or the device's trust must change.
    Tls,
    /// The token was refused: sign in again.
    Unauthorized,
    /// The token belongs to another user or device than this store.
    WrongAccount,
    /// The server answered with an error.
    Server,
    /// The local store failed.
    Storage,
    /// A bug in the library.
    Internal,
    /// The client was closed, or the sync cancelled, before it finished.
    Stopped,
}

impl SyncFailureKind {
    /// Whether the user must sign in again before sync can work.
    pub fn needs_sign_in(self) -> bool {
        matches!(self, SyncFailureKind::Unauthorized | SyncFailureKind::WrongAccount)
    }
}

impl FieldsyncError {
    /// The kind of a sync failure (the errors a sync can end with).
    pub(crate) fn sync_failure_kind(&self) -> SyncFailureKind {
        match self {
            FieldsyncError::Offline => SyncFailureKind::Offline,
            FieldsyncError::Network { .. } => SyncFailureKind::Network,
            FieldsyncError::Tls { .. } => SyncFailureKind::Tls,
            FieldsyncError::Unauthorized => SyncFailureKind::Unauthorized,
            FieldsyncError::WrongAccount { .. } => SyncFailureKind::WrongAccount,
            FieldsyncError::Server { .. } => SyncFailureKind::Server,
            FieldsyncError::Internal { .. } => SyncFailureKind::Internal,
            FieldsyncError::Closed | FieldsyncError::Cancelled => SyncFailureKind::Stopped,
            FieldsyncError::Storage { .. }
            | FieldsyncError::WrongKey { .. }
            | FieldsyncError::Refused { .. }
            | FieldsyncError::InvalidInput { .. }
            | FieldsyncError::NotFound { .. }
            | FieldsyncError::SetAside { .. }
            | FieldsyncError::Report { .. }
            | FieldsyncError::StoreInUse { .. } => SyncFailureKind::Storage,
        }
    }
}

impl From<tokio::task::JoinError> for FieldsyncError {
    fn from(_: tokio::task::JoinError) -> Self {
        // A panic inside the library (a bug) ends the call, not the app.
        FieldsyncError::Internal { reason: "the operation stopped unexpectedly".into() }
    }
}
