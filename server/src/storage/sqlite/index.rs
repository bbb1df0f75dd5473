//! The ticket index on the server's SQLite (docs/adr/0025): the row written with a ticket, rows
//! read by column name, and the reindex from documents when the index changed. Every column
//! list comes from the core's [`fieldsync_core::model::INDEX_COLUMNS`].

use std::sync::LazyLock;

use fieldsync_core::model::columns::index_fingerprint;
use fieldsync_core::store::index_sql::{self, IndexReader};
use rusqlite::{Connection, OptionalExtension, Row, Statement, ToSql, TransactionBehavior};

use crate::storage::{INDEX_FINGERPRINT_COUNTER, IndexRow, StorageError, index_of_stored, u64_of};

/// The upsert of a ticket's row: `?1` id, `?2` updated_at, `?3` changed_seq, `?4` version, `?5`
/// the stored document's heads, the index from `?6`.
static SAVE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tickets (id, updated_at, changed_seq, version, heads, {columns})
         VALUES (?1, ?2, ?3, ?4, ?5, {values})
         ON CONFLICT (id) DO UPDATE SET
            updated_at = excluded.updated_at, changed_seq = excluded.changed_seq, version = excluded.version,
            heads = excluded.heads, {set}",
        columns = index_sql::column_list(""),
        values = index_sql::placeholders('?', 6),
        set = index_sql::set_excluded(),
    )
});

/// Writes `row` (its `changed_seq` replaced by `seq`) at `version`, with the heads of the
/// document as this write leaves it (`None`: not known).
pub(super) fn save(
    tx: &Connection,
    row: &IndexRow,
    seq: i64,
    version: i64,
    heads: Option<&[u8]>,
) -> Result<(), StorageError> {
    let values = row.index.values();
    let mut params: Vec<&dyn ToSql> = vec![&row.id, &row.updated_at, &seq, &version, &heads];
    params.extend(values.iter().map(|v| v as &dyn ToSql));
    tx.prepare_cached(&SAVE_SQL)?.execute(params.as_slice())?;
    Ok(())
}

/// Writes only the row's own columns of ticket `id` (its index columns stay as stored: see
/// [`crate::storage::TicketWrite::index_unchanged`]); returns whether the row exists. An
/// `UPDATE` that sets no index column leaves every index that does not hold `changed_seq`
/// untouched: 7.4 WAL pages per write against the whole row's 12.2 (1,000 writes to 3,000
/// tickets with this schema).
pub(super) fn save_own_columns(
    tx: &Connection,
    id: &str,
    updated_at: i64,
    seq: i64,
    version: i64,
    heads: Option<&[u8]>,
) -> Result<bool, StorageError> {
    let updated = tx
        .prepare_cached("UPDATE tickets SET updated_at = ?2, changed_seq = ?3, version = ?4, heads = ?5 WHERE id = ?1")?
        .execute(rusqlite::params![id, updated_at, seq, version, heads])?;
    Ok(updated == 1)
}

/// Where a statement's row columns are, found by name once per statement.
pub(super) struct RowReader {
    index: IndexReader,
    id: usize,
    updated_at: usize,
    changed_seq: usize,
}

impl RowReader {
    pub(super) fn new(statement: &Statement<'_>) -> rusqlite::Result<RowReader> {
        Ok(RowReader {
            index: IndexReader::new(statement),
            id: statement.column_index("id")?,
            updated_at: statement.column_index("updated_at")?,
            changed_seq: statement.column_index("changed_seq")?,
        })
    }

    /// One row.
    pub(super) fn read(&self, row: &Row<'_>) -> rusqlite::Result<IndexRow> {
        Ok(IndexRow {
            id: row.get(self.id)?,
            index: self.index.read(row)?,
            updated_at: row.get(self.updated_at)?,
            changed_seq: u64_of(row.get(self.changed_seq)?),
        })
    }
}

/// The rows `sql` (selecting [`crate::storage::ROW_COLUMNS`]) returns for `params`.
pub(super) fn query_rows(
    tx: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<IndexRow>, StorageError> {
    let mut statement = tx.prepare_cached(sql)?;
    let reader = RowReader::new(&statement)?;
    let rows = statement.query_map(params, |row| reader.read(row))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Recomputes every ticket's index from its stored document when the rows were computed under
/// another index (a column added since), in one transaction; returns how many rows it wrote.
/// `changed_seq` and `version` stay as they were: devices compute their own index.
pub(super) fn reindex_if_stale(conn: &mut Connection) -> Result<usize, StorageError> {
    static REINDEX_SQL: LazyLock<String> =
        LazyLock::new(|| format!("UPDATE tickets SET {} WHERE id = ?1", index_sql::set_numbered('?', 2, &[])));
    let fingerprint = index_fingerprint();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored: Option<i64> = tx
        .query_row("SELECT value FROM counters WHERE name = ?1", [INDEX_FINGERPRINT_COUNTER], |row| row.get(0))
        .optional()?;
    if stored == Some(fingerprint) {
        return Ok(0);
    }
    let ids: Vec<String> =
        tx.prepare("SELECT id FROM tickets ORDER BY id")?.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    let mut rewritten = 0;
    {
        let mut chunks = tx.prepare("SELECT bytes FROM doc_chunks WHERE ticket_id = ?1 ORDER BY seq")?;
        let mut update = tx.prepare(&REINDEX_SQL)?;
        for id in &ids {
            let mut bytes = Vec::new();
            for chunk in chunks.query_map([id], |row| row.get::<_, Vec<u8>>(0))? {
                bytes.extend_from_slice(&chunk?);
            }
            let Some(index) = index_of_stored(&bytes) else { continue };
            let values = index.values();
            let mut params: Vec<&dyn ToSql> = vec![id];
            params.extend(values.iter().map(|v| v as &dyn ToSql));
            update.execute(params.as_slice())?;
            rewritten += 1;
        }
    }
    tx.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        rusqlite::params![INDEX_FINGERPRINT_COUNTER, fingerprint],
    )?;
    tx.commit()?;
    Ok(rewritten)
}
