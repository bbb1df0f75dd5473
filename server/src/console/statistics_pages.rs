//! The statistics page (`/console/statistics`) and its CSV exports: renders what
//! [`crate::statistics`] decides from the index's aggregates, in the user's language.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, html};
use crate::statistics::{self, AGEING_ROWS, KEYS, Report, Tallies, Window};
use crate::storage::StorageError;
use crate::{AppError, AppState, blocking};

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, days in the organisation's zone, both inclusive
/// (default: from the first of January last year to today).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WindowQuery {
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
    Ok(Some(statistics::day_of(date)))
}

impl WindowQuery {
    fn window(&self, now: i64, offset_minutes: i32) -> Result<Window, AppError> {
        let default = Window::default_at(now, offset_minutes);
        let last = day_of(&self.to, "to")?.unwrap_or(default.last);
        let first = day_of(&self.from, "from")?.unwrap_or(default.first);
        Ok(Window::new(first, last, offset_minutes))
    }
}

/// Reads the aggregates for `window` and computes the reports; `only` one of them (a CSV),
/// reading just the aggregates it needs. Blocking.
fn compute(state: &AppState, window: &Window, now: i64, only: Option<&str>) -> Result<Vec<Report>, AppError> {
    let storage = state.storage();
    let (from, to, offset) = (window.from_ms(), window.to_ms(), window.offset_ms());
    let wanted = |keys: &[&str]| only.is_none_or(|k| keys.contains(&k));
    // Every report but the ageing list reads the window's tallies: one scan folded into every
    // grouping at once (ADR 0024's one-second budget), beside the ageing list on another reader.
    let scan = only.is_none_or(|k| k != "ageing");
    let (tallies, ageing) = std::thread::scope(|scope| {
        let ageing =
            scope.spawn(|| if wanted(&["ageing"]) { storage.oldest_open(AGEING_ROWS) } else { Ok((Vec::new(), 0)) });
        let mut tallies = Tallies::new(offset);
        let scanned = if scan { storage.each_created(from, to, &mut |row| tallies.add(row)) } else { Ok(()) };
        let ageing = ageing.join().unwrap_or_else(|_| Err(StorageError::Backend("the ageing query panicked".into())));
        (scanned.map(|()| tallies), ageing)
    });
    let (oldest_open, open_total) = ageing?;
    let inputs = tallies?.into_inputs(oldest_open, open_total, now);
    Ok(statistics::reports(&inputs, window))
}

pub(crate) struct ReportView {
    key: &'static str,
    title: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    svg: String,
    note: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    nav: Nav,
    from: String,
    to: String,
    query: String,
    zone: String,
    reports: Vec<ReportView>,
}

/// Words the module made for groups and figures ("(none)", "Revisited") in the user's language.
fn translate_cells(report: &mut Report, session: &Session) {
    let w = session.words;
    let mut rows = std::mem::take(&mut report.rows);
    for row in &mut rows {
        for (column, cell) in row.iter_mut().enumerate() {
            if report.is_word(column, cell) {
                let word = w.t(cell).to_owned();
                *cell = word;
            }
        }
    }
    report.rows = rows;
    let mut bars = std::mem::take(&mut report.bars);
    for bar in &mut bars {
        if report.is_word(0, &bar.label) {
            let word = w.t(&bar.label).to_owned();
            bar.label = word;
        }
    }
    report.bars = bars;
}

/// `GET /console/statistics`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<WindowQuery>,
) -> Result<Response, ConsoleError> {
    let now = super::now(&state);
    let window = query.window(now, session.words.zone)?;
    let reports = blocking(move || compute(&state, &window, now, None)).await?;
    let w = session.words;
    let views = reports
        .into_iter()
        .map(|mut r| {
            translate_cells(&mut r, &session);
            ReportView {
                key: r.key,
                title: r.title,
                columns: r.columns.clone(),
                svg: statistics::bars_svg(&r.bars, w.t(r.title)),
                rows: r.rows,
                note: r.note,
            }
        })
        .collect();
    let (from, to) = (statistics::day_label(window.first), statistics::day_label(window.last));
    html(&StatisticsPage {
        nav: Nav::of(&session, "reports"),
        query: format!("?from={from}&to={to}"),
        from,
        to,
        zone: w.zone_label(),
        reports: views,
    })
}

/// `GET /console/statistics/{key}.csv`: UTF-8 with a BOM, headings in the user's language.
pub(crate) async fn csv(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
    Query(query): Query<WindowQuery>,
) -> Result<Response, ConsoleError> {
    let key = file
        .strip_suffix(".csv")
        .and_then(|k| KEYS.iter().find(|t| **t == k))
        .ok_or_else(|| AppError::NotFound(format!("no statistics {file}")))?;
    let now = super::now(&state);
    let window = query.window(now, session.words.zone)?;
    let reports = blocking(move || compute(&state, &window, now, Some(key))).await?;
    let mut report =
        reports.into_iter().find(|r| r.key == *key).ok_or_else(|| AppError::Internal("report missing".into()))?;
    translate_cells(&mut report, &session);
    let w = session.words;
    let name = format!(
        "attachment; filename=\"fieldsync-{key}-{}-{}.csv\"",
        statistics::day_label(window.first),
        statistics::day_label(window.last)
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).map_err(|e| AppError::Internal(e.to_string()))?),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        statistics::csv(&report, |c| w.t(c).to_owned()),
    )
        .into_response())
}
