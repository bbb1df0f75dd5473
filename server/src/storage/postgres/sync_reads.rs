//! The reads of a sync answer on PostgreSQL in one statement, so one round trip and one
//! snapshot (docs/adr/0026): the change counter, the index rows the answer considers (pushed,
//! changed since the cursor in the device's scope, completed and due to be dropped) and the
//! device's sync state of each, joined to its row.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::Row;
use postgres::types::ToSql;

use super::pool::{Autocommit, Plans};
use super::rows::read_rows;
use crate::storage::sync_reads::{WALK_AT_LEAST, WALK_PER_HELD};
use crate::storage::{
    IndexRow, ROW_COLUMNS, Scope, StorageError, SyncReads, SyncReadsQuery, SyncState, heads_from_blob, i64_of, u64_of,
};

/// The statement, with `{changed}` the rows changed since the cursor in the scope (tagged part
/// 1; ordered by `changed_seq` once read, as the held ones are): `$1` the pushed ids, `$2`
/// the cursor, `$3` the device, `$4` the expiry, `$5` [`NO_UPPER_BOUND`]; `$6` the engineer
/// (engineer scope only). The counter row is always there, so an answer with no rows still
/// carries the sequence number.
///
/// The pushed rows are looked up by `id = ANY($1)`, not by joining `unnest($1)`: PostgreSQL
/// estimates an `unnest` at ten rows and, on a table of a few thousand tickets, hashes it
/// against a scan of the whole table (0.55 ms against 0.15 ms for the statement, docs/adr/0026).
fn statement(changed: &str) -> String {
    format!(
        "WITH asked AS (
            SELECT {ROW_COLUMNS}, 0 AS part, array_position($1::text[], t.id)::BIGINT AS place
              FROM tickets t WHERE t.id = ANY($1::text[])
            UNION ALL
            {changed}
            UNION ALL
            SELECT {ROW_COLUMNS}, 2, t.changed_seq FROM sync_state s JOIN tickets t ON t.id = s.ticket_id
             WHERE s.device_id = $3 AND t.status = 'completed' AND t.resolved_at < $4
               AND (s.evicted_at IS NULL OR s.evicted_at > $2)
         )
         SELECT c.value AS current_seq, t.*, s.confirmed AS state_confirmed,
                s.pending_cursor AS state_pending_cursor, s.pending_heads AS state_pending_heads,
                s.evicted_at AS state_evicted_at
           FROM counters c
           LEFT JOIN asked t ON true
           LEFT JOIN sync_state s ON s.device_id = $3 AND s.ticket_id = t.id
          WHERE c.name = 'change_seq'"
    )
}

/// How the statement is planned: once. Its best plan does not depend on its values, but
/// PostgreSQL prices a push of one ticket's own plan cheaper than one plan for all and so, left
/// to itself, plans it anew on every sync (0.8 ms a time under load, more than running it).
pub(super) const PLANS: Plans = Plans::Generic;

/// The changed rows' upper bound: none, said as one. PostgreSQL prices `changed_seq > $2`
/// alone as a third of the table, and the one plan kept for every sync ([`PLANS`]) could then
/// scan the whole table (it did on a table without statistics yet); a range with both ends is
/// priced as narrow, as the rows changed since a device's cursor are.
const NO_UPPER_BOUND: i64 = i64::MAX;

static ALL_SQL: LazyLock<String> = LazyLock::new(|| {
    statement(&format!(
        "SELECT {ROW_COLUMNS}, 1, t.changed_seq FROM tickets t WHERE t.changed_seq > $2 AND t.changed_seq <= $5"
    ))
});
static ENGINEER_SQL: LazyLock<String> = LazyLock::new(|| {
    statement(&engineer_changed(&format!("{ROW_COLUMNS}, 1, t.changed_seq"), "$2", Some("$5"), "$6", "$3"))
});
/// [`ENGINEER_SQL`] with the walk alone: for a cursor this instance knows to be at most
/// [`WALK_AT_LEAST`] changes behind, which every gate walks. The gated statement initialises
/// both ways and the gate's reads on every call, used or not (a quarter of the read's
/// PostgreSQL CPU, measured by `pgbench` on the bench's data: 234 µs a read against 183).
static ENGINEER_WALK_SQL: LazyLock<String> = LazyLock::new(|| {
    statement(&engineer_walked(
        &format!("{ROW_COLUMNS}, 1, t.changed_seq"),
        "t.changed_seq > $2 AND t.changed_seq <= $5",
        "$6",
        "$3",
    ))
});

/// An engineer's rows where `rows` holds (a range of `changed_seq`), found by walking each and
/// testing it against the scope: [`engineer_changed`]'s first way, and the whole of
/// [`ENGINEER_WALK_SQL`]'s.
fn engineer_walked(columns: &str, rows: &str, engineer: &str, device: &str) -> String {
    format!(
        "SELECT {columns} FROM tickets t
          WHERE {rows}
            AND (t.assignee = {engineer} OR t.status = 'pooled'
                 OR t.id IN (SELECT ticket_id FROM sync_state WHERE device_id = {device}))"
    )
}

/// An engineer's rows changed since the cursor, `columns` of each: walked, or found by the
/// scope's indexes, as [`crate::storage::sync_reads::walk_changed`] says. Both arms are in the
/// one plan, and the one the gate rules out is never run (a one-time filter: the gate reads
/// only the counter and the device's sync states). The held tickets are probed one by one
/// (`LATERAL`): joined, the generic plan hashes the whole changed range. `cursor`, `upper`
/// (the range's upper end, if any), `engineer` and `device` name the statement's parameters.
/// The sync's read and the single read ([`super::PostgresStorage`]'s `changed_since`) both
/// say the scope this way.
pub(super) fn engineer_changed(
    columns: &str,
    cursor: &str,
    upper: Option<&str>,
    engineer: &str,
    device: &str,
) -> String {
    let range = |column: &str| match upper {
        Some(upper) => format!("{column} > {cursor} AND {column} <= {upper}"),
        None => format!("{column} > {cursor}"),
    };
    let (walked, indexed) = (range("t.changed_seq"), range("changed_seq"));
    let walk = format!(
        "((SELECT value FROM counters WHERE name = 'change_seq') - {cursor}
          <= GREATEST({WALK_AT_LEAST}, {WALK_PER_HELD} * (SELECT count(*) FROM sync_state WHERE device_id = {device})))"
    );
    let walked = engineer_walked(columns, &format!("{walked} AND {walk}"), engineer, device);
    format!(
        "{walked}
         UNION ALL
         SELECT {columns} FROM tickets t
          WHERE NOT {walk} AND t.id IN (
              SELECT id FROM tickets WHERE assignee = {engineer} AND {indexed}
              UNION ALL SELECT id FROM tickets WHERE status = 'pooled' AND {indexed}
              UNION ALL SELECT s.ticket_id FROM sync_state s
                 CROSS JOIN LATERAL (SELECT 1 FROM tickets h WHERE h.id = s.ticket_id AND h.changed_seq > {cursor}) h
                 WHERE s.device_id = {device})"
    )
}

/// All of them, as one statement on its own. `seen_seq` is the highest sequence number this
/// instance has seen (raised to the one read): it chooses an engineer's statement. Either
/// statement reads the same rows; a `seen_seq` behind the counter (another instance's writes
/// not yet noticed) can only choose the walk for a cursor further behind than it knows.
pub(super) fn all(
    s: &mut Autocommit<'_>,
    query: &SyncReadsQuery<'_>,
    seen_seq: &AtomicU64,
) -> Result<SyncReads, StorageError> {
    let cursor = i64_of(query.cursor);
    let mut params: Vec<&(dyn ToSql + Sync)> =
        vec![&query.pushed, &cursor, &query.device_id, &query.expired_before, &NO_UPPER_BOUND];
    let sql: &str = match query.scope {
        Scope::All => &ALL_SQL,
        Scope::Engineer { user_id, .. } => {
            params.push(user_id);
            if seen_seq.load(Ordering::Relaxed).saturating_sub(query.cursor) <= WALK_AT_LEAST {
                &ENGINEER_WALK_SQL
            } else {
                &ENGINEER_SQL
            }
        }
    };
    let rows = s.query(sql, &params)?;
    let current_seq = match rows.first() {
        Some(row) => u64_of(row.try_get("current_seq")?),
        None => return Err(StorageError::Backend("the change counter is missing".into())),
    };
    seen_seq.fetch_max(current_seq, Ordering::Relaxed);
    // The counter's row alone (no ticket joined) is the answer with nothing in it.
    let rows: Vec<Row> =
        rows.into_iter().filter(|row| row.try_get::<_, Option<i32>>("part").ok().flatten().is_some()).collect();
    let mut states: HashMap<String, SyncState> = HashMap::new();
    let (mut pushed_rows, mut changed, mut held) = (HashMap::new(), Vec::new(), Vec::new());
    for (row, index_row) in rows.iter().zip(read_rows(&rows)?) {
        if let Some(confirmed) = row.try_get::<_, Option<&[u8]>>("state_confirmed")? {
            let pending_cursor: Option<i64> = row.try_get("state_pending_cursor")?;
            let pending_heads: Option<&[u8]> = row.try_get("state_pending_heads")?;
            let evicted_at: Option<i64> = row.try_get("state_evicted_at")?;
            states.entry(index_row.id.clone()).or_insert_with(|| SyncState {
                confirmed: heads_from_blob(confirmed),
                pending: pending_cursor.map(|c| (u64_of(c), heads_from_blob(pending_heads.unwrap_or_default()))),
                evicted_at: evicted_at.map(u64_of),
            });
        }
        match row.try_get::<_, i32>("part")? {
            0 => {
                pushed_rows.insert(index_row.id.clone(), index_row);
            }
            1 => changed.push(index_row),
            _ => held.push(index_row),
        }
    }
    // Ordered here, not by the statement: a sort in its plan was started on every call (5% of
    // the backends' samples in the `server` bench) for the few rows a sync reads.
    changed.sort_by_key(|row| row.changed_seq);
    held.sort_by_key(|row| row.changed_seq);
    let pushed: Vec<Option<IndexRow>> = query.pushed.iter().map(|id| pushed_rows.remove(id)).collect();
    let states = SyncReads::ticket_ids(query, &changed, &held)
        .into_iter()
        .filter_map(|id| states.remove(&id).map(|state| (id, state)))
        .collect();
    Ok(SyncReads { current_seq, pushed, changed, held, states })
}
