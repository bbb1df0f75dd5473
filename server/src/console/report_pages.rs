//! The reports page (three tables with a trend chart each) and their CSV exports, from the
//! facts kept beside the index (docs/adr/0028).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::reports::{self, DAY, Facts, Range, Table};
use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::{AppError, AppState, blocking};

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (both inclusive; default: the last 7 days).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RangeQuery {
    from: String,
    to: String,
}

fn day_of(text: &str, field: &str) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| AppError::BadRequest(format!("{field} must be a date like 2026-11-22, not {text:?}")))?;
    let start = date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or_default();
    Ok(Some(start.div_euclid(DAY)))
}

impl RangeQuery {
    fn range(&self, now: i64) -> Result<Range, AppError> {
        let today = now.div_euclid(DAY);
        let to = day_of(&self.to, "to")?.unwrap_or(today);
        let from = day_of(&self.from, "from")?.unwrap_or(to - 6);
        Ok(Range::days(from, to))
    }
}

/// The facts of the tickets created in `range`: the ones kept beside the index
/// (`storage::report_facts`), and a fold of each ticket changed since its facts were kept
/// (then kept in turn). A page view loads only the documents changed since the last one,
/// never every ticket's. Blocking.
fn facts_in(state: &AppState, range: &Range, now: i64) -> Result<Vec<Facts>, AppError> {
    let rows = state.storage().report_facts(range.from, range.to)?;
    let mut facts = Vec::with_capacity(rows.len());
    let mut folded = Vec::new();
    for row in rows {
        let kept = row.kept.filter(|(seq, _)| *seq == row.changed_seq).and_then(|(_, json)| {
            // Facts that do not read (kept by another version) are folded again.
            serde_json::from_str::<Facts>(&json).ok()
        });
        if let Some(kept) = kept {
            facts.push(kept.seen_at(now));
            continue;
        }
        let Some(loaded) = crate::documents::load_at(state, &row.ticket_id, row.changed_seq)? else { continue };
        let ticket = fieldsync_core::model::doc::read_ticket(&loaded.doc)
            .map_err(|e| AppError::Internal(format!("ticket {}: {e}", row.ticket_id)))?;
        let fresh = reports::facts(&ticket, now);
        let json = serde_json::to_string(&fresh).map_err(|e| AppError::Internal(e.to_string()))?;
        // Kept at the version loaded: a change since is folded at the next view.
        folded.push((row.ticket_id, loaded.seq, json));
        facts.push(fresh);
    }
    for batch in folded.chunks(500) {
        state.storage().keep_report_facts(batch)?;
    }
    Ok(facts)
}

pub(crate) struct TableView {
    key: &'static str,
    title: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    svg: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    nav: Nav,
    from: String,
    to: String,
    query: String,
    tables: Vec<TableView>,
}

/// `GET /console/reports`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<RangeQuery>,
) -> Result<Response, ConsoleError> {
    let now = super::now(&state);
    let range = query.range(now)?;
    let mut tables = blocking(move || Ok(reports::tables(&facts_in(&state, &range, now)?, &range))).await?;
    // Group names the console made ("(none)", "high") in the user's language; "all" is the
    // total, which the chart leaves out by that name.
    let w = session.words;
    for row in tables.iter_mut().flat_map(|t| t.rows.iter_mut()).filter(|r| r.group != "all") {
        let group = w.t(&row.group).to_owned();
        row.group = group;
    }
    let from = reports::day_label(range.from);
    let to = reports::day_label(range.to - DAY);
    let views = tables
        .iter()
        .map(|t: &Table| TableView {
            key: t.key,
            title: t.title,
            columns: reports::COLUMNS.to_vec(),
            rows: t.rows.iter().map(|r| reports::cells(r).to_vec()).collect(),
            svg: reports::trend_svg(t),
        })
        .collect();
    html(&ReportsPage {
        nav: Nav::of(&session, "reports"),
        query: format!("?from={from}&to={to}"),
        from,
        to,
        tables: views,
    })
}

/// `GET /console/reports/{engineer|priority|tier}.csv`.
pub(crate) async fn csv(
    State(state): State<AppState>,
    _session: Session,
    Path(file): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<Response, ConsoleError> {
    let key = file
        .strip_suffix(".csv")
        .and_then(|k| reports::TABLES.iter().find(|t| **t == k))
        .ok_or_else(|| AppError::NotFound(format!("no report {file}")))?;
    let now = super::now(&state);
    let range = query.range(now)?;
    let tables = blocking(move || Ok(reports::tables(&facts_in(&state, &range, now)?, &range))).await?;
    let table = tables.iter().find(|t| t.key == *key).ok_or_else(|| AppError::Internal("report missing".into()))?;
    let name = format!(
        "attachment; filename=\"fieldsync-{key}-{}-{}.csv\"",
        reports::day_label(range.from),
        reports::day_label(range.to - DAY)
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).map_err(|e| AppError::Internal(e.to_string()))?),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        reports::csv(table),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_defaults_to_the_last_week_and_parses_dates() {
        let now = 20_000 * DAY + 5;
        let week = RangeQuery::default().range(now).expect("default");
        assert_eq!(week, Range::days(19_994, 20_000));
        let given = RangeQuery { from: "1970-01-02".into(), to: "1970-01-03".into() }.range(now).expect("dates");
        assert_eq!(given, Range { from: DAY, to: 3 * DAY });
        assert!(RangeQuery { from: "yesterday".into(), to: String::new() }.range(now).is_err());
    }
}
