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

use super::{Storage, StorageError};

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

/// The webhook part of the conformance suite (see [`super::conformance::run`]).
pub(crate) fn conformance(make: &dyn Fn() -> Box<dyn Storage>) {
    subscriptions(make().as_ref());
    outbox_claims_and_log(make().as_ref());
}

fn subscription(id: &str, kinds: &[&str], created_at: Millis) -> WebhookSubscription {
    WebhookSubscription {
        id: id.into(),
        url: format!("https://example.test/{id}"),
        event_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        secret: format!("secret of {id}"),
        enabled: true,
        created_at,
        created_by: "dana".into(),
    }
}

fn delivery(id: &str, subscription_id: &str, event_id: &str, created_at: Millis) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        subscription_id: subscription_id.into(),
        ticket_id: "t1".into(),
        event_id: event_id.into(),
        event_kind: "accepted".into(),
        payload: format!("{{\"delivery_id\":\"{id}\"}}"),
        created_at,
        attempt_limit: 2,
    }
}

fn subscriptions(s: &dyn Storage) {
    assert!(s.webhooks().expect("none").is_empty());
    let first = subscription("w1", &["accepted", "checked_in"], 10);
    s.create_webhook(&first).expect("create");
    s.create_webhook(&subscription("w2", &["completed"], 20)).expect("create second");
    assert!(
        matches!(s.create_webhook(&first), Err(StorageError::Duplicate(_))),
        "a duplicate subscription id is refused"
    );
    let all = s.webhooks().expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], first, "read back as written, oldest first");
    assert!(s.set_webhook_enabled("w2", false).expect("disable"));
    assert!(!s.set_webhook_enabled("nope", false).expect("disable unknown"));
    assert!(!s.webhooks().expect("list")[1].enabled);
    assert!(s.delete_webhook("w2").expect("delete"));
    assert!(!s.delete_webhook("w2").expect("delete again"));
    assert_eq!(s.webhooks().expect("list"), vec![first]);
}

fn outbox_claims_and_log(s: &dyn Storage) {
    s.create_webhook(&subscription("w1", &["accepted"], 1)).expect("w1");
    s.create_webhook(&subscription("w2", &["accepted"], 2)).expect("w2");
    let enqueued = s
        .enqueue_deliveries(&[
            delivery("d1", "w1", "e1", 100),
            delivery("d2", "w1", "e2", 200),
            delivery("d3", "w2", "e1", 100),
            delivery("dx", "gone", "e1", 100),
        ])
        .expect("enqueue");
    assert_eq!(enqueued, 3, "a delivery of an unknown subscription is skipped");
    assert_eq!(s.enqueue_deliveries(&[delivery("d9", "w1", "e1", 300)]).expect("again"), 0, "one per event");

    // Due at their created_at; the lease keeps a claimed delivery from a second claimer.
    assert!(s.claim_deliveries("a", 99, 1_000, 10).expect("claim").is_empty(), "nothing due yet");
    let claimed = s.claim_deliveries("a", 150, 1_000, 10).expect("claim");
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.delivery.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["d1", "d3"]);
    let d1 = claimed.iter().find(|c| c.delivery.id == "d1").expect("d1");
    assert_eq!((d1.url.as_str(), d1.secret.as_str()), ("https://example.test/w1", "secret of w1"));
    assert_eq!((d1.delivery.attempts, d1.delivery.attempt_limit), (1, 2));
    assert_eq!(d1.delivery.payload, "{\"delivery_id\":\"d1\"}");
    let b = s.claim_deliveries("b", 250, 5_000, 10).expect("claim b");
    assert_eq!(b.iter().map(|c| c.delivery.id.as_str()).collect::<Vec<_>>(), ["d2"], "held ones are skipped");
    assert!(s.claim_deliveries("b", 999, 2_000, 10).expect("claim").is_empty(), "all held");

    // d1 fails and is retried at 500; d3's lease expires and another claimer takes it.
    let failed = DeliveryAttempt {
        delivery_id: "d1".into(),
        attempt: 1,
        started_at: 150,
        duration_ms: 7,
        status_code: Some(500),
        error: None,
        next_retry_at: Some(500),
    };
    assert!(s.finish_attempt("a", &failed, DeliveryOutcome::RetryAt(500)).expect("finish"));
    let mut again: Vec<(String, u32)> = s
        .claim_deliveries("c", 1_000, 3_000, 10)
        .expect("claim after expiry")
        .into_iter()
        .map(|c| (c.delivery.id, c.delivery.attempts))
        .collect();
    again.sort();
    assert_eq!(again, [("d1".to_owned(), 2), ("d3".to_owned(), 2)]);
    let late = DeliveryAttempt { delivery_id: "d3".into(), attempt: 1, next_retry_at: None, ..failed.clone() };
    assert!(
        !s.finish_attempt("a", &late, DeliveryOutcome::Delivered).expect("late finish"),
        "a lost lease does not decide the outcome"
    );
    let ok = DeliveryAttempt {
        delivery_id: "d1".into(),
        attempt: 2,
        started_at: 1_000,
        duration_ms: 3,
        status_code: Some(204),
        error: None,
        next_retry_at: None,
    };
    assert!(s.finish_attempt("c", &ok, DeliveryOutcome::Delivered).expect("finish"));
    let down = DeliveryAttempt {
        delivery_id: "d2".into(),
        attempt: 1,
        started_at: 250,
        duration_ms: 1,
        status_code: None,
        error: Some("connection refused".into()),
        next_retry_at: None,
    };
    assert!(s.finish_attempt("b", &down, DeliveryOutcome::Failed).expect("finish"));

    let w1 = s.deliveries("w1", 10).expect("deliveries");
    assert_eq!(
        w1.iter().map(|d| (d.id.as_str(), d.state)).collect::<Vec<_>>(),
        [("d2", DeliveryState::Failed), ("d1", DeliveryState::Delivered)]
    );
    assert_eq!(s.deliveries("w1", 1).expect("limit").len(), 1);
    let log = s.delivery_log("w1", 10).expect("log");
    assert_eq!(
        log.iter().map(|e| (e.attempt.delivery_id.as_str(), e.attempt.attempt)).collect::<Vec<_>>(),
        [("d1", 2), ("d2", 1), ("d1", 1)],
        "newest first"
    );
    assert_eq!(log[2].attempt, failed);
    assert_eq!(log[1].attempt, down);
    assert_eq!((log[0].event_kind.as_str(), log[0].ticket_id.as_str()), ("accepted", "t1"));
    let w2_log = s.delivery_log("w2", 10).expect("w2 log");
    assert_eq!(w2_log.len(), 1, "the late attempt is logged: {w2_log:?}");

    // Redelivery: pending again with more attempts; numbering goes on.
    assert!(s.redeliver("w1", "d2", 2_000, 3).expect("redeliver"));
    assert!(!s.redeliver("w2", "d2", 2_000, 3).expect("another subscription's delivery"));
    assert!(!s.redeliver("w1", "nope", 2_000, 3).expect("unknown"));
    let claimed = s.claim_deliveries("a", 2_000, 9_000, 10).expect("claim redelivery");
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].delivery.id.as_str(), claimed[0].delivery.attempts), ("d2", 2));
    assert_eq!(claimed[0].delivery.attempt_limit, 4);

    // A shutdown gives its leases back, uncounting the attempts it never finished.
    assert_eq!(s.release_deliveries("a").expect("release"), 1);
    let claimed = s.claim_deliveries("z", 2_000, 9_000, 10).expect("claim released");
    assert_eq!(claimed.iter().map(|c| (c.delivery.id.as_str(), c.delivery.attempts)).collect::<Vec<_>>(), [("d2", 2)]);

    // A disabled subscription's deliveries wait; a deleted one's are gone with their log.
    assert_eq!(s.enqueue_deliveries(&[delivery("d4", "w2", "e4", 2_000)]).expect("enqueue"), 1);
    assert!(s.set_webhook_enabled("w2", false).expect("disable"));
    assert!(s.claim_deliveries("a", 9_500, 20_000, 10).expect("claim").iter().all(|c| c.delivery.id != "d4"));
    assert!(s.delete_webhook("w2").expect("delete"));
    assert!(s.deliveries("w2", 10).expect("deliveries").is_empty());
    assert!(s.delivery_log("w2", 10).expect("log").is_empty());
}
