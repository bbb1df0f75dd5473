//! The dispatcher REST API on tickets and the live event stream; reads and writes go through
//! the documents service (`crate::documents`).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{NewTicket, Ticket, TicketSummary, doc};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::Caller;
use crate::error::json_body;
use crate::storage::TicketFilter;
use crate::{AppError, AppState, blocking, documents};

// ---------------------------------------------------------------------------------------------
// REST

/// `{ "id": ... }`
#[derive(Serialize)]
struct Created {
    id: String,
}

/// `POST /v1/tickets`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewTicket>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let new = json_body(body)?;
    let id = blocking(move || documents::create_ticket(&state, &caller, &new)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(Created { id })).into_response())
}

/// `POST /v1/tickets/{id}/actions`.
pub(crate) async fn act(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Command>, JsonRejection>,
) -> Result<Json<TicketSummary>, AppError> {
    let command = json_body(body)?;
    let summary = blocking(move || {
        crate::access::may_act(&state, &caller, &id, &command)?;
        documents::perform(&state, &caller, &id, &command)
    })
    .await?;
    Ok(Json(summary))
}

/// Query of `GET /v1/tickets`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    sla_due_before: Option<Millis>,
    text: Option<String>,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
    priority: Option<String>,
    /// At most this many, the most recently changed first.
    limit: Option<usize>,
}

/// `GET /v1/tickets?status=a,b&assignee=x&sla_due_before=ms&text=...&type=...&priority=p&limit=n`,
/// most recently changed first.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TicketSummary>>, AppError> {
    crate::access::may_list(&caller)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut statuses = Vec::new();
    for name in query.status.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        statuses.push(Status::parse(name).ok_or_else(|| AppError::BadRequest(format!("unknown status {name:?}")))?);
    }
    let priority = match query.priority.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        // An unknown priority is refused, as an unknown status is, not answered with nothing.
        Some(name) => Some(
            fieldsync_core::model::Priority::parse(name)
                .ok_or_else(|| AppError::BadRequest(format!("unknown priority {name:?}")))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let filter = TicketFilter {
        statuses,
        assignee: query.assignee.filter(|a| !a.is_empty()),
        sla_due_before: query.sla_due_before,
        text: query.text.filter(|t| !t.is_empty()),
        ticket_type: query.ticket_type.filter(|t| !t.is_empty()),
        priority,
        limit: query.limit,
        // A complaint handler lists complaints only (docs/adr/0019).
        complaint: !caller.0.role.dispatches(),
        ..TicketFilter::default()
    };
    let rows = blocking(move || Ok(state.storage().list_tickets(&filter)?)).await?;
    Ok(Json(rows.into_iter().map(documents::summary_of).collect()))
}

/// One entry of a ticket's audit trail: one Automerge change.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryEntry {
    pub hash: String,
    pub actor: String,
    pub device_id: Option<String>,
    pub user_id: Option<String>,
    pub message: Option<String>,
    /// Written by the server itself: a compensation undoing a push that broke a rule, or an
    /// escalation.
    pub server: bool,
    pub device_time: Millis,
    pub server_received_at: Option<Millis>,
}

/// `GET /v1/tickets/{id}`: the ticket and its audit trail.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub history: Vec<HistoryEntry>,
    /// The customer's tracking page (the REST API only; none before dispatch or once revoked).
    pub tracking_url: Option<String>,
    /// The ticket's change sequence at this version: a live event with a `seq` no greater
    /// than this one is already in what was read.
    pub changed_seq: u64,
}

/// `GET /v1/tickets/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Detail>, AppError> {
    crate::access::may_list(&caller)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let detail = blocking(move || {
        crate::access::may_read_detail(&state, &caller, &id)?;
        let mut detail = detail_of(&state, &id)?;
        let base = crate::tracking::base_url(&state, host.as_deref());
        detail.tracking_url = crate::tracking::current_url(&state, &id, detail.ticket.status, &base)?;
        Ok(detail)
    })
    .await?;
    Ok(Json(detail))
}

/// A ticket and its audit trail (the REST API and the console). Blocking.
pub(crate) fn detail_of(state: &AppState, id: &str) -> Result<Detail, AppError> {
    let loaded = documents::load(state, id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
    let ticket = doc::read_ticket(&loaded.doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let changes = loaded.doc.get_changes(&[]);
    let compensation = crate::rules::compensation_actor();
    let escalation = crate::escalator::escalation_actor();
    let customer = crate::actors::customer_actor();
    let mut actors: Vec<String> = changes.iter().map(|c| c.actor_id().to_hex_string()).collect();
    actors.sort();
    actors.dedup();
    let owners: HashMap<String, (String, String)> =
        state.storage().actors(&actors)?.into_iter().map(|a| (a.actor, (a.device_id, a.user_id))).collect();
    let received: HashMap<String, Millis> =
        state.storage().change_log(id)?.into_iter().map(|row| (row.change_hash, row.received_at)).collect();
    let history = changes
        .iter()
        .map(|change| {
            let actor = change.actor_id().to_hex_string();
            let hash = change.hash().to_string();
            let owner = owners.get(&actor);
            let by_customer = *change.actor_id() == customer;
            HistoryEntry {
                device_id: owner.map(|o| o.0.clone()),
                user_id: owner
                    .map(|o| o.1.clone())
                    .or_else(|| by_customer.then(|| fieldsync_core::model::CUSTOMER_AUTHOR.to_owned())),
                message: change.message().map(str::to_owned),
                server: *change.actor_id() == compensation || *change.actor_id() == escalation,
                device_time: change.timestamp(),
                server_received_at: received.get(&hash).copied(),
                hash,
                actor,
            }
        })
        .collect();
    Ok(Detail { ticket, history, tracking_url: None, changed_seq: loaded.seq })
}

/// `GET /v1/tickets/{id}/document`: the whole saved Automerge document.
pub(crate) async fn document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.require_dispatcher()?;
    let bytes = blocking(move || {
        let loaded =
            documents::load(&state, &id)?.ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
        Ok(loaded.doc.save())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Bytes::from(bytes)).into_response())
}

/// `GET /v1/events`: one SSE event per ticket change (`event: ticket`, data
/// `{"id":..,"status":..,"seq":..}`). A client that falls behind gets `event: lagged` and
/// should reload its list.
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    caller.require_dispatcher()?;
    Ok(event_stream(&state))
}

/// The live ticket changes as SSE (the REST API and the console), ending at shutdown.
pub(crate) fn event_stream(state: &AppState) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let mut shutdown = state.inner.shutdown.subscribe();
    let stream = BroadcastStream::new(state.subscribe())
        .map(|item| {
            Ok(match item {
                Ok(change) => Event::default().event("ticket").data(serde_json::to_string(&change).unwrap_or_default()),
                Err(_lagged) => Event::default().event("lagged").data("{}"),
            })
        })
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    // The first comment makes the response start at once, so a client knows it is subscribed.
    let opening = futures_util::stream::once(async { Ok(Event::default().comment("subscribed")) });
    Sse::new(opening.chain(stream)).keep_alive(KeepAlive::default())
}
