//! The board (tickets in status columns, live), the new-ticket form with its routing
//! suggestion, and ticket creation.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::model::{Classification, Customer, NewTicket, Priority, Site};
use fieldsync_core::workflow::Status;
use serde::{Deserialize, Serialize};

use super::i18n::Words;
use super::session::Session;
use super::{ConsoleError, Nav, People, conflicts, html, routing, sla, ticket_of};
use crate::storage::{IndexRow, TicketFilter};
use crate::{AppError, AppState, blocking};

/// The board's filters (query string).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    status: String,
    engineer: String,
    priority: String,
    overdue: String,
    #[serde(rename = "type")]
    ticket_type: String,
}

impl Filters {
    fn keeps(&self, row: &IndexRow, now: i64) -> bool {
        (self.status.is_empty() || row.status.as_str() == self.status)
            && (self.engineer.is_empty() || row.assignee.as_deref() == Some(self.engineer.as_str()))
            && (self.priority.is_empty() || row.priority.as_str() == self.priority)
            && (self.ticket_type.is_empty() || row.ticket_type == self.ticket_type)
            && (self.overdue.is_empty()
                || sla::clock(row.sla_due_at, row.status, now).state == sla::ClockState::Overdue)
    }

    /// The query string that reproduces these filters ("" or "?...").
    fn query(&self) -> String {
        let pairs: Vec<String> = [
            ("status", &self.status),
            ("engineer", &self.engineer),
            ("priority", &self.priority),
            ("overdue", &self.overdue),
            ("type", &self.ticket_type),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
        if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One ticket card.
pub(crate) struct Card {
    id: String,
    title: String,
    priority: &'static str,
    customer: String,
    assignee: String,
    clock_text: String,
    clock_class: &'static str,
    pending_conflicts: usize,
    ticket_type: String,
    escalated: bool,
}

/// A console alert: one escalation the server raised.
pub(crate) struct Alert {
    ticket_id: String,
    title: String,
    at: String,
    summary: String,
}

/// How many escalations the board's alert list shows.
const ALERTS: usize = 5;

fn alerts(state: &AppState, w: Words) -> Result<Vec<Alert>, AppError> {
    let mut alerts = Vec::new();
    for e in state.storage().escalations(ALERTS)?.into_iter().filter(|e| e.state == "done") {
        let title = state.storage().ticket_row(&e.ticket_id)?.map(|r| r.index.title).unwrap_or_default();
        alerts.push(Alert {
            ticket_id: e.ticket_id,
            title,
            at: w.when(e.done_at.unwrap_or(e.created_at)),
            summary: e.summary,
        });
    }
    Ok(alerts)
}

/// One status column.
pub(crate) struct Column {
    status: &'static str,
    label: &'static str,
    cards: Vec<Card>,
    /// How many tickets the column holds; more than `cards` when it is long.
    total: usize,
    /// A final status: the cards shown are the newest, not the most urgent.
    finished: bool,
}

impl Column {
    /// Tickets the column holds but does not show.
    fn hidden(&self) -> usize {
        self.total.saturating_sub(self.cards.len())
    }
}

#[derive(Template)]
#[template(path = "board_columns.html")]
struct Columns {
    w: Words,
    columns: Vec<Column>,
    shown: usize,
    alerts: Vec<Alert>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    nav: Nav,
    w: Words,
    columns: Vec<Column>,
    shown: usize,
    alerts: Vec<Alert>,
    filters: Filters,
    query: String,
    engineers: Vec<String>,
    statuses: Vec<(&'static str, &'static str)>,
    priorities: Vec<&'static str>,
    types: Vec<crate::sla::taxonomy::Entry>,
}

/// How many cards a final column (completed, cancelled) shows: its most recently changed ones.
/// The board is the work in hand; a year of finished tickets (100,000 in the reports bench) is
/// found through customers' pages and reports, and the column says how many there are.
const FINAL_CARDS: usize = 50;
/// How many cards an open column shows: its most urgent ones. A column of thousands of cards is
/// no help to a dispatcher; the filters narrow it, and the column says how many it holds.
const OPEN_CARDS: usize = 200;

fn build_columns(state: &AppState, filters: &Filters, w: Words) -> Result<(Vec<Column>, Vec<String>), AppError> {
    let now = super::now(state);
    let people = People::load(state)?;
    let shown: Vec<Status> =
        Status::ALL.into_iter().filter(|s| filters.status.is_empty() || s.as_str() == filters.status).collect();
    // The filters storage can apply; `keeps` applies them all again, and the SLA clock.
    let base = TicketFilter {
        assignee: Some(filters.engineer.clone()).filter(|e| !e.is_empty()),
        priority: Some(filters.priority.clone()).filter(|p| !p.is_empty()),
        ticket_type: Some(filters.ticket_type.clone()).filter(|t| !t.is_empty()),
        ..TicketFilter::default()
    };
    let open: Vec<Status> = shown.iter().copied().filter(|s| s.is_open()).collect();
    let mut rows = if open.is_empty() {
        Vec::new()
    } else {
        state.storage().list_tickets(&TicketFilter { statuses: open, ..base.clone() })?
    };
    let mut final_totals: Vec<(Status, usize)> = Vec::new();
    // A final ticket is never overdue: with that filter its columns stay empty, unread.
    for status in shown.iter().copied().filter(|s| s.is_final() && filters.overdue.is_empty()) {
        let filter = TicketFilter { statuses: vec![status], limit: Some(FINAL_CARDS), ..base.clone() };
        rows.extend(state.storage().list_tickets(&filter)?);
        let total = state.storage().count_tickets(&filter)?;
        final_totals.push((status, usize::try_from(total).unwrap_or(usize::MAX)));
    }
    let mut columns: Vec<Column> = shown
        .iter()
        .map(|s| Column {
            status: s.as_str(),
            label: w.status(*s),
            cards: Vec::new(),
            total: 0,
            finished: s.is_final(),
        })
        .collect();
    for row in rows.iter().filter(|row| filters.keeps(row, now)) {
        // Only tickets with conflicts need their document: is any still waiting?
        let pending_conflicts = if row.conflicts > 0 {
            ticket_of(state, row)?.map_or(0, |t| conflicts::pending(&t, &|u| people.is_dispatcher(u)).len())
        } else {
            0
        };
        let clock = sla::clock(row.sla_due_at, row.status, now);
        let Some(column) = columns.iter_mut().find(|c| c.status == row.status.as_str()) else { continue };
        column.cards.push(Card {
            id: row.id.clone(),
            title: row.title.clone(),
            priority: row.priority.as_str(),
            customer: row.customer_name.clone(),
            assignee: row.assignee.clone().unwrap_or_else(|| "—".into()),
            clock_text: w.clock(&clock.text),
            clock_class: clock.state.class(),
            pending_conflicts,
            ticket_type: row.ticket_type.clone(),
            escalated: row.escalated,
        });
    }
    for column in &mut columns {
        // Most urgent first within a column: overdue, then by priority.
        column.cards.sort_by_key(|c| (c.clock_class != "sla-overdue", std::cmp::Reverse(priority_rank(c.priority))));
        let total = final_totals.iter().find(|(s, _)| s.as_str() == column.status).map(|(_, n)| *n);
        column.total = total.unwrap_or(0).max(column.cards.len());
        column.cards.truncate(if column.finished { FINAL_CARDS } else { OPEN_CARDS });
    }
    Ok((columns, people.engineers))
}

fn priority_rank(priority: &str) -> usize {
    Priority::parse(priority).map_or(0, |p| p as usize)
}

/// `GET /console/board`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(filters): Query<Filters>,
) -> Result<Response, ConsoleError> {
    let w = session.words;
    let (columns, engineers, filters, alerts, types) = blocking(move || {
        let (columns, engineers) = build_columns(&state, &filters, w)?;
        Ok((columns, engineers, filters, alerts(&state, w)?, crate::manage::taxonomy(&state)?.value.types))
    })
    .await?;
    let shown = columns.iter().map(|c| c.cards.len()).sum();
    html(&BoardPage {
        nav: Nav::of(&session, "board"),
        w,
        query: filters.query(),
        columns,
        shown,
        alerts,
        filters,
        engineers,
        statuses: Status::ALL.iter().map(|s| (s.as_str(), w.status(*s))).collect(),
        priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
        types,
    })
}

/// `GET /console/board/columns`: the columns alone, which the page's script swaps in when a
/// ticket changes.
pub(crate) async fn columns(
    State(state): State<AppState>,
    session: Session,
    Query(filters): Query<Filters>,
) -> Result<Response, ConsoleError> {
    let w = session.words;
    let (columns, alerts) = blocking(move || Ok((build_columns(&state, &filters, w)?.0, alerts(&state, w)?))).await?;
    let shown = columns.iter().map(|c| c.cards.len()).sum();
    html(&Columns { w, columns, shown, alerts })
}

// ---------------------------------------------------------------------------------------------
// New ticket

/// `?customer=` of the form and of the suggestion.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CustomerQuery {
    customer: String,
    /// A customer record to preselect (the customer page's link).
    record: String,
}

/// The routing suggestion, as JSON for the form's script.
#[derive(Debug, Default, Serialize)]
pub(crate) struct SuggestionBody {
    engineer: String,
    why: String,
}

/// How many of the customer's finished tickets the routing suggestion weighs (the newest).
const SUGGESTION_HISTORY: usize = 500;

fn suggestion(state: &AppState, customer: &str) -> Result<(SuggestionBody, Vec<(String, usize)>), AppError> {
    let people = People::load(state)?;
    // What the suggestion weighs: open work (the loads) and this customer's tickets (who served
    // them last); not every finished ticket of every customer.
    let open =
        TicketFilter { statuses: Status::ALL.into_iter().filter(|s| s.is_open()).collect(), ..Default::default() };
    let mut rows = state.storage().list_tickets(&open)?;
    let customer_text = customer.trim();
    if !customer_text.is_empty() {
        // The newest few hundred that name them: a one-letter prefix typed so far matches
        // nearly every finished ticket, and who served the customer last is among the newest.
        let theirs = TicketFilter {
            text: Some(customer_text.to_owned()),
            statuses: Status::ALL.into_iter().filter(|s| s.is_final()).collect(),
            limit: Some(SUGGESTION_HISTORY),
            ..Default::default()
        };
        rows.extend(state.storage().list_tickets(&theirs)?);
    }
    let loads = routing::open_loads(&people.engineers, &rows).into_iter().collect();
    let body = routing::suggest(customer, &people.engineers, &rows)
        .map(|s| SuggestionBody { engineer: s.engineer, why: s.why })
        .unwrap_or_default();
    Ok((body, loads))
}

/// `GET /console/suggest?customer=...`.
pub(crate) async fn suggest(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CustomerQuery>,
) -> Result<Json<SuggestionBody>, ConsoleError> {
    let (mut body, _) = blocking(move || suggestion(&state, &query.customer)).await?;
    body.why = session.words.why(&body.why);
    Ok(Json(body))
}

/// One rule of the SLA policy, as the form's aside shows it.
pub(crate) struct PolicyRow {
    priority: String,
    tier: String,
    ticket_type: String,
    respond: String,
    arrive: String,
    resolve: String,
}

impl PolicyRow {
    /// A rule for people: "any" where it matches anything, durations as "2h 00m".
    pub(crate) fn of(rule: &crate::sla::PolicyRule) -> PolicyRow {
        let any = |v: Option<&str>| v.unwrap_or("any").to_owned();
        PolicyRow {
            priority: any(rule.priority.map(Priority::as_str)),
            tier: any(rule.tier.as_deref()),
            ticket_type: any(rule.ticket_type.as_deref()),
            respond: sla::duration(rule.targets.respond),
            arrive: sla::duration(rule.targets.arrive),
            resolve: sla::duration(rule.targets.resolve),
        }
    }
}

#[derive(Template)]
#[template(path = "new_ticket.html")]
struct NewTicketPage {
    nav: Nav,
    customer: String,
    suggestion: SuggestionBody,
    loads: Vec<(String, usize)>,
    priorities: Vec<&'static str>,
    tiers: Vec<String>,
    policy: Vec<PolicyRow>,
    policy_version: i64,
    taxonomy: crate::sla::taxonomy::Taxonomy,
    limit: usize,
    records: Vec<super::customer_pages::RecordChoice>,
}

/// `GET /console/tickets/new`.
pub(crate) async fn new_ticket(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CustomerQuery>,
) -> Result<Response, ConsoleError> {
    let customer = query.customer.clone();
    let (suggestion, loads, policy, taxonomy, records) = blocking(move || {
        let (suggestion, loads) = suggestion(&state, &query.customer)?;
        let records = super::customer_pages::record_choices(&state, &query.record)?;
        Ok((suggestion, loads, crate::manage::sla_policy(&state)?, crate::manage::taxonomy(&state)?.value, records))
    })
    .await?;
    let mut tiers: Vec<String> = sla::TIERS.iter().map(|(t, _)| (*t).to_owned()).collect();
    for tier in policy.value.rules.iter().filter_map(|r| r.tier.as_ref()) {
        if !tiers.iter().any(|t| t.eq_ignore_ascii_case(tier)) {
            tiers.push(tier.clone());
        }
    }
    html(&NewTicketPage {
        nav: Nav::of(&session, "new"),
        customer,
        suggestion,
        loads,
        priorities: Priority::ALL.iter().rev().map(|p| p.as_str()).collect(),
        tiers,
        policy: policy.value.rules.iter().map(PolicyRow::of).collect(),
        policy_version: policy.version,
        taxonomy,
        limit: routing::OPEN_LOAD_LIMIT,
        records,
    })
}

/// The new-ticket form as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewTicketForm {
    csrf: String,
    title: String,
    description: String,
    customer: String,
    /// A customer record and site as `customer_id|site_id` (docs/adr/0018), or empty.
    customer_ref: String,
    phone: String,
    address: String,
    tier: String,
    lat: String,
    lon: String,
    radius_m: String,
    priority: String,
    assignee: String,
    complaint: String,
    signature_required: String,
    checklist: String,
    #[serde(rename = "type")]
    ticket_type: String,
    product: String,
    module: String,
    version: String,
}

fn number(field: &str, text: &str) -> Result<Option<f64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(Some)
        .ok_or_else(|| AppError::BadRequest(format!("{field} must be a number, not {text:?}")))
}

impl NewTicketForm {
    /// The customer record and site the form names, if any.
    fn record_ref(&self) -> (String, String) {
        let (id, site) = self.customer_ref.split_once('|').unwrap_or((self.customer_ref.as_str(), ""));
        (id.trim().to_owned(), site.trim().to_owned())
    }

    /// The ticket to create; its deadlines are left to the SLA policy
    /// (`crate::manage::prepare_new_ticket`), as for every ticket.
    fn to_new_ticket(&self) -> Result<NewTicket, AppError> {
        let priority = if self.priority.is_empty() {
            Priority::Normal
        } else {
            Priority::parse(&self.priority)
                .ok_or_else(|| AppError::BadRequest(format!("unknown priority {:?}", self.priority)))?
        };
        let site = match (number("latitude", &self.lat)?, number("longitude", &self.lon)?) {
            (Some(lat), Some(lon)) => {
                Some(Site { lat, lon, radius_m: number("radius", &self.radius_m)?.unwrap_or(100.0) })
            }
            (None, None) => None,
            _ => return Err(AppError::BadRequest("give both latitude and longitude, or neither".into())),
        };
        let tier = self.tier.trim().to_lowercase();
        Ok(NewTicket {
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            customer: Customer {
                name: self.customer.trim().to_owned(),
                phone: self.phone.trim().to_owned(),
                address: self.address.trim().to_owned(),
                tier: tier.clone(),
                id: self.record_ref().0,
                site_id: self.record_ref().1,
            },
            site,
            priority,
            classification: Classification {
                ticket_type: self.ticket_type.trim().to_owned(),
                product: self.product.trim().to_owned(),
                module: self.module.trim().to_owned(),
                version: self.version.trim().to_owned(),
            },
            sla: Default::default(),
            assignee: Some(self.assignee.trim().to_owned()).filter(|a| !a.is_empty()),
            complaint: !self.complaint.is_empty(),
            signature_required: !self.signature_required.is_empty(),
            checklist: self.checklist.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect(),
            // From the policy in force (`manage::prepare_new_ticket`).
            revisit_after: None,
            complaint_level: None,
            complaint_unit: String::new(),
            customer_card: None,
        })
    }
}

/// `POST /console/tickets`.
pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(form): axum::Form<NewTicketForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let new = form.to_new_ticket()?;
    let caller = session.caller.clone();
    let id = blocking(move || crate::documents::create_ticket(&state, &caller, &new)).await?;
    Ok(Redirect::to(&format!("/console/tickets/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_gets_the_policy_sla_and_checks_numbers() {
        let form = NewTicketForm {
            title: " Leak ".into(),
            priority: "urgent".into(),
            tier: "Gold".into(),
            lat: "52.37".into(),
            lon: "4.89".into(),
            checklist: "Isolate\n\n Test \n".into(),
            ..Default::default()
        };
        let form = NewTicketForm { ticket_type: " bug ".into(), ..form };
        let new = form.to_new_ticket().expect("valid");
        assert_eq!(new.title, "Leak");
        assert_eq!(new.classification.ticket_type, "bug");
        assert_eq!(new.sla, Default::default(), "the policy is applied where every ticket is created");
        assert_eq!(new.site.map(|s| s.radius_m), Some(100.0));
        assert_eq!(new.checklist, ["Isolate", "Test"]);
        assert_eq!(new.assignee, None);
        let bad = NewTicketForm { lat: "north".into(), lon: "1".into(), ..Default::default() };
        assert!(matches!(bad.to_new_ticket(), Err(AppError::BadRequest(_))));
        let half = NewTicketForm { lat: "1".into(), ..Default::default() };
        assert!(matches!(half.to_new_ticket(), Err(AppError::BadRequest(_))));
        let unknown = NewTicketForm { priority: "meh".into(), ..Default::default() };
        assert!(matches!(unknown.to_new_ticket(), Err(AppError::BadRequest(_))));
    }

    #[test]
    fn filters_round_trip_through_the_query() {
        let filters = Filters { engineer: "a b".into(), overdue: "1".into(), ..Default::default() };
        assert_eq!(filters.query(), "?engineer=a%20b&overdue=1");
        let typed = Filters { ticket_type: "on_site_repair".into(), ..Default::default() };
        assert_eq!(typed.query(), "?type=on_site_repair");
        assert_eq!(Filters::default().query(), "");
    }
}
