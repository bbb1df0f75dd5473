//! [`WebhookStorage`] on PostgreSQL. Several instances claim from one table: the claim takes
//! due rows `FOR UPDATE SKIP LOCKED` and leases them in the same statement, so a row one
//! instance is claiming is skipped by the others, and a leased row is not due for anyone.

use fieldsync_core::time::Millis;
use postgres::Row;

use super::{PostgresStorage, is_unique_violation};
use crate::storage::webhooks::{
    ClaimedDelivery, DeliveryAttempt, DeliveryLogEntry, DeliveryOutcome, DeliveryState, NewDelivery, WebhookDelivery,
    WebhookStorage, WebhookSubscription, kinds_from_text, kinds_to_text, limit_of, u32_of,
};
use crate::storage::{StorageError, i64_of, u64_of};

fn delivery_row(row: &Row, prefix: usize) -> Result<WebhookDelivery, postgres::Error> {
    let state: String = row.try_get(prefix + 6)?;
    Ok(WebhookDelivery {
        id: row.try_get(prefix)?,
        subscription_id: row.try_get(prefix + 1)?,
        ticket_id: row.try_get(prefix + 2)?,
        event_id: row.try_get(prefix + 3)?,
        event_kind: row.try_get(prefix + 4)?,
        payload: row.try_get(prefix + 5)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
        attempts: u32_of(row.try_get(prefix + 7)?),
        attempt_limit: u32_of(row.try_get(prefix + 8)?),
        next_attempt_at: row.try_get(prefix + 9)?,
        created_at: row.try_get(prefix + 10)?,
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.ticket_id, d.event_id, d.event_kind, d.payload, d.state,
    d.attempts, d.attempt_limit, d.next_attempt_at, d.created_at";

impl WebhookStorage for PostgresStorage {
    fn create_webhook(&self, subscription: &WebhookSubscription) -> Result<(), StorageError> {
        let w = subscription;
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO webhook_subscriptions (id, url, event_kinds, secret, enabled, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[&w.id, &w.url, &kinds_to_text(&w.event_kinds), &w.secret, &w.enabled, &w.created_at, &w.created_by],
            );
            match inserted {
                Ok(0) => Err(StorageError::Duplicate(format!("webhook {}", w.id))),
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StorageError::Duplicate(format!("webhook {}", w.id))),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn webhooks(&self) -> Result<Vec<WebhookSubscription>, StorageError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT id, url, event_kinds, secret, enabled, created_at, created_by FROM webhook_subscriptions
                 ORDER BY created_at, id COLLATE \"C\"",
                &[],
            )?;
            rows.iter()
                .map(|row| {
                    let kinds: String = row.try_get(2)?;
                    Ok(WebhookSubscription {
                        id: row.try_get(0)?,
                        url: row.try_get(1)?,
                        event_kinds: kinds_from_text(&kinds),
                        secret: row.try_get(3)?,
                        enabled: row.try_get(4)?,
                        created_at: row.try_get(5)?,
                        created_by: row.try_get(6)?,
                    })
                })
                .collect::<Result<_, postgres::Error>>()
                .map_err(StorageError::from)
        })
    }

    fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StorageError> {
        self.write(|tx| {
            Ok(tx.execute("UPDATE webhook_subscriptions SET enabled = $2 WHERE id = $1", &[&id, &enabled])? > 0)
        })
    }

    fn delete_webhook(&self, id: &str) -> Result<bool, StorageError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN
                 (SELECT id FROM webhook_deliveries WHERE subscription_id = $1)",
                &[&id],
            )?;
            tx.execute("DELETE FROM webhook_deliveries WHERE subscription_id = $1", &[&id])?;
            Ok(tx.execute("DELETE FROM webhook_subscriptions WHERE id = $1", &[&id])? > 0)
        })
    }

    fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<usize, StorageError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let mut enqueued = 0;
            for d in deliveries {
                let limit = i64::from(d.attempt_limit);
                enqueued += tx.execute(
                    "INSERT INTO webhook_deliveries (id, subscription_id, ticket_id, event_id, event_kind, payload,
                        state, attempts, attempt_limit, next_attempt_at, created_at)
                     SELECT $1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $8
                     WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = $2)
                     ON CONFLICT DO NOTHING",
                    &[
                        &d.id,
                        &d.subscription_id,
                        &d.ticket_id,
                        &d.event_id,
                        &d.event_kind,
                        &d.payload,
                        &limit,
                        &d.created_at,
                    ],
                )?;
            }
            Ok(usize::try_from(enqueued).unwrap_or(usize::MAX))
        })
    }

    fn claim_deliveries(
        &self,
        lease_owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let limit = limit_of(limit);
        self.write(|tx| {
            let sql = format!(
                "WITH due AS (
                    SELECT d.id FROM webhook_deliveries d
                    JOIN webhook_subscriptions s ON s.id = d.subscription_id
                    WHERE d.state = 'pending' AND d.next_attempt_at <= $2
                      AND (d.lease_until IS NULL OR d.lease_until <= $2) AND s.enabled
                    ORDER BY d.next_attempt_at LIMIT $4
                    FOR UPDATE OF d SKIP LOCKED
                 ), claimed AS (
                    UPDATE webhook_deliveries w SET lease_owner = $1, lease_until = $3, attempts = w.attempts + 1
                    FROM due WHERE w.id = due.id
                    RETURNING w.*
                 )
                 SELECT {DELIVERY_COLUMNS}, s.url, s.secret FROM claimed d
                 JOIN webhook_subscriptions s ON s.id = d.subscription_id"
            );
            let rows = tx.query(&sql, &[&lease_owner, &now, &lease_until, &limit])?;
            rows.iter()
                .map(|row| {
                    Ok(ClaimedDelivery {
                        delivery: delivery_row(row, 0)?,
                        url: row.try_get(11)?,
                        secret: row.try_get(12)?,
                    })
                })
                .collect::<Result<_, postgres::Error>>()
                .map_err(StorageError::from)
        })
    }

    fn finish_attempt(
        &self,
        lease_owner: &str,
        attempt: &DeliveryAttempt,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError> {
        let a = attempt;
        let (state, next) = match outcome {
            DeliveryOutcome::Delivered => (DeliveryState::Delivered, None),
            DeliveryOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            DeliveryOutcome::Failed => (DeliveryState::Failed, None),
        };
        let number = i64::from(a.attempt);
        self.write(|tx| {
            let applied = tx.execute(
                "UPDATE webhook_deliveries SET state = $4, next_attempt_at = $5, lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND lease_owner = $2 AND attempts = $3",
                &[&a.delivery_id, &lease_owner, &number, &state.as_str(), &next],
            )? > 0;
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error,
                    next_retry_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)
                 ON CONFLICT DO NOTHING",
                &[
                    &a.delivery_id,
                    &number,
                    &a.started_at,
                    &i64_of(a.duration_ms),
                    &a.status_code.map(i32::from),
                    &a.error,
                    &a.next_retry_at,
                ],
            )?;
            Ok(applied)
        })
    }

    fn release_deliveries(&self, lease_owner: &str) -> Result<usize, StorageError> {
        self.write(|tx| {
            let released = tx.execute(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1
                 WHERE lease_owner = $1 AND state = 'pending'",
                &[&lease_owner],
            )?;
            Ok(usize::try_from(released).unwrap_or(usize::MAX))
        })
    }

    fn redeliver(
        &self,
        subscription_id: &str,
        delivery_id: &str,
        now: Millis,
        extra_attempts: u32,
    ) -> Result<bool, StorageError> {
        let extra = i64::from(extra_attempts);
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, attempt_limit = attempts + $4
                 WHERE id = $2 AND subscription_id = $1",
                &[&subscription_id, &delivery_id, &now, &extra],
            )? > 0)
        })
    }

    fn deliveries(&self, subscription_id: &str, limit: usize) -> Result<Vec<WebhookDelivery>, StorageError> {
        let limit = limit_of(limit);
        self.read(|tx| {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = $1
                 ORDER BY d.created_at DESC, d.id COLLATE \"C\" DESC LIMIT $2"
            );
            let rows = tx.query(&sql, &[&subscription_id, &limit])?;
            rows.iter().map(|row| delivery_row(row, 0)).collect::<Result<_, _>>().map_err(StorageError::from)
        })
    }

    fn delivery_log(&self, subscription_id: &str, limit: usize) -> Result<Vec<DeliveryLogEntry>, StorageError> {
        let limit = limit_of(limit);
        self.read(|tx| {
            let rows = tx.query(
                "SELECT a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,
                    a.next_retry_at, d.event_kind, d.ticket_id
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
                 WHERE d.subscription_id = $1
                 ORDER BY a.started_at DESC, a.attempt DESC, a.delivery_id COLLATE \"C\" DESC LIMIT $2",
                &[&subscription_id, &limit],
            )?;
            rows.iter()
                .map(|row| {
                    let status: Option<i32> = row.try_get(4)?;
                    Ok(DeliveryLogEntry {
                        attempt: DeliveryAttempt {
                            delivery_id: row.try_get(0)?,
                            attempt: u32_of(row.try_get(1)?),
                            started_at: row.try_get(2)?,
                            duration_ms: u64_of(row.try_get(3)?),
                            status_code: status.and_then(|c| u16::try_from(c).ok()),
                            error: row.try_get(5)?,
                            next_retry_at: row.try_get(6)?,
                        },
                        event_kind: row.try_get(7)?,
                        ticket_id: row.try_get(8)?,
                    })
                })
                .collect::<Result<_, postgres::Error>>()
                .map_err(StorageError::from)
        })
    }
}
