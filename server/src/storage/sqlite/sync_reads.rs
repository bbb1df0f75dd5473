//! The reads of a sync answer on SQLite, each a function of a read transaction, so that
//! [`crate::storage::Storage::sync_reads`] makes them all in one (one reader, one snapshot, one
//! WAL read lock) and the single reads are the same code.

use fieldsync_core::time::Millis;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};

use super::query_rows;
use crate::storage::sync_reads::{WALK_AT_LEAST, walk_changed};
use crate::storage::{
    IndexRow, ROW_COLUMNS, Scope, StorageError, SyncReads, SyncReadsQuery, SyncState, heads_from_blob, i64_of, u64_of,
};

/// All of them, in the transaction `tx`.
pub(super) fn all(tx: &Connection, query: &SyncReadsQuery<'_>) -> Result<SyncReads, StorageError> {
    let current_seq = current_seq(tx)?;
    let changed = changed_since(tx, query.cursor, query.scope, current_seq)?;
    // A ticket just pushed has changed since the cursor: when the scope lists it (the pusher
    // holds it), its row is that one, from the same snapshot, and is not read again.
    let pushed = query
        .pushed
        .iter()
        .map(|id| match changed.iter().find(|row| row.id == *id) {
            Some(row) => Ok(Some(row.clone())),
            None => ticket_row(tx, id),
        })
        .collect::<Result<_, _>>()?;
    let held = held_completed_before(tx, query.device_id, query.expired_before, query.cursor)?;
    let states = sync_states(tx, query.device_id, &SyncReads::ticket_ids(query, &changed, &held))?;
    Ok(SyncReads { current_seq, pushed, changed, held, states })
}

pub(super) fn ticket_row(tx: &Connection, ticket_id: &str) -> Result<Option<IndexRow>, StorageError> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.id = ?1");
    Ok(query_rows(tx, &sql, &[SqlValue::Text(ticket_id.to_owned())])?.pop())
}

/// The rows changed since `cursor` in `scope`, `current_seq` being the sequence now (it
/// chooses how an engineer's are found: [`walk_changed`]).
pub(super) fn changed_since(
    tx: &Connection,
    cursor: u64,
    scope: &Scope,
    current_seq: u64,
) -> Result<Vec<IndexRow>, StorageError> {
    let distance = current_seq.saturating_sub(cursor);
    let far_behind = match scope {
        Scope::Engineer { device_id, .. } if distance > WALK_AT_LEAST => {
            !walk_changed(distance, held_count(tx, device_id)?)
        }
        _ => false,
    };
    match scope {
        Scope::All => query_rows(
            tx,
            &format!("SELECT {ROW_COLUMNS} FROM tickets t WHERE t.changed_seq > ?1 ORDER BY t.changed_seq"),
            &[SqlValue::Integer(i64_of(cursor))],
        ),
        Scope::Engineer { user_id, device_id } if far_behind => query_rows(
            tx,
            &format!(
                "SELECT {ROW_COLUMNS} FROM tickets t WHERE t.id IN (
                     SELECT id FROM tickets WHERE assignee = ?2 AND changed_seq > ?1
                     UNION ALL SELECT id FROM tickets WHERE status = 'pooled' AND changed_seq > ?1
                     UNION ALL SELECT s.ticket_id FROM sync_state s JOIN tickets h ON h.id = s.ticket_id
                                WHERE s.device_id = ?3 AND h.changed_seq > ?1)
                 ORDER BY t.changed_seq"
            ),
            &[SqlValue::Integer(i64_of(cursor)), SqlValue::Text(user_id.clone()), SqlValue::Text(device_id.clone())],
        ),
        Scope::Engineer { user_id, device_id } => query_rows(
            tx,
            &format!(
                "SELECT {ROW_COLUMNS} FROM tickets t WHERE t.changed_seq > ?1
                 AND (t.assignee = ?2 OR t.status = 'pooled' OR t.id IN (SELECT ticket_id FROM sync_state WHERE device_id = ?3))
                 ORDER BY t.changed_seq"
            ),
            &[SqlValue::Integer(i64_of(cursor)), SqlValue::Text(user_id.clone()), SqlValue::Text(device_id.clone())],
        ),
    }
}

/// How many tickets `device_id` holds (its sync states).
fn held_count(tx: &Connection, device_id: &str) -> Result<u64, StorageError> {
    let count: i64 = tx
        .prepare_cached("SELECT count(*) FROM sync_state WHERE device_id = ?1")?
        .query_row([device_id], |row| row.get(0))?;
    Ok(u64_of(count))
}

pub(super) fn held_completed_before(
    tx: &Connection,
    device_id: &str,
    resolved_before: Millis,
    cursor: u64,
) -> Result<Vec<IndexRow>, StorageError> {
    query_rows(
        tx,
        &format!(
            "SELECT {ROW_COLUMNS} FROM sync_state s JOIN tickets t ON t.id = s.ticket_id
             WHERE s.device_id = ?1 AND t.status = 'completed' AND t.resolved_at < ?2
             AND (s.evicted_at IS NULL OR s.evicted_at > ?3)
             ORDER BY t.changed_seq"
        ),
        &[SqlValue::Text(device_id.to_owned()), SqlValue::Integer(resolved_before), SqlValue::Integer(i64_of(cursor))],
    )
}

pub(super) fn current_seq(tx: &Connection) -> Result<u64, StorageError> {
    let value: i64 =
        tx.prepare_cached("SELECT value FROM counters WHERE name = 'change_seq'")?.query_row([], |row| row.get(0))?;
    Ok(u64_of(value))
}

pub(super) fn sync_states(
    tx: &Connection,
    device_id: &str,
    ticket_ids: &[String],
) -> Result<Vec<(String, SyncState)>, StorageError> {
    let mut stmt = tx.prepare_cached(
        "SELECT confirmed, pending_cursor, pending_heads, evicted_at FROM sync_state
         WHERE device_id = ?1 AND ticket_id = ?2",
    )?;
    let mut found = Vec::new();
    for id in ticket_ids {
        let state = stmt
            .query_row(params![device_id, id], |row| {
                let confirmed: Vec<u8> = row.get(0)?;
                let pending_cursor: Option<i64> = row.get(1)?;
                let pending_heads: Option<Vec<u8>> = row.get(2)?;
                let evicted_at: Option<i64> = row.get(3)?;
                Ok(SyncState {
                    confirmed: heads_from_blob(&confirmed),
                    pending: pending_cursor
                        .map(|c| (u64_of(c), heads_from_blob(pending_heads.as_deref().unwrap_or_default()))),
                    evicted_at: evicted_at.map(u64_of),
                })
            })
            .optional()?;
        if let Some(state) = state {
            found.push((id.clone(), state));
        }
    }
    Ok(found)
}
