//! Storage of webhook subscriptions, their delivery outbox and the delivery log
//! (docs/adr/0008-webhooks.md).
//!
//! A delivery is a row that lives until its subscription is deleted: `pending` until it is
//! answered with a 2xx (`delivered`) or runs out of attempts (`failed`). A sender *claims* due
//! rows with a lease before it sends them; the claim is one statement (SQLite's single writer,
//! PostgreSQL's `FOR UPDATE SKIP LOCKED`), so two server instances never hold one delivery at
//! once. A lease that is not finished in time (the instance died mid-request) expires and the
//! row is claimed again.

use fieldsync_core::time::Millis;

use super::StorageError;

/// A webhook subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSubscription {
    /// Its id.
    pub id: String,
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// The workflow event kinds it receives (`EventKind::as_str` names), sorted.
    pub event_kinds: Vec<String>,
    /// The HMAC-SHA256 key every delivery body is signed with.
    pub secret: String,
    /// Disabled subscriptions get no new deliveries, and their pending ones wait.
    pub enabled: bool,
    /// When it was created (UTC ms).
    pub created_at: Millis,
    /// The user who created it.
    pub created_by: String,
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses [`DeliveryState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

/// A delivery to enqueue: one workflow event for one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The delivery id: stable across attempts and redeliveries (the receiver's idempotency key).
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The workflow event's id; a subscription gets one delivery per event.
    pub event_id: String,
    /// The event kind.
    pub event_kind: String,
    /// The JSON body, fixed at enqueue so every attempt sends (and signs) the same bytes.
    pub payload: String,
    /// When it was enqueued; its first attempt is due then.
    pub created_at: Millis,
    /// How many attempts it gets.
    pub attempt_limit: u32,
}

/// A delivery as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The delivery id.
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The workflow event's id.
    pub event_id: String,
    /// The event kind.
    pub event_kind: String,
    /// The JSON body.
    pub payload: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts started so far (including one in flight).
    pub attempts: u32,
    /// It fails once this many attempts have failed.
    pub attempt_limit: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Millis>,
    /// When it was enqueued.
    pub created_at: Millis,
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery; `attempts` is the number of this attempt.
    pub delivery: WebhookDelivery,
    /// The subscription's URL.
    pub url: String,
    /// The subscription's signing secret.
    pub secret: String,
}

/// How an attempt ended, and so what becomes of the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Answered 2xx: delivered.
    Delivered,
    /// Failed; try again at this time.
    RetryAt(Millis),
    /// Failed, and it was the last attempt.
    Failed,
}

/// One row of the delivery log: one attempt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: String,
    /// 1 for the first attempt; numbers go on across redeliveries.
    pub attempt: u32,
    /// When the request started (UTC ms).
    pub started_at: Millis,
    /// How long it took until the answer or the error.
    pub duration_ms: u64,
    /// The HTTP status the receiver answered, if it answered.
    pub status_code: Option<u16>,
    /// Why there was no (2xx) answer: connection refused, timed out, ...
    pub error: Option<String>,
    /// When the next attempt is due, if there is one.
    pub next_retry_at: Option<Millis>,
}

/// A log row with the delivery it belongs to, as [`WebhookStorage::delivery_log`] lists them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryLogEntry {
    /// The attempt.
    #[serde(flatten)]
    pub attempt: DeliveryAttempt,
    /// The event kind of its delivery.
    pub event_kind: String,
    /// The ticket of its delivery.
    pub ticket_id: String,
}

/// What webhook delivery needs from storage. Every [`Storage`] implements it.
pub trait WebhookStorage {
    /// Stores a new subscription; [`StorageError::Duplicate`] if the id is taken.
    fn create_webhook(&self, subscription: &WebhookSubscription) -> Result<(), StorageError>;
    /// Every subscription, oldest first.
    fn webhooks(&self) -> Result<Vec<WebhookSubscription>, StorageError>;
    /// Enables or disables a subscription; `false` when there is none.
    fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StorageError>;
    /// Deletes a subscription with its deliveries and their log; `false` when there is none.
    fn delete_webhook(&self, id: &str) -> Result<bool, StorageError>;

    /// Enqueues deliveries as `pending`, due at their `created_at`, in one transaction. A
    /// delivery of an event its subscription already has, or of a subscription that no longer
    /// exists, is skipped. Returns how many were enqueued.
    fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<usize, StorageError>;
    /// Claims up to `limit` pending deliveries due at `now` whose subscription is enabled and
    /// that nobody holds (no lease, or one that ended by `now`): each gets the lease
    /// (`lease_owner` until `lease_until`) and its attempt count goes up by one. A delivery is
    /// held by one claimer at a time, across every instance sharing the database.
    fn claim_deliveries(
        &self,
        lease_owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>, StorageError>;
    /// Logs an attempt and, if `lease_owner` still holds that attempt of the delivery, releases
    /// it with `outcome`. Returns whether the outcome was applied (`false`: the lease was lost
    /// or the delivery deleted meanwhile; the attempt is still logged if the delivery exists).
    fn finish_attempt(
        &self,
        lease_owner: &str,
        attempt: &DeliveryAttempt,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError>;
    /// Gives back every lease `lease_owner` holds, uncounting their unfinished attempts (an
    /// instance shutting down). Returns how many.
    fn release_deliveries(&self, lease_owner: &str) -> Result<usize, StorageError>;
    /// Makes a delivery of the subscription pending again, due at `now`, with `extra_attempts`
    /// more attempts; `false` when there is no such delivery.
    fn redeliver(
        &self,
        subscription_id: &str,
        delivery_id: &str,
        now: Millis,
        extra_attempts: u32,
    ) -> Result<bool, StorageError>;
    /// A subscription's deliveries, newest first, at most `limit`.
    fn deliveries(&self, subscription_id: &str, limit: usize) -> Result<Vec<WebhookDelivery>, StorageError>;
    /// A subscription's delivery log, newest attempt first, at most `limit` rows.
    fn delivery_log(&self, subscription_id: &str, limit: usize) -> Result<Vec<DeliveryLogEntry>, StorageError>;
}

/// Event kinds as stored: space-separated.
pub(crate) fn kinds_to_text(kinds: &[String]) -> String {
    kinds.join(" ")
}

pub(crate) fn kinds_from_text(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

pub(crate) fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(crate) fn u32_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX })
}
