//! `GET /v1/tickets/{id}/report.pdf` and the console's download: the service report, made by
//! the same code as on the device (`fieldsync_core::report`) from the stored document and the
//! blob store, so the same heads give the same bytes (docs/adr/0013).

use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fieldsync_core::report::{self, ReportFont, ReportOptions, ReportSource};
use serde::Deserialize;

use crate::auth::Caller;
use crate::blobs::BlobId;
use crate::{AppError, AppState, access, blocking, documents};

/// Thumbnails and signature images are tens of kilobytes; a larger blob is not read into a
/// report (it shows as missing).
const MAX_REPORT_BLOB_BYTES: u64 = 4 * 1024 * 1024;

/// The report font, read once per server (Noto Sans CJK is ~20 MB) and only when it loaded.
#[derive(Default)]
pub(crate) struct FontCache(Mutex<Option<Arc<ReportFont>>>);

/// Query of the report endpoints.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportQuery {
    /// Comma-separated document heads (hex); none: the ticket as it is now.
    heads: Option<String>,
    /// Times are shown at this offset from UTC, in minutes (China: 480). Default 0.
    utc_offset_minutes: Option<i32>,
}

impl ReportQuery {
    /// The ticket as it is now, times at `utc_offset_minutes` (the console's download).
    pub(crate) fn now_in_zone(utc_offset_minutes: i32) -> ReportQuery {
        ReportQuery { heads: None, utc_offset_minutes: Some(utc_offset_minutes) }
    }
}

/// `GET /v1/tickets/{id}/report.pdf?heads=h1,h2&utc_offset_minutes=480`: dispatchers and
/// admins for any ticket, an engineer for a ticket assigned to them now.
pub(crate) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    send(state, caller, id, query).await
}

/// The report as a PDF response for `caller` (bearer-authenticated here, cookie-authenticated
/// in the console), with the same rules.
pub(crate) async fn send(
    state: AppState,
    caller: Caller,
    id: String,
    query: ReportQuery,
) -> Result<Response, AppError> {
    let name = format!(
        "service-report-{}.pdf",
        id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>()
    );
    let pdf = blocking(move || make(&state, &caller, &id, &query)).await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    Ok((headers, pdf).into_response())
}

/// Makes the report. Blocking.
fn make(state: &AppState, caller: &Caller, id: &str, query: &ReportQuery) -> Result<Vec<u8>, AppError> {
    let not_found = || AppError::NotFound(format!("ticket {id} not found"));
    let row = state.storage().ticket_row(id)?.ok_or_else(not_found)?;
    if !access::may_read_ticket(&caller.0, &row) {
        return Err(AppError::Forbidden(format!("ticket {id} is not assigned to you")));
    }
    let heads: Vec<&str> = query.heads.as_deref().unwrap_or("").split(',').filter(|h| !h.trim().is_empty()).collect();
    let heads = report::parse_heads(&heads).map_err(|e| AppError::BadRequest(e.to_string()))?;
    render(state, &row, &heads, query.utc_offset_minutes.unwrap_or(0))
}

/// The report of the ticket of index row `row` at `heads` (none: as it is now), times at
/// `utc_offset_minutes`; whoever calls it decided the caller may read it. Blocking.
pub(crate) fn render(
    state: &AppState,
    row: &crate::storage::IndexRow,
    heads: &[automerge::ChangeHash],
    utc_offset_minutes: i32,
) -> Result<Vec<u8>, AppError> {
    let id = row.id.as_str();
    let not_found = || AppError::NotFound(format!("ticket {id} not found"));
    let loaded = documents::load_at(state, id, row.changed_seq)?.ok_or_else(not_found)?;
    let source = ReportSource::at(&loaded.doc, (!heads.is_empty()).then_some(heads))
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let font = font(state)?;
    let blob = |sha256: &str| read_blob(state, sha256);
    let options = ReportOptions { utc_offset_minutes };
    report::render(&source, &blob, &font, &options).map_err(|e| AppError::Internal(e.to_string()))
}

/// The server's report font: `ServerConfig::report_font`, else a known system path.
fn font(state: &AppState) -> Result<Arc<ReportFont>, AppError> {
    let mut cached = state.report_fonts().0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(font) = cached.as_ref() {
        return Ok(Arc::clone(font));
    }
    let font = Arc::new(
        report::load_font(state.config().report_font.as_deref()).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    *cached = Some(Arc::clone(&font));
    Ok(font)
}

/// A complete blob's bytes, or `None` (missing, too large, unreadable: the report says so).
fn read_blob(state: &AppState, sha256: &str) -> Option<Vec<u8>> {
    let id = BlobId::parse(sha256)?;
    let blob = state.blobs().open(&id).ok()??;
    if blob.length > MAX_REPORT_BLOB_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    blob.reader.take(MAX_REPORT_BLOB_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}
