//! The statistics the practice asks for (docs/adr/0024): most frequent problems by type, per
//! customer, per engineer, the ageing of open tickets, month / quarter / year comparison,
//! revisit outcomes and first-time fix, complaint figures; as tables with a bar chart each and
//! as CSV that Excel on Chinese Windows opens as UTF-8.
//!
//! Pure: it folds the index rows of a window (`storage::statistics`) into [`Tally`]s and
//! decides what the tables say; the console only renders them. Days, months, quarters and
//! years are the organisation's (its offset from UTC), never the server's or UTC's.

mod chart;
mod tally;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use fieldsync_core::time::Millis;

pub use self::chart::bars_svg;
pub use self::tally::{Tallies, Tally};
use crate::storage::statistics::AgedTicket;

/// One day in milliseconds.
pub const DAY: Millis = 86_400_000;
/// The longest range a page covers, in days (three years and a bit).
pub const MAX_DAYS: i64 = 1_100;
/// How many of the oldest open tickets the ageing table lists.
pub const AGEING_ROWS: usize = 50;
/// 1970-01-01 as days since 0001-01-01 (chrono's count).
const EPOCH_CE_DAY: i64 = 719_163;

/// Whole days in the organisation's zone, `first ..= last` as day numbers since 1970-01-01 there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First day.
    pub first: i64,
    /// Last day (inclusive).
    pub last: i64,
    /// The organisation's zone, minutes east of UTC.
    pub offset_minutes: i32,
}

impl Window {
    /// The days `a ..= b`, swapped if backwards and cut to [`MAX_DAYS`].
    pub fn new(a: i64, b: i64, offset_minutes: i32) -> Window {
        let (first, last) = if a <= b { (a, b) } else { (b, a) };
        Window { first, last: last.min(first + MAX_DAYS - 1), offset_minutes }
    }

    /// The default: from the first of January of last year to today, so this year can be
    /// compared with the last one.
    pub fn default_at(now: Millis, offset_minutes: i32) -> Window {
        let today = local_day(now, offset_minutes);
        let year = date_of(today).map(|d| d.year()).unwrap_or(1970);
        let first = NaiveDate::from_ymd_opt(year - 1, 1, 1).map(day_of).unwrap_or(today - 365);
        Window::new(first, today, offset_minutes)
    }

    /// The organisation's offset in ms.
    pub fn offset_ms(&self) -> i64 {
        i64::from(self.offset_minutes) * 60_000
    }

    /// The first day's start, UTC ms.
    pub fn from_ms(&self) -> Millis {
        self.first * DAY - self.offset_ms()
    }

    /// The end of the last day (exclusive), UTC ms.
    pub fn to_ms(&self) -> Millis {
        (self.last + 1) * DAY - self.offset_ms()
    }
}

/// The organisation's day number of an instant.
pub fn local_day(at: Millis, offset_minutes: i32) -> i64 {
    (at + i64::from(offset_minutes) * 60_000).div_euclid(DAY)
}

/// The date of a day number.
pub fn date_of(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + EPOCH_CE_DAY).ok()?)
}

/// The day number of a date.
pub fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - EPOCH_CE_DAY
}

/// `YYYY-MM-DD` of a day number.
pub fn day_label(day: i64) -> String {
    date_of(day).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// What the reports are computed from: the index's aggregates for one [`Window`] (see
/// [`Tallies`]).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// By ticket type.
    pub by_type: Vec<Tally>,
    /// By product.
    pub by_product: Vec<Tally>,
    /// By product and module.
    pub by_module: Vec<Tally>,
    /// By customer.
    pub by_customer: Vec<Tally>,
    /// By engineer.
    pub by_engineer: Vec<Tally>,
    /// Tickets given back, by the engineer who last did.
    pub rejected_by: Vec<Tally>,
    /// Tickets reassigned away, by the engineer they were last taken from.
    pub reassigned_from: Vec<Tally>,
    /// By the organisation's day (key: the day number).
    pub by_day: Vec<Tally>,
    /// Complaints by level.
    pub complaint_levels: Vec<Tally>,
    /// Complaints by product.
    pub complaint_products: Vec<Tally>,
    /// The oldest open tickets (any creation time).
    pub oldest_open: Vec<AgedTicket>,
    /// How many tickets are open in all.
    pub open_total: i64,
    /// Now (ages are measured to it).
    pub now: Millis,
}

/// A bar of a report's chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its length.
    pub value: f64,
}

/// One report: a table, a chart, and what it cannot show yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Its key in URLs (`/console/statistics/{key}.csv`).
    pub key: &'static str,
    /// Its heading (English; the console translates).
    pub title: &'static str,
    /// Column headings (English).
    pub columns: Vec<&'static str>,
    /// The cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// The chart's bars.
    pub bars: Vec<Bar>,
    /// A remark under the table (English), e.g. a figure not in the index yet.
    pub note: Option<&'static str>,
    /// The columns whose cells are words to translate (types, statuses, figure names), not
    /// names people typed; placeholders like "(none)" are translated in any column.
    pub word_columns: Vec<usize>,
}

impl Report {
    /// Whether the cell in `column` reading `text` is a word the console translates.
    pub fn is_word(&self, column: usize, text: &str) -> bool {
        self.word_columns.contains(&column) || (text.starts_with('(') && text.ends_with(')'))
    }
}

/// The reports' keys, in page order.
pub const KEYS: [&str; 12] = [
    "types",
    "products",
    "modules",
    "customers",
    "engineers",
    "ageing",
    "months",
    "quarters",
    "years",
    "revisits",
    "complaint-levels",
    "complaint-products",
];

fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 { "-".into() } else { format!("{:.1}", part as f64 * 100.0 / whole as f64) }
}

/// Minutes as hours with one decimal.
fn hours(minutes: i64) -> String {
    format!("{:.1}", minutes as f64 / 60.0)
}

fn mean_hours(ms: i64, n: i64) -> String {
    if n <= 0 { "-".into() } else { format!("{:.1}", ms as f64 / n as f64 / 3_600_000.0) }
}

fn name_or(key: &str, none: &str) -> String {
    if key.trim().is_empty() { none.to_owned() } else { key.to_owned() }
}

/// Most frequent first, then by name, so equal counts keep a stable order.
fn by_count(tallies: &[Tally]) -> Vec<&Tally> {
    let mut sorted: Vec<&Tally> = tallies.iter().collect();
    sorted.sort_by(|a, b| b.tickets.cmp(&a.tickets).then_with(|| a.key.cmp(&b.key)));
    sorted
}

fn bars_of(rows: &[Vec<String>], value_column: usize) -> Vec<Bar> {
    rows.iter()
        .take(chart::MAX_BARS)
        .map(|r| Bar { label: r[0].clone(), value: r[value_column].parse().unwrap_or(0.0) })
        .collect()
}

fn types(inputs: &Inputs) -> Report {
    let total: i64 = inputs.by_type.iter().map(|t| t.tickets).sum();
    let rows: Vec<Vec<String>> = by_count(&inputs.by_type)
        .into_iter()
        .map(|t| {
            vec![
                name_or(&t.key, "(none)"),
                t.tickets.to_string(),
                percent(t.tickets, total),
                t.open.to_string(),
                t.complaints.to_string(),
            ]
        })
        .collect();
    Report {
        key: "types",
        title: "Most frequent problems by type",
        columns: vec!["Type", "Tickets", "Share %", "Open", "Complaints"],
        bars: bars_of(&rows, 1),
        rows,
        note: None,
        word_columns: vec![0],
    }
}

/// Which products (or modules) the problems are about: most frequent first.
fn problems_by(tallies: &[Tally], key: &'static str, title: &'static str, column: &'static str) -> Report {
    let total: i64 = tallies.iter().map(|t| t.tickets).sum();
    let rows: Vec<Vec<String>> = by_count(tallies)
        .into_iter()
        .map(|t| {
            vec![
                name_or(&t.key, "(none)"),
                t.tickets.to_string(),
                percent(t.tickets, total),
                t.open.to_string(),
                percent(t.bugs, t.tickets),
                t.complaints.to_string(),
                hours(t.minutes),
            ]
        })
        .collect();
    Report {
        key,
        title,
        columns: vec![column, "Tickets", "Share %", "Open", "Bug share %", "Complaints", "Hours invested"],
        bars: bars_of(&rows, 1),
        rows,
        note: None,
        word_columns: vec![],
    }
}

fn customers(inputs: &Inputs) -> Report {
    let rows: Vec<Vec<String>> = by_count(&inputs.by_customer)
        .into_iter()
        .map(|t| {
            let name = if t.key.is_empty() { "(no customer record)".to_owned() } else { name_or(&t.label, &t.key) };
            vec![
                name,
                t.tickets.to_string(),
                mean_hours(t.response_ms, t.responded),
                percent(t.bugs, t.tickets),
                t.completed.to_string(),
                t.revisited.to_string(),
                t.complaints.to_string(),
                hours(t.minutes),
                t.parts_lines.to_string(),
                t.parts_quantity.to_string(),
            ]
        })
        .collect();
    Report {
        key: "customers",
        title: "Per customer",
        columns: vec![
            "Customer",
            "Tickets",
            "Mean first response (h)",
            "Bug share %",
            "Completed",
            "Revisited",
            "Complaints",
            "Hours invested",
            "Part lines",
            "Parts used",
        ],
        bars: bars_of(&rows, 1),
        rows,
        note: Some("Hours from the time entries, parts from the parts recorded on the tickets."),
        word_columns: vec![],
    }
}

fn engineers(inputs: &Inputs) -> Report {
    // Every engineer who holds tickets, gave one back or had one taken away.
    let mut engineers: BTreeMap<&str, (Tally, i64, i64)> = BTreeMap::new();
    for t in &inputs.by_engineer {
        engineers.entry(&t.key).or_default().0 = t.clone();
    }
    for t in &inputs.rejected_by {
        engineers.entry(&t.key).or_default().1 = t.tickets;
    }
    for t in &inputs.reassigned_from {
        engineers.entry(&t.key).or_default().2 = t.tickets;
    }
    let mut sorted: Vec<(&str, (Tally, i64, i64))> = engineers.into_iter().collect();
    sorted.sort_by(|a, b| b.1.0.tickets.cmp(&a.1.0.tickets).then_with(|| a.0.cmp(b.0)));
    let rows: Vec<Vec<String>> = sorted
        .into_iter()
        .map(|(key, (t, rejected, reassigned_away))| {
            vec![
                name_or(key, "(unassigned)"),
                t.tickets.to_string(),
                t.open.to_string(),
                t.completed.to_string(),
                percent(t.ftf_fixed, t.ftf_known),
                t.complaints.to_string(),
                hours(t.minutes),
                rejected.to_string(),
                reassigned_away.to_string(),
            ]
        })
        .collect();
    Report {
        key: "engineers",
        title: "Per engineer",
        columns: vec![
            "Engineer",
            "Tickets",
            "Open",
            "Completed",
            "First-time fix %",
            "Complaints",
            "Hours invested",
            "Given back",
            "Reassigned away",
        ],
        bars: bars_of(&rows, 1),
        rows,
        note: Some(
            "Given back: tickets the engineer rejected last; reassigned away: tickets last taken from the engineer.",
        ),
        word_columns: vec![],
    }
}

fn ageing(inputs: &Inputs, offset_minutes: i32) -> Report {
    let today = local_day(inputs.now, offset_minutes);
    let rows: Vec<Vec<String>> = inputs
        .oldest_open
        .iter()
        .map(|t| {
            let created = local_day(t.created_at, offset_minutes);
            vec![
                t.id.clone(),
                t.title.clone(),
                t.customer_name.clone(),
                t.assignee.clone().unwrap_or_else(|| "(unassigned)".into()),
                t.status.clone(),
                day_label(created),
                (today - created).max(0).to_string(),
            ]
        })
        .collect();
    let bars = rows
        .iter()
        .take(chart::MAX_BARS)
        .map(|r| Bar { label: r[0].clone(), value: r[6].parse().unwrap_or(0.0) })
        .collect();
    Report {
        key: "ageing",
        title: "Ageing of open tickets (oldest first)",
        columns: vec!["Ticket", "Title", "Customer", "Engineer", "Status", "Created", "Age (days)"],
        rows,
        bars,
        word_columns: vec![4],
        note: Some(if inputs.open_total as usize > inputs.oldest_open.len() {
            "The oldest 50 open tickets; all open tickets are on the board."
        } else {
            "All open tickets, whenever created."
        }),
    }
}

/// Which calendar period a comparison table groups days into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// `2026-03`.
    Month,
    /// `2026 Q1`.
    Quarter,
    /// `2026`.
    Year,
}

/// The period a day falls in, as its label.
pub fn period_label(day: i64, period: Period) -> String {
    let Some(date) = date_of(day) else { return String::new() };
    match period {
        Period::Month => format!("{}-{:02}", date.year(), date.month()),
        Period::Quarter => format!("{} Q{}", date.year(), date.month0() / 3 + 1),
        Period::Year => date.year().to_string(),
    }
}

/// Day tallies folded into periods, in calendar order.
pub fn fold_periods(by_day: &[Tally], period: Period) -> Vec<(String, Tally)> {
    let mut periods: BTreeMap<String, Tally> = BTreeMap::new();
    for t in by_day {
        let Ok(day) = t.key.parse::<i64>() else { continue };
        periods.entry(period_label(day, period)).or_default().add(t);
    }
    periods.into_iter().collect()
}

fn comparison(inputs: &Inputs, period: Period) -> Report {
    let folded = fold_periods(&inputs.by_day, period);
    let mut rows = Vec::new();
    let mut previous: Option<i64> = None;
    for (label, t) in &folded {
        let change = match previous {
            Some(p) if p > 0 => format!("{:+.1}", (t.tickets - p) as f64 * 100.0 / p as f64),
            _ => "-".into(),
        };
        rows.push(vec![
            label.clone(),
            t.tickets.to_string(),
            t.completed.to_string(),
            mean_hours(t.response_ms, t.responded),
            percent(t.ftf_fixed, t.ftf_known),
            t.complaints.to_string(),
            change,
        ]);
        previous = Some(t.tickets);
    }
    let (key, title) = match period {
        Period::Month => ("months", "By month"),
        Period::Quarter => ("quarters", "By quarter"),
        Period::Year => ("years", "By year"),
    };
    Report {
        key,
        title,
        columns: vec![
            "Period",
            "Tickets",
            "Completed",
            "Mean first response (h)",
            "First-time fix %",
            "Complaints",
            "Change %",
        ],
        bars: rows.iter().map(|r| Bar { label: r[0].clone(), value: r[1].parse().unwrap_or(0.0) }).collect(),
        rows,
        note: None,
        word_columns: vec![],
    }
}

fn revisits(inputs: &Inputs) -> Report {
    let mut all = Tally::default();
    inputs.by_type.iter().for_each(|t| all.add(t));
    let figures = [
        ("Completed", all.completed.to_string()),
        ("Revisited", all.revisited.to_string()),
        ("Revisit due, not done", all.revisit_due.to_string()),
        ("Fixed the first time", all.ftf_fixed.to_string()),
        ("Not fixed the first time", (all.ftf_known - all.ftf_fixed).to_string()),
        ("First-time fix %", percent(all.ftf_fixed, all.ftf_known)),
    ];
    let rows: Vec<Vec<String>> = figures.iter().map(|(k, v)| vec![(*k).to_owned(), v.clone()]).collect();
    Report {
        key: "revisits",
        title: "Revisit outcomes",
        columns: vec!["Figure", "Value"],
        bars: rows[..5].iter().map(|r| Bar { label: r[0].clone(), value: r[1].parse().unwrap_or(0.0) }).collect(),
        rows,
        note: None,
        word_columns: vec![0],
    }
}

fn complaints(tallies: &[Tally], key: &'static str, title: &'static str, column: &'static str) -> Report {
    let total: i64 = tallies.iter().map(|t| t.tickets).sum();
    let rows: Vec<Vec<String>> = by_count(tallies)
        .into_iter()
        .map(|t| vec![name_or(&t.key, "(none)"), t.tickets.to_string(), percent(t.tickets, total), t.open.to_string()])
        .collect();
    Report {
        key,
        title,
        columns: vec![column, "Complaints", "Share %", "Open"],
        bars: bars_of(&rows, 1),
        rows,
        note: None,
        word_columns: vec![0],
    }
}

/// Every report, in [`KEYS`] order.
pub fn reports(inputs: &Inputs, window: &Window) -> Vec<Report> {
    vec![
        types(inputs),
        problems_by(&inputs.by_product, "products", "Most frequent problems by product", "Product"),
        problems_by(&inputs.by_module, "modules", "Most frequent problems by module", "Product / module"),
        customers(inputs),
        engineers(inputs),
        ageing(inputs, window.offset_minutes),
        comparison(inputs, Period::Month),
        comparison(inputs, Period::Quarter),
        comparison(inputs, Period::Year),
        revisits(inputs),
        complaints(&inputs.complaint_levels, "complaint-levels", "Complaints by level", "Level"),
        complaints(&inputs.complaint_products, "complaint-products", "Complaints by product", "Product"),
    ]
}

/// A CSV field: quoted when it must be, and a leading `=`, `+`, `-` or `@` defused so a
/// spreadsheet never runs it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value != "-" && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// The UTF-8 byte order mark: Excel on Chinese Windows reads a CSV without it as GBK.
pub const BOM: &str = "\u{feff}";

/// A report as CSV: the BOM, a header line in `header`'s words, CRLF line ends.
pub fn csv(report: &Report, header: impl Fn(&str) -> String) -> String {
    let mut out = String::from(BOM);
    out.push_str(&report.columns.iter().map(|c| csv_field(&header(c))).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for row in &report.rows {
        out.push_str(&row.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests;
