//! Resumable blob upload and download, `/v1/blobs/{sha256}` (docs/adr/0004).
//!
//! - `HEAD`: `Upload-Offset` (bytes the server holds; 0 for an unknown blob), plus
//!   `Upload-Length` while an upload is in progress and `Upload-Complete: 1` once the blob is
//!   complete and verified.
//! - `PATCH ?ticket=<id>` with `Upload-Offset`, `Upload-Length` and
//!   `Content-Type: application/offset+octet-stream`: appends the body at that offset. A
//!   complete blob answers at once (dedup), a stale offset answers 409 with the server's.
//! - `GET`: the bytes of a complete blob.
//!
//! Knowing a blob's SHA-256 is not having it (issue 13, attack 5): offsets are per device (the
//! bytes *this* device sent, in order), a blob is linked to a ticket only by a device that
//! sent every byte of it (a second device with the same photo sends it again, compared with
//! the stored bytes rather than stored twice), and a download needs a ticket the caller may
//! read whose document references the blob.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::Caller;
use crate::blobs::{BlobId, BlobState, CHUNK_CONTENT_TYPE, UPLOAD_COMPLETE, UPLOAD_LENGTH, UPLOAD_OFFSET};
use crate::{AppError, AppState, access, blocking};

/// Longest ticket id accepted.
const MAX_TICKET_ID: usize = 128;
/// Bytes read from a blob file per step of a download.
const READ_STEP: usize = 256 * 1024;

fn blob_id(text: &str) -> Result<BlobId, AppError> {
    BlobId::parse(text)
        .ok_or_else(|| AppError::BadRequest("a blob is named by its SHA-256: 64 lowercase hex characters".into()))
}

/// The answer to a `HEAD` or `PATCH`: 200 or 204 with the upload headers.
fn upload_answer(status: StatusCode, state: BlobState) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(state.offset()));
    match state {
        BlobState::Complete { length } => {
            headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
            headers.insert(UPLOAD_COMPLETE, HeaderValue::from_static("1"));
        }
        BlobState::Partial { length, .. } => {
            headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
        }
        BlobState::Absent => {}
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `HEAD /v1/blobs/{sha256}`: how far the upload is. Any role.
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    let id = blob_id(&sha256)?;
    let blob = blocking(move || Ok(caller_state(&state, &caller.0.device_id, &id)?.1)).await?;
    Ok(upload_answer(StatusCode::OK, blob))
}

/// Where the store's upload of a blob stands, and where `device_id`'s own upload of it stands:
/// the bytes that device sent, in order, that the store still holds. Complete for the device
/// only once it sent them all; a complete blob it never sent a byte of looks absent to it.
fn caller_state(state: &AppState, device_id: &str, id: &BlobId) -> Result<(BlobState, BlobState), AppError> {
    let store = state.blobs().state(id)?;
    let sent = state.storage().blob_received(id.as_str(), device_id)?;
    let mine = match store {
        BlobState::Absent => BlobState::Absent,
        BlobState::Complete { length } if sent >= length => store,
        BlobState::Complete { .. } if sent == 0 => BlobState::Absent,
        BlobState::Complete { length } => BlobState::Partial { offset: sent, length },
        BlobState::Partial { offset, length } => BlobState::Partial { offset: sent.min(offset), length },
    };
    Ok((store, mine))
}

/// The query of a `PATCH`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    ticket: Option<String>,
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<u64, AppError> {
    let value = headers.get(name).ok_or_else(|| AppError::BadRequest(format!("the {name} header is required")))?;
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::BadRequest(format!("the {name} header must be a non-negative integer")))
}

/// `PATCH /v1/blobs/{sha256}?ticket=<id>`: appends one chunk.
///
/// An answer given without reading the body (a complete blob, a stale offset, a refusal)
/// closes the connection when a body was announced: the client may still be sending it, and a
/// client that sent `Expect: 100-continue` never does.
pub(crate) async fn upload(
    State(state): State<AppState>,
    caller: Result<Caller, AppError>,
    Path(sha256): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let announced = headers.get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() != b"0");
    let mut read = false;
    let mut response = match append_chunk(state, caller, &sha256, query, &headers, body, &mut read).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if announced && !read {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn append_chunk(
    state: AppState,
    caller: Result<Caller, AppError>,
    sha256: &str,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Body,
    read: &mut bool,
) -> Result<Response, AppError> {
    let caller = caller?;
    let id = blob_id(sha256)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let ticket = query.ticket.filter(|t| !t.is_empty() && t.len() <= MAX_TICKET_ID).ok_or_else(|| {
        AppError::BadRequest("?ticket=<ticket id> is required: the ticket the blob belongs to".into())
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(CHUNK_CONTENT_TYPE) {
        return Err(AppError::UnsupportedMediaType(format!("a chunk is sent as Content-Type: {CHUNK_CONTENT_TYPE}")));
    }
    let offset = header_u64(headers, &UPLOAD_OFFSET)?;
    let length = header_u64(headers, &UPLOAD_LENGTH)?;
    let config = state.config();
    if length > config.max_blob_bytes {
        return Err(AppError::TooLarge(format!(
            "Upload-Length {length} is above this server's limit of {} bytes per blob",
            config.max_blob_bytes
        )));
    }
    let max_chunk = config.max_chunk_bytes;
    let declared_body = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_body.is_some_and(|n| n > max_chunk as u64) {
        return Err(AppError::PayloadTooLarge);
    }

    // Who may upload, and where this device's upload stands: before reading the body, so a
    // blob this device already sent or a stale offset costs no upload.
    let device_id = caller.0.device_id.clone();
    let (store, mine) = {
        let (state, id, ticket) = (state.clone(), id.clone(), ticket.clone());
        blocking(move || {
            access::may_write_blobs(&state, &caller, &ticket)?;
            let (store, mine) = caller_state(&state, &caller.0.device_id, &id)?;
            if let BlobState::Complete { .. } = mine {
                // This device sent every byte of it: linking it to another ticket needs no resend.
                link(&state, &id, &ticket, &caller.0.device_id)?;
            }
            Ok((store, mine))
        })
        .await?
    };
    match (store, mine) {
        (_, BlobState::Complete { .. }) => return Ok(upload_answer(StatusCode::NO_CONTENT, mine)),
        (BlobState::Partial { length: declared, .. } | BlobState::Complete { length: declared }, _)
            if declared != length =>
        {
            return Err(AppError::LengthMismatch { declared, sent: length, offset: mine.offset() });
        }
        _ if mine.offset() != offset => {
            return Err(AppError::OffsetMismatch { offset: mine.offset(), sent: offset });
        }
        _ => {}
    }

    let chunk = read_chunk(body, max_chunk, declared_body).await?;
    *read = true;
    let after = blocking(move || receive(&state, &id, &ticket, &device_id, offset, length, &chunk)).await?;
    Ok(upload_answer(StatusCode::NO_CONTENT, after))
}

/// Takes `chunk`, sent by `device_id` at `offset` (where its own upload stands): the part the
/// store holds already must be the same bytes, the rest is appended. Returns where the
/// device's upload stands now; once it sent every byte of a complete blob, the blob is linked
/// to `ticket`.
fn receive(
    state: &AppState,
    id: &BlobId,
    ticket: &str,
    device_id: &str,
    offset: u64,
    length: u64,
    chunk: &[u8],
) -> Result<BlobState, AppError> {
    let end = u64::try_from(chunk.len()).ok().and_then(|n| offset.checked_add(n)).unwrap_or(u64::MAX);
    if end > length {
        return Err(crate::blobs::BlobError::PastEnd { end, length }.into());
    }
    let held = state.blobs().state(id)?.offset();
    // Bytes of the chunk the store holds already (another device's upload of the same blob).
    let overlap = usize::try_from(held.saturating_sub(offset)).unwrap_or(usize::MAX).min(chunk.len());
    if overlap > 0 {
        match state.blobs().read_range(id, offset, overlap)? {
            Some(stored) if stored == chunk[..overlap] => {}
            Some(_) if held < length => {
                // Two devices sent different bytes for an upload in progress, and which are
                // right shows only at the end: start it over rather than let an upload of
                // wrong bytes block the blob for good.
                state.blobs().discard_partial(id)?;
                state.storage().forget_blob_received(id.as_str())?;
                return Err(AppError::OffsetMismatch { offset: 0, sent: offset });
            }
            Some(_) => {
                return Err(AppError::HashMismatch(format!(
                    "these bytes differ from blob {id}'s at offset {offset}; nothing was kept"
                )));
            }
            // The upload was discarded meanwhile: start again from what the store holds.
            None => return Err(AppError::OffsetMismatch { offset: state.blobs().state(id)?.offset(), sent: offset }),
        }
    }
    let after = if overlap < chunk.len() {
        // The store appends only at the offset it holds, under its per-blob lock: a concurrent
        // PATCH that got here first makes this one a 409 with the new offset.
        let verified = offset + overlap as u64;
        match state.blobs().append(id, verified, length, &chunk[overlap..]) {
            Ok(after) => after,
            Err(e @ crate::blobs::BlobError::HashMismatch { .. }) => {
                // The store discarded the upload: what every device sent of it counts no more.
                state.storage().forget_blob_received(id.as_str())?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        state.blobs().state(id)?
    };
    state.storage().record_blob_received(id.as_str(), device_id, end, state.now())?;
    match after {
        BlobState::Complete { length } if end == length => {
            link(state, id, ticket, device_id)?;
            Ok(after)
        }
        _ => Ok(BlobState::Partial { offset: end, length }),
    }
}

/// Links a blob to a ticket (once), for a device that sent every byte of it.
fn link(state: &AppState, id: &BlobId, ticket: &str, device_id: &str) -> Result<(), AppError> {
    let storage = state.storage();
    if !storage.blob_tickets(id.as_str())?.iter().any(|t| t == ticket) {
        storage.link_blob(id.as_str(), ticket, device_id, state.now())?;
    }
    Ok(())
}

/// Reads a whole chunk, at most `limit` bytes; a body cut short is an error and nothing of it
/// is kept.
async fn read_chunk(body: Body, limit: usize, declared: Option<u64>) -> Result<Vec<u8>, AppError> {
    let capacity = declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0).min(limit);
    let mut chunk = Vec::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| AppError::BadRequest(format!("the chunk did not arrive whole: {e}")))?;
        if chunk.len().saturating_add(frame.len()) > limit {
            return Err(AppError::PayloadTooLarge);
        }
        chunk.extend_from_slice(&frame);
    }
    Ok(chunk)
}

/// The content type of a blob from its first bytes.
fn sniff(head: &[u8]) -> &'static str {
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else {
        "application/octet-stream"
    }
}

/// Reads up to `n` bytes (fewer only at the end).
fn read_up_to(reader: &mut dyn Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut buffer)?;
    Ok(buffer)
}

/// `GET /v1/blobs/{sha256}`: a complete blob's bytes, for a caller who may read a ticket that
/// references it.
pub(crate) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    send_blob(state, caller, &sha256).await
}

/// A complete blob's bytes for `caller` (bearer-authenticated here, cookie-authenticated in the
/// console), with the same rules.
pub(crate) async fn send_blob(state: AppState, caller: Caller, sha256: &str) -> Result<Response, AppError> {
    let id = blob_id(sha256)?;
    let (length, first, reader) = {
        let id = id.clone();
        blocking(move || {
            let not_found = || AppError::NotFound(format!("blob {id} not found (or not completely uploaded)"));
            let mut blob = state.blobs().open(&id)?.ok_or_else(not_found)?;
            if !access::may_read_blob(&state, &caller, &id)? {
                return Err(AppError::Forbidden(format!("blob {id} belongs to no ticket of yours")));
            }
            let first = read_up_to(blob.reader.as_mut(), READ_STEP)
                .map_err(|e| AppError::Internal(format!("reading blob {id}: {e}")))?;
            Ok((blob.length, first, blob.reader))
        })
        .await?
    };
    let content_type = sniff(&first);
    let body = Body::from_stream(futures_util::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest(reader)));
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_LENGTH, HeaderValue::from(length)),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::ETAG, HeaderValue::from_str(&format!("\"{id}\"")).map_err(|e| AppError::Internal(e.to_string()))?),
    ];
    Ok((headers, body).into_response())
}

/// The rest of a blob, read off the async threads one step at a time.
fn rest(
    reader: Box<dyn Read + Send>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let step = tokio::task::spawn_blocking(move || {
            let bytes = read_up_to(reader.as_mut(), READ_STEP)?;
            Ok::<_, std::io::Error>((bytes, reader))
        })
        .await;
        match step {
            Ok(Ok((bytes, _))) if bytes.is_empty() => None,
            Ok(Ok((bytes, reader))) => Some((Ok(Bytes::from(bytes)), Some(reader))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    })
}
