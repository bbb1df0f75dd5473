//! The customers' REST API (docs/adr/0018): `POST /v1/customers` and `PUT /v1/customers/{id}`
//! (dispatchers and admins), `GET /v1/customers?q=` (search) and `GET /v1/customers/{id}` (the
//! record, its tickets and figures). Engineers get 403: their devices hold only the cards their
//! tickets carry.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldsync_core::model::TicketSummary;
use serde::{Deserialize, Serialize};

use super::service::{self, Versioned};
use super::{Figures, RecordInput};
use crate::error::body_rejection;
use crate::{AppError, AppState, Caller, blocking, documents};

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(value)| value).map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))
}

/// `POST /v1/customers`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RecordInput>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let input = json_body(body)?;
    let created = blocking(move || service::create(&state, &caller, input)).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `PUT /v1/customers/{id}`: the whole record and the `version` it was read at.
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<RecordInput>, JsonRejection>,
) -> Result<Json<Versioned>, AppError> {
    caller.require_dispatcher()?;
    let input = json_body(body)?;
    Ok(Json(blocking(move || service::update(&state, &caller, &id, input)).await?))
}

/// Query of `GET /v1/customers`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /v1/customers?q=...`: by name, phone, contact or site address.
pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<Versioned>>, AppError> {
    caller.require_dispatcher()?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok(Json(blocking(move || service::search(&state, &query.q)).await?))
}

/// `GET /v1/customers/{id}`.
#[derive(Serialize)]
pub(crate) struct Detail {
    customer: Versioned,
    figures: Figures,
    tickets: Vec<TicketSummary>,
}

/// `GET /v1/customers/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Detail>, AppError> {
    caller.require_dispatcher()?;
    let page = blocking(move || service::page(&state, &id, state.now())).await?;
    Ok(Json(Detail {
        customer: page.customer,
        figures: page.figures,
        tickets: page.tickets.into_iter().map(documents::summary_of).collect(),
    }))
}
