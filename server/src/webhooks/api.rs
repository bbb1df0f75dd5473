//! `/v1/webhooks`: subscriptions, their deliveries and log, redelivery. Dispatchers and admins.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{CreatedWebhook, DeliveryView, NewWebhook, WebhookView};
use crate::auth::Caller;
use crate::error::json_body;
use crate::storage::webhooks::DeliveryLogEntry;
use crate::{AppError, AppState, blocking};

/// Rows a list returns unless `?limit=` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// `POST /v1/webhooks`: 201 with the subscription and its secret (shown this once).
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let new = json_body(body)?;
    let created: CreatedWebhook = blocking(move || state.create_webhook(&new, &caller.0.user_id)).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /v1/webhooks`.
pub(crate) async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<WebhookView>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || state.webhooks()).await?))
}

/// `GET /v1/webhooks/{id}`.
pub(crate) async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || state.webhook(&id)).await?))
}

/// Body of `PATCH /v1/webhooks/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Patch {
    enabled: bool,
}

/// `PATCH /v1/webhooks/{id}` with `{"enabled": bool}`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Patch>, JsonRejection>,
) -> Result<Json<WebhookView>, AppError> {
    caller.require_dispatcher()?;
    let patch = json_body(body)?;
    Ok(Json(blocking(move || state.set_webhook_enabled(&id, patch.enabled)).await?))
}

/// `DELETE /v1/webhooks/{id}`: 204; its deliveries and log go with it.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require_dispatcher()?;
    blocking(move || state.delete_webhook(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?limit=N` of the lists.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

fn limit(query: Result<Query<Limit>, QueryRejection>) -> Result<usize, AppError> {
    let Query(Limit { limit }) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok(limit.unwrap_or(DEFAULT_LIMIT))
}

/// `GET /v1/webhooks/{id}/deliveries?limit=N`: newest first.
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<DeliveryView>>, AppError> {
    caller.require_dispatcher()?;
    let limit = limit(query)?;
    Ok(Json(blocking(move || state.webhook_deliveries(&id, limit)).await?))
}

/// `GET /v1/webhooks/{id}/log?limit=N`: one row per attempt, newest first.
pub(crate) async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<DeliveryLogEntry>>, AppError> {
    caller.require_dispatcher()?;
    let limit = limit(query)?;
    Ok(Json(blocking(move || state.webhook_log(&id, limit)).await?))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver`: 202; sent again soon with the
/// same delivery id and body.
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    caller.require_dispatcher()?;
    blocking(move || state.redeliver_webhook(&id, &delivery_id)).await?;
    Ok(StatusCode::ACCEPTED)
}
