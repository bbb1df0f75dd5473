//! [`ManagerStorage`] on PostgreSQL.

use fieldsync_core::time::Millis;

use super::PostgresStorage;
use super::pool::Tx;
use crate::storage::StorageError;
use crate::storage::i64_of;
use crate::storage::manager::{EscalationClaim, EscalationRecord, ManagerStorage, SettingRecord};

/// The step that adds the ticket type and escalation flag to the index, the settings with their
/// change log, and escalation claims (PostgreSQL migration 5, SQLite's 7; docs/adr/0014).
pub(super) const MIGRATION: &str = r#"
    ALTER TABLE tickets ADD COLUMN ticket_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN escalated BOOLEAN NOT NULL DEFAULT FALSE;
    CREATE INDEX tickets_by_type ON tickets (ticket_type);
    CREATE TABLE manager_settings (
        name       TEXT PRIMARY KEY,
        json       TEXT   NOT NULL,
        version    BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        updated_by TEXT   NOT NULL
    );
    CREATE TABLE manager_setting_changes (
        name       TEXT   NOT NULL,
        version    BIGINT NOT NULL,
        json       TEXT   NOT NULL,
        updated_at BIGINT NOT NULL,
        updated_by TEXT   NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE escalations (
        id          TEXT PRIMARY KEY,
        ticket_id   TEXT   NOT NULL,
        rule_id     TEXT   NOT NULL,
        clock       TEXT   NOT NULL,
        deadline    BIGINT NOT NULL,
        state       TEXT   NOT NULL CHECK (state IN ('claimed', 'done')),
        lease_owner TEXT,
        lease_until BIGINT,
        summary     TEXT   NOT NULL DEFAULT '',
        created_at  BIGINT NOT NULL,
        done_at     BIGINT
    );
    CREATE INDEX escalations_by_time ON escalations (created_at);
"#;

fn setting_row(row: &postgres::Row) -> Result<SettingRecord, postgres::Error> {
    Ok(SettingRecord {
        name: row.try_get(0)?,
        json: row.try_get(1)?,
        version: row.try_get(2)?,
        updated_at: row.try_get(3)?,
        updated_by: row.try_get(4)?,
    })
}

/// Gives every pooled ticket the next change sequence number, one each, in their old order.
const RESEQUENCE_POOL: &str = "
    WITH pooled AS (
        SELECT id, row_number() OVER (ORDER BY changed_seq, id) AS n FROM tickets WHERE status = 'pooled'
    ), counter AS (
        UPDATE counters SET value = value + (SELECT count(*) FROM pooled) WHERE name = 'change_seq'
        RETURNING value - (SELECT count(*) FROM pooled) AS base
    )
    UPDATE tickets t SET changed_seq = counter.base + pooled.n FROM pooled, counter WHERE t.id = pooled.id";

/// Writes setting `name` and logs the write; returns its new version.
fn insert_setting(tx: &mut Tx<'_>, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
    let version: i64 = tx
        .query_one(
            "INSERT INTO manager_settings (name, json, version, updated_at, updated_by)
             VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (name) DO UPDATE SET json = excluded.json,
                version = manager_settings.version + 1,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by
             RETURNING version",
            &[&name, &json, &at, &by],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO manager_setting_changes (name, version, json, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5)",
        &[&name, &version, &json, &at, &by],
    )?;
    Ok(version)
}

impl ManagerStorage for PostgresStorage {
    fn setting(&self, name: &str) -> Result<Option<SettingRecord>, StorageError> {
        self.read(|tx| {
            let row = tx.query_opt(
                "SELECT name, json, version, updated_at, updated_by FROM manager_settings WHERE name = $1",
                &[&name],
            )?;
            Ok(row.as_ref().map(setting_row).transpose()?)
        })
    }

    fn put_setting(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
        self.write(|tx| insert_setting(tx, name, json, by, at))
    }

    fn put_setting_resequencing_pool(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
        self.write(|tx| {
            // The counter's row lock first, held to commit: a ticket write waits behind it, so the
            // next statement sees every pooled ticket committed before, and a ticket pooled later
            // takes a higher number, whose readers see this setting too.
            tx.query_one("SELECT value FROM counters WHERE name = 'change_seq' FOR UPDATE", &[])?;
            let version = insert_setting(tx, name, json, by, at)?;
            tx.execute(RESEQUENCE_POOL, &[])?;
            Ok(version)
        })
    }

    fn setting_changes(&self, name: &str, limit: usize) -> Result<Vec<SettingRecord>, StorageError> {
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let rows = tx.query(
                "SELECT name, json, version, updated_at, updated_by FROM manager_setting_changes
                 WHERE name = $1 ORDER BY version DESC LIMIT $2",
                &[&name, &limit],
            )?;
            Ok(rows.iter().map(setting_row).collect::<Result<_, _>>()?)
        })
    }

    fn claim_escalation(
        &self,
        claim: &EscalationClaim,
        owner: &str,
        lease_until: Millis,
        now: Millis,
    ) -> Result<bool, StorageError> {
        self.write(|tx| {
            // A concurrent insert of the same id waits for the first one's row and then sees it
            // held: one statement, one winner.
            let changed = tx.execute(
                "INSERT INTO escalations (id, ticket_id, rule_id, clock, deadline, state, lease_owner,
                                          lease_until, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'claimed', $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET lease_owner = excluded.lease_owner,
                    lease_until = excluded.lease_until
                 WHERE escalations.state = 'claimed'
                   AND (escalations.lease_owner = excluded.lease_owner OR escalations.lease_until < $8)",
                &[
                    &claim.id,
                    &claim.ticket_id,
                    &claim.rule_id,
                    &claim.clock,
                    &claim.deadline,
                    &owner,
                    &lease_until,
                    &now,
                ],
            )?;
            Ok(changed == 1)
        })
    }

    fn finish_escalation(&self, id: &str, owner: &str, summary: &str, at: Millis) -> Result<bool, StorageError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE escalations SET state = 'done', summary = $3, done_at = $4, lease_owner = NULL,
                    lease_until = NULL
                 WHERE id = $1 AND state = 'claimed' AND lease_owner = $2",
                &[&id, &owner, &summary, &at],
            )?;
            Ok(changed == 1)
        })
    }

    fn done_escalations(&self, ids: &[String]) -> Result<Vec<String>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let rows = tx.query("SELECT id FROM escalations WHERE state = 'done' AND id = ANY($1)", &[&ids])?;
            Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, postgres::Error>>()?)
        })
    }

    fn escalations(&self, limit: usize) -> Result<Vec<EscalationRecord>, StorageError> {
        let limit = i64_of(limit as u64);
        self.read(|tx| {
            let rows = tx.query(
                "SELECT id, ticket_id, rule_id, clock, deadline, state, summary, created_at, done_at
                 FROM escalations ORDER BY created_at DESC, id LIMIT $1",
                &[&limit],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    Ok(EscalationRecord {
                        id: row.try_get(0)?,
                        ticket_id: row.try_get(1)?,
                        rule_id: row.try_get(2)?,
                        clock: row.try_get(3)?,
                        deadline: row.try_get(4)?,
                        state: row.try_get(5)?,
                        summary: row.try_get(6)?,
                        created_at: row.try_get(7)?,
                        done_at: row.try_get(8)?,
                    })
                })
                .collect::<Result<_, postgres::Error>>()?)
        })
    }
}
