//! [`WebhookStorage`] on SQLite. The claim is one `UPDATE ... RETURNING` on the one writer
//! connection, so claims never interleave.

use fieldsync_core::time::Millis;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStorage, is_unique_violation};
use crate::storage::webhooks::{
    ClaimedDelivery, DeliveryAttempt, DeliveryLogEntry, DeliveryOutcome, DeliveryState, NewDelivery, WebhookDelivery,
    WebhookStorage, WebhookSubscription, kinds_from_text, kinds_to_text, limit_of, u32_of,
};
use crate::storage::{StorageError, i64_of, u64_of};

const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.ticket_id, d.event_id, d.event_kind, d.payload, d.state,
    d.attempts, d.attempt_limit, d.next_attempt_at, d.created_at";

fn delivery_row(row: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    let state: String = row.get(6)?;
    Ok(WebhookDelivery {
        id: row.get(0)?,
        subscription_id: row.get(1)?,
        ticket_id: row.get(2)?,
        event_id: row.get(3)?,
        event_kind: row.get(4)?,
        payload: row.get(5)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
        attempts: u32_of(row.get(7)?),
        attempt_limit: u32_of(row.get(8)?),
        next_attempt_at: row.get(9)?,
        created_at: row.get(10)?,
    })
}

fn attempt_row(row: &Row<'_>) -> rusqlite::Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        delivery_id: row.get(0)?,
        attempt: u32_of(row.get(1)?),
        started_at: row.get(2)?,
        duration_ms: u64_of(row.get(3)?),
        status_code: row.get::<_, Option<i64>>(4)?.and_then(|c| u16::try_from(c).ok()),
        error: row.get(5)?,
        next_retry_at: row.get(6)?,
    })
}

fn claimed(tx: &Connection, id: &str) -> Result<Option<ClaimedDelivery>, StorageError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS}, s.url, s.secret FROM webhook_deliveries d
         JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = ?1"
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([id], |row| {
            Ok(ClaimedDelivery { delivery: delivery_row(row)?, url: row.get(11)?, secret: row.get(12)? })
        })
        .optional()?)
}

impl WebhookStorage for SqliteStorage {
    fn create_webhook(&self, subscription: &WebhookSubscription) -> Result<(), StorageError> {
        let w = subscription.clone();
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO webhook_subscriptions (id, url, event_kinds, secret, enabled, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![w.id, w.url, kinds_to_text(&w.event_kinds), w.secret, w.enabled, w.created_at, w.created_by],
            ) {
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate(format!("webhook {}", w.id))),
                other => other.map(|_| ()).map_err(StorageError::from),
            }
        })
    }

    fn webhooks(&self) -> Result<Vec<WebhookSubscription>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, url, event_kinds, secret, enabled, created_at, created_by FROM webhook_subscriptions
                 ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(WebhookSubscription {
                    id: row.get(0)?,
                    url: row.get(1)?,
                    event_kinds: kinds_from_text(&row.get::<_, String>(2)?),
                    secret: row.get(3)?,
                    enabled: row.get(4)?,
                    created_at: row.get(5)?,
                    created_by: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StorageError> {
        let id = id.to_owned();
        self.write(move |tx| {
            Ok(tx.execute("UPDATE webhook_subscriptions SET enabled = ?2 WHERE id = ?1", params![id, enabled])? > 0)
        })
    }

    fn delete_webhook(&self, id: &str) -> Result<bool, StorageError> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN
                 (SELECT id FROM webhook_deliveries WHERE subscription_id = ?1)",
                [&id],
            )?;
            tx.execute("DELETE FROM webhook_deliveries WHERE subscription_id = ?1", [&id])?;
            Ok(tx.execute("DELETE FROM webhook_subscriptions WHERE id = ?1", [&id])? > 0)
        })
    }

    fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<usize, StorageError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let deliveries = deliveries.to_vec();
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO webhook_deliveries (id, subscription_id, ticket_id, event_id, event_kind,
                    payload, state, attempts, attempt_limit, next_attempt_at, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?8
                 WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = ?2)",
            )?;
            let mut enqueued = 0;
            for d in &deliveries {
                enqueued += insert.execute(params![
                    d.id,
                    d.subscription_id,
                    d.ticket_id,
                    d.event_id,
                    d.event_kind,
                    d.payload,
                    d.attempt_limit,
                    d.created_at
                ])?;
            }
            Ok(enqueued)
        })
    }

    fn claim_deliveries(
        &self,
        lease_owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let owner = lease_owner.to_owned();
        self.write(move |tx| {
            let ids: Vec<String> = tx
                .prepare_cached(
                    "UPDATE webhook_deliveries SET lease_owner = ?1, lease_until = ?3, attempts = attempts + 1
                     WHERE id IN (
                        SELECT d.id FROM webhook_deliveries d
                        JOIN webhook_subscriptions s ON s.id = d.subscription_id
                        WHERE d.state = 'pending' AND d.next_attempt_at <= ?2
                          AND (d.lease_until IS NULL OR d.lease_until <= ?2) AND s.enabled
                        ORDER BY d.next_attempt_at LIMIT ?4)
                     RETURNING id",
                )?
                .query_map(params![owner, now, lease_until, limit_of(limit)], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(claimed(tx, &id)?);
            }
            Ok(found)
        })
    }

    fn finish_attempt(
        &self,
        lease_owner: &str,
        attempt: &DeliveryAttempt,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError> {
        let (owner, a) = (lease_owner.to_owned(), attempt.clone());
        self.write(move |tx| {
            let (state, next) = match outcome {
                DeliveryOutcome::Delivered => (DeliveryState::Delivered, None),
                DeliveryOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at)),
                DeliveryOutcome::Failed => (DeliveryState::Failed, None),
            };
            let applied = tx
                .prepare_cached(
                    "UPDATE webhook_deliveries SET state = ?4, next_attempt_at = ?5, lease_owner = NULL,
                        lease_until = NULL
                     WHERE id = ?1 AND lease_owner = ?2 AND attempts = ?3",
                )?
                .execute(params![a.delivery_id, owner, a.attempt, state.as_str(), next])?
                > 0;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code,
                    error, next_retry_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?1)",
            )?
            .execute(params![
                a.delivery_id,
                a.attempt,
                a.started_at,
                i64_of(a.duration_ms),
                a.status_code,
                a.error,
                a.next_retry_at
            ])?;
            Ok(applied)
        })
    }

    fn release_deliveries(&self, lease_owner: &str) -> Result<usize, StorageError> {
        let owner = lease_owner.to_owned();
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1
                 WHERE lease_owner = ?1 AND state = 'pending'",
                [owner],
            )?)
        })
    }

    fn redeliver(
        &self,
        subscription_id: &str,
        delivery_id: &str,
        now: Millis,
        extra_attempts: u32,
    ) -> Result<bool, StorageError> {
        let (subscription_id, delivery_id) = (subscription_id.to_owned(), delivery_id.to_owned());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?3,
                    attempt_limit = attempts + ?4
                 WHERE id = ?2 AND subscription_id = ?1",
                params![subscription_id, delivery_id, now, extra_attempts],
            )? > 0)
        })
    }

    fn deliveries(&self, subscription_id: &str, limit: usize) -> Result<Vec<WebhookDelivery>, StorageError> {
        self.read(|tx| {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = ?1
                 ORDER BY d.created_at DESC, d.id DESC LIMIT ?2"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![subscription_id, limit_of(limit)], delivery_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn delivery_log(&self, subscription_id: &str, limit: usize) -> Result<Vec<DeliveryLogEntry>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,
                    a.next_retry_at, d.event_kind, d.ticket_id
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
                 WHERE d.subscription_id = ?1
                 ORDER BY a.started_at DESC, a.attempt DESC, a.delivery_id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![subscription_id, limit_of(limit)], |row| {
                Ok(DeliveryLogEntry { attempt: attempt_row(row)?, event_kind: row.get(7)?, ticket_id: row.get(8)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
