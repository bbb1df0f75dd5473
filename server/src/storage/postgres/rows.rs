//! Rows of the ticket index as read from PostgreSQL.

use fieldsync_core::model::{Priority, Sla};
use fieldsync_core::workflow::Status;
use postgres::Row;
use postgres::types::ToSql;

use super::pool::{Autocommit, Tx};
use crate::storage::{IndexRow, StorageError, u64_of};

pub(super) fn index_row(row: &Row) -> Result<IndexRow, postgres::Error> {
    let status: String = row.try_get(2)?;
    let priority: String = row.try_get(4)?;
    let conflicts: i64 = row.try_get(11)?;
    Ok(IndexRow {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        status: Status::parse(&status).unwrap_or_default(),
        assignee: row.try_get(3)?,
        priority: Priority::parse(&priority).unwrap_or_default(),
        customer_name: row.try_get(5)?,
        customer_address: row.try_get(6)?,
        sla: Sla { respond_by: row.try_get(7)?, arrive_by: row.try_get(8)?, resolve_by: row.try_get(9)? },
        sla_due_at: row.try_get(10)?,
        conflicts: u32::try_from(conflicts).unwrap_or(u32::MAX),
        resolved_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        changed_seq: u64_of(row.try_get(14)?),
        ticket_type: row.try_get(15)?,
        escalated: row.try_get(16)?,
        customer_id: row.try_get(17)?,
        site_id: row.try_get(18)?,
        created_at: row.try_get(19)?,
        responded_at: row.try_get(20)?,
        arrived_at: row.try_get(21)?,
        revisit_due_at: row.try_get(22)?,
        revisited_at: row.try_get(23)?,
        first_time_fix: row.try_get(24)?,
        customer_rating: row.try_get::<_, Option<i16>>(25)?.and_then(|n| u8::try_from(n).ok()),
        complaint: row.try_get(26)?,
        complaint_level: row.try_get(27)?,
        complaint_unit: row.try_get(28)?,
        complaint_product: row.try_get(29)?,
        complaint_tier: row.try_get(30)?,
    })
}

pub(super) fn query_rows(
    tx: &mut Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<IndexRow>, StorageError> {
    Ok(tx.query(sql, params)?.iter().map(index_row).collect::<Result<_, _>>()?)
}

/// [`query_rows`] as one statement on its own (no transaction around it).
pub(super) fn query_rows_alone(
    s: &mut Autocommit<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<IndexRow>, StorageError> {
    Ok(s.query(sql, params)?.iter().map(index_row).collect::<Result<_, _>>()?)
}
