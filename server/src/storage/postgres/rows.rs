//! The ticket index on PostgreSQL (docs/adr/0025): the row written with a ticket, rows read by
//! column name, and the reindex from documents when the index changed. Every column list comes
//! from the core's [`fieldsync_core::model::INDEX_COLUMNS`]; each column's kind says its
//! PostgreSQL type (`BIGINT`, `SMALLINT`, `BOOLEAN`, `TEXT`).

use std::sync::LazyLock;

use fieldsync_core::model::columns::{ColumnKind, ColumnValue, index_fingerprint};
use fieldsync_core::model::{INDEX_COLUMNS, TicketIndex};
use fieldsync_core::store::index_sql;
use postgres::Row;
use postgres::types::ToSql;

use super::pool::{Autocommit, RunsStatements, Tx};
use crate::storage::{INDEX_FINGERPRINT_COUNTER, IndexRow, StorageError, index_of_stored, u64_of};

/// A whole ticket write in one statement, committed by itself: the version check, the push's
/// records (the change chunk, numbered after the ticket's last, the pushing device's sync state,
/// the change log), the next change sequence number, the ticket's row upserted with it and the
/// notification of every listening instance with that number (delivered at commit, in commit
/// order). `$1` channel, `$2` payload after the number, `$3` id, `$4` updated_at, `$5` the new
/// version, `$6` the stored document's heads, the index from `$7`; after the index's: the change
/// log's hashes, devices and times, the version the writer read (`NULL`: a new ticket), the
/// change chunk's bytes (`NULL`: none), and the pushing device with its confirmed heads (`NULL`:
/// not written). Returns the sequence number, how many change chunks followed the last snapshot
/// before this write and the number the change chunk took ([`RowSaved`]).
/// [`SAVE_KNOWN_CHUNKS_SQL`] is the same write by a writer that knows the ticket's chunks
/// (`TicketWrite::chunks`): the new chunk's number is its last parameter, nothing of
/// `doc_chunks` is read, and the count it returns is 0.
///
/// Writers of one ticket need no lock of their own (docs/adr/0033): the version
/// is checked twice, in the statement's snapshot (`state`: the ticket is as the writer read it,
/// or absent for a new one) and on the row's latest committed version (`ON CONFLICT … WHERE`,
/// which waits for a concurrent writer of the row and reads what it committed); two writers of
/// one ticket that both pass the first number the same chunk, and the second waits on the
/// first's and fails on the key. Either way the statement fails whole ([`VERSION_CONFLICT`] or a
/// unique violation) and nothing of it stays. The lock on the counter row is held to commit:
/// commits come in sequence order, which the cursors rely on (docs/adr/0006). The counter's
/// condition reads the records' results, so they are written (as its init plans) before the
/// counter row is locked: the lock covers the row's upsert and the commit only.
pub(super) static SAVE_SQL: LazyLock<String> = LazyLock::new(|| save_sql(false));
/// See [`SAVE_SQL`]: the chunk state comes from the writer (read by the statement, it cost
/// 35 µs of PostgreSQL's CPU a write, docs/adr/0036).
pub(super) static SAVE_KNOWN_CHUNKS_SQL: LazyLock<String> = LazyLock::new(|| save_sql(true));

fn save_sql(known_chunks: bool) -> String {
    let n = 7 + INDEX_COLUMNS.len();
    let [hashes, devices, times, expected, chunk, holder, confirmed, next] = std::array::from_fn(|i| n + i);
    let chunks = if known_chunks {
        format!("${next}::BIGINT AS next_chunk, 0::BIGINT AS chunks_before")
    } else {
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM doc_chunks WHERE ticket_id = $3) AS next_chunk,
         (SELECT COUNT(*) FROM doc_chunks WHERE ticket_id = $3 AND seq > (SELECT COALESCE(MAX(seq), 0)
          FROM doc_chunks WHERE ticket_id = $3 AND kind = 'snapshot')) AS chunks_before"
            .to_owned()
    };
    format!(
        "WITH state AS (SELECT (SELECT version FROM tickets WHERE id = $3) AS current, {chunks}),
              chunk AS (INSERT INTO doc_chunks (ticket_id, seq, kind, bytes)
                        SELECT $3, next_chunk, 'change', ${chunk}::BYTEA FROM state WHERE ${chunk}::BYTEA IS NOT NULL
                        RETURNING 1),
              held AS (INSERT INTO sync_state (device_id, ticket_id, confirmed, pending_cursor, pending_heads,
                                               evicted_at)
                       SELECT ${holder}::TEXT, $3, ${confirmed}::BYTEA, NULL, NULL, NULL WHERE ${holder}::TEXT IS NOT NULL
                       ON CONFLICT (device_id, ticket_id) DO UPDATE SET confirmed = excluded.confirmed,
                          pending_cursor = NULL, pending_heads = NULL, evicted_at = NULL
                       RETURNING 1),
              logged AS (INSERT INTO change_log (ticket_id, change_hash, device_id, received_at)
                         SELECT $3, h, d, r
                         FROM UNNEST(${hashes}::TEXT[], ${devices}::TEXT[], ${times}::BIGINT[]) AS l (h, d, r)
                         ON CONFLICT DO NOTHING
                         RETURNING 1),
              s AS (UPDATE counters SET value = value + 1
                    WHERE name = 'change_seq'
                      AND (SELECT COUNT(*) FROM chunk) + (SELECT COUNT(*) FROM held) + (SELECT COUNT(*) FROM logged) >= 0
                    RETURNING value),
              saved AS (
                INSERT INTO tickets (id, updated_at, changed_seq, version, heads, {columns})
                VALUES ($3, $4, (SELECT value FROM s), $5, $6, {values})
                ON CONFLICT (id) DO UPDATE SET
                   updated_at = excluded.updated_at, changed_seq = excluded.changed_seq, version = excluded.version,
                   heads = excluded.heads, {set}
                WHERE tickets.version = ${expected}::BIGINT
                RETURNING 1)
         SELECT CASE WHEN EXISTS (SELECT 1 FROM saved) AND state.current IS NOT DISTINCT FROM ${expected}::BIGINT
                     THEN value ELSE fieldsync_version_conflict($3) END,
                state.chunks_before, state.next_chunk, pg_notify($1, value::TEXT || $2)
         FROM s, state",
        columns = index_sql::column_list(""),
        values = index_sql::placeholders('$', 7),
        set = index_sql::set_excluded(),
    )
}

/// The SQLSTATE of a ticket write that found the ticket written by someone else since the
/// writer read it (raised by `fieldsync_version_conflict`, schema version 13).
pub(super) const VERSION_CONFLICT: &str = "FS409";

/// The index's values as PostgreSQL parameters, each typed by its column's kind.
pub(super) fn parameters(index: &TicketIndex) -> Vec<Box<dyn ToSql + Sync>> {
    index
        .values()
        .into_iter()
        .zip(INDEX_COLUMNS.iter())
        .map(|(value, column)| -> Box<dyn ToSql + Sync> {
            match (column.kind, value) {
                (ColumnKind::Int, ColumnValue::Int(n)) => Box::new(Some(n)),
                (ColumnKind::Int, _) => Box::new(None::<i64>),
                (ColumnKind::SmallInt, ColumnValue::Int(n)) => Box::new(i16::try_from(n).ok()),
                (ColumnKind::SmallInt, _) => Box::new(None::<i16>),
                (ColumnKind::Bool, ColumnValue::Bool(b)) => Box::new(Some(b)),
                (ColumnKind::Bool, _) => Box::new(None::<bool>),
                (ColumnKind::Text, ColumnValue::Text(s)) => Box::new(Some(s)),
                (ColumnKind::Text, _) => Box::new(None::<String>),
            }
        })
        .collect()
}

/// What a push adds beside the ticket's row: the change log, the change chunk and the pushing
/// device's sync state.
pub(super) struct Records<'a> {
    pub(super) hashes: Vec<&'a str>,
    pub(super) devices: Vec<&'a str>,
    pub(super) times: Vec<i64>,
    /// The version the writer read (`None`: a new ticket).
    pub(super) expected: Option<i64>,
    pub(super) chunk: Option<&'a Vec<u8>>,
    pub(super) holder: Option<&'a str>,
    pub(super) confirmed: Vec<u8>,
    /// The change chunk's number, when the writer knows the ticket's chunks.
    pub(super) next_chunk: Option<i64>,
}

/// Writes `records`, takes the next change sequence number, writes `row` with it at `version`
/// and the document's `heads` (`None`: not known), and notifies `channel` with `payload` after
/// the number, in one round trip ([`SAVE_SQL`]). [`StorageError::VersionConflict`] when the
/// ticket is not at `records.expected` (then nothing was written).
pub(super) fn save(
    tx: &mut impl RunsStatements,
    channel: &str,
    payload: &str,
    row: &IndexRow,
    version: i64,
    heads: Option<&[u8]>,
    records: &Records<'_>,
) -> Result<RowSaved, StorageError> {
    let index = parameters(&row.index);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&channel, &payload, &row.id, &row.updated_at, &version, &heads];
    params.extend(index.iter().map(|p| p.as_ref()));
    params.extend([
        &records.hashes as &(dyn ToSql + Sync),
        &records.devices,
        &records.times,
        &records.expected,
        &records.chunk,
        &records.holder,
        &records.confirmed,
    ]);
    let sql: &str = match &records.next_chunk {
        Some(next) => {
            params.push(next);
            &SAVE_KNOWN_CHUNKS_SQL
        }
        None => &SAVE_SQL,
    };
    match tx.query_one(sql, &params) {
        Ok(saved) => Ok(RowSaved { seq: saved.get(0), chunks_before: saved.get(1), next_chunk: saved.get(2) }),
        // A concurrent writer of the ticket numbered the same chunk and committed first.
        Err(e) if is_written_since(&e) => Err(StorageError::VersionConflict(row.id.clone())),
        Err(e) => Err(e.into()),
    }
}

/// What [`save`] wrote.
pub(super) struct RowSaved {
    /// The ticket's new sequence number.
    pub(super) seq: i64,
    /// How many change chunks followed the ticket's last snapshot before (0 when the writer
    /// knew its chunks: not read).
    pub(super) chunks_before: i64,
    /// The number the write's change chunk took, or would have.
    pub(super) next_chunk: i64,
}

/// Whether `e` says a ticket write found the ticket written since its writer read it: the
/// statement's own check, or the key of a chunk a concurrent writer numbered the same.
fn is_written_since(e: &postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else { return false };
    db.code().code() == VERSION_CONFLICT || (super::is_unique_violation(e) && db.table() == Some("doc_chunks"))
}

/// The value of column `i` of `row`, read as `kind`.
fn value(row: &Row, i: usize, kind: ColumnKind) -> Result<ColumnValue, postgres::Error> {
    Ok(match kind {
        ColumnKind::Int => row.try_get::<_, Option<i64>>(i)?.map_or(ColumnValue::Null, ColumnValue::Int),
        ColumnKind::SmallInt => {
            row.try_get::<_, Option<i16>>(i)?.map_or(ColumnValue::Null, |n| ColumnValue::Int(i64::from(n)))
        }
        ColumnKind::Bool => row.try_get::<_, Option<bool>>(i)?.map_or(ColumnValue::Null, ColumnValue::Bool),
        ColumnKind::Text => row.try_get::<_, Option<String>>(i)?.map_or(ColumnValue::Null, ColumnValue::Text),
    })
}

/// Rows selecting [`crate::storage::ROW_COLUMNS`] as index rows, their columns found by name
/// once (from the first row).
pub(super) fn read_rows(rows: &[Row]) -> Result<Vec<IndexRow>, postgres::Error> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let position = |name: &str| first.columns().iter().position(|c| c.name() == name);
    let positions: Vec<Option<usize>> = INDEX_COLUMNS.iter().map(|c| position(c.name)).collect();
    rows.iter()
        .map(|row| {
            let mut values = Vec::with_capacity(positions.len());
            for (i, column) in positions.iter().zip(INDEX_COLUMNS.iter()) {
                values.push(match i {
                    Some(i) => value(row, *i, column.kind)?,
                    None => ColumnValue::Null,
                });
            }
            Ok(IndexRow {
                id: row.try_get("id")?,
                index: TicketIndex::from_values(values),
                updated_at: row.try_get("updated_at")?,
                changed_seq: u64_of(row.try_get("changed_seq")?),
            })
        })
        .collect()
}

/// Recomputes every ticket's index from its stored document when the rows were computed under
/// another index (a column added since); returns how many rows it wrote. Run under the
/// migration lock, so one instance does it. `changed_seq` and `version` stay as they were.
pub(super) fn reindex_if_stale(tx: &mut Tx<'_>) -> Result<usize, StorageError> {
    static REINDEX_SQL: LazyLock<String> =
        LazyLock::new(|| format!("UPDATE tickets SET {} WHERE id = $1", index_sql::set_numbered('$', 2, &[])));
    let fingerprint = index_fingerprint();
    let stored: Option<i64> = tx
        .query_opt("SELECT value FROM counters WHERE name = $1", &[&INDEX_FINGERPRINT_COUNTER])?
        .map(|row| row.get(0));
    if stored == Some(fingerprint) {
        return Ok(0);
    }
    let ids: Vec<String> = tx.query("SELECT id FROM tickets ORDER BY id", &[])?.iter().map(|row| row.get(0)).collect();
    let mut rewritten = 0;
    for id in &ids {
        let mut bytes = Vec::new();
        for row in tx.query("SELECT bytes FROM doc_chunks WHERE ticket_id = $1 ORDER BY seq", &[id])? {
            bytes.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        let Some(index) = index_of_stored(&bytes) else { continue };
        let values = parameters(&index);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![id];
        params.extend(values.iter().map(|p| p.as_ref()));
        tx.execute(&REINDEX_SQL, &params)?;
        rewritten += 1;
    }
    tx.execute(
        "INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&INDEX_FINGERPRINT_COUNTER, &fingerprint],
    )?;
    Ok(rewritten)
}

/// [`query_rows`] as one statement on its own (no transaction around it).
pub(super) fn query_rows_alone(
    s: &mut Autocommit<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<IndexRow>, StorageError> {
    Ok(read_rows(&s.query(sql, params)?)?)
}
