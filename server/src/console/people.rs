//! The engineers page: open load, current ticket, last sync, devices (with revoke).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::workflow::Status;

use super::session::Session;
use super::{ConsoleError, Nav, People, html, routing};
use crate::storage::TicketFilter;
use crate::{AppError, AppState, blocking};

pub(crate) struct DeviceRow {
    id: String,
    revoked: bool,
    last_sync: String,
}

pub(crate) struct EngineerRow {
    id: String,
    open_load: usize,
    current_id: String,
    current_title: String,
    last_sync: String,
    devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "engineers.html")]
struct EngineersPage {
    nav: Nav,
    engineers: Vec<EngineerRow>,
    limit: usize,
}

/// Statuses in which the engineer is on the job (the "current ticket").
fn is_current(status: Status) -> bool {
    status.is_active()
}

/// `GET /console/engineers`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let w = session.words;
    let engineers = blocking(move || {
        let people = People::load(&state)?;
        // Loads and current jobs are open work: finished tickets (most of the index) are not read.
        let open =
            TicketFilter { statuses: Status::ALL.into_iter().filter(|s| s.is_open()).collect(), ..Default::default() };
        let rows = state.storage().list_tickets(&open)?;
        let devices = state.storage().list_devices()?;
        let loads = routing::open_loads(&people.engineers, &rows);
        Ok(people
            .engineers
            .iter()
            .map(|engineer| {
                // Rows come most recently changed first: the first active one is current.
                let current = rows.iter().find(|r| r.assignee.as_ref() == Some(engineer) && is_current(r.status));
                let theirs: Vec<_> = devices.iter().filter(|d| &d.user_id == engineer).collect();
                EngineerRow {
                    id: engineer.clone(),
                    open_load: loads.get(engineer).copied().unwrap_or(0),
                    current_id: current.map(|r| r.id.clone()).unwrap_or_default(),
                    current_title: current.map(|r| format!("{} ({})", r.title, w.status(r.status))).unwrap_or_default(),
                    last_sync: w.when_opt(theirs.iter().filter_map(|d| d.last_sync_at).max()),
                    devices: theirs
                        .iter()
                        .map(|d| DeviceRow {
                            id: d.id.clone(),
                            revoked: d.revoked,
                            last_sync: w.when_opt(d.last_sync_at),
                        })
                        .collect(),
                }
            })
            .collect::<Vec<_>>())
    })
    .await?;
    html(&EngineersPage { nav: Nav::of(&session, "engineers"), engineers, limit: routing::OPEN_LOAD_LIMIT })
}

/// `POST /console/devices/{id}/revoke`: the device's token stops working at once. Only for
/// devices of people the signed-in user may manage (`auth::may_manage`): a dispatcher cannot
/// revoke an admin's or another dispatcher's device (403).
pub(crate) async fn revoke(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    axum::Form(form): axum::Form<super::CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let caller = session.caller.clone();
    let found = blocking(move || state.revoke_device_as(&caller, &device_id)).await?;
    if !found {
        return Err(AppError::NotFound("no such device".into()).into());
    }
    Ok(Redirect::to("/console/engineers").into_response())
}
