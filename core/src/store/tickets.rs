//! Ticket rows: document chunks and the index table lists are read from.
//!
//! A document is stored as a sequence of chunks: Automerge change chunks appended one per
//! action (or per batch received), and now and then a snapshot (`Automerge::save`) that holds
//! everything before it. Loading reads the newest snapshot and the changes after it into one
//! buffer and parses it once. Chunks older than the newest snapshot are garbage; they are
//! deleted in a later transaction than the one that wrote the snapshot, so a crash between the
//! two leaves a loadable document either way.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::index_sql::{self, IndexReader};
use crate::model::columns::index_fingerprint;
use crate::model::{ListFilter, TicketIndex, TicketQuery, TicketSort, TicketSummary};
use crate::time::Millis;
use crate::workflow::Status;

/// What kind of chunk a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// One or more Automerge change chunks.
    Change,
    /// A whole saved document.
    Snapshot,
}

impl ChunkKind {
    fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Change => "change",
            ChunkKind::Snapshot => "snapshot",
        }
    }
}

/// Where an appended chunk landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: i64,
    /// How many change chunks now follow the newest snapshot: the compaction trigger.
    pub changes_since_snapshot: i64,
}

/// Appends a chunk after the ticket's last one.
pub fn append_chunk(tx: &Connection, ticket_id: &str, kind: ChunkKind, bytes: &[u8]) -> Result<Appended, StoreError> {
    // One pass over the ticket's chunks for both numbers. The changes after the newest snapshot
    // are numbered without gaps (chunks are only ever deleted below a snapshot), so their count
    // is a subtraction.
    let (last, snapshot): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(CASE WHEN kind = 'snapshot' THEN seq END), 0)
             FROM doc_chunks WHERE ticket_id = ?1",
        )?
        .query_row([ticket_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let seq = last + 1;
    tx.prepare_cached("INSERT INTO doc_chunks (ticket_id, seq, kind, bytes) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![ticket_id, seq, kind.as_str(), bytes])?;
    let changes_since_snapshot = match kind {
        ChunkKind::Snapshot => 0,
        ChunkKind::Change => seq - snapshot,
    };
    Ok(Appended { seq, changes_since_snapshot })
}

/// The sequence number of the newest snapshot (0 when there is none).
fn latest_snapshot_seq(tx: &Connection, ticket_id: &str) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM doc_chunks WHERE ticket_id = ?1 AND kind = 'snapshot'")?
        .query_row([ticket_id], |row| row.get(0))?)
}

/// The bytes to load a ticket from: newest snapshot, then the changes after it, in one buffer.
/// `None` when the store holds no chunk for the ticket.
pub fn load_bytes(tx: &Connection, ticket_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    // Newest first, down to the newest snapshot: one walk of the primary key.
    let mut stmt = tx.prepare_cached("SELECT kind, bytes FROM doc_chunks WHERE ticket_id = ?1 ORDER BY seq DESC")?;
    let mut rows = stmt.query([ticket_id])?;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    while let Some(row) = rows.next()? {
        chunks.push(row.get(1)?);
        if row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)? == ChunkKind::Snapshot.as_str() {
            break;
        }
    }
    if chunks.is_empty() {
        return Ok(None);
    }
    Ok(Some(chunks.into_iter().rev().flatten().collect()))
}

/// Every chunk of a ticket, oldest first (for tools and the naive-load benchmark).
pub fn all_chunks(tx: &Connection, ticket_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE ticket_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([ticket_id], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the chunks a committed snapshot made redundant; returns how many.
pub fn delete_chunks_before_snapshot(tx: &Connection, ticket_id: &str) -> Result<usize, StoreError> {
    let since = latest_snapshot_seq(tx, ticket_id)?;
    Ok(tx.execute("DELETE FROM doc_chunks WHERE ticket_id = ?1 AND seq < ?2", params![ticket_id, since])?)
}

/// The columns a row's [`TicketIndex`] never moves without a listed field changing: status,
/// assignee and SLA due time, which have b-tree indexes of their own.
const INDEXED: [&str; 3] = ["status", "assignee", "sla_due_at"];

/// The upsert of a whole row: `?1` id, `?2` updated_at, `?3` pending, the index from `?4`.
static UPSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tickets (id, updated_at, pending, quarantined, {columns})
         VALUES (?1, ?2, ?3, NULL, {values})
         ON CONFLICT (id) DO UPDATE SET
            updated_at = excluded.updated_at, pending = excluded.pending, quarantined = NULL, {set}",
        columns = index_sql::column_list(""),
        values = index_sql::placeholders('?', 4),
        set = index_sql::set_excluded(),
    )
});

/// The same row written without touching [`INDEXED`] (the same parameters, those unused).
static NARROW_UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE tickets SET updated_at = ?2, pending = ?3, quarantined = NULL, {set} WHERE id = ?1",
        set = index_sql::set_numbered('?', 4, &INDEXED),
    )
});

/// The index of one ticket rewritten from its document (`?1` id, the index from `?2`).
static REINDEX_SQL: LazyLock<String> =
    LazyLock::new(|| format!("UPDATE tickets SET {set} WHERE id = ?1", set = index_sql::set_numbered('?', 2, &[])));

/// Writes a ticket's index row (insert or replace), clearing any quarantine.
///
/// Most actions (a note, a part, time) leave the indexed columns as they were; then only the
/// other columns are set, so SQLite leaves those index b-trees alone: fewer pages in the WAL,
/// a faster fsync per action (docs/adr/0001).
pub fn upsert_summary(tx: &Connection, s: &TicketSummary) -> Result<(), StoreError> {
    let indexed: Option<(String, Option<String>, Option<i64>)> = tx
        .prepare_cached("SELECT status, assignee, sla_due_at FROM tickets WHERE id = ?1")?
        .query_row([&s.id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let unchanged = indexed.is_some_and(|(status, assignee, sla_due_at)| {
        status == s.status.as_str() && assignee == s.assignee && sla_due_at == s.sla_due_at
    });
    let sql = if unchanged { NARROW_UPDATE_SQL.as_str() } else { UPSERT_SQL.as_str() };
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&s.id, &s.updated_at, &s.pending];
    let index = s.index.values();
    values.extend(index.iter().map(|v| v as &dyn rusqlite::ToSql));
    tx.prepare_cached(sql)?.execute(values.as_slice())?;
    Ok(())
}

/// Marks a ticket as set aside with a reason (its row stays listed, flagged).
pub fn quarantine(tx: &Connection, ticket_id: &str, reason: &str, now: Millis) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO tickets (id, quarantined, updated_at, {columns}) VALUES (?1, ?2, ?3, {values})
             ON CONFLICT (id) DO UPDATE SET quarantined = excluded.quarantined",
            columns = index_sql::column_list(""),
            values = index_sql::placeholders('?', 4),
        )
    });
    let empty = TicketIndex::default().values();
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&ticket_id, &reason, &now];
    values.extend(empty.iter().map(|v| v as &dyn rusqlite::ToSql));
    tx.execute(&SQL, values.as_slice())?;
    Ok(())
}

/// The fingerprint of the index columns the rows were last computed under (`meta`).
const INDEX_FINGERPRINT_KEY: &str = "index_fingerprint";

/// Recomputes every ticket's index from its document when the rows were written under another
/// index (a column added since, or [`crate::model::INDEX_REVISION`] bumped), so a new column
/// holds the truth for old tickets too; returns how many rows were rewritten. A document that
/// does not load keeps its row as it was (loading it later quarantines it).
pub fn reindex_if_stale(tx: &Connection) -> Result<usize, StoreError> {
    let fingerprint = index_fingerprint().to_string();
    if get_meta(tx, INDEX_FINGERPRINT_KEY)?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(0);
    }
    let ids: Vec<String> = tx
        .prepare("SELECT id FROM tickets WHERE quarantined IS NULL ORDER BY id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rewritten = 0;
    for id in ids {
        let Some(bytes) = load_bytes(tx, &id)? else { continue };
        let Ok(document) = automerge::Automerge::load(&bytes) else { continue };
        let index = TicketIndex::of(&document, &crate::model::doc::derive(&document));
        let values = index.values();
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&id];
        params.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
        tx.prepare_cached(&REINDEX_SQL)?.execute(params.as_slice())?;
        rewritten += 1;
    }
    set_meta(tx, INDEX_FINGERPRINT_KEY, &fingerprint)?;
    Ok(rewritten)
}

/// Whether the store has the ticket at all.
pub fn exists(tx: &Connection, ticket_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM doc_chunks WHERE ticket_id = ?1 LIMIT 1")?
        .query_row([ticket_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What a row holds besides its index.
const ROW_COLUMNS: &str = "id, updated_at, pending, quarantined, rejected";

/// Every column a summary is read from.
static SUMMARY_COLUMNS: LazyLock<String> = LazyLock::new(|| format!("{ROW_COLUMNS}, {}", index_sql::column_list("")));

/// Rows of `statement` as summaries, read by column name.
fn summaries(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<TicketSummary>, StoreError> {
    let reader = IndexReader::new(statement);
    let rows = statement.query_map(params, |row| summary_from_row(&reader, row))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn summary_from_row(reader: &IndexReader, row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketSummary> {
    Ok(TicketSummary {
        id: row.get("id")?,
        index: reader.read(row)?,
        updated_at: row.get("updated_at")?,
        pending: row.get("pending")?,
        quarantined: row.get("quarantined")?,
        rejected: row.get("rejected")?,
    })
}

/// Lists index rows matching `filter`: most urgent deadline first, then newest.
pub fn list(tx: &Connection, filter: &ListFilter) -> Result<Vec<TicketSummary>, StoreError> {
    query(tx, &TicketQuery { filter: filter.clone(), ..TicketQuery::default() })
}

/// Lists index rows matching the query's filter, in its order, at most its limit.
pub fn query(tx: &Connection, query: &TicketQuery) -> Result<Vec<TicketSummary>, StoreError> {
    let (mut sql, mut args) = filtered(&format!("SELECT {} FROM tickets", *SUMMARY_COLUMNS), &query.filter);
    const URGENCY: &str = "sla_due_at IS NULL, sla_due_at, updated_at DESC, id";
    let order = match query.sort {
        TicketSort::Urgency => URGENCY.to_owned(),
        TicketSort::RecentlyUpdated => "updated_at DESC, id".to_owned(),
        TicketSort::Priority => {
            format!("CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, {URGENCY}")
        }
        TicketSort::Title => "title COLLATE NOCASE, id".to_owned(),
    };
    sql.push_str(&format!(" ORDER BY {order}"));
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ?");
        args.push(i64::from(limit).into());
    }
    summaries(&mut tx.prepare_cached(&sql)?, rusqlite::params_from_iter(args))
}

/// Which of `ids` match `filter` now (rows that no longer exist match nothing).
pub fn matching_ids(tx: &Connection, filter: &ListFilter, ids: &[String]) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (mut sql, mut args) = filtered("SELECT id FROM tickets", filter);
    let marks = vec!["?"; ids.len()].join(", ");
    sql.push_str(&format!(" AND id IN ({marks})"));
    args.extend(ids.iter().map(|id| id.clone().into()));
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `select` with the WHERE clause of `filter`, and its arguments.
fn filtered(select: &str, filter: &ListFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("{select} WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
        args.extend(filter.statuses.iter().map(|s| s.as_str().to_owned().into()));
    }
    if let Some(assignee) = &filter.assignee {
        sql.push_str(" AND assignee = ?");
        args.push(assignee.clone().into());
    }
    if let Some(before) = filter.sla_due_before {
        sql.push_str(" AND sla_due_at < ?");
        args.push(before.into());
    }
    if let Some(ticket_type) = &filter.ticket_type {
        sql.push_str(" AND ticket_type = ?");
        args.push(ticket_type.clone().into());
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
        sql.push_str(r" AND (title LIKE ? ESCAPE '\' OR customer_name LIKE ? ESCAPE '\')");
        let escaped = text.replace('\\', r"\\").replace('%', r"\%").replace('_', r"\_");
        let pattern = format!("%{escaped}%");
        args.push(pattern.clone().into());
        args.push(pattern.into());
    }
    (sql, args)
}

/// One ticket's index row.
pub fn summary(tx: &Connection, ticket_id: &str) -> Result<Option<TicketSummary>, StoreError> {
    Ok(summaries(
        &mut tx.prepare_cached(&format!("SELECT {} FROM tickets WHERE id = ?1", *SUMMARY_COLUMNS))?,
        [ticket_id],
    )?
    .pop())
}

/// How many tickets are in each status (statuses with none are left out).
pub fn counts_by_status(tx: &Connection) -> Result<Vec<(Status, u64)>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT status, COUNT(*) FROM tickets GROUP BY status")?;
    let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
    let mut counts = Vec::new();
    for row in rows {
        let (status, count) = row?;
        if let Some(status) = Status::parse(&status) {
            counts.push((status, u64::try_from(count).unwrap_or(0)));
        }
    }
    counts.sort();
    Ok(counts)
}

/// Reads a metadata value.
pub fn get_meta(tx: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(tx.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |row| row.get(0)).optional()?)
}

/// Writes a metadata value.
pub fn set_meta(tx: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// Tickets with local changes the server has not acknowledged, each with the heads the server
/// is known to have of it (empty when it has none yet), in one query.
pub fn pending_with_server_heads(tx: &Connection) -> Result<Vec<(String, Vec<automerge::ChangeHash>)>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.id, s.server_heads FROM tickets t LEFT JOIN sync_state s ON s.ticket_id = t.id
         WHERE t.pending = 1 AND t.quarantined IS NULL ORDER BY t.id",
    )?;
    let rows = stmt.query_map([], |row| {
        let heads: Option<Vec<u8>> = row.get(1)?;
        Ok((row.get(0)?, heads_from_bytes(&heads.unwrap_or_default())))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn heads_from_bytes(bytes: &[u8]) -> Vec<automerge::ChangeHash> {
    bytes.chunks_exact(32).filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(automerge::ChangeHash)).collect()
}

/// Records the heads the server has of a ticket.
pub fn set_server_heads(tx: &Connection, ticket_id: &str, heads: &[automerge::ChangeHash]) -> Result<(), StoreError> {
    let bytes: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
    tx.prepare_cached(
        "INSERT INTO sync_state (ticket_id, server_heads) VALUES (?1, ?2)
         ON CONFLICT (ticket_id) DO UPDATE SET server_heads = excluded.server_heads",
    )?
    .execute(params![ticket_id, bytes])?;
    Ok(())
}

/// Sets or clears a ticket's pending flag and the server's reason for refusing it.
pub fn set_sync_flags(
    tx: &Connection,
    ticket_id: &str,
    pending: bool,
    rejected: Option<&str>,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE tickets SET pending = ?2, rejected = ?3 WHERE id = ?1")?
        .execute(params![ticket_id, pending, rejected])?;
    Ok(())
}

/// Records the server's reason for refusing a ticket's push, leaving the pending flag as it is:
/// a refusal never says what the server holds, only its heads do.
pub fn set_rejected(tx: &Connection, ticket_id: &str, reason: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE tickets SET rejected = ?2 WHERE id = ?1")?.execute(params![ticket_id, reason])?;
    Ok(())
}

/// Marks a ticket pending without touching its reason: the next sync says what it holds.
pub fn set_pending(tx: &Connection, ticket_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE tickets SET pending = 1 WHERE id = ?1")?.execute([ticket_id])?;
    Ok(())
}

/// Removes every trace of a ticket from the store (the server evicted it).
pub fn evict(tx: &Connection, ticket_id: &str) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM doc_chunks WHERE ticket_id = ?1",
        "DELETE FROM tickets WHERE id = ?1",
        "DELETE FROM sync_state WHERE ticket_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([ticket_id])?;
    }
    Ok(())
}

/// How many tickets have unacknowledged local changes.
pub fn pending_count(tx: &Connection) -> Result<u64, StoreError> {
    let count: i64 =
        tx.prepare_cached("SELECT COUNT(*) FROM tickets WHERE pending = 1")?.query_row([], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
