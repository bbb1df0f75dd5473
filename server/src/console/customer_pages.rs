//! The customers' pages (docs/adr/0018): the list with search and a form for a new record, and
//! a customer's page with the record, an edit form, their figures and their ticket history.
//! The record's lists are text areas, one entry a line with `|` between fields; this module
//! only turns lines into records and back. What a record may hold, the search and the figures
//! are decided by `crate::customers`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::model::{Contact, Contract, CustomerSite};
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::customers::service::{self, Versioned};
use crate::customers::{Record, RecordInput};
use crate::sla::clock::duration;
use crate::{AppState, blocking};

/// One record in the list.
pub(crate) struct ListRow {
    id: String,
    name: String,
    tier: String,
    phone: String,
    sites: String,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    nav: Nav,
    q: String,
    rows: Vec<ListRow>,
    tiers: Vec<String>,
}

/// One ticket of the history.
pub(crate) struct HistoryRow {
    id: String,
    title: String,
    status: String,
    status_label: &'static str,
    ticket_type: String,
    site: String,
    created: String,
    breached: bool,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    nav: Nav,
    c: Versioned,
    contacts: String,
    sites: String,
    tiers: Vec<String>,
    open: usize,
    closed: usize,
    tickets: usize,
    mean_first_response: String,
    breaches: usize,
    history: Vec<HistoryRow>,
}

/// One customer record and site the new-ticket form offers.
pub(crate) struct RecordChoice {
    /// `customer_id|site_id`.
    pub value: String,
    /// "name — site".
    pub label: String,
    /// Preselected (the first site of the record the customer page linked from).
    pub selected: bool,
}

/// The records and sites the new-ticket form offers (the first [`service::SEARCH_LIMIT`] by
/// name), `preselect`'s first site selected. Blocking.
pub(crate) fn record_choices(state: &AppState, preselect: &str) -> Result<Vec<RecordChoice>, crate::AppError> {
    let mut choices = Vec::new();
    for c in service::search(state, "")? {
        let r = c.record;
        let first = choices.len();
        if r.sites.is_empty() {
            choices.push(RecordChoice { value: format!("{}|", r.id), label: r.name.clone(), selected: false });
        }
        for s in &r.sites {
            let place = if s.label.is_empty() { &s.address } else { &s.label };
            choices.push(RecordChoice {
                value: format!("{}|{}", r.id, s.id),
                label: format!("{} — {place}", r.name),
                selected: false,
            });
        }
        if r.id == preselect {
            if let Some(choice) = choices.get_mut(first) {
                choice.selected = true;
            }
        }
    }
    Ok(choices)
}

fn tiers() -> Vec<String> {
    crate::sla::TIERS.iter().map(|(t, _)| (*t).to_owned()).collect()
}

/// `GET /console/customers?q=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SearchQuery {
    q: String,
}

/// `GET /console/customers`.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let q = query.q.clone();
    let found = blocking(move || service::search(&state, &query.q)).await?;
    let rows = found
        .into_iter()
        .map(|c| ListRow {
            sites: c.record.sites.iter().map(|s| s.address.as_str()).collect::<Vec<_>>().join("; "),
            phone: c.record.phone_to_call().to_owned(),
            id: c.record.id,
            name: c.record.name,
            tier: c.record.tier,
        })
        .collect();
    html(&ListPage { nav: Nav::of(&session, "customers"), q, rows, tiers: tiers() })
}

/// A record as the forms post it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RecordForm {
    csrf: String,
    id: String,
    name: String,
    tier: String,
    phone: String,
    contacts: String,
    sites: String,
    level: String,
    valid_from: String,
    valid_until: String,
    notes: String,
    version: String,
}

fn fields(line: &str) -> Vec<String> {
    line.split('|').map(|f| f.trim().to_owned()).collect()
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl RecordForm {
    /// The record: contacts `name | phone | role`, sites `id | label | address` (or
    /// `label | address`, or just the address), one a line.
    fn input(&self) -> RecordInput {
        let contacts = lines(&self.contacts)
            .map(|line| {
                let f = fields(line);
                let at = |n: usize| f.get(n).cloned().unwrap_or_default();
                Contact { name: at(0), phone: at(1), role: at(2) }
            })
            .collect();
        let sites = lines(&self.sites)
            .map(|line| {
                let f = fields(line);
                match f.as_slice() {
                    [address] => CustomerSite { address: address.clone(), ..CustomerSite::default() },
                    [label, address] => {
                        CustomerSite { label: label.clone(), address: address.clone(), ..CustomerSite::default() }
                    }
                    [id, label, rest @ ..] => {
                        CustomerSite { id: id.clone(), label: label.clone(), address: rest.join(" | ") }
                    }
                    [] => CustomerSite::default(),
                }
            })
            .collect();
        let contract = Contract {
            level: self.level.clone(),
            valid_from: self.valid_from.clone(),
            valid_until: self.valid_until.clone(),
        };
        RecordInput {
            record: Record {
                id: self.id.trim().to_owned(),
                name: self.name.clone(),
                tier: self.tier.clone(),
                phone: self.phone.clone(),
                contacts,
                sites,
                contract: Some(contract),
                notes: self.notes.clone(),
            },
            version: self.version.trim().parse().ok(),
        }
    }
}

fn contacts_text(record: &Record) -> String {
    record.contacts.iter().map(|c| format!("{} | {} | {}", c.name, c.phone, c.role)).collect::<Vec<_>>().join("\n")
}

fn sites_text(record: &Record) -> String {
    record.sites.iter().map(|s| format!("{} | {} | {}", s.id, s.label, s.address)).collect::<Vec<_>>().join("\n")
}

/// `POST /console/customers`.
pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(form): axum::Form<RecordForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let caller = session.caller.clone();
    let created = blocking(move || service::create(&state, &caller, form.input())).await?;
    Ok(Redirect::to(&format!("/console/customers/{}", created.record.id)).into_response())
}

/// `POST /console/customers/{id}`: an edit of the version the form was rendered with.
pub(crate) async fn update(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RecordForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let caller = session.caller.clone();
    let edited = blocking(move || service::update(&state, &caller, &id, form.input())).await?;
    Ok(Redirect::to(&format!("/console/customers/{}", edited.record.id)).into_response())
}

/// `GET /console/customers/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let now = state.now();
    let page = blocking(move || service::page(&state, &id, now)).await?;
    let w = session.words;
    let site_label = |site_id: &str| {
        page.customer
            .record
            .sites
            .iter()
            .find(|s| s.id == site_id)
            .map(|s| if s.label.is_empty() { s.address.clone() } else { s.label.clone() })
            .unwrap_or_else(|| site_id.to_owned())
    };
    let history = page
        .tickets
        .iter()
        .map(|row| HistoryRow {
            id: row.id.clone(),
            title: row.title.clone(),
            status: row.status.as_str().to_owned(),
            status_label: w.status(row.status),
            ticket_type: row.ticket_type.clone(),
            site: site_label(&row.site_id),
            created: w.when_opt(row.created_at),
            breached: crate::customers::breached(row, now),
        })
        .collect();
    html(&CustomerPage {
        nav: Nav::of(&session, "customers"),
        contacts: contacts_text(&page.customer.record),
        sites: sites_text(&page.customer.record),
        tiers: tiers(),
        open: page.figures.open,
        closed: page.figures.closed,
        tickets: page.figures.tickets,
        mean_first_response: page
            .figures
            .mean_first_response_ms
            .map(|ms| w.span(&duration(ms)))
            .unwrap_or_else(|| "—".into()),
        breaches: page.figures.sla_breaches,
        history,
        c: page.customer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_lines_become_contacts_and_sites_and_back() {
        let form = RecordForm {
            name: "ACME".into(),
            contacts: "Ada | 555 | IT\n\n李四 | 138\n".into(),
            sites: "plant-1 | 一号厂房 | 上海市浦东新区\nHQ | 1 Main St\n88 Century Ave".into(),
            version: "3".into(),
            ..RecordForm::default()
        };
        let input = form.input();
        assert_eq!(input.version, Some(3));
        let record = input.record.normalized().expect("valid");
        assert_eq!(record.contacts[1], Contact { name: "李四".into(), phone: "138".into(), role: String::new() });
        let sites: Vec<(&str, &str, &str)> =
            record.sites.iter().map(|s| (s.id.as_str(), s.label.as_str(), s.address.as_str())).collect();
        assert_eq!(
            sites,
            [("plant-1", "一号厂房", "上海市浦东新区"), ("s1", "HQ", "1 Main St"), ("s2", "", "88 Century Ave")]
        );
        assert_eq!(record.contract, None, "an empty contract is none");
        assert_eq!(sites_text(&record).lines().next(), Some("plant-1 | 一号厂房 | 上海市浦东新区"));
    }
}
