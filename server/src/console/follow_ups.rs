//! Follow-ups: the customers who rated a visit at or below `workflow::FOLLOW_UP_AT_OR_BELOW`
//! on their tracking page, to call back, with who did, when, and what came of it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::{AppError, AppState, blocking};

pub(crate) struct FollowUpRow {
    ticket_id: String,
    title: String,
    rating: u8,
    comment: String,
    opened: String,
    open: bool,
    by: String,
    at: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "follow_ups.html")]
struct FollowUpsPage {
    nav: Nav,
    rows: Vec<FollowUpRow>,
}

/// `GET /console/follow-ups`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let nav = Nav::of(&session, "follow-ups");
    let w = nav.w;
    let rows = blocking(move || {
        let follow_ups = state.storage().follow_ups()?;
        let mut rows = Vec::with_capacity(follow_ups.len());
        for f in follow_ups {
            let title = state.storage().ticket_row(&f.ticket_id)?.map(|r| r.index.title).unwrap_or_default();
            rows.push(FollowUpRow {
                title,
                rating: f.rating,
                comment: f.comment,
                opened: w.when(f.opened_at),
                open: f.followed_up_at.is_none(),
                by: f.followed_up_by.unwrap_or_default(),
                at: f.followed_up_at.map(|at| w.when(at)).unwrap_or_default(),
                outcome: f.outcome.unwrap_or_default(),
                ticket_id: f.ticket_id,
            });
        }
        Ok(rows)
    })
    .await?;
    html(&FollowUpsPage { nav, rows })
}

/// The outcome form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OutcomeForm {
    csrf: String,
    outcome: String,
}

/// Longest outcome a dispatcher records.
const MAX_OUTCOME_CHARS: usize = 2_000;

/// `POST /console/follow-ups/{ticket_id}`: who followed up (the signed-in dispatcher), now, and
/// the outcome.
pub(crate) async fn record(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(ticket_id): Path<String>,
    axum::Form(form): axum::Form<OutcomeForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let outcome = form.outcome.trim().to_owned();
    fieldsync_core::workflow::values::required_text(&outcome, "outcome", MAX_OUTCOME_CHARS)
        .map_err(|bad| AppError::BadRequest(bad.0))?;
    let by = session.user().to_owned();
    let found =
        blocking(move || Ok(state.storage().record_follow_up(&ticket_id, &by, super::now(&state), &outcome)?)).await?;
    if !found {
        return Err(AppError::NotFound("no such follow-up".into()).into());
    }
    Ok(Redirect::to("/console/follow-ups").into_response())
}
