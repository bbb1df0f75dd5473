//! What the engine tells the app's log (`crate::logging`, docs/adr/0021): each attempt and how
//! it ended, rejections, evictions and uploads. At `Info` and above: ids, counts, sizes,
//! durations, kinds and the server's reasons — never a ticket's text, a customer or a user name.

use std::time::Duration;

use super::{SyncError, SyncReport, SyncStatus};

const SYNC: &str = "fieldsync::sync";

pub(super) fn attempt(status: &SyncStatus) {
    tracing::info!(
        target: SYNC,
        pending_tickets = status.pending_tickets,
        pending_uploads = status.pending_uploads,
        pending_upload_bytes = status.pending_upload_bytes,
        online = status.online,
        "sync attempt"
    );
}

pub(super) fn outcome(result: &Result<SyncReport, SyncError>, took: Duration) {
    let ms = took.as_millis() as u64;
    match result {
        Ok(report) => {
            tracing::info!(
                target: SYNC,
                ms,
                pushed = report.pushed.len(),
                received = report.received.len(),
                rejected = report.rejected.len(),
                evicted = report.evicted.len(),
                round_trips = report.round_trips,
                bytes_sent = report.bytes_sent,
                bytes_received = report.bytes_received,
                uploaded = report.uploads.uploaded.len(),
                upload_bytes = report.uploads.bytes_sent,
                "sync done"
            );
            for (ticket, reason) in &report.rejected {
                let retrying = report.retrying.contains(ticket);
                tracing::warn!(target: SYNC, ticket = ticket.as_str(), reason = reason.as_str(), retrying, "ticket rejected by the server");
            }
            for ticket in &report.evicted {
                tracing::info!(target: SYNC, ticket = ticket.as_str(), "ticket removed from this device");
            }
            for (ticket, reason) in &report.failed {
                tracing::warn!(target: SYNC, ticket = ticket.as_str(), "a server update could not be merged; the rest synced");
                tracing::debug!(target: SYNC, ticket = ticket.as_str(), reason = reason.as_str(), "merge failure");
            }
            for blob in &report.uploads.uploaded {
                tracing::info!(target: SYNC, blob = short(blob), "upload done");
            }
            for (blob, reason) in &report.uploads.refused {
                tracing::warn!(target: SYNC, blob = short(blob), reason = reason.as_str(), "upload refused; set aside");
            }
            if let Some(why) = &report.uploads.interrupted {
                tracing::warn!(target: SYNC, reason = why.as_str(), "uploads interrupted; they go on next time");
            }
        }
        Err(e) => tracing::warn!(target: SYNC, ms, kind = kind(e), reason = reason(e).as_str(), "sync failed"),
    }
}

pub(super) fn cancelled() {
    tracing::info!(target: SYNC, "sync cancelled; the next one carries on");
}

pub(super) fn round_trip(round: u32, sent: usize, received: usize) {
    tracing::debug!(target: SYNC, round, sent, received, "round trip");
}

fn kind(e: &SyncError) -> &'static str {
    match e {
        SyncError::Offline => "offline",
        SyncError::Network(_) => "network",
        SyncError::Tls(_) => "tls",
        SyncError::Unauthorized => "unauthorized",
        SyncError::Server { .. } => "server",
        SyncError::Protocol(_) => "protocol",
        SyncError::Local(_) => "local",
        SyncError::Internal(_) => "internal",
        SyncError::Closed => "closed",
        SyncError::ForeignToken { .. } => "wrong_account",
    }
}

/// The failure's text, without whom a foreign token belongs to.
fn reason(e: &SyncError) -> String {
    match e {
        SyncError::ForeignToken { .. } => "the token belongs to another user or device than this store".into(),
        e => e.to_string(),
    }
}

/// The first 12 hex digits of a blob's hash: enough to find it, short in a log line.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}
