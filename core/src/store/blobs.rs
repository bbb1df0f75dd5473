//! Content-addressed blobs (photos, thumbnails, signature images) and the queue that uploads
//! them. A blob is stored once whatever the number of tickets that use it; an upload is one
//! (blob, ticket) pair, because the server authorizes a blob through the ticket it belongs to.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::time::Millis;

/// Where one upload stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upload {
    /// The blob's SHA-256, hex.
    pub sha256: String,
    /// The ticket it belongs to.
    pub ticket_id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes the server has confirmed.
    pub sent: u64,
    /// `pending`, `done` or `failed`.
    pub state: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
}

/// Stores a blob unless it is already there (same hash, same bytes).
pub fn put_blob(
    tx: &Connection,
    sha256: &str,
    bytes: &[u8],
    content_type: &str,
    now: Millis,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO blobs (sha256, bytes, content_type, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sha256) DO NOTHING",
    )?
    .execute(params![sha256, bytes, content_type, now])?;
    Ok(())
}

/// A blob's bytes, if the store has it.
pub fn blob(tx: &Connection, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(tx.prepare_cached("SELECT bytes FROM blobs WHERE sha256 = ?1")?.query_row([sha256], |r| r.get(0)).optional()?)
}

/// Queues a blob for upload as part of a ticket (nothing happens if it is queued already).
pub fn queue_upload(tx: &Connection, sha256: &str, ticket_id: &str, size: u64, now: Millis) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO uploads (sha256, ticket_id, size, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sha256, ticket_id) DO NOTHING",
    )?
    .execute(params![sha256, ticket_id, i64::try_from(size).unwrap_or(i64::MAX), now])?;
    Ok(())
}

fn upload_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        sha256: row.get(0)?,
        ticket_id: row.get(1)?,
        size: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        sent: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
        state: row.get(4)?,
        reason: row.get(5)?,
    })
}

/// Uploads not finished yet, oldest first.
pub fn pending_uploads(tx: &Connection) -> Result<Vec<Upload>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT sha256, ticket_id, size, sent, state, reason FROM uploads WHERE state = 'pending' ORDER BY updated_at, sha256",
    )?;
    let rows = stmt.query_map([], upload_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every upload of the store (for status screens and tests).
pub fn uploads(tx: &Connection) -> Result<Vec<Upload>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT sha256, ticket_id, size, sent, state, reason FROM uploads ORDER BY updated_at, sha256",
    )?;
    let rows = stmt.query_map([], upload_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records progress: bytes the server confirmed, and whether it is done or failed (with why).
pub fn set_upload(
    tx: &Connection,
    sha256: &str,
    ticket_id: &str,
    sent: u64,
    state: &str,
    reason: Option<&str>,
    now: Millis,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE uploads SET sent = ?3, state = ?4, reason = ?5, updated_at = ?6 WHERE sha256 = ?1 AND ticket_id = ?2",
    )?
    .execute(params![sha256, ticket_id, i64::try_from(sent).unwrap_or(i64::MAX), state, reason, now])?;
    Ok(())
}

/// Pending uploads: how many and how many bytes are left to send.
pub fn pending_upload_totals(tx: &Connection) -> Result<(u64, u64), StoreError> {
    let (count, bytes): (i64, i64) = tx
        .prepare_cached("SELECT COUNT(*), COALESCE(SUM(size - sent), 0) FROM uploads WHERE state = 'pending'")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((u64::try_from(count).unwrap_or(0), u64::try_from(bytes).unwrap_or(0)))
}
