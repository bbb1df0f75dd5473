//! The webhooks pages: subscriptions with their delivery counts, a form to create one (its
//! secret shown once), enable/disable, delete, and a subscription's delivery log with
//! redelivery. Everything goes through the plain functions of [`crate::webhooks`] on
//! [`AppState`] (the same ones `/v1/webhooks` calls): the console holds no webhook logic.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::Words;
use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::storage::webhooks::{DeliveryLogEntry, DeliveryState};
use crate::webhooks::{DeliveryView, MAX_LIST, NewWebhook, WebhookView};
use crate::{AppError, AppState, blocking};

/// Deliveries a subscription's page lists, newest first.
const LOG_ROWS: usize = 200;

/// A subscription row of the list.
pub(crate) struct SubscriptionRow {
    id: String,
    url: String,
    events: String,
    enabled: bool,
    created_by: String,
    created_at: String,
    pending: usize,
    delivered: usize,
    failed: usize,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Nav,
    subscriptions: Vec<SubscriptionRow>,
    kinds: Vec<&'static str>,
    /// Some subscription has more deliveries than a list returns: its counts cover the newest.
    any_capped: bool,
    capped_at: usize,
}

#[derive(Template)]
#[template(path = "webhook_created.html")]
struct CreatedPage {
    nav: Nav,
    webhook: WebhookView,
    events: String,
    secret: String,
}

/// One delivery of the log.
pub(crate) struct DeliveryRow {
    id: String,
    ticket_id: String,
    event: String,
    state: &'static str,
    attempts: u32,
    /// The last attempt's HTTP status, or why there was none; "—" before the first attempt ends.
    last_result: String,
    next_retry: String,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    nav: Nav,
    webhook: WebhookView,
    events: String,
    created_at: String,
    deliveries: Vec<DeliveryRow>,
    limit: usize,
}

/// Pending, delivered and failed counts of a subscription's newest deliveries.
fn counts(deliveries: &[DeliveryView]) -> (usize, usize, usize) {
    let count = |state: DeliveryState| deliveries.iter().filter(|d| d.state == state).count();
    (count(DeliveryState::Pending), count(DeliveryState::Delivered), count(DeliveryState::Failed))
}

/// The log's rows: each delivery with the result of its latest attempt (`log` is newest first).
fn delivery_rows(deliveries: Vec<DeliveryView>, log: &[DeliveryLogEntry], w: Words) -> Vec<DeliveryRow> {
    let mut latest: HashMap<&str, &DeliveryLogEntry> = HashMap::new();
    for entry in log {
        latest.entry(entry.attempt.delivery_id.as_str()).or_insert(entry);
    }
    deliveries
        .into_iter()
        .map(|d| {
            let last_result = match latest.get(d.id.as_str()).map(|e| &e.attempt) {
                Some(attempt) => match (attempt.status_code, &attempt.error) {
                    (Some(code), Some(error)) => format!("HTTP {code}: {error}"),
                    (Some(code), None) => format!("HTTP {code}"),
                    (None, Some(error)) => error.clone(),
                    (None, None) => "no answer".into(),
                },
                None => "—".into(),
            };
            DeliveryRow {
                next_retry: if d.state == DeliveryState::Pending {
                    w.when_opt(d.next_attempt_at)
                } else {
                    "—".into()
                },
                state: d.state.as_str(),
                attempts: d.attempts,
                last_result,
                id: d.id,
                ticket_id: d.ticket_id,
                event: d.event,
            }
        })
        .collect()
}

/// `GET /console/webhooks`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    session.caller.require_dispatcher()?;
    let w = session.words;
    let (subscriptions, any_capped) = blocking(move || {
        let mut rows = Vec::new();
        let mut any_capped = false;
        for webhook in state.webhooks()? {
            let deliveries = state.webhook_deliveries(&webhook.id, MAX_LIST)?;
            let (pending, delivered, failed) = counts(&deliveries);
            any_capped |= deliveries.len() >= MAX_LIST;
            rows.push(SubscriptionRow {
                events: webhook.events.join(", "),
                created_at: w.when(webhook.created_at),
                id: webhook.id,
                url: webhook.url,
                enabled: webhook.enabled,
                created_by: webhook.created_by,
                pending,
                delivered,
                failed,
            });
        }
        Ok((rows, any_capped))
    })
    .await?;
    html(&WebhooksPage {
        nav: Nav::of(&session, "webhooks"),
        subscriptions,
        kinds: crate::webhooks::subscribable_kinds(),
        any_capped,
        capped_at: MAX_LIST,
    })
}

/// The create form as posted: `events` repeats, once per ticked box, so the form is read as
/// its list of pairs.
fn new_webhook(pairs: Vec<(String, String)>) -> (String, NewWebhook) {
    let mut csrf = String::new();
    let mut new = NewWebhook::default();
    for (key, value) in pairs {
        match key.as_str() {
            "csrf" => csrf = value,
            "url" => new.url = value,
            "events" => new.events.push(value),
            _ => {}
        }
    }
    (csrf, new)
}

/// `POST /console/webhooks`: creates the subscription and shows its secret, this once.
pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let (csrf, new) = new_webhook(pairs);
    session.check(&headers, &csrf)?;
    session.caller.require_dispatcher()?;
    let user = session.user().to_owned();
    let created = blocking(move || state.create_webhook(&new, &user)).await?;
    let mut response = html(&CreatedPage {
        nav: Nav::of(&session, "webhooks"),
        events: created.webhook.events.join(", "),
        webhook: created.webhook,
        secret: created.secret,
    })?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `GET /console/webhooks/{id}`: the subscription and its delivery log.
pub(crate) async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    session.caller.require_dispatcher()?;
    let w = session.words;
    let (webhook, deliveries) = blocking(move || {
        let webhook = state.webhook(&id)?;
        let deliveries = state.webhook_deliveries(&id, LOG_ROWS)?;
        let log = state.webhook_log(&id, MAX_LIST)?;
        Ok((webhook, delivery_rows(deliveries, &log, w)))
    })
    .await?;
    html(&WebhookPage {
        nav: Nav::of(&session, "webhooks"),
        events: webhook.events.join(", "),
        created_at: w.when(webhook.created_at),
        webhook,
        deliveries,
        limit: LOG_ROWS,
    })
}

/// The enable/disable form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EnabledForm {
    csrf: String,
    enabled: String,
}

/// `POST /console/webhooks/{id}/enabled` with `enabled=1` or `enabled=0`.
pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<EnabledForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    session.caller.require_dispatcher()?;
    let enabled = match form.enabled.as_str() {
        "1" => true,
        "0" => false,
        other => return Err(AppError::BadRequest(format!("enabled must be 1 or 0, not {other:?}")).into()),
    };
    let target = format!("/console/webhooks/{id}");
    blocking(move || state.set_webhook_enabled(&id, enabled)).await?;
    Ok(Redirect::to(&target).into_response())
}

/// `POST /console/webhooks/{id}/delete`: the page asks for a confirmation first; the
/// subscription's deliveries and log go with it.
pub(crate) async fn delete(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<super::CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    session.caller.require_dispatcher()?;
    blocking(move || state.delete_webhook(&id)).await?;
    Ok(Redirect::to("/console/webhooks").into_response())
}

/// `POST /console/webhooks/{id}/deliveries/{delivery_id}/redeliver`: sent again soon, same
/// delivery id and body.
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((id, delivery_id)): Path<(String, String)>,
    axum::Form(form): axum::Form<super::CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    session.caller.require_dispatcher()?;
    let target = format!("/console/webhooks/{id}");
    blocking(move || state.redeliver_webhook(&id, &delivery_id)).await?;
    Ok(Redirect::to(&target).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::webhooks::DeliveryAttempt;

    fn delivery(id: &str, state: DeliveryState, next: Option<i64>) -> DeliveryView {
        DeliveryView {
            id: id.into(),
            ticket_id: "t1".into(),
            event: "checked_in".into(),
            event_id: format!("e-{id}"),
            state,
            attempts: 2,
            next_attempt_at: next,
            created_at: 0,
            payload: serde_json::Value::Null,
        }
    }

    fn attempt(delivery_id: &str, attempt: u32, status_code: Option<u16>, error: Option<&str>) -> DeliveryLogEntry {
        DeliveryLogEntry {
            attempt: DeliveryAttempt {
                delivery_id: delivery_id.into(),
                attempt,
                started_at: 0,
                duration_ms: 1,
                status_code,
                error: error.map(str::to_owned),
                next_retry_at: None,
            },
            event_kind: "checked_in".into(),
            ticket_id: "t1".into(),
        }
    }

    #[test]
    fn repeated_event_boxes_all_count() {
        let pairs = [("csrf", "c"), ("url", "http://x/h"), ("events", "checked_in"), ("events", "completed")];
        let (csrf, new) = new_webhook(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        assert_eq!(csrf, "c");
        assert_eq!(new.url, "http://x/h");
        assert_eq!(new.events, ["checked_in", "completed"]);
        assert_eq!(new.secret, None, "the console lets the server generate the secret");
    }

    #[test]
    fn each_delivery_shows_its_latest_attempt() {
        let deliveries = vec![
            delivery("d3", DeliveryState::Pending, Some(0)),
            delivery("d2", DeliveryState::Failed, None),
            delivery("d1", DeliveryState::Delivered, None),
        ];
        assert_eq!(counts(&deliveries), (1, 1, 1));
        // Newest first, as the log is listed.
        let log = [
            attempt("d1", 2, Some(204), None),
            attempt("d2", 2, None, Some("connection refused")),
            attempt("d1", 1, Some(500), None),
            attempt("d2", 1, Some(502), None),
        ];
        let rows = delivery_rows(deliveries, &log, Words { lang: crate::tracking::i18n::Lang::En, zone: 0 });
        let results: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r.id.as_str(), r.state, r.last_result.as_str())).collect();
        assert_eq!(
            results,
            [("d3", "pending", "—"), ("d2", "failed", "connection refused"), ("d1", "delivered", "HTTP 204")]
        );
        assert_ne!(rows[0].next_retry, "—", "a pending delivery shows when it is due");
        assert_eq!(rows[1].next_retry, "—");
    }
}
