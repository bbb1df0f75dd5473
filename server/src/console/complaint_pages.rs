//! The complaint analysis page (docs/adr/0019): complaints by organisation unit, product and
//! customer tier, each split by level, and the complaints themselves. `crate::complaints`
//! counts; this renders.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use fieldsync_core::model::ComplaintLevel;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::complaints::{Analysis, ComplaintFacts, Line};
use crate::storage::{IndexRow, TicketFilter};
use crate::{AppState, blocking};

/// One complaint as the page lists it.
pub(crate) struct ComplaintRow {
    id: String,
    title: String,
    level: String,
    ticket_type: String,
    unit: String,
    status: &'static str,
}

/// One breakdown table.
pub(crate) struct Breakdown {
    id: &'static str,
    title: &'static str,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "complaints.html")]
struct ComplaintsPage {
    nav: Nav,
    total: u64,
    levels: Vec<&'static str>,
    breakdowns: Vec<Breakdown>,
    rows: Vec<ComplaintRow>,
}

fn facts(row: &IndexRow) -> ComplaintFacts<'_> {
    ComplaintFacts {
        level: ComplaintLevel::parse(&row.complaint_level),
        unit: &row.complaint_unit,
        product: &row.complaint_product,
        tier: &row.complaint_tier,
        status: row.status,
    }
}

/// `GET /console/complaints`.
pub(crate) async fn page(State(state): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let nav = Nav::of(&session, "complaints");
    let w = nav.w;
    let rows = blocking(move || {
        Ok(state.storage().list_tickets(&TicketFilter { complaint: true, ..TicketFilter::default() })?)
    })
    .await?;
    let analysis = Analysis::of(rows.iter().map(facts));
    let breakdowns = vec![
        Breakdown { id: "by-unit", title: "By organisation unit", lines: analysis.by_unit },
        Breakdown { id: "by-product", title: "By product", lines: analysis.by_product },
        Breakdown { id: "by-tier", title: "By customer tier", lines: analysis.by_tier },
    ];
    let rows = rows
        .into_iter()
        .map(|r| ComplaintRow {
            level: if r.complaint_level.is_empty() { "—".into() } else { w.word(&r.complaint_level) },
            ticket_type: if r.ticket_type.is_empty() { "—".into() } else { w.word(&r.ticket_type) },
            unit: r.index.complaint_unit,
            status: w.status(r.index.status),
            title: r.index.title,
            id: r.id,
        })
        .collect();
    html(&ComplaintsPage {
        nav,
        total: analysis.total,
        levels: ComplaintLevel::ALL.iter().map(|l| l.as_str()).collect(),
        breakdowns,
        rows,
    })
}
