//! The demo's first 90 days (docs/adr/0029): the organisation's past, lived through again
//! before the live demo starts, so every report, chart and customer page has something real
//! to show on first run.
//!
//! Nothing is written by hand. One [`ManualClock`] is shared by the server and the engineers'
//! phones; it is set 90 days back and moved forward event by event: the dispatcher takes calls
//! through the REST API (customer records, classification, the SLA policy as data), the phones
//! are told of new work and sync, engineers work offline through their core `Client`s and sync
//! at the next round, the escalation evaluator runs each round, the dispatcher calls customers
//! back (revisits, a few "not fixed" that reopen the job) and the complaint handler grades
//! complaints and reclassifies one into a sales lead. Then the clock follows the system again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use chrono::{Datelike, TimeZone};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{Classification, ComplaintLevel, Customer, ListFilter, Location, NewTicket, Priority};
use fieldsync_core::time::{ManualClock, Millis};
use fieldsync_core::{Status, TicketSummary};
use fieldsync_server::AppState;
use fieldsync_server::sla::escalation::{Rule, Rules, Watched};
use fieldsync_server::sla::taxonomy::{Entry, Taxonomy};
use fieldsync_server::storage::Principal;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::{CUSTOMERS, Engineer, FAULTS};
use crate::CliError;
use crate::dispatch::Api;

/// How far back the history starts.
pub(super) const DAYS: i64 = 90;
const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
/// The rounds of a working day (hours in the organisation's zone): engineers sync, the
/// evaluator runs, the dispatcher calls customers back.
const ROUNDS: [u32; 3] = [9, 13, 17];
/// Steps each engineer takes between two rounds (at most).
const STEPS_PER_ROUND: usize = 4;

/// Products, modules and versions the practice services (the taxonomy the admin keeps).
const PRODUCTS: [(&str, &str); 4] = [
    ("boiler-x", "Boiler X"),
    ("heat-pump-h2", "Heat pump H2"),
    ("thermo-one", "Thermo One"),
    ("aqua-tank", "Aqua tank"),
];
const MODULES: [(&str, &str); 4] =
    [("burner", "Burner"), ("pump", "Pump"), ("control-board", "Control board"), ("valve", "Valve")];
const VERSIONS: [&str; 3] = ["2019", "2022", "2024"];

/// What customers complain about.
const COMPLAINTS: [&str; 4] = [
    "Engineer arrived late and left a mess",
    "Boiler still cold after the repair",
    "Nobody called back about the quote",
    "Charged for a part under warranty",
];

/// What the history made, for the demo's opening lines.
#[derive(Debug, Default)]
pub(super) struct Made {
    /// Tickets created.
    pub tickets: u32,
    /// Completions (a job reopened by its revisit completes twice).
    pub completed: u32,
    /// Escalations the evaluator acted on.
    pub escalations: usize,
    /// Complaint tickets.
    pub complaints: u32,
    /// Revisits recorded.
    pub revisits: u32,
    /// Revisits that found the job not fixed and reopened it.
    pub reopened: u32,
    /// Ratings customers gave.
    pub ratings: u32,
}

enum Event {
    /// A working round: engineers sync, escalations, call-backs, then work is planned.
    Round,
    /// A customer calls; the dispatcher makes the ticket for the engineer.
    Call { engineer: usize },
    /// An engineer's phone is told of new work: it syncs and the engineer accepts.
    Push { engineer: usize },
    /// An engineer takes the next step on their most pressing ticket, offline.
    Work { engineer: usize },
    /// The customer rates a completed visit on their tracking page.
    Rate { ticket: String },
}

/// The people the history acts as.
pub(super) struct Cast<'a> {
    pub state: &'a AppState,
    pub clock: &'a ManualClock,
    pub admin: Principal,
    pub dispatcher: &'a Api,
    pub handler: &'a Api,
    pub engineers: &'a [Engineer],
}

struct Run<'a> {
    cast: Cast<'a>,
    rng: StdRng,
    queue: BinaryHeap<Reverse<(Millis, u64, usize)>>,
    events: Vec<Event>,
    customers: Vec<(String, &'static str)>,
    /// Completed tickets the dispatcher has still to call back: id → when to call.
    revisits_due: HashMap<String, Millis>,
    /// Complaint tickets the handler has still to grade.
    complaints_new: Vec<String>,
    made: Made,
    call: u32,
    /// Complaints graded so far.
    graded: u32,
    /// Each ticket's engineer (index into the cast's engineers).
    engineer_of: HashMap<String, usize>,
    /// Tickets whose customer was asked for a rating (once per ticket, also when reopened).
    rated: HashSet<String>,
    /// Tickets whose engineer noted the customer's feedback on site (write-once).
    noted: HashSet<String>,
}

/// The midnight before `now` in a zone `offset_minutes` east of UTC, UTC ms.
fn local_midnight(now: Millis, offset_minutes: i32) -> Millis {
    let offset = Millis::from(offset_minutes) * MINUTE;
    let local = now + offset;
    local - local.rem_euclid(24 * HOUR) - offset
}

/// Lives through the last [`DAYS`] days, ending at the system time (the clock then follows
/// it). Returns what was made and the next call number.
pub(super) async fn live_through(cast: Cast<'_>, offset_minutes: i32) -> Result<(Made, u32), CliError> {
    let real_now = fieldsync_core::time::now_ms();
    let first_day = local_midnight(real_now, offset_minutes) - DAYS * 24 * HOUR;
    cast.clock.set(first_day + 8 * HOUR);
    let mut run = Run {
        cast,
        // Seeded: every run tells the same kind of story (how many draws a day takes depends on
        // the weekday the window starts on, so not the same one; the demo test checks
        // thresholds, such as a reopen and a reclassification); the live part after it is random.
        rng: StdRng::seed_from_u64(16_11),
        queue: BinaryHeap::new(),
        events: Vec::new(),
        customers: Vec::new(),
        revisits_due: HashMap::new(),
        complaints_new: Vec::new(),
        made: Made::default(),
        call: 0,
        graded: 0,
        rated: HashSet::new(),
        noted: HashSet::new(),
        engineer_of: HashMap::new(),
    };
    run.configure().await?;
    for day in 0..=DAYS {
        let midnight = first_day + day * 24 * HOUR;
        let weekday = chrono::Utc
            .timestamp_millis_opt(midnight + Millis::from(offset_minutes) * MINUTE + 12 * HOUR)
            .single()
            .map(|d| d.weekday().number_from_monday())
            .unwrap_or(1);
        for hour in ROUNDS {
            run.schedule(midnight + Millis::from(hour) * HOUR, Event::Round);
        }
        // Calls come in between 8:00 and 18:00; fewer at weekends.
        let calls = if weekday >= 6 { run.rng.random_range(0..=2) } else { run.rng.random_range(3..=6) };
        for _ in 0..calls {
            let at = midnight + 8 * HOUR + run.rng.random_range(0..10 * HOUR);
            let engineer = run.rng.random_range(0..run.cast.engineers.len());
            run.schedule(at, Event::Call { engineer });
        }
    }
    while let Some(Reverse((at, _, index))) = run.queue.pop() {
        if at > real_now {
            break;
        }
        run.cast.clock.set(at);
        let event = std::mem::replace(&mut run.events[index], Event::Round);
        run.handle(event).await?;
    }
    run.cast.clock.follow_system();
    // What the phones did since their last round reaches the server now.
    for engineer in run.cast.engineers {
        engineer.engine.sync_now().await?;
    }
    Ok((run.made, run.call + 1))
}

impl Run<'_> {
    fn schedule(&mut self, at: Millis, event: Event) {
        let sequence = self.events.len() as u64;
        self.events.push(event);
        self.queue.push(Reverse((at, sequence, self.events.len() - 1)));
    }

    fn now(&self) -> Millis {
        self.cast.clock.now()
    }

    /// The admin's settings (taxonomy with products, escalation rules) and the customer
    /// records, as the practice had them 90 days ago.
    async fn configure(&mut self) -> Result<(), CliError> {
        let state = self.cast.state.clone();
        let admin = fieldsync_server::Caller(self.cast.admin.clone());
        let entries = |list: &[(&str, &str)]| -> Vec<Entry> {
            list.iter().map(|(v, l)| Entry { value: (*v).into(), label: (*l).into() }).collect()
        };
        let taxonomy = Taxonomy {
            products: entries(&PRODUCTS),
            modules: entries(&MODULES),
            versions: VERSIONS.iter().map(|v| Entry { value: (*v).into(), label: String::new() }).collect(),
            ..Taxonomy::default()
        };
        // A late acceptance raises the priority; a job about to miss its resolve time is
        // flagged an hour before.
        let rules = Rules {
            rules: vec![
                Rule {
                    id: "respond-late".into(),
                    clock: Watched::Respond,
                    minutes_before: 0,
                    notify: true,
                    raise_priority: true,
                    assign_to: None,
                },
                Rule {
                    id: "resolve-soon".into(),
                    clock: Watched::Resolve,
                    minutes_before: 60,
                    notify: true,
                    raise_priority: false,
                    assign_to: None,
                },
            ],
        };
        tokio::task::spawn_blocking(move || -> Result<(), CliError> {
            fieldsync_server::manage::set_taxonomy(&state, &admin, &taxonomy)?;
            fieldsync_server::manage::set_escalation_rules(&state, &admin, &rules)?;
            Ok(())
        })
        .await
        .map_err(|e| CliError(e.to_string()))??;
        let contract_start = day_label(self.now());
        for (name, address, tier) in CUSTOMERS {
            let record = serde_json::json!({
                "name": name,
                "tier": tier,
                "phone": "+31 20 555 0100",
                "contacts": [{"name": "Front desk", "phone": "+31 20 555 0101"}],
                "sites": [{"label": "Main", "address": address}],
                "contract": {"level": tier, "valid_from": contract_start, "valid_until": "2027-12-31"},
            });
            let created: serde_json::Value = self.cast.dispatcher.post("/v1/customers", &record).await?;
            let id = created["id"].as_str().ok_or_else(|| CliError("no customer id".into()))?;
            self.customers.push((id.to_owned(), name));
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) -> Result<(), CliError> {
        match event {
            Event::Round => self.round().await,
            Event::Call { engineer } => self.call(engineer).await,
            Event::Push { engineer } => {
                let e = &self.cast.engineers[engineer];
                e.engine.sync_now().await?;
                for ticket in
                    e.client().list(&ListFilter { statuses: vec![Status::Dispatched], ..Default::default() })?
                {
                    e.client().run(&ticket.id, Command::Accept)?;
                }
                Ok(())
            }
            Event::Work { engineer } => self.work(engineer),
            Event::Rate { ticket } => self.rate(&ticket).await,
        }
    }

    /// A customer calls: a classified ticket for a customer record (a complaint now and then),
    /// its deadlines from the SLA policy, dispatched to `engineer`, whose phone is told.
    async fn call(&mut self, engineer: usize) -> Result<(), CliError> {
        self.call += 1;
        let rng = &mut self.rng;
        let (customer_id, customer_name) = self.customers.choose(rng).cloned().unwrap_or_default();
        let complaint = rng.random_ratio(1, 16);
        let (ticket_type, title, priority) = if complaint {
            ("complaint", *COMPLAINTS.choose(rng).unwrap_or(&COMPLAINTS[0]), Priority::High)
        } else {
            let fault = rng.random_range(0..FAULTS.len());
            let ticket_type = match fault {
                2 => "inspection",
                7 => "maintenance",
                8 => "installation",
                _ if rng.random_ratio(1, 8) => "consultation",
                _ => "on_site_repair",
            };
            let priority = match rng.random_range(0..20) {
                0..=1 => Priority::Urgent,
                2..=5 => Priority::High,
                6..=14 => Priority::Normal,
                _ => Priority::Low,
            };
            (ticket_type, FAULTS[fault], priority)
        };
        let new = NewTicket {
            title: format!("#{} {title} — {customer_name}", self.call),
            description: "Reported by phone".into(),
            customer: Customer { id: customer_id, ..Default::default() },
            site: Some(super::SITE),
            priority,
            classification: Classification {
                ticket_type: ticket_type.into(),
                product: PRODUCTS.choose(rng).map(|p| p.0).unwrap_or_default().into(),
                module: MODULES.choose(rng).map(|m| m.0).unwrap_or_default().into(),
                version: VERSIONS.choose(rng).copied().unwrap_or_default().into(),
            },
            assignee: Some(self.cast.engineers[engineer].name.into()),
            checklist: vec!["Isolate supply".into(), "Test after repair".into()],
            ..Default::default()
        };
        let id = self.cast.dispatcher.create(&new).await?;
        self.made.tickets += 1;
        self.engineer_of.insert(id.clone(), engineer);
        if complaint {
            self.made.complaints += 1;
            self.complaints_new.push(id);
        }
        // Most phones hear of it within minutes; some engineers are busy for longer.
        let delay = match self.rng.random_range(0..10) {
            0..=6 => self.rng.random_range(2..14) * MINUTE,
            7..=8 => self.rng.random_range(15..70) * MINUTE,
            _ => self.rng.random_range(70..180) * MINUTE,
        };
        self.schedule(self.now() + delay, Event::Push { engineer });
        Ok(())
    }

    /// A working round: every phone syncs what it did since the last, the evaluator looks at the clocks, the
    /// dispatcher calls back customers whose job is due a revisit, the complaint handler
    /// grades new complaints, and the engineers' work until the next round is planned.
    async fn round(&mut self) -> Result<(), CliError> {
        // A phone with nothing to send has nothing to fetch either: new and reopened work
        // reaches it by a push.
        for engineer in self.cast.engineers {
            if engineer.client().pending()?.tickets > 0 {
                engineer.engine.sync_now().await?;
            }
        }
        let state = self.cast.state.clone();
        self.made.escalations +=
            tokio::task::spawn_blocking(move || fieldsync_server::escalator::evaluate(&state, "demo-history"))
                .await
                .map_err(|e| CliError(e.to_string()))??;
        self.call_back().await?;
        self.grade_complaints().await?;
        let round_start = self.now();
        for engineer in 0..self.cast.engineers.len() {
            for _ in 0..STEPS_PER_ROUND {
                let at = round_start + self.rng.random_range(5..235) * MINUTE;
                self.schedule(at, Event::Work { engineer });
            }
        }
        Ok(())
    }

    /// Revisits (回访) due by now: most customers confirm the fix; every eighth says it is not
    /// fixed, which reopens the job to its engineer.
    async fn call_back(&mut self) -> Result<(), CliError> {
        let now = self.now();
        let mut due: Vec<String> =
            self.revisits_due.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
        due.sort();
        for id in due {
            self.revisits_due.remove(&id);
            let fixed = (self.made.revisits + 3) % 8 != 0;
            let command = Command::Revisit {
                fixed,
                contact: "Front desk".into(),
                note: if fixed { "Working fine since".into() } else { "Fault came back the next morning".into() },
            };
            // A ticket cancelled or reopened since cannot be revisited: the server says so and
            // the call is not made.
            if self.cast.dispatcher.act(&id, &command).await.is_ok() {
                self.made.revisits += 1;
                if !fixed {
                    self.made.reopened += 1;
                    if let Some(engineer) = self.engineer_of.get(&id).copied() {
                        let at = now + self.rng.random_range(5..60) * MINUTE;
                        self.schedule(at, Event::Push { engineer });
                    }
                }
            }
        }
        Ok(())
    }

    /// The complaint handler grades each new complaint; the second turns out to be a sales
    /// lead (the customer wants a new boiler) and is reclassified.
    async fn grade_complaints(&mut self) -> Result<(), CliError> {
        for id in std::mem::take(&mut self.complaints_new) {
            let level = *ComplaintLevel::ALL.choose(&mut self.rng).unwrap_or(&ComplaintLevel::Grumble);
            let unit = if self.rng.random_bool(0.5) { "Field team" } else { "Call centre" };
            self.cast.handler.act(&id, &Command::SetComplaint { level, unit: unit.into() }).await?;
            self.graded += 1;
            if self.graded == 2 {
                let detail: serde_json::Value = self.cast.handler.get(&format!("/v1/tickets/{id}")).await?;
                let classification: Classification = serde_json::from_value(detail["classification"].clone())?;
                let classification = Classification { ticket_type: "sales_lead".into(), ..classification };
                self.cast.handler.act(&id, &Command::Reclassify { classification }).await?;
            }
        }
        Ok(())
    }

    /// The engineer's next step on their most pressing open ticket (earliest deadline first).
    fn work(&mut self, engineer: usize) -> Result<(), CliError> {
        let e = &self.cast.engineers[engineer];
        let open: Vec<TicketSummary> =
            e.client().list(&ListFilter::default())?.into_iter().filter(|t| t.status.is_open()).collect();
        let Some(ticket) = open.iter().min_by_key(|t| (t.sla_due_at.unwrap_or(Millis::MAX), t.created_at)) else {
            return Ok(());
        };
        let here = Location { lat: super::SITE.lat, lon: super::SITE.lon, accuracy_m: 8.0 };
        let client = e.client();
        let id = &ticket.id;
        match ticket.status {
            Status::Dispatched => client.run(id, Command::Accept)?,
            Status::Accepted => client.run(id, Command::StartTravel { eta: None })?,
            Status::Travelling => client.run(id, Command::CheckIn { location: here })?,
            Status::OnSite => client.run(id, Command::StartWork)?,
            Status::Paused => client.run(id, Command::Resume)?,
            Status::Working => {
                let rng = &mut self.rng;
                client.run(id, Command::LogTime { minutes: rng.random_range(2..8) * 15, kind: "labour".into() })?;
                if rng.random_ratio(2, 3) {
                    client.run(id, Command::AddPart { sku: "SEAL-22".into(), qty: rng.random_range(1..3) })?;
                }
                client.run(id, Command::AddNote { text: format!("Job done on {}", ticket.customer_name) })?;
                // What the customer said on site, as the engineer notes it (once per ticket).
                if self.noted.insert(id.clone()) {
                    let rating = *[5u8, 5, 4, 4, 3].choose(rng).unwrap_or(&4);
                    client.run(id, Command::RecordFeedback { rating, comment: String::new() })?;
                }
                client
                    .run(id, Command::Complete { summary: "Fault found and fixed, tested with the customer".into() })?;
                self.made.completed += 1;
                // The dispatcher calls back a day or three later (the last days' are still due).
                let now = self.cast.clock.now();
                let due = now + self.rng.random_range(20..72) * HOUR;
                self.revisits_due.insert(id.clone(), due);
                // Most customers rate the visit on their tracking page within a day.
                if !self.rated.contains(id) && self.rng.random_ratio(3, 4) {
                    self.rated.insert(id.clone());
                    let at = now + self.rng.random_range(5..20) * HOUR;
                    self.schedule(at, Event::Rate { ticket: id.clone() });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Run<'_> {
    /// The customer opens the link the ticket's tracking page has and rates the visit (a few
    /// are unhappy, which opens a follow-up). A job reopened since is not rated.
    async fn rate(&mut self, ticket: &str) -> Result<(), CliError> {
        let detail: serde_json::Value = self.cast.dispatcher.get(&format!("/v1/tickets/{ticket}")).await?;
        let Some(path) = detail["tracking_url"].as_str().and_then(|url| url.find("/t/").map(|at| url[at..].to_owned()))
        else {
            return Ok(());
        };
        let rating = *[5u8, 5, 5, 4, 4, 4, 3, 2, 1].choose(&mut self.rng).unwrap_or(&4);
        let comment = if rating <= 2 { "The+fault+came+back" } else { "" };
        if self
            .cast
            .dispatcher
            .post_form(&format!("{path}/rating"), &format!("rating={rating}&comment={comment}"))
            .await
            .is_ok()
        {
            self.made.ratings += 1;
        }
        Ok(())
    }
}

/// A day as `YYYY-MM-DD` in UTC.
pub(super) fn day_label(at: Millis) -> String {
    chrono::Utc
        .timestamp_millis_opt(at)
        .single()
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        .unwrap_or_default()
}
