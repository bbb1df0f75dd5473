//! The one error type of the HTTP layer, mapped to a status and a [`ApiError`] body in one
//! place. Internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldsync_core::protocol::ApiError;

use crate::storage::StorageError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid bearer token.
    #[error("a valid device token is required")]
    Unauthorized,
    /// The token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or its arguments are invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the server accepts.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The workflow refuses the action, or a name is taken.
    #[error("{0}")]
    Conflict(String),
    /// A declared size (a blob's `Upload-Length`) is above the server's limit.
    #[error("{0}")]
    TooLarge(String),
    /// A blob chunk was sent for another offset than the server holds; the answer carries the
    /// server's `Upload-Offset`, where the device resumes.
    #[error("the upload is at offset {offset}, not {sent}; resume from {offset}")]
    OffsetMismatch {
        /// The server's offset.
        offset: u64,
        /// The chunk's.
        sent: u64,
    },
    /// A blob chunk declared another total length than the upload started with.
    #[error("the upload was started with Upload-Length {declared}, not {sent}")]
    LengthMismatch {
        /// The length the upload started with.
        declared: u64,
        /// This chunk's.
        sent: u64,
        /// The server's offset.
        offset: u64,
    },
    /// An uploaded blob's bytes do not hash to its name; nothing was kept.
    #[error("{0}")]
    HashMismatch(String),
    /// The request body has a content type this endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A ticket named a customer record (or a site of one) that does not exist here
    /// (docs/adr/0018).
    #[error("{0}")]
    UnknownCustomer(String),
    /// A field is longer than its limit (a customer record's, docs/adr/0018).
    #[error("{0}")]
    FieldTooLong(String),
    /// Anything else: logged, answered as "internal".
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Duplicate(what) => AppError::Conflict(format!("{what} already exists")),
            StorageError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::blobs::BlobError> for AppError {
    fn from(e: crate::blobs::BlobError) -> Self {
        use crate::blobs::BlobError as E;
        match e {
            E::OffsetMismatch { current, sent } => AppError::OffsetMismatch { offset: current, sent },
            E::LengthMismatch { declared, sent, offset } => AppError::LengthMismatch { declared, sent, offset },
            e @ E::PastEnd { .. } => AppError::BadRequest(e.to_string()),
            e @ E::HashMismatch { .. } => AppError::HashMismatch(e.to_string()),
            E::Backend(detail) => AppError::Internal(format!("blob store: {detail}")),
        }
    }
}

impl From<crate::customers::CustomerError> for AppError {
    fn from(e: crate::customers::CustomerError) -> Self {
        use crate::customers::CustomerError as E;
        match e {
            e @ (E::UnknownCustomer(_) | E::UnknownSite { .. }) => AppError::UnknownCustomer(e.to_string()),
            e @ E::TooLong { .. } => AppError::FieldTooLong(e.to_string()),
            e @ E::Invalid { .. } => AppError::BadRequest(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("blocking task failed: {e}"))
    }
}

impl From<fieldsync_core::Error> for AppError {
    fn from(e: fieldsync_core::Error) -> Self {
        use fieldsync_core::Error as E;
        match e {
            E::Refused(refusal) => AppError::Conflict(refusal.explain()),
            E::InvalidInput(message) => AppError::BadRequest(message),
            E::NotFound(id) => AppError::NotFound(format!("ticket {id} not found")),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl AppError {
    /// The HTTP status and the stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::PayloadTooLarge | AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::OffsetMismatch { .. } => (StatusCode::CONFLICT, "offset_mismatch"),
            AppError::LengthMismatch { .. } => (StatusCode::CONFLICT, "length_mismatch"),
            AppError::HashMismatch(_) => (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch"),
            AppError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::UnknownCustomer(_) => (StatusCode::BAD_REQUEST, "unknown_customer"),
            AppError::FieldTooLong(_) => (StatusCode::BAD_REQUEST, "field_too_long"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Internal(detail) => {
                eprintln!("fieldsync-server: internal error: {detail}");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, Json(ApiError { error: code.to_owned(), message })).into_response();
        let headers = response.headers_mut();
        match self {
            AppError::Unauthorized => {
                headers.insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            }
            AppError::OffsetMismatch { offset, .. } | AppError::LengthMismatch { offset, .. } => {
                headers.insert(crate::blobs::UPLOAD_OFFSET, axum::http::HeaderValue::from(offset));
            }
            _ => {}
        }
        response
    }
}

/// Maps a body extractor's rejection: too large is 413, anything else 400.
pub(crate) fn body_rejection(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE { AppError::PayloadTooLarge } else { AppError::BadRequest(text) }
}

/// A JSON body, or its extractor's rejection mapped by [`body_rejection`]: the one copy every
/// JSON handler uses (a copy that mapped everything to 400 answered a 2 MiB body 400, not 413).
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, AppError> {
    body.map(|axum::Json(value)| value).map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))
}
