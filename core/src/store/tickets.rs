//! Ticket rows: document chunks and the index table lists are read from.
//!
//! A document is stored as a sequence of chunks: Automerge change chunks appended one per
//! action (or per batch received), and now and then a snapshot (`Automerge::save`) that holds
//! everything before it. Loading reads the newest snapshot and the changes after it into one
//! buffer and parses it once. Chunks older than the newest snapshot are garbage; they are
//! deleted in a later transaction than the one that wrote the snapshot, so a crash between the
//! two leaves a loadable document either way.

use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use crate::model::{ListFilter, Priority, Sla, TicketQuery, TicketSort, TicketSummary};
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
pub fn append_chunk(
    tx: &Transaction<'_>,
    ticket_id: &str,
    kind: ChunkKind,
    bytes: &[u8],
) -> Result<Appended, StoreError> {
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
fn latest_snapshot_seq(tx: &Transaction<'_>, ticket_id: &str) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM doc_chunks WHERE ticket_id = ?1 AND kind = 'snapshot'")?
        .query_row([ticket_id], |row| row.get(0))?)
}

/// The bytes to load a ticket from: newest snapshot, then the changes after it, in one buffer.
/// `None` when the store holds no chunk for the ticket.
pub fn load_bytes(tx: &Transaction<'_>, ticket_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
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
pub fn all_chunks(tx: &Transaction<'_>, ticket_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE ticket_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([ticket_id], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the chunks a committed snapshot made redundant; returns how many.
pub fn delete_chunks_before_snapshot(tx: &Transaction<'_>, ticket_id: &str) -> Result<usize, StoreError> {
    let since = latest_snapshot_seq(tx, ticket_id)?;
    Ok(tx.execute("DELETE FROM doc_chunks WHERE ticket_id = ?1 AND seq < ?2", params![ticket_id, since])?)
}

/// Writes a ticket's index row (insert or replace), clearing any quarantine.
///
/// Most actions (a note, a part, time) leave the indexed columns as they were; then only the
/// other columns are set, so SQLite leaves the three index b-trees alone: fewer pages in the
/// WAL, a faster fsync per action (docs/adr/0001).
pub fn upsert_summary(tx: &Transaction<'_>, s: &TicketSummary) -> Result<(), StoreError> {
    let indexed: Option<(String, Option<String>, Option<i64>)> = tx
        .prepare_cached("SELECT status, assignee, sla_due_at FROM tickets WHERE id = ?1")?
        .query_row([&s.id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let unchanged = indexed.is_some_and(|(status, assignee, sla_due_at)| {
        status == s.status.as_str() && assignee == s.assignee && sla_due_at == s.sla_due_at
    });
    // One parameter list for both statements: the narrow update leaves ?3, ?4 and ?11 (the
    // indexed status, assignee and SLA due time) unused.
    let values = params![
        s.id,
        s.title,
        s.status.as_str(),
        s.assignee,
        s.priority.as_str(),
        s.customer_name,
        s.customer_address,
        s.sla.respond_by,
        s.sla.arrive_by,
        s.sla.resolve_by,
        s.sla_due_at,
        s.conflicts,
        s.updated_at,
        s.pending,
        s.ticket_type,
    ];
    let sql = if unchanged {
        "UPDATE tickets SET title = ?2, priority = ?5, customer_name = ?6, customer_address = ?7,
            respond_by = ?8, arrive_by = ?9, resolve_by = ?10, conflicts = ?12, updated_at = ?13,
            pending = ?14, quarantined = NULL, ticket_type = ?15
         WHERE id = ?1"
    } else {
        "INSERT INTO tickets (id, title, status, assignee, priority, customer_name, customer_address,
                              respond_by, arrive_by, resolve_by, sla_due_at, conflicts, updated_at,
                              pending, quarantined, ticket_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, ?15)
         ON CONFLICT (id) DO UPDATE SET
            title = excluded.title, status = excluded.status, assignee = excluded.assignee,
            priority = excluded.priority, customer_name = excluded.customer_name,
            customer_address = excluded.customer_address, respond_by = excluded.respond_by,
            arrive_by = excluded.arrive_by, resolve_by = excluded.resolve_by,
            sla_due_at = excluded.sla_due_at, conflicts = excluded.conflicts,
            updated_at = excluded.updated_at, pending = excluded.pending, quarantined = NULL,
            ticket_type = excluded.ticket_type"
    };
    tx.prepare_cached(sql)?.execute(values)?;
    Ok(())
}

/// Marks a ticket as set aside with a reason (its row stays listed, flagged).
pub fn quarantine(tx: &Transaction<'_>, ticket_id: &str, reason: &str, now: Millis) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tickets (id, title, status, priority, customer_name, customer_address, updated_at, quarantined)
         VALUES (?1, '', 'new', 'normal', '', '', ?3, ?2)
         ON CONFLICT (id) DO UPDATE SET quarantined = excluded.quarantined",
        params![ticket_id, reason, now],
    )?;
    Ok(())
}

/// Whether the store has the ticket at all.
pub fn exists(tx: &Transaction<'_>, ticket_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM doc_chunks WHERE ticket_id = ?1 LIMIT 1")?
        .query_row([ticket_id], |_| Ok(()))
        .optional()?
        .is_some())
}

const SUMMARY_COLUMNS: &str = "id, title, status, assignee, priority, customer_name, customer_address,
     respond_by, arrive_by, resolve_by, sla_due_at, conflicts, updated_at, pending, quarantined, rejected, ticket_type";

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketSummary> {
    let status: String = row.get(2)?;
    let priority: String = row.get(4)?;
    Ok(TicketSummary {
        id: row.get(0)?,
        title: row.get(1)?,
        status: Status::parse(&status).unwrap_or_default(),
        assignee: row.get(3)?,
        priority: Priority::parse(&priority).unwrap_or_default(),
        customer_name: row.get(5)?,
        customer_address: row.get(6)?,
        sla: Sla { respond_by: row.get(7)?, arrive_by: row.get(8)?, resolve_by: row.get(9)? },
        sla_due_at: row.get(10)?,
        conflicts: row.get(11)?,
        updated_at: row.get(12)?,
        pending: row.get(13)?,
        quarantined: row.get(14)?,
        rejected: row.get(15)?,
        ticket_type: row.get(16)?,
    })
}

/// Lists index rows matching `filter`: most urgent deadline first, then newest.
pub fn list(tx: &Transaction<'_>, filter: &ListFilter) -> Result<Vec<TicketSummary>, StoreError> {
    query(tx, &TicketQuery { filter: filter.clone(), ..TicketQuery::default() })
}

/// Lists index rows matching the query's filter, in its order, at most its limit.
pub fn query(tx: &Transaction<'_>, query: &TicketQuery) -> Result<Vec<TicketSummary>, StoreError> {
    let (mut sql, mut args) = filtered(&format!("SELECT {SUMMARY_COLUMNS} FROM tickets"), &query.filter);
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
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), summary_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Which of `ids` match `filter` now (rows that no longer exist match nothing).
pub fn matching_ids(tx: &Transaction<'_>, filter: &ListFilter, ids: &[String]) -> Result<Vec<String>, StoreError> {
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
pub fn summary(tx: &Transaction<'_>, ticket_id: &str) -> Result<Option<TicketSummary>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("SELECT {SUMMARY_COLUMNS} FROM tickets WHERE id = ?1"))?
        .query_row([ticket_id], summary_from_row)
        .optional()?)
}

/// How many tickets are in each status (statuses with none are left out).
pub fn counts_by_status(tx: &Transaction<'_>) -> Result<Vec<(Status, u64)>, StoreError> {
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
pub fn get_meta(tx: &Transaction<'_>, key: &str) -> Result<Option<String>, StoreError> {
    Ok(tx.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |row| row.get(0)).optional()?)
}

/// Writes a metadata value.
pub fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// Tickets with local changes the server has not acknowledged, each with the heads the server
/// is known to have of it (empty when it has none yet), in one query.
pub fn pending_with_server_heads(
    tx: &Transaction<'_>,
) -> Result<Vec<(String, Vec<automerge::ChangeHash>)>, StoreError> {
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
pub fn set_server_heads(
    tx: &Transaction<'_>,
    ticket_id: &str,
    heads: &[automerge::ChangeHash],
) -> Result<(), StoreError> {
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
    tx: &Transaction<'_>,
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
pub fn set_rejected(tx: &Transaction<'_>, ticket_id: &str, reason: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE tickets SET rejected = ?2 WHERE id = ?1")?.execute(params![ticket_id, reason])?;
    Ok(())
}

/// Marks a ticket pending without touching its reason: the next sync says what it holds.
pub fn set_pending(tx: &Transaction<'_>, ticket_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE tickets SET pending = 1 WHERE id = ?1")?.execute([ticket_id])?;
    Ok(())
}

/// Removes every trace of a ticket from the store (the server evicted it).
pub fn evict(tx: &Transaction<'_>, ticket_id: &str) -> Result<(), StoreError> {
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
pub fn pending_count(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let count: i64 =
        tx.prepare_cached("SELECT COUNT(*) FROM tickets WHERE pending = 1")?.query_row([], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
