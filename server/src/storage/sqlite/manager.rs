//! [`ManagerStorage`] on SQLite.

use fieldsync_core::time::Millis;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::StorageError;
use crate::storage::i64_of;
use crate::storage::manager::{EscalationClaim, EscalationRecord, ManagerStorage, SettingRecord};

/// The step that adds the ticket type and escalation flag to the index, the settings with their
/// change log, and escalation claims (SQLite migration 7; docs/adr/0014).
pub(crate) const MIGRATION: &str = r#"
    ALTER TABLE tickets ADD COLUMN ticket_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tickets_by_type ON tickets (ticket_type);
    CREATE TABLE manager_settings (
        name       TEXT PRIMARY KEY,
        json       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT    NOT NULL
    ) STRICT;
    CREATE TABLE manager_setting_changes (
        name       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        json       TEXT    NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT    NOT NULL,
        PRIMARY KEY (name, version)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE escalations (
        id          TEXT PRIMARY KEY,
        ticket_id   TEXT    NOT NULL,
        rule_id     TEXT    NOT NULL,
        clock       TEXT    NOT NULL,
        deadline    INTEGER NOT NULL,
        state       TEXT    NOT NULL CHECK (state IN ('claimed', 'done')),
        lease_owner TEXT,
        lease_until INTEGER,
        summary     TEXT    NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL,
        done_at     INTEGER
    ) STRICT;
    CREATE INDEX escalations_by_time ON escalations (created_at);
"#;

fn setting_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SettingRecord> {
    Ok(SettingRecord {
        name: row.get(0)?,
        json: row.get(1)?,
        version: row.get(2)?,
        updated_at: row.get(3)?,
        updated_by: row.get(4)?,
    })
}

/// Writes setting `name` and logs the write; returns its new version.
fn insert_setting(tx: &Connection, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
    let version: i64 = tx
        .prepare_cached(
            "INSERT INTO manager_settings (name, json, version, updated_at, updated_by)
             VALUES (?1, ?2, 1, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET json = excluded.json, version = version + 1,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by
             RETURNING version",
        )?
        .query_row(params![name, json, at, by], |row| row.get(0))?;
    tx.prepare_cached(
        "INSERT INTO manager_setting_changes (name, version, json, updated_at, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![name, version, json, at, by])?;
    Ok(version)
}

impl ManagerStorage for SqliteStorage {
    fn setting(&self, name: &str) -> Result<Option<SettingRecord>, StorageError> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT name, json, version, updated_at, updated_by FROM manager_settings WHERE name = ?1",
                )?
                .query_row([name], setting_row)
                .optional()?)
        })
    }

    fn put_setting(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
        let (name, json, by) = (name.to_owned(), json.to_owned(), by.to_owned());
        self.write(move |tx| insert_setting(tx, &name, &json, &by, at))
    }

    fn put_setting_resequencing_pool(&self, name: &str, json: &str, by: &str, at: Millis) -> Result<i64, StorageError> {
        let (name, json, by) = (name.to_owned(), json.to_owned(), by.to_owned());
        self.write(move |tx| {
            let version = insert_setting(tx, &name, &json, &by, at)?;
            let pooled: Vec<String> = tx
                .prepare_cached("SELECT id FROM tickets WHERE status = 'pooled' ORDER BY changed_seq, id")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut next =
                tx.prepare_cached("UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value")?;
            let mut move_to = tx.prepare_cached("UPDATE tickets SET changed_seq = ?1 WHERE id = ?2")?;
            for id in pooled {
                let seq: i64 = next.query_row([], |row| row.get(0))?;
                move_to.execute(params![seq, id])?;
            }
            Ok(version)
        })
    }

    fn setting_changes(&self, name: &str, limit: usize) -> Result<Vec<SettingRecord>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT name, json, version, updated_at, updated_by FROM manager_setting_changes
                 WHERE name = ?1 ORDER BY version DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![name, i64_of(limit as u64)], setting_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn claim_escalation(
        &self,
        claim: &EscalationClaim,
        owner: &str,
        lease_until: Millis,
        now: Millis,
    ) -> Result<bool, StorageError> {
        let (claim, owner) = (claim.clone(), owner.to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "INSERT INTO escalations (id, ticket_id, rule_id, clock, deadline, state, lease_owner,
                                              lease_until, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'claimed', ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET lease_owner = excluded.lease_owner,
                        lease_until = excluded.lease_until
                     WHERE escalations.state = 'claimed'
                       AND (escalations.lease_owner = excluded.lease_owner OR escalations.lease_until < ?8)",
                )?
                .execute(params![
                    claim.id,
                    claim.ticket_id,
                    claim.rule_id,
                    claim.clock,
                    claim.deadline,
                    owner,
                    lease_until,
                    now
                ])?;
            Ok(changed == 1)
        })
    }

    fn finish_escalation(&self, id: &str, owner: &str, summary: &str, at: Millis) -> Result<bool, StorageError> {
        let (id, owner, summary) = (id.to_owned(), owner.to_owned(), summary.to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE escalations SET state = 'done', summary = ?3, done_at = ?4, lease_owner = NULL,
                        lease_until = NULL
                     WHERE id = ?1 AND state = 'claimed' AND lease_owner = ?2",
                )?
                .execute(params![id, owner, summary, at])?;
            Ok(changed == 1)
        })
    }

    fn done_escalations(&self, ids: &[String]) -> Result<Vec<String>, StorageError> {
        self.read(|tx| {
            let mut done = Vec::new();
            // Bound parameters per statement stay far below SQLite's limit.
            for chunk in ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let sql = format!("SELECT id FROM escalations WHERE state = 'done' AND id IN ({marks})");
                let mut stmt = tx.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |row| row.get::<_, String>(0))?;
                for row in rows {
                    done.push(row?);
                }
            }
            Ok(done)
        })
    }

    fn escalations(&self, limit: usize) -> Result<Vec<EscalationRecord>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, ticket_id, rule_id, clock, deadline, state, summary, created_at, done_at
                 FROM escalations ORDER BY created_at DESC, id LIMIT ?1",
            )?;
            let rows = stmt.query_map([i64_of(limit as u64)], |row| {
                Ok(EscalationRecord {
                    id: row.get(0)?,
                    ticket_id: row.get(1)?,
                    rule_id: row.get(2)?,
                    clock: row.get(3)?,
                    deadline: row.get(4)?,
                    state: row.get(5)?,
                    summary: row.get(6)?,
                    created_at: row.get(7)?,
                    done_at: row.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
