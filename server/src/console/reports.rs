//! Service reports: for a date range, per engineer, per priority and per customer tier, how
//! many tickets are in which state, first-response time (dispatched → accepted), time to
//! arrive (dispatched → checked in), resolution time (created → completed), SLA breach rate,
//! rework (reopened) rate and average satisfaction; a trend per day; CSV and SVG renderings.
//!
//! Pure: everything is computed from ticket views by folding their events through the same
//! [`workflow::apply`] the state machine uses, so a refused or voided event never counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fieldsync_core::model::{Priority, Ticket, doc};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{self, EventKind, Status, TicketState};

/// One day in milliseconds.
pub const DAY: Millis = 86_400_000;

/// What one ticket contributes to the reports. Kept per ticket version in storage
/// (`crate::report_facts`), so a page view folds only the tickets changed since the last one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    /// Ticket id.
    pub id: String,
    /// Creation time (which day it counts on).
    pub created_at: Millis,
    /// Its engineer: the current assignee, else the last one it was dispatched to.
    pub engineer: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Customer tier ("" when none).
    pub tier: String,
    /// Derived status.
    pub status: Status,
    /// First dispatch → first acceptance.
    pub first_response: Option<Millis>,
    /// Dispatch → first check-in.
    pub to_arrive: Option<Millis>,
    /// Creation → completion (the latest completion, once final).
    pub resolution: Option<Millis>,
    /// Whether an SLA deadline was missed; `None` when the ticket has none.
    pub breached: Option<bool>,
    /// The earliest deadline not met yet (the ticket not cancelled): it breaches once passed,
    /// with no change to the ticket ([`Facts::seen_at`]).
    #[serde(default)]
    pub open_deadline: Option<Millis>,
    /// Whether it was ever reopened.
    pub reopened: bool,
    /// The customer's rating, if given.
    pub rating: Option<u8>,
}

/// Folds a ticket's history into its [`Facts`], judging open deadlines at `now`.
pub fn facts(ticket: &Ticket, now: Millis) -> Facts {
    let mut state = TicketState::default();
    let (mut response_start, mut arrive_start) = (None, None);
    let (mut first_response, mut to_arrive) = (None, None);
    let (mut responded_at, mut arrived_at) = (None, None);
    let mut reopened = false;
    let mut last_engineer = None;
    for event in doc::workflow_events(&ticket.events) {
        // Refused events change nothing, exactly as in the status fold.
        let Ok(next) = workflow::apply(&state, &event) else { continue };
        match event.kind {
            Some(EventKind::Dispatched | EventKind::Reassigned) => {
                if first_response.is_none() {
                    response_start = Some(event.at);
                }
                if to_arrive.is_none() {
                    arrive_start = Some(event.at);
                }
                last_engineer = event.assignee.clone();
            }
            Some(EventKind::Accepted) if first_response.is_none() => {
                first_response = response_start.map(|start| (event.at - start).max(0));
                responded_at = Some(event.at);
            }
            Some(EventKind::CheckedIn) if to_arrive.is_none() => {
                to_arrive = arrive_start.map(|start| (event.at - start).max(0));
                arrived_at = Some(event.at);
            }
            Some(EventKind::Reopened) => reopened = true,
            _ => {}
        }
        state = next;
    }
    let resolved_at = state.resolved_at;
    let deadlines = [
        (ticket.sla.respond_by, responded_at),
        (ticket.sla.arrive_by, arrived_at),
        (ticket.sla.resolve_by, resolved_at),
    ];
    let breached = deadlines.iter().any(|(deadline, _)| deadline.is_some()).then(|| {
        deadlines.iter().any(|(deadline, met)| match (deadline, met) {
            (Some(deadline), Some(met)) => met > deadline,
            (Some(deadline), None) => state.status != Status::Cancelled && now > *deadline,
            (None, _) => false,
        })
    });
    let open_deadline = (state.status != Status::Cancelled)
        .then(|| deadlines.iter().filter(|(_, met)| met.is_none()).filter_map(|(deadline, _)| *deadline).min())
        .flatten();
    Facts {
        id: ticket.id.clone(),
        created_at: ticket.created_at,
        engineer: state.assignee.clone().or(last_engineer),
        priority: ticket.priority,
        tier: ticket.customer.tier.trim().to_lowercase(),
        status: state.status,
        first_response,
        to_arrive,
        resolution: resolved_at.map(|at| (at - ticket.created_at).max(0)),
        breached,
        open_deadline,
        reopened,
        // The customer's own rating (the tracking page), never what the engineer noted.
        rating: ticket.customer_feedback.as_ref().map(|f| f.rating),
    }
}

impl Facts {
    /// These facts at `now`, later than when they were folded: an open deadline passed
    /// since is a breach (nothing else changes while the ticket does not).
    pub fn seen_at(mut self, now: Millis) -> Facts {
        if self.breached == Some(false) && self.open_deadline.is_some_and(|deadline| now > deadline) {
            self.breached = Some(true);
        }
        self
    }
}

/// A range of whole UTC days: `from` is the first day's start, `to` the end of the last
/// (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Start of the first day.
    pub from: Millis,
    /// End of the last day (exclusive).
    pub to: Millis,
}

impl Range {
    /// The days `first_day ..= last_day` (each a day number since the epoch); swapped if
    /// given backwards, and at most 366 days long.
    pub fn days(first_day: i64, last_day: i64) -> Range {
        let (a, b) = if first_day <= last_day { (first_day, last_day) } else { (last_day, first_day) };
        let b = b.min(a + 365);
        Range { from: a * DAY, to: (b + 1) * DAY }
    }

    /// The start of each day.
    pub fn day_starts(&self) -> Vec<Millis> {
        (self.from / DAY..self.to / DAY).map(|d| d * DAY).collect()
    }

    fn contains(&self, at: Millis) -> bool {
        (self.from..self.to).contains(&at)
    }
}

/// One row of a report table: one group (an engineer, a priority, a tier) or all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The group's name.
    pub group: String,
    /// Tickets created in the range.
    pub tickets: usize,
    /// Of which new, dispatched or rejected (waiting for an engineer).
    pub open: usize,
    /// Accepted, travelling, on site, working or paused.
    pub active: usize,
    /// Completed.
    pub completed: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Mean first-response time.
    pub first_response: Option<Millis>,
    /// Mean time to arrive.
    pub to_arrive: Option<Millis>,
    /// Mean resolution time.
    pub resolution: Option<Millis>,
    /// Share of tickets with an SLA that missed a deadline.
    pub breach_rate: Option<f64>,
    /// Share of tickets reopened.
    pub rework_rate: Option<f64>,
    /// Mean rating (1-5).
    pub satisfaction: Option<f64>,
    /// Tickets created on each day of the range.
    pub per_day: Vec<usize>,
}

/// One report table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Its key in URLs ("engineer", "priority", "tier").
    pub key: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The day starts of the range.
    pub days: Vec<Millis>,
    /// One row per group, sorted by name, then the "all" row.
    pub rows: Vec<Row>,
}

/// The report tables' keys, in page order.
pub const TABLES: [&str; 3] = ["engineer", "priority", "tier"];

fn group_of(key: &str, f: &Facts) -> String {
    match key {
        "engineer" => f.engineer.clone().unwrap_or_else(|| "(unassigned)".into()),
        "priority" => f.priority.as_str().into(),
        _ if f.tier.is_empty() => "(none)".into(),
        _ => f.tier.clone(),
    }
}

fn mean(values: impl Iterator<Item = Millis>) -> Option<Millis> {
    let (sum, n) = values.fold((0i128, 0i128), |(s, n), v| (s + i128::from(v), n + 1));
    (n > 0).then(|| Millis::try_from(sum / n).unwrap_or(Millis::MAX))
}

fn row(group: String, facts: &[&Facts], range: &Range) -> Row {
    let count = |pred: &dyn Fn(&Facts) -> bool| facts.iter().filter(|f| pred(f)).count();
    let with_sla: Vec<bool> = facts.iter().filter_map(|f| f.breached).collect();
    let ratings: Vec<f64> = facts.iter().filter_map(|f| f.rating).map(f64::from).collect();
    let mut per_day = vec![0; range.day_starts().len()];
    for f in facts {
        if let Some(slot) = usize::try_from((f.created_at - range.from) / DAY).ok().and_then(|d| per_day.get_mut(d)) {
            *slot += 1;
        }
    }
    let rate = |hits: usize, of: usize| (of > 0).then(|| hits as f64 / of as f64);
    Row {
        group,
        tickets: facts.len(),
        // Open but not yet taken by an engineer; taken and not finished.
        open: count(&|f| f.status.is_open() && !f.status.is_active()),
        active: count(&|f| f.status.is_active()),
        completed: count(&|f| f.status == Status::Completed),
        cancelled: count(&|f| f.status == Status::Cancelled),
        first_response: mean(facts.iter().filter_map(|f| f.first_response)),
        to_arrive: mean(facts.iter().filter_map(|f| f.to_arrive)),
        resolution: mean(facts.iter().filter_map(|f| f.resolution)),
        breach_rate: rate(with_sla.iter().filter(|b| **b).count(), with_sla.len()),
        rework_rate: rate(count(&|f| f.reopened), facts.len()),
        satisfaction: (!ratings.is_empty()).then(|| ratings.iter().sum::<f64>() / ratings.len() as f64),
        per_day,
    }
}

/// The three tables for the tickets created in `range`.
pub fn tables(all: &[Facts], range: &Range) -> Vec<Table> {
    let in_range: Vec<&Facts> = all.iter().filter(|f| range.contains(f.created_at)).collect();
    TABLES
        .iter()
        .map(|&key| {
            let mut groups: BTreeMap<String, Vec<&Facts>> = BTreeMap::new();
            for f in &in_range {
                groups.entry(group_of(key, f)).or_default().push(f);
            }
            let mut rows: Vec<Row> = groups.into_iter().map(|(group, facts)| row(group, &facts, range)).collect();
            rows.push(row("all".into(), &in_range, range));
            let title = match key {
                "engineer" => "By engineer",
                "priority" => "By priority",
                _ => "By customer tier",
            };
            Table { key, title, days: range.day_starts(), rows }
        })
        .collect()
}

/// Minutes with one decimal, or "" when unknown (the CSV and the page show the same figure).
pub fn minutes(ms: Option<Millis>) -> String {
    ms.map(|ms| format!("{:.1}", ms as f64 / 60_000.0)).unwrap_or_default()
}

/// A share as a percentage with one decimal, or "".
pub fn percent(share: Option<f64>) -> String {
    share.map(|s| format!("{:.1}", s * 100.0)).unwrap_or_default()
}

/// A mean rating with two decimals, or "".
pub fn rating(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}")).unwrap_or_default()
}

/// The column headings of a table, in CSV order.
pub const COLUMNS: [&str; 12] = [
    "group",
    "tickets",
    "open",
    "active",
    "completed",
    "cancelled",
    "first_response_min",
    "time_to_arrive_min",
    "resolution_min",
    "sla_breach_pct",
    "rework_pct",
    "avg_satisfaction",
];

/// A row's cells, in [`COLUMNS`] order.
pub fn cells(row: &Row) -> [String; 12] {
    [
        row.group.clone(),
        row.tickets.to_string(),
        row.open.to_string(),
        row.active.to_string(),
        row.completed.to_string(),
        row.cancelled.to_string(),
        minutes(row.first_response),
        minutes(row.to_arrive),
        minutes(row.resolution),
        percent(row.breach_rate),
        percent(row.rework_rate),
        rating(row.satisfaction),
    ]
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do not run it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// A table as CSV, with a header line; lines end with CRLF.
pub fn csv(table: &Table) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for row in &table.rows {
        out.push_str(&cells(row).iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// Chart size.
const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 32.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 8] = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/// The y coordinate of `value` on a plot `TOP..TOP+height` whose top is `max`.
pub fn scale_y(value: usize, max: usize, height: f64) -> f64 {
    if max == 0 {
        return TOP + height;
    }
    TOP + height - (value.min(max) as f64 / max as f64) * height
}

/// The x coordinate of day `index` of `days` on a plot `LEFT..LEFT+width`.
pub fn scale_x(index: usize, days: usize, width: f64) -> f64 {
    if days <= 1 {
        return LEFT + width / 2.0;
    }
    LEFT + width * index as f64 / (days - 1) as f64
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A day start as `YYYY-MM-DD`.
pub fn day_label(day_start: Millis) -> String {
    fieldsync_core::time::to_rfc3339(day_start).chars().take(10).collect()
}

/// The trend of a table as an SVG line chart: tickets created per day, one line per group.
pub fn trend_svg(table: &Table) -> String {
    let series: Vec<&Row> = table.rows.iter().filter(|r| r.group != "all").collect();
    let days = table.days.len();
    let max = series.iter().flat_map(|r| r.per_day.iter().copied()).max().unwrap_or(0);
    let (width, height) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-table="{}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}: tickets created per day">"#,
        table.key,
        escape(table.title)
    );
    let base = TOP + height;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#999"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#999"/>"##,
        LEFT + width
    );
    let _ = write!(svg, r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{max}</text>"#, LEFT - 4.0, TOP + 4.0);
    let _ = write!(svg, r#"<text x="{}" y="{base}" font-size="10" text-anchor="end">0</text>"#, LEFT - 4.0);
    if let (Some(first), Some(last)) = (table.days.first(), table.days.last()) {
        let y = base + 12.0;
        let _ = write!(svg, r#"<text x="{LEFT}" y="{y}" font-size="10">{}</text>"#, day_label(*first));
        let _ = write!(
            svg,
            r#"<text x="{}" y="{y}" font-size="10" text-anchor="end">{}</text>"#,
            LEFT + width,
            day_label(*last)
        );
    }
    for (n, row) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let points: Vec<String> = row
            .per_day
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", scale_x(i, days, width), scale_y(*v, max, height)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-group="{}" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            escape(&row.group),
            points.join(" ")
        );
        for point in &points {
            if let Some((x, y)) = point.split_once(',') {
                let _ = write!(svg, r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>"#);
            }
        }
        let x = LEFT + (n % 4) as f64 * (width / 4.0);
        let y = base + 26.0 + (n / 4) as f64 * 11.0;
        let _ = write!(svg, r#"<text x="{x}" y="{y}" font-size="10" fill="{colour}">■ {}</text>"#, escape(&row.group));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, Automerge};
    use fieldsync_core::actions::{self, Command};
    use fieldsync_core::model::{Customer, Identity, Location, NewTicket, Sla};
    use fieldsync_core::workflow::Role;

    use super::*;

    const MIN: Millis = 60_000;
    const T0: Millis = 20_000 * DAY + 8 * 60 * MIN;

    fn who(user: &str, role: Role) -> Identity {
        Identity { user_id: user.into(), device_id: format!("{user}-dev"), role }
    }

    fn create(engineer: &str, priority: Priority, tier: &str, sla: Sla, at: Millis) -> Automerge {
        let new = NewTicket {
            title: "Job".into(),
            customer: Customer { name: "C".into(), tier: tier.into(), ..Default::default() },
            priority,
            sla,
            assignee: Some(engineer.into()),
            ..Default::default()
        };
        actions::create(ActorId::random(), &who("dana", Role::Dispatcher), &new, at).expect("create").1
    }

    fn step(document: &mut Automerge, user: &str, role: Role, command: Command, at: Millis) {
        actions::perform(document, &who(user, role), &command, at).expect("step");
    }

    /// The customer rates, as the tracking page writes it.
    fn customer_rates(document: &mut Automerge, rating: u8, at: Millis) {
        doc::edit(document, at, "customer rating", |tx| doc::put_customer_feedback(tx, rating, "", at)).expect("rate");
    }

    fn here() -> Location {
        Location { lat: 1.0, lon: 1.0, accuracy_m: 1.0 }
    }

    /// eli: answered in 10 min, on site in 60, done in 120, rated 4, all deadlines met.
    /// fay: answered in 20 min, on site in 90 (late), done, reopened; rated 2.
    /// gus (next day): never answers, respond_by passed: breached, still dispatched.
    fn fixture() -> Vec<Ticket> {
        let sla = |respond: Millis, arrive: Millis, resolve: Millis| Sla {
            respond_by: Some(T0 + respond * MIN),
            arrive_by: Some(T0 + arrive * MIN),
            resolve_by: Some(T0 + resolve * MIN),
        };
        let mut eli = create("eli", Priority::High, "gold", sla(15, 60, 180), T0);
        step(&mut eli, "eli", Role::Engineer, Command::Accept, T0 + 10 * MIN);
        step(&mut eli, "eli", Role::Engineer, Command::CheckIn { location: here() }, T0 + 60 * MIN);
        step(
            &mut eli,
            "eli",
            Role::Engineer,
            // What the engineer noted does not count in reports: the customer's rating does.
            Command::RecordFeedback { rating: 1, comment: String::new() },
            T0 + 61 * MIN,
        );
        step(&mut eli, "eli", Role::Engineer, Command::Complete { summary: "ok".into() }, T0 + 120 * MIN);
        customer_rates(&mut eli, 4, T0 + 130 * MIN);

        let mut fay = create("fay", Priority::Normal, "standard", sla(30, 60, 600), T0);
        step(&mut fay, "fay", Role::Engineer, Command::Accept, T0 + 20 * MIN);
        // Refused (not on site yet): must not count as an arrival.
        assert!(actions::perform(&mut fay, &who("fay", Role::Engineer), &Command::StartWork, T0).is_err());
        step(&mut fay, "fay", Role::Engineer, Command::CheckIn { location: here() }, T0 + 90 * MIN);
        step(
            &mut fay,
            "fay",
            Role::Engineer,
            Command::RecordFeedback { rating: 5, comment: String::new() },
            T0 + 91 * MIN,
        );
        step(&mut fay, "fay", Role::Engineer, Command::Complete { summary: "ok".into() }, T0 + 100 * MIN);
        customer_rates(&mut fay, 2, T0 + 110 * MIN);
        step(&mut fay, "dana", Role::Dispatcher, Command::Reopen { reason: "leaks again".into() }, T0 + 200 * MIN);

        let next_day = T0 + DAY;
        let gus = create(
            "gus",
            Priority::High,
            "",
            Sla { respond_by: Some(next_day + 15 * MIN), ..Sla::default() },
            next_day,
        );

        [eli, fay, gus].iter().map(|d| doc::read_ticket(d).expect("read")).collect()
    }

    #[test]
    fn facts_fold_the_history_like_the_workflow() {
        let tickets = fixture();
        let now = T0 + 2 * DAY;
        let eli = facts(&tickets[0], now);
        assert_eq!(eli.first_response, Some(10 * MIN));
        assert_eq!(eli.to_arrive, Some(60 * MIN));
        assert_eq!(eli.resolution, Some(120 * MIN));
        assert_eq!((eli.breached, eli.reopened, eli.rating), (Some(false), false, Some(4)));
        let fay = facts(&tickets[1], now);
        assert_eq!((fay.first_response, fay.to_arrive), (Some(20 * MIN), Some(90 * MIN)));
        assert_eq!(fay.resolution, None, "reopened: not resolved any more");
        assert_eq!((fay.breached, fay.reopened, fay.status), (Some(true), true, Status::Dispatched));
        let gus = facts(&tickets[2], now);
        assert_eq!((gus.first_response, gus.breached, gus.tier.as_str()), (None, Some(true), ""));
        assert_eq!(facts(&tickets[2], T0 + DAY).breached, Some(false), "not yet due");
        // Folded before the deadline and kept: read later, it has breached.
        let kept = facts(&tickets[2], T0 + DAY);
        assert_eq!(kept.open_deadline, Some(T0 + DAY + 15 * MIN));
        assert_eq!(kept.clone().seen_at(now), gus, "the same as folding now");
        assert_eq!(kept.seen_at(T0 + DAY + MIN).breached, Some(false));
        assert_eq!(eli.clone().seen_at(T0 + 400 * DAY), eli, "met deadlines never breach later");
    }

    #[test]
    fn tables_group_and_average_within_the_range() {
        let now = T0 + 2 * DAY;
        let all: Vec<Facts> = fixture().iter().map(|t| facts(t, now)).collect();
        let day = T0 / DAY;
        let tables = tables(&all, &Range::days(day, day + 1));
        let by_engineer = &tables[0];
        let groups: Vec<&str> = by_engineer.rows.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(groups, ["eli", "fay", "gus", "all"]);
        let total = by_engineer.rows.last().expect("all row");
        assert_eq!((total.tickets, total.open, total.completed), (3, 2, 1));
        assert_eq!(total.first_response, Some(15 * MIN), "mean of 10 and 20 minutes");
        assert_eq!(total.resolution, Some(120 * MIN));
        assert_eq!(percent(total.breach_rate), "66.7");
        assert_eq!(percent(total.rework_rate), "33.3");
        assert_eq!(rating(total.satisfaction), "3.00");
        assert_eq!(total.per_day, [2, 1]);
        let by_tier: Vec<&str> = tables[2].rows.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(by_tier, ["(none)", "gold", "standard", "all"]);
        let by_priority = &tables[1];
        assert_eq!(by_priority.rows[0].group, "high");
        assert_eq!(by_priority.rows[0].tickets, 2);

        let first_day_only = super::tables(&all, &Range::days(day, day));
        assert_eq!(first_day_only[0].rows.last().map(|r| r.tickets), Some(2), "the range filters by creation day");
        assert_eq!(Range::days(day + 1, day), Range::days(day, day + 1), "a backwards range is swapped");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        let all: Vec<Facts> = fixture().iter().map(|t| facts(t, T0 + 2 * DAY)).collect();
        let table = &tables(&all, &Range::days(T0 / DAY, T0 / DAY + 1))[0];
        let text = csv(table);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(lines[1], "eli,1,0,0,1,0,10.0,60.0,120.0,0.0,0.0,4.00");
        assert_eq!(lines.len(), 2 + table.rows.len(), "header, rows, and the empty rest after the last CRLF");
    }

    #[test]
    fn svg_scales_into_the_plot_and_escapes_names() {
        assert_eq!(scale_y(0, 10, 100.0), TOP + 100.0);
        assert_eq!(scale_y(10, 10, 100.0), TOP);
        assert_eq!(scale_y(5, 10, 100.0), TOP + 50.0);
        assert_eq!(scale_y(3, 0, 100.0), TOP + 100.0, "an empty chart sits on the axis");
        assert_eq!(scale_y(20, 10, 100.0), TOP, "never above the plot");
        assert_eq!(scale_x(0, 3, 100.0), LEFT);
        assert_eq!(scale_x(2, 3, 100.0), LEFT + 100.0);
        assert_eq!(scale_x(0, 1, 100.0), LEFT + 50.0, "one day sits in the middle");
        let table = Table {
            key: "engineer",
            title: "By engineer",
            days: vec![0, DAY],
            rows: vec![Row { group: "<b>".into(), per_day: vec![0, 2], ..row(String::new(), &[], &Range::days(0, 1)) }],
        };
        let svg = trend_svg(&table);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        let points = format!("points=\"{LEFT:.1},{:.1} {:.1},{TOP:.1}\"", HEIGHT - BOTTOM, WIDTH - RIGHT);
        assert!(svg.contains(&points), "the line runs from the bottom left to the top right: {svg}");
    }
}
