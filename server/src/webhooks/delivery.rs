//! The delivery task: claims due deliveries with a lease, POSTs them, logs each attempt and
//! schedules the retry. One per served [`AppState`] ([`crate::serve`] runs it).

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use fieldsync_core::time::Millis;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::target::{self, GuardedResolver, TargetError};
use super::{ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, WebhookConfig, sign};
use crate::AppState;
use crate::storage::webhooks::{ClaimedDelivery, DeliveryAttempt, DeliveryOutcome};

/// A lease outlives the request it covers by this much, so it never ends while the request runs.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Longest error text kept in the log.
const ERROR_MAX: usize = 500;

/// Runs until `shutdown` turns true: then stops claiming, abandons the requests in flight and
/// gives their leases back, so the next start (or another instance) sends them at once.
pub(crate) async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let config = state.config().webhooks.clone();
    let http = match client(&config, state.config().allow_private_webhooks) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("fieldsync-server: webhooks are not delivered: no HTTP client: {e}");
            return;
        }
    };
    let mut in_flight = JoinSet::new();
    let mut claim_failed = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let room = config.max_in_flight.max(1).saturating_sub(in_flight.len());
        let mut claimed_all_room = false;
        if room > 0 {
            match claim(&state, &config, room).await {
                Ok(batch) => {
                    claim_failed = false;
                    claimed_all_room = batch.len() == room;
                    for delivery in batch {
                        in_flight.spawn(attempt(state.clone(), http.clone(), delivery));
                    }
                }
                Err(e) => {
                    // Said once per outage, not once per poll.
                    if !claim_failed {
                        eprintln!("fieldsync-server: claiming webhook deliveries failed: {e}");
                    }
                    claim_failed = true;
                }
            }
        }
        if claimed_all_room && in_flight.len() < config.max_in_flight {
            // More may be due right now.
            continue;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = state.webhook_runtime().wake.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
    let owner = state.webhook_runtime().lease_owner.clone();
    let storage = state.clone();
    let released = tokio::task::spawn_blocking(move || storage.storage().release_deliveries(&owner)).await;
    if let Ok(Err(e)) = released {
        eprintln!("fieldsync-server: webhook leases not released (they expire on their own): {e}");
    }
}

fn client(config: &WebhookConfig, allow_private: bool) -> Result<reqwest::Client, reqwest::Error> {
    // Installing twice is harmless: the first one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout)
        // Every name is resolved and checked in one step, right before connecting (DNS
        // rebinding finds no second lookup to answer differently).
        .dns_resolver(GuardedResolver { allow_private })
        // A proxy would resolve the name itself, past the check.
        .no_proxy()
        // A redirect is an answer, not a delivery: the subscription's URL is the one to fix.
        // (Followed, it would also lead past the check.)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fieldsync-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn claim(state: &AppState, config: &WebhookConfig, room: usize) -> Result<Vec<ClaimedDelivery>, String> {
    let state = state.clone();
    let lease = config.request_timeout.saturating_add(LEASE_MARGIN);
    tokio::task::spawn_blocking(move || {
        let now = state.now();
        let until = now.saturating_add(millis(lease));
        state.storage().claim_deliveries(&state.webhook_runtime().lease_owner, now, until, room)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// One attempt: POST, then log it and decide what becomes of the delivery.
async fn attempt(state: AppState, http: reqwest::Client, claimed: ClaimedDelivery) {
    let delivery = &claimed.delivery;
    let started_at = state.now();
    let clock = Instant::now();
    let allow_private = state.config().allow_private_webhooks;
    let sent = match literal_refusal(&claimed.url, allow_private) {
        Some(refused) => Err(Sent::Refused(refused)),
        None => send(&http, &claimed).await.map_err(|e| match target::refusal_of(&e) {
            Some(refused) => Sent::Refused(refused),
            None => Sent::Failed(describe(&e, &state.config().webhooks)),
        }),
    };
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status_code, error, refused) = match sent {
        // The body is not read: the status is the answer.
        Ok(response) => (Some(response.status().as_u16()), None, false),
        Err(Sent::Failed(text)) => (None, Some(text), false),
        Err(Sent::Refused(refused)) => (None, Some(clip(format!("refused, not retried: {refused}"))), true),
    };
    let delivered = status_code.is_some_and(|code| (200..300).contains(&code));
    let outcome = if delivered {
        DeliveryOutcome::Delivered
    } else if refused || delivery.attempts >= delivery.attempt_limit {
        // A refused target stays refused until someone changes the configuration: retrying
        // would only fill the log. A redelivery, after such a change, tries again.
        DeliveryOutcome::Failed
    } else {
        let config = &state.config().webhooks;
        // Counted within this run of attempts: a redelivery starts from the short delays again.
        let run = delivery.attempts.saturating_sub(delivery.attempt_limit.saturating_sub(config.max_attempts.max(1)));
        DeliveryOutcome::RetryAt(state.now().saturating_add(millis(retry_delay(config, run))))
    };
    let row = DeliveryAttempt {
        delivery_id: delivery.id.clone(),
        attempt: delivery.attempts,
        started_at,
        duration_ms,
        status_code,
        error,
        next_retry_at: match outcome {
            DeliveryOutcome::RetryAt(at) => Some(at),
            _ => None,
        },
    };
    let owner = state.webhook_runtime().lease_owner.clone();
    let recorded = tokio::task::spawn_blocking(move || state.storage().finish_attempt(&owner, &row, outcome)).await;
    if let Ok(Err(e)) = recorded {
        // The lease runs out and the delivery is tried again: late rather than lost.
        eprintln!("fieldsync-server: webhook attempt of delivery {} not recorded: {e}", claimed.delivery.id);
    }
}

/// How an attempt that got no answer ended.
enum Sent {
    /// The request failed (connect, timeout, ...): the text for the log. Retried.
    Failed(String),
    /// The target is an address webhooks may not reach. Not retried.
    Refused(TargetError),
}

/// The refusal of a URL whose host is an address (connected to without resolving, so the
/// resolver never sees it); `None` for names and allowed addresses.
fn literal_refusal(url: &str, allow_private: bool) -> Option<TargetError> {
    let url = reqwest::Url::parse(url).ok()?;
    let ip = target::literal(&url)?;
    target::check(url.host_str().unwrap_or_default(), ip, allow_private).err()
}

/// The POST itself: the fixed body, signed, with the delivery's headers.
async fn send(http: &reqwest::Client, claimed: &ClaimedDelivery) -> Result<reqwest::Response, reqwest::Error> {
    let delivery = &claimed.delivery;
    http.post(&claimed.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign(&claimed.secret, delivery.payload.as_bytes()))
        .header(DELIVERY_HEADER, &delivery.id)
        .header(EVENT_HEADER, &delivery.event_kind)
        .header(ATTEMPT_HEADER, delivery.attempts.to_string())
        .body(delivery.payload.clone())
        .send()
        .await
}

/// The delay before the retry that follows failed attempt `failed` (1-based) of a run:
/// exponential from `min_backoff`, capped at `max_backoff`, plus jitter.
pub(crate) fn retry_delay(config: &WebhookConfig, failed: u32) -> Duration {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(config.min_backoff)
        .with_max_delay(config.max_backoff)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    let index = usize::try_from(failed.saturating_sub(1)).unwrap_or(usize::MAX);
    delays.nth(index).unwrap_or(config.max_backoff)
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// A short reason for the log: what failed, without the URL (it is on the subscription).
fn describe(e: &reqwest::Error, config: &WebhookConfig) -> String {
    let text = if e.is_timeout() {
        format!("timed out after {} ms", config.request_timeout.as_millis())
    } else {
        let mut text = if e.is_connect() { "connect".to_owned() } else { "request".to_owned() };
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    };
    clip(text)
}

/// `text` cut to [`ERROR_MAX`] bytes, on a character boundary.
fn clip(mut text: String) -> String {
    if text.len() > ERROR_MAX {
        let mut cut = ERROR_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_exponentially_with_jitter_up_to_the_cap() {
        let config = WebhookConfig {
            min_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(100),
            ..WebhookConfig::default()
        };
        for (failed, base) in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)] {
            let delay = retry_delay(&config, failed);
            let base = Duration::from_secs(base);
            assert!(delay >= base && delay <= base * 2, "after failure {failed}: {delay:?} not in [{base:?}, 2x]");
        }
    }
}
