//! Customer progress notifications: webhooks per workflow event kind (docs/adr/0008-webhooks.md,
//! docs/webhooks.md).
//!
//! - **Subscriptions** (URL, event kinds, signing secret, enabled) live in storage, so every
//!   instance sharing a database sees the same ones.
//! - **Outbox.** When a ticket write that adds workflow events is stored ([`crate::tickets`]'s
//!   one commit path, used by device sync and the dispatcher API alike), [`enqueue_new_events`]
//!   stores one delivery per matching subscription right after it. It never fails the write:
//!   a problem is logged and the sync goes on.
//! - **Delivery** ([`delivery`]): a task per server claims due deliveries with a lease, POSTs the
//!   fixed JSON body signed with HMAC-SHA256, and logs every attempt; failures are retried with
//!   exponential backoff and jitter up to a maximum number of attempts.
//! - **API** ([`api`]): `/v1/webhooks...` for dispatchers and admins, over the plain functions on
//!   [`AppState`] below (what a console page calls).

pub(crate) mod api;
pub(crate) mod delivery;
pub mod target;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use automerge::{Automerge, ChangeHash};
use fieldsync_core::model::{Customer, Priority, doc, ids};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{self, EventKind, Status, TicketState};
use hmac::{KeyInit, Mac};
use serde::Serialize;
use tokio::sync::Notify;

use crate::storage::webhooks::{DeliveryLogEntry, DeliveryState, NewDelivery, WebhookDelivery, WebhookSubscription};
use crate::tracking::i18n::Lang;
use crate::{AppError, AppState};
pub use target::TargetError;

/// The header carrying the body's signature: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "fieldsync-signature";
/// The header carrying the delivery id (also in the body).
pub const DELIVERY_HEADER: &str = "fieldsync-delivery";
/// The header carrying the event kind (also in the body).
pub const EVENT_HEADER: &str = "fieldsync-event";
/// The header carrying the attempt number, 1 for the first.
pub const ATTEMPT_HEADER: &str = "fieldsync-attempt";
/// The version of the payload format, `"version"` in every body.
pub const PAYLOAD_VERSION: u32 = 1;

/// How webhooks are delivered.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Longest wait for one answer (connecting included): a receiver that takes longer counts as
    /// a failed attempt. Default 10 s.
    pub request_timeout: Duration,
    /// Attempts per delivery before it is marked failed. Default 10.
    pub max_attempts: u32,
    /// Delay before the first retry; each retry doubles it, plus a random jitter of up to the
    /// delay itself. Default 10 s.
    pub min_backoff: Duration,
    /// Longest delay between two attempts (before jitter). Default 1 hour.
    pub max_backoff: Duration,
    /// How often an instance looks for due deliveries when nothing woke it (deliveries this
    /// instance enqueues wake it at once; retries and other instances' deliveries are found by
    /// looking). Default 1 s.
    pub poll_interval: Duration,
    /// Requests one instance has in flight at most. Default 16.
    pub max_in_flight: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            request_timeout: Duration::from_secs(10),
            max_attempts: 10,
            min_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60 * 60),
            poll_interval: Duration::from_secs(1),
            max_in_flight: 16,
        }
    }
}

/// This instance's webhook state, in [`AppState`].
pub(crate) struct Runtime {
    /// Wakes the delivery task when this instance enqueued something.
    pub(crate) wake: Notify,
    /// Who holds the leases this instance takes (unique per process start).
    pub(crate) lease_owner: String,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { wake: Notify::new(), lease_owner: ids::new_id() }
    }
}

/// The HMAC-SHA256 signature of `body` under `secret`, as sent in [`SIGNATURE_HEADER`].
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, body).finalize().into_bytes()))
}

/// Whether `header` (the [`SIGNATURE_HEADER`] value) is the signature of `body` under `secret`;
/// compared in constant time. What a receiver written in Rust does.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(given) = header.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    mac(secret, body).verify_slice(&given).is_ok()
}

fn mac(secret: &str, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    // HMAC takes keys of any length: this cannot fail, but the trait says it may.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <hmac::Hmac<sha2::Sha256> as KeyInit>::new(&Default::default()));
    mac.update(body);
    mac
}

/// The JSON body of a delivery (docs/webhooks.md).
#[derive(Debug, Serialize)]
struct Payload<'a> {
    version: u32,
    delivery_id: &'a str,
    event: &'a str,
    event_id: &'a str,
    ticket_id: &'a str,
    /// The ticket's status right after this event.
    status: Status,
    /// When it happened (the device's clock), UTC ms.
    occurred_at: Millis,
    /// When the server received it, UTC ms.
    received_at: Millis,
    /// The user who did it.
    by: &'a str,
    /// The engineer the ticket is assigned to after the event.
    assignee: Option<&'a str>,
    ticket: TicketInfo<'a>,
    customer: &'a Customer,
    /// The customer's tracking page, once the ticket has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking_url: Option<String>,
    /// The ETA the engineer shared with `travel_started`, UTC ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    eta: Option<Millis>,
    /// The customer's rating and comment (`customer_rating_low`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    /// What to tell the customer (or, for `customer_rating_low`, the service desk), in the
    /// server's notification language, with the link: for an SMS / WeChat / e-mail gateway to
    /// send as is. Absent for kinds nobody is told about.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// The same in every language the server speaks, by code (`zh`, `en`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    texts: BTreeMap<&'static str, String>,
}

/// The notification texts of one event in every language, and the one in the server's.
fn texts_of(
    state: &AppState,
    kind: &str,
    ticket: &fieldsync_core::model::Ticket,
    eta: Option<Millis>,
    link: &str,
) -> (Option<String>, BTreeMap<&'static str, String>) {
    let tracking = &state.config().tracking;
    let engineer = ticket.assignee.as_deref().map(|id| {
        let name = state.storage().user(id).ok().flatten().map_or_else(|| id.to_owned(), |u| u.name);
        crate::tracking::view::first_name(&name)
    });
    let promised = ticket.sla.arrive_by.filter(|_| ticket.milestones.arrived_at.is_none());
    let mut texts = BTreeMap::new();
    for lang in Lang::ALL {
        let time = |ms: Millis| crate::tracking::i18n::time(lang, ms, tracking.utc_offset_minutes);
        let eta = eta.map(time);
        let promised = promised.map(time);
        if let Some(text) = crate::tracking::i18n::notification(
            lang,
            kind,
            engineer.as_deref(),
            eta.as_deref(),
            promised.as_deref(),
            link,
        ) {
            texts.insert(lang.code(), text);
        }
    }
    (texts.get(tracking.language.code()).cloned(), texts)
}

#[derive(Debug, Serialize)]
struct TicketInfo<'a> {
    title: &'a str,
    priority: Priority,
}

/// The event the server fires when a customer rates a visit at or below
/// `workflow::FOLLOW_UP_AT_OR_BELOW` (a follow-up is opened on the console).
pub const LOW_RATING_EVENT: &str = "customer_rating_low";

/// Every event kind a subscription may ask for: the workflow's and the server's own.
pub fn subscribable_kinds() -> Vec<&'static str> {
    EventKind::ALL.iter().map(|k| k.as_str()).chain([LOW_RATING_EVENT, ESCALATED]).collect()
}

/// A workflow event a write added and the state machine took.
struct NewEvent {
    id: String,
    kind: EventKind,
    at: Millis,
    by: String,
    status: Status,
    assignee: Option<String>,
}

/// The events of `after` that it did not have at the heads `before` (`None`: none) and that
/// the workflow applies (voided and refused events notify nobody), each with the status it
/// leads to.
fn new_events(before: Option<&[ChangeHash]>, after: &Automerge) -> Vec<NewEvent> {
    // Most writes (notes, parts, photos, time) add no event: skip reading the history twice.
    if before.is_some_and(|heads| doc::event_count_at(after, heads) == doc::event_count(after)) {
        return Vec::new();
    }
    let known: HashSet<String> = before.map(|heads| doc::event_ids_at(after, heads)).unwrap_or_default();
    let mut state = TicketState::default();
    let mut found = Vec::new();
    for event in doc::workflow_events(&doc::read_events(after)) {
        let Ok(next) = workflow::apply(&state, &event) else { continue };
        state = next;
        if let Some(kind) = event.kind.filter(|_| !known.contains(&event.id)) {
            found.push(NewEvent {
                id: event.id,
                kind,
                at: event.at,
                by: event.by,
                status: state.status,
                assignee: state.assignee.clone(),
            });
        }
    }
    found
}

/// Enqueues a delivery per enabled subscription of each new workflow event the ticket's
/// document `after` a stored write has over its heads `before` it. Called right after the
/// write is committed; it never fails the write (a problem is logged).
pub(crate) fn enqueue_new_events(
    state: &AppState,
    ticket_id: &str,
    before: Option<&[ChangeHash]>,
    after: &Automerge,
    received_at: Millis,
) {
    if let Err(e) = try_enqueue(state, ticket_id, before, after, received_at) {
        eprintln!("fieldsync-server: webhook deliveries of ticket {ticket_id} not enqueued: {e}");
    }
}

fn try_enqueue(
    state: &AppState,
    ticket_id: &str,
    before: Option<&[ChangeHash]>,
    after: &Automerge,
    received_at: Millis,
) -> Result<(), AppError> {
    let events = new_events(before, after);
    if events.is_empty() {
        return Ok(());
    }
    let subscriptions: Vec<WebhookSubscription> =
        state.storage().webhooks()?.into_iter().filter(|s| s.enabled).collect();
    let wanted: Vec<(&WebhookSubscription, &NewEvent)> = events
        .iter()
        .flat_map(|event| {
            subscriptions
                .iter()
                .filter(|s| s.event_kinds.iter().any(|k| k == event.kind.as_str()))
                .map(move |s| (s, event))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ticket = doc::read_ticket(after).map_err(|e| AppError::Internal(e.to_string()))?;
    let base = crate::tracking::base_url(state, None);
    let tracking_url = crate::tracking::current_url(state, ticket_id, ticket.status, &base)?;
    let attempt_limit = state.config().webhooks.max_attempts.max(1);
    let mut deliveries = Vec::with_capacity(wanted.len());
    for (subscription, event) in wanted {
        let id = ids::new_id();
        let eta = ticket.events.iter().find(|e| e.id == event.id).and_then(|e| e.eta);
        let (text, texts) = texts_of(state, event.kind.as_str(), &ticket, eta, tracking_url.as_deref().unwrap_or(""));
        let payload = Payload {
            version: PAYLOAD_VERSION,
            delivery_id: &id,
            event: event.kind.as_str(),
            event_id: &event.id,
            ticket_id,
            status: event.status,
            occurred_at: event.at,
            received_at,
            by: &event.by,
            assignee: event.assignee.as_deref(),
            ticket: TicketInfo { title: &ticket.title, priority: ticket.priority },
            customer: &ticket.customer,
            tracking_url: tracking_url.clone(),
            eta,
            rating: None,
            comment: None,
            text,
            texts,
        };
        let payload = serde_json::to_string(&payload).map_err(|e| AppError::Internal(e.to_string()))?;
        deliveries.push(NewDelivery {
            id,
            subscription_id: subscription.id.clone(),
            ticket_id: ticket_id.to_owned(),
            event_id: event.id.clone(),
            event_kind: event.kind.as_str().to_owned(),
            payload,
            created_at: received_at,
            attempt_limit,
        });
    }
    if state.storage().enqueue_deliveries(&deliveries)? > 0 {
        state.webhook_runtime().wake.notify_one();
    }
    Ok(())
}

/// Enqueues [`LOW_RATING_EVENT`] for every enabled subscription that asks for it: the customer
/// rated `ticket_id` `rating`. Never fails the rating (a problem is logged). Blocking.
pub(crate) fn enqueue_low_rating(state: &AppState, ticket_id: &str, rating: u8, comment: &str, at: Millis) {
    if let Err(e) = try_enqueue_low_rating(state, ticket_id, rating, comment, at) {
        eprintln!("fieldsync-server: low-rating webhook of ticket {ticket_id} not enqueued: {e}");
    }
}

fn try_enqueue_low_rating(
    state: &AppState,
    ticket_id: &str,
    rating: u8,
    comment: &str,
    at: Millis,
) -> Result<(), AppError> {
    let subscriptions: Vec<WebhookSubscription> = state
        .storage()
        .webhooks()?
        .into_iter()
        .filter(|s| s.enabled && s.event_kinds.iter().any(|k| k == LOW_RATING_EVENT))
        .collect();
    if subscriptions.is_empty() {
        return Ok(());
    }
    let Some(loaded) = crate::documents::load(state, ticket_id)? else { return Ok(()) };
    let ticket = doc::read_ticket(&loaded.doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let base = crate::tracking::base_url(state, None);
    let tracking_url = crate::tracking::current_url(state, ticket_id, ticket.status, &base)?;
    // One delivery per subscription and ticket: a ticket is rated once.
    let event_id = format!("{LOW_RATING_EVENT}/{ticket_id}");
    let (text, texts) = texts_of(state, LOW_RATING_EVENT, &ticket, None, tracking_url.as_deref().unwrap_or(""));
    let mut deliveries = Vec::new();
    for subscription in subscriptions {
        let id = ids::new_id();
        let payload = Payload {
            version: PAYLOAD_VERSION,
            delivery_id: &id,
            event: LOW_RATING_EVENT,
            event_id: &event_id,
            ticket_id,
            status: ticket.status,
            occurred_at: at,
            received_at: at,
            by: fieldsync_core::model::CUSTOMER_AUTHOR,
            assignee: ticket.assignee.as_deref(),
            ticket: TicketInfo { title: &ticket.title, priority: ticket.priority },
            customer: &ticket.customer,
            tracking_url: tracking_url.clone(),
            eta: None,
            rating: Some(rating),
            comment: Some(comment),
            text: text.clone(),
            texts: texts.clone(),
        };
        let payload = serde_json::to_string(&payload).map_err(|e| AppError::Internal(e.to_string()))?;
        deliveries.push(NewDelivery {
            id,
            subscription_id: subscription.id.clone(),
            ticket_id: ticket_id.to_owned(),
            event_id: event_id.clone(),
            event_kind: LOW_RATING_EVENT.to_owned(),
            payload,
            created_at: at,
            attempt_limit: state.config().webhooks.max_attempts.max(1),
        });
    }
    if state.storage().enqueue_deliveries(&deliveries)? > 0 {
        state.webhook_runtime().wake.notify_one();
    }
    Ok(())
}

/// The event kind of an escalation (docs/adr/0014): not a workflow event, but a subscription
/// may ask for it like one.
pub const ESCALATED: &str = "escalated";

/// Enqueues an `escalated` delivery per enabled subscription that asks for it; the escalation's
/// id is the event id, so a breach acted on twice is delivered once. Never fails the caller
/// (a problem is logged).
pub(crate) fn enqueue_escalation(
    state: &AppState,
    ticket_id: &str,
    escalation: &fieldsync_core::model::Escalation,
    after: &Automerge,
    at: Millis,
) {
    let enqueue = || -> Result<(), AppError> {
        let subscriptions: Vec<WebhookSubscription> = state
            .storage()
            .webhooks()?
            .into_iter()
            .filter(|s| s.enabled && s.event_kinds.iter().any(|k| k == ESCALATED))
            .collect();
        if subscriptions.is_empty() {
            return Ok(());
        }
        let ticket = doc::read_ticket(after).map_err(|e| AppError::Internal(e.to_string()))?;
        let attempt_limit = state.config().webhooks.max_attempts.max(1);
        let mut deliveries = Vec::new();
        for subscription in subscriptions {
            let id = ids::new_id();
            let payload = serde_json::json!({
                "version": PAYLOAD_VERSION,
                "delivery_id": id,
                "event": ESCALATED,
                "event_id": escalation.id,
                "ticket_id": ticket_id,
                "status": ticket.status,
                "occurred_at": escalation.at,
                "received_at": at,
                "by": "server",
                "assignee": ticket.assignee,
                "ticket": { "title": ticket.title, "priority": ticket.priority },
                "customer": ticket.customer,
                "escalation": { "rule": escalation.rule, "clock": escalation.clock, "deadline": escalation.deadline, "summary": escalation.summary },
            });
            deliveries.push(NewDelivery {
                id,
                subscription_id: subscription.id.clone(),
                ticket_id: ticket_id.to_owned(),
                event_id: escalation.id.clone(),
                event_kind: ESCALATED.to_owned(),
                payload: payload.to_string(),
                created_at: at,
                attempt_limit,
            });
        }
        if state.storage().enqueue_deliveries(&deliveries)? > 0 {
            state.webhook_runtime().wake.notify_one();
        }
        Ok(())
    };
    if let Err(e) = enqueue() {
        eprintln!("fieldsync-server: escalation webhook of ticket {ticket_id} not enqueued: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// What the API and a console page use. Blocking (storage): from async code, call inside
// `spawn_blocking`.

/// A new subscription, as asked for.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST deliveries: an `http` or `https` URL.
    pub url: String,
    /// Event kinds to deliver (`accepted`, `travel_started`, `checked_in`, `completed`, ...).
    pub events: Vec<String>,
    /// The signing secret (16 to 256 characters); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Whether it starts enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A subscription as shown: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookView {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds it receives.
    pub events: Vec<String>,
    /// Whether it gets deliveries.
    pub enabled: bool,
    /// When it was created (UTC ms).
    pub created_at: Millis,
    /// Who created it.
    pub created_by: String,
}

impl From<&WebhookSubscription> for WebhookView {
    fn from(s: &WebhookSubscription) -> Self {
        WebhookView {
            id: s.id.clone(),
            url: s.url.clone(),
            events: s.event_kinds.clone(),
            enabled: s.enabled,
            created_at: s.created_at,
            created_by: s.created_by.clone(),
        }
    }
}

/// A subscription just created, with its secret: the only time the secret is shown.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedWebhook {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret.
    pub secret: String,
}

/// A delivery as shown (its body included: it is what the receiver got).
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryView {
    /// The delivery id (the receiver's idempotency key).
    pub id: String,
    /// The ticket.
    pub ticket_id: String,
    /// The event kind.
    pub event: String,
    /// The workflow event's id.
    pub event_id: String,
    /// Pending, delivered or failed.
    pub state: DeliveryState,
    /// Attempts started.
    pub attempts: u32,
    /// When the next attempt is due, if pending.
    pub next_attempt_at: Option<Millis>,
    /// When it was enqueued.
    pub created_at: Millis,
    /// The JSON body sent.
    pub payload: serde_json::Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        DeliveryView {
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            ticket_id: d.ticket_id,
            event: d.event_kind,
            event_id: d.event_id,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

/// Most rows a list returns.
pub const MAX_LIST: usize = 1_000;
const URL_MAX: usize = 2_048;

fn validate(new: &NewWebhook) -> Result<(Vec<String>, String), AppError> {
    let url =
        reqwest::Url::parse(new.url.trim()).map_err(|e| AppError::BadRequest(format!("invalid webhook URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || new.url.len() > URL_MAX {
        return Err(AppError::BadRequest("a webhook URL must be http:// or https:// with a host".into()));
    }
    let mut kinds = Vec::new();
    let known = subscribable_kinds();
    for name in new.events.iter().map(|k| k.trim()) {
        let kind = known
            .iter()
            .find(|k| **k == name)
            .ok_or_else(|| AppError::BadRequest(format!("unknown event kind {name:?}; known: {}", known.join(", "))))?;
        kinds.push((*kind).to_owned());
    }
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        return Err(AppError::BadRequest("a webhook needs at least one event kind".into()));
    }
    let secret = match &new.secret {
        Some(secret) if (16..=256).contains(&secret.len()) && !secret.chars().any(char::is_control) => secret.clone(),
        Some(_) => return Err(AppError::BadRequest("a webhook secret must be 16 to 256 printable characters".into())),
        None => crate::auth::new_token(),
    };
    Ok((kinds, secret))
}

impl AppState {
    /// Creates a webhook subscription for `created_by`. Blocking.
    /// Refused (400) when the URL's host is or resolves to an address webhooks may not reach
    /// ([`target`]); resolving a name makes this call wait for DNS.
    pub fn create_webhook(&self, new: &NewWebhook, created_by: &str) -> Result<CreatedWebhook, AppError> {
        let (event_kinds, secret) = validate(new)?;
        self.check_webhook_target(new.url.trim())?;
        let subscription = WebhookSubscription {
            id: ids::new_id(),
            url: new.url.trim().to_owned(),
            event_kinds,
            secret,
            enabled: new.enabled.unwrap_or(true),
            created_at: self.now(),
            created_by: created_by.to_owned(),
        };
        self.storage().create_webhook(&subscription)?;
        Ok(CreatedWebhook { webhook: WebhookView::from(&subscription), secret: subscription.secret })
    }

    /// Whether `url` is a target this server may deliver to (see [`target`]). Blocking (DNS).
    fn check_webhook_target(&self, url: &str) -> Result<(), AppError> {
        let url = reqwest::Url::parse(url).map_err(|e| AppError::BadRequest(format!("invalid webhook URL: {e}")))?;
        target::check_url_blocking(&url, self.config().allow_private_webhooks)
            .map_err(|e| AppError::BadRequest(e.to_string()))
    }

    /// Every webhook subscription, oldest first, without secrets. Blocking.
    pub fn webhooks(&self) -> Result<Vec<WebhookView>, AppError> {
        Ok(self.storage().webhooks()?.iter().map(WebhookView::from).collect())
    }

    /// One subscription. Blocking.
    pub fn webhook(&self, id: &str) -> Result<WebhookView, AppError> {
        self.storage()
            .webhooks()?
            .iter()
            .find(|s| s.id == id)
            .map(WebhookView::from)
            .ok_or_else(|| AppError::NotFound(format!("webhook {id} not found")))
    }

    /// Enables or disables a subscription. Blocking. Enabling checks the target again, as
    /// creating does: a subscription stored before the rule or under another configuration
    /// does not come back to life pointing inside the network.
    pub fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookView, AppError> {
        if enabled {
            let current = self.webhook(id)?;
            self.check_webhook_target(&current.url)?;
        }
        if !self.storage().set_webhook_enabled(id, enabled)? {
            return Err(AppError::NotFound(format!("webhook {id} not found")));
        }
        self.webhook(id)
    }

    /// Deletes a subscription with its deliveries and log. Blocking.
    pub fn delete_webhook(&self, id: &str) -> Result<(), AppError> {
        if self.storage().delete_webhook(id)? {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("webhook {id} not found")))
        }
    }

    /// A subscription's deliveries, newest first (at most `limit`, capped at [`MAX_LIST`]).
    /// Blocking.
    pub fn webhook_deliveries(&self, id: &str, limit: usize) -> Result<Vec<DeliveryView>, AppError> {
        self.webhook(id)?;
        let rows = self.storage().deliveries(id, limit.min(MAX_LIST))?;
        Ok(rows.into_iter().map(DeliveryView::from).collect())
    }

    /// A subscription's delivery log: one row per attempt (status code or error, duration,
    /// attempt number, next retry), newest first (at most `limit`, capped at [`MAX_LIST`]).
    /// Blocking.
    pub fn webhook_log(&self, id: &str, limit: usize) -> Result<Vec<DeliveryLogEntry>, AppError> {
        self.webhook(id)?;
        Ok(self.storage().delivery_log(id, limit.min(MAX_LIST))?)
    }

    /// Sends a delivery again (same delivery id, same body) with a fresh run of attempts, now.
    /// Blocking.
    pub fn redeliver_webhook(&self, id: &str, delivery_id: &str) -> Result<(), AppError> {
        let attempts = self.config().webhooks.max_attempts.max(1);
        if !self.storage().redeliver(id, delivery_id, self.now(), attempts)? {
            return Err(AppError::NotFound(format!("delivery {delivery_id} of webhook {id} not found")));
        }
        self.webhook_runtime().wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let body = br#"{"event":"accepted"}"#;
        let header = sign("a secret of sixteen", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64, "{header}");
        assert!(verify("a secret of sixteen", body, &header));
        assert!(!verify("another secret here", body, &header), "another secret");
        assert!(!verify("a secret of sixteen", br#"{"event":"completed"}"#, &header), "another body");
        assert!(!verify("a secret of sixteen", body, "sha256=zz"), "not hex");
        assert!(!verify("a secret of sixteen", body, &header[7..]), "no scheme");
    }

    /// A write's new events are told apart from the ones the written document already held at
    /// the replaced version's heads: each event is delivered once.
    #[test]
    fn a_writes_new_events_are_the_ones_after_the_replaced_heads() {
        use automerge::ActorId;
        use fieldsync_core::actions::{self, Command};
        use fieldsync_core::model::{Identity, NewTicket};
        use fieldsync_core::workflow::Role;

        let dana = Identity { user_id: "dana".into(), device_id: "d1".into(), role: Role::Dispatcher };
        let mei = Identity { user_id: "mei".into(), device_id: "m1".into(), role: Role::Engineer };
        let new = NewTicket { title: "Boiler".into(), assignee: Some("mei".into()), ..NewTicket::default() };
        let at = 1_796_270_400_000;
        let (_, mut document, _) = actions::create(ActorId::random(), &dana, &new, at).expect("create");
        actions::perform(&mut document, &mei, &Command::Accept, at + 1).expect("accept");
        let accepted = document.get_heads();
        actions::perform(&mut document, &mei, &Command::StartTravel { eta: None }, at + 2).expect("travel");
        actions::perform(&mut document, &mei, &Command::AddNote { text: "on my way".into() }, at + 3).expect("note");

        let kinds = |events: Vec<NewEvent>| events.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(new_events(Some(&accepted), &document)), [EventKind::TravelStarted]);
        let all = kinds(new_events(None, &document));
        assert!(all.len() > 2 && all.ends_with(&[EventKind::Accepted, EventKind::TravelStarted]), "{all:?}");
        assert!(new_events(Some(&document.get_heads()), &document).is_empty(), "nothing new");
    }

    #[test]
    fn validation_refuses_bad_urls_kinds_and_secrets() {
        let ok = NewWebhook {
            url: "https://crm.example/hook".into(),
            events: vec!["accepted".into()],
            ..Default::default()
        };
        assert!(validate(&ok).is_ok());
        for url in ["ftp://example/x", "not a url", "https://", "file:///etc/passwd"] {
            let bad = NewWebhook { url: url.into(), ..ok.clone() };
            assert!(matches!(validate(&bad), Err(AppError::BadRequest(_))), "{url}");
        }
        let bad = NewWebhook { events: vec!["exploded".into()], ..ok.clone() };
        assert!(matches!(validate(&bad), Err(AppError::BadRequest(m)) if m.contains("exploded")));
        let bad = NewWebhook { events: vec![], ..ok.clone() };
        assert!(matches!(validate(&bad), Err(AppError::BadRequest(_))));
        let bad = NewWebhook { secret: Some("short".into()), ..ok.clone() };
        assert!(matches!(validate(&bad), Err(AppError::BadRequest(_))));
        let (kinds, secret) =
            validate(&NewWebhook { events: vec!["completed".into(), "accepted".into(), "completed".into()], ..ok })
                .expect("valid");
        assert_eq!(kinds, ["accepted", "completed"], "sorted, once each");
        assert_eq!(secret.len(), 64, "a generated secret");
    }
}
