//! The webhooks part of the storage conformance suite.

use crate::storage::webhooks::*;
use crate::storage::{Storage, StorageError};
use fieldsync_core::time::Millis;

/// The webhook part of the conformance suite (see [`super::run`]).
pub(super) fn run(make: &dyn Fn() -> Box<dyn Storage>) {
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
