//! The revisit queue (回访, docs/adr/0019): completed jobs due a call back, the oldest due
//! first, with the customer's own rating beside each, the first-time-fix rate, and the form a
//! dispatcher records a call with (who was reached, fixed or not, what the customer said). The
//! queue's order and the rate come from `crate::sla::revisit`; what a revisit does to the
//! ticket, from the workflow (`Command::Revisit`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::actions::Command;
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::sla::revisit::{FirstTimeFix, queue};
use crate::storage::TicketFilter;
use crate::{AppError, AppState, blocking};

/// One due revisit as the page lists it.
pub(crate) struct RevisitRow {
    ticket_id: String,
    title: String,
    customer: String,
    engineer: String,
    completed: String,
    due: String,
    state: &'static str,
    state_label: &'static str,
    rating: String,
}

#[derive(Template)]
#[template(path = "revisits.html")]
struct RevisitsPage {
    nav: Nav,
    rows: Vec<RevisitRow>,
    revisited: u64,
    fixed_first_time: u64,
    rate: String,
}

/// The customer's rating as a revisit row shows it ("4 / 5", or "—").
pub(crate) fn rating_text(rating: Option<u8>) -> String {
    rating.map_or_else(|| "—".to_owned(), |r| format!("{r} / 5"))
}

/// `GET /console/revisits`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let nav = Nav::of(&session, "revisits");
    let w = nav.w;
    let now = super::now(&state);
    let (rows, figures) = blocking(move || {
        let storage = state.storage();
        let due = storage.list_tickets(&TicketFilter { revisit_due: true, ..TicketFilter::default() })?;
        let revisited = storage.list_tickets(&TicketFilter { revisited: true, ..TicketFilter::default() })?;
        let figures = FirstTimeFix::of(revisited.iter().map(|r| r.first_time_fix));
        let rows = queue(due, |r| r.revisit_due_at, now)
            .into_iter()
            .map(|(r, due_at, state)| RevisitRow {
                title: r.index.title,
                customer: r.index.customer_name,
                engineer: r.index.assignee.unwrap_or_default(),
                completed: w.when_opt(r.index.resolved_at),
                due: w.when(due_at),
                state: state.as_str(),
                state_label: state.label(),
                rating: rating_text(r.index.customer_rating),
                ticket_id: r.id,
            })
            .collect::<Vec<_>>();
        Ok((rows, figures))
    })
    .await?;
    let rate = figures.rate_percent().map_or_else(|| "—".to_owned(), |p| format!("{p:.0}%"));
    html(&RevisitsPage { nav, rows, revisited: figures.revisited, fixed_first_time: figures.fixed_first_time, rate })
}

/// The revisit form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RevisitForm {
    csrf: String,
    /// `fixed` or `not_fixed`.
    outcome: String,
    contact: String,
    note: String,
    /// `detail`: back to the ticket's page rather than the queue.
    back: String,
}

impl RevisitForm {
    fn command(&self) -> Result<Command, AppError> {
        let fixed = match self.outcome.as_str() {
            "fixed" => true,
            "not_fixed" => false,
            _ => return Err(AppError::BadRequest("choose whether the customer confirmed the fix".into())),
        };
        Ok(Command::Revisit { fixed, contact: self.contact.trim().to_owned(), note: self.note.trim().to_owned() })
    }
}

/// `POST /console/revisits/{ticket_id}`: the signed-in dispatcher records the call, now.
pub(crate) async fn record(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RevisitForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let command = form.command()?;
    let target = if form.back == "detail" { format!("/console/tickets/{id}") } else { "/console/revisits".into() };
    let caller = session.caller.clone();
    blocking(move || crate::documents::perform(&state, &caller, &id, &command).map(|_| ())).await?;
    Ok(Redirect::to(&target).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_an_outcome_or_is_refused() {
        let form =
            |outcome: &str| RevisitForm { outcome: outcome.into(), note: " leaks again ".into(), ..Default::default() };
        assert_eq!(
            form("not_fixed").command().ok(),
            Some(Command::Revisit { fixed: false, contact: String::new(), note: "leaks again".into() })
        );
        assert!(matches!(form("fixed").command(), Ok(Command::Revisit { fixed: true, .. })));
        assert!(form("").command().is_err());
        assert_eq!(rating_text(Some(2)), "2 / 5");
        assert_eq!(rating_text(None), "—");
    }
}
