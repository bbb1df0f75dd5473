//! `fieldsync demo`: a server on embedded SQLite, a dispatcher, and three simulated engineers
//! whose phones go offline and online while they work, all through the real core and the real
//! sync engine. It first lives through the organisation's last 90 days (`history`, on a clock
//! the server and the phones share, set back and moved forward), so the reports have a past;
//! then it prints the synced board as today's tickets move, and keeps serving (and keeps the
//! engineers busy) until Ctrl-C.

mod history;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fieldsync_core::actions::Command;
use fieldsync_core::media::StrokePoint;
use fieldsync_core::model::{
    Customer, Identity, ListFilter, Location, NewPhoto, NewTicket, PhotoInput, Priority, Site, Sla,
};
use fieldsync_core::sync::{SyncConfig, SyncEngine};
use fieldsync_core::time::ManualClock;
use fieldsync_core::{Client, Durability, OpenOptions, Role, Status, TicketSummary};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::CliError;
use crate::dispatch::Api;

const ENGINEERS: [&str; 3] = ["eli", "fay", "gus"];

/// Where every demo job is (the check-ins are near it).
const SITE: Site = Site { lat: 52.3702, lon: 4.8952, radius_m: 150.0 };

struct Engineer {
    name: &'static str,
    engine: SyncEngine,
}

impl Engineer {
    fn client(&self) -> &Client {
        self.engine.client()
    }

    async fn sync(&self) -> Result<(), CliError> {
        let report = self.engine.sync_now().await?;
        println!(
            "  {:<4} online  -> synced: sent {}, received {}, {} round trip(s), {} B up / {} B down{}",
            self.name,
            report.pushed.len(),
            report.received.len(),
            report.round_trips,
            report.bytes_sent,
            report.bytes_received,
            if report.evicted.is_empty() { String::new() } else { format!(", {} removed", report.evicted.len()) }
        );
        Ok(())
    }

    /// Takes the next workflow step on one of their tickets, offline; returns what happened.
    /// Before completing, the engineer photographs the work and the customer signs, as on a
    /// real visit.
    async fn work(&self, rng: &mut impl Rng) -> Option<String> {
        let tickets = self.client().list(&ListFilter::default()).ok()?;
        let open: Vec<&TicketSummary> =
            tickets.iter().filter(|t| !t.status.is_final() && t.status != Status::Rejected).collect();
        let ticket = *open.choose(rng)?;
        let (command, what) = next_step(ticket.status, rng);
        let id = &ticket.id;
        let mut extra = String::new();
        if matches!(command, Command::Complete { .. }) {
            let photo = NewPhoto {
                source: PhotoInput::Bytes(photo_of_the_work(rng.random())),
                caption: "After the repair".into(),
                taken_at: None,
                location: None,
            };
            if self.client().add_photo(id, photo).await.is_ok() {
                extra.push_str(", photographed it");
            }
            if self.client().capture_signature(id, &ticket.customer_name, &signature(rng)).is_ok() {
                extra.push_str(&format!(", signed by {}", ticket.customer_name));
            }
        }
        self.client().run(id, command).ok()?;
        Some(format!("{what} \"{}\"{extra}", ticket.title))
    }
}

/// A made-up 640×480 photograph: a gradient with some texture, different per `seed`.
fn photo_of_the_work(seed: u8) -> Vec<u8> {
    let (width, height) = (640u16, 480u16);
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            let texture = ((x / 7) ^ (y / 5)) as u8 & 0x1f;
            rgb.extend_from_slice(&[(x / 3) as u8 ^ seed, (y / 2) as u8, texture.wrapping_mul(5).wrapping_add(seed)]);
        }
    }
    let mut out = Vec::new();
    // A JPEG of a buffer of the right size cannot fail to encode; an empty photo is refused
    // by the core with a typed error, never a panic.
    let _ = jpeg_encoder::Encoder::new(&mut out, 85).encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb);
    out
}

/// A signature's strokes: a wavy line across the pad.
fn signature(rng: &mut impl Rng) -> Vec<Vec<StrokePoint>> {
    let wobble: f32 = rng.random_range(0.05..0.15);
    vec![
        (0..24u32)
            .map(|i| {
                let x = 0.1 + i as f32 * 0.035;
                StrokePoint { x, y: 0.5 + wobble * (x * 19.0).sin(), t: i * 15 }
            })
            .collect(),
    ]
}

fn next_step(status: Status, rng: &mut impl Rng) -> (Command, &'static str) {
    let near_site = Location { lat: 52.3702 + rng.random_range(-0.0005..0.0005), lon: 4.8952, accuracy_m: 6.0 };
    match status {
        Status::Dispatched => (Command::Accept, "accepted"),
        Status::Accepted => (Command::StartTravel { eta: None }, "set off to"),
        Status::Travelling => (Command::CheckIn { location: near_site }, "checked in at"),
        Status::OnSite => (Command::StartWork, "started work on"),
        Status::Working | Status::Paused if rng.random_ratio(1, 3) => {
            (Command::Complete { summary: "Fault found and fixed, tested with the customer".into() }, "completed")
        }
        Status::Paused => (Command::Resume, "resumed"),
        Status::Working => match rng.random_range(0..4) {
            0 => (Command::AddNote { text: "Seal worn; replaced and pressure-tested".into() }, "noted on"),
            1 => (Command::AddPart { sku: "SEAL-22".into(), qty: 1 }, "used a part on"),
            // The customer rates the visit (the console's reports average it).
            2 => {
                (Command::RecordFeedback { rating: rng.random_range(3..=5), comment: String::new() }, "got feedback on")
            }
            _ => (Command::LogTime { minutes: 45, kind: "labour".into() }, "logged 45 min on"),
        },
        _ => (Command::AddNote { text: "Called the customer".into() }, "noted on"),
    }
}

/// Faults customers call about.
const FAULTS: [&str; 9] = [
    "Boiler leaking in plant room",
    "No heating on 3rd floor",
    "Annual gas safety check",
    "Thermostat unresponsive",
    "Water pressure drops at night",
    "Radiator noise",
    "Heat pump error E31",
    "Replace expansion vessel",
    "Commission new boiler",
];

/// Customers: name, address, tier.
const CUSTOMERS: [(&str, &str, &str); 9] = [
    ("Van Dijk Bakery", "Prinsengracht 12", "gold"),
    ("Hotel Amstel", "Amstel 1", "gold"),
    ("De Vries family", "Keizersgracht 80", "standard"),
    ("Café Luxembourg", "Spui 24", "standard"),
    ("Jansen Dental", "Overtoom 300", "silver"),
    ("Bakker & Zn", "Damrak 55", "standard"),
    ("Museum Quarter Offices", "Museumplein 6", "gold"),
    ("Smit Laundry", "Ferdinand Bolstraat 10", "silver"),
    ("Visser Flats", "Javastraat 140", "standard"),
];

const PRIORITIES: [Priority; 4] = [Priority::High, Priority::Urgent, Priority::Normal, Priority::Low];

/// Call `call`'s ticket: a fault at a customer, numbered so that every line the demo prints
/// names one ticket.
fn demo_ticket(call: u32, fault: usize, customer: usize, engineer: &str) -> NewTicket {
    let now = fieldsync_core::time::now_ms();
    let (name, address, tier) = CUSTOMERS[customer % CUSTOMERS.len()];
    NewTicket {
        title: format!("#{call} {} — {name}", FAULTS[fault % FAULTS.len()]),
        description: "Reported by phone".into(),
        customer: Customer { name: name.into(), address: address.into(), tier: tier.into(), ..Default::default() },
        site: Some(SITE),
        priority: PRIORITIES[(fault + customer) % PRIORITIES.len()],
        sla: Sla {
            respond_by: Some(now + 30 * 60_000),
            arrive_by: Some(now + 4 * 3_600_000),
            resolve_by: Some(now + 24 * 3_600_000),
        },
        assignee: Some(engineer.into()),
        checklist: vec!["Isolate supply".into(), "Test after repair".into()],
        ..Default::default()
    }
}

/// The morning's nine calls, one per fault and customer, spread over the engineers, numbered
/// from `first`.
fn demo_tickets(first: u32) -> Vec<NewTicket> {
    (0..FAULTS.len()).map(|n| demo_ticket(first + n as u32, n, n, ENGINEERS[n % ENGINEERS.len()])).collect()
}

/// Prints today's tickets (`today`); the history's are in the console's reports.
async fn print_board(api: &Api, heading: &str, today: &HashSet<String>) -> Result<(), CliError> {
    let tickets: Vec<TicketSummary> = api.list().await?.into_iter().filter(|t| today.contains(&t.id)).collect();
    println!("\n== board: {heading}");
    let mut counts: Vec<(Status, usize)> = Status::ALL
        .iter()
        .map(|s| (*s, tickets.iter().filter(|t| t.status == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort();
    println!("   {}", counts.iter().map(|(s, n)| format!("{}: {n}", s.label())).collect::<Vec<_>>().join("  |  "));
    for t in &tickets {
        println!(
            "   {:<10} {:<4} {:<7} {}{}",
            t.status.label(),
            t.assignee.as_deref().unwrap_or("-"),
            t.priority.as_str(),
            t.title,
            if t.conflicts > 0 { format!("  [{} conflict(s)]", t.conflicts) } else { String::new() }
        );
    }
    // Each conflict in full, as the console's ticket page lists them.
    for t in tickets.iter().filter(|t| t.conflicts > 0) {
        let ticket: fieldsync_core::Ticket = api.get(&format!("/v1/tickets/{}", t.id)).await?;
        for c in &ticket.conflicts {
            println!("   conflict on {}: {} by {} refused: {}", t.title, c.kind, c.by, c.reason);
        }
    }
    println!();
    Ok(())
}

fn fresh_data_dir(data: &Path) -> Result<(), CliError> {
    if data.exists() {
        // Only ever a directory this demo made: it holds a marker file.
        if !data.join(".fieldsync-demo").exists() {
            return Err(CliError(format!(
                "{} exists and was not made by the demo; choose another --data",
                data.display()
            )));
        }
        std::fs::remove_dir_all(data)?;
    }
    std::fs::create_dir_all(data)?;
    std::fs::write(data.join(".fieldsync-demo"), "made by `fieldsync demo`; deleted by its next run\n")?;
    Ok(())
}

/// Runs the demo.
pub async fn run(data: PathBuf, listen: String, once: bool) -> Result<(), CliError> {
    fresh_data_dir(&data)?;
    // One clock for the server and the phones: the history moves it, then it follows the
    // system clock (docs/adr/0029).
    let clock = ManualClock::at(fieldsync_core::time::now_ms());
    let config = fieldsync_server::ServerConfig { clock: clock.clock(), ..fieldsync_server::ServerConfig::default() };
    let zone = config.tracking.utc_offset_minutes;
    let state = fieldsync_server::AppState::open(&data, config)?;
    let (_, _, dispatcher_token) = state.add_user("dana", Role::Dispatcher)?;
    let (admin_id, admin_device, _) = state.add_user("ada", Role::Admin)?;
    let (_, _, handler_token) = state.add_user("cara", Role::ComplaintHandler)?;
    let mut tokens = Vec::new();
    for name in ENGINEERS {
        tokens.push((name, state.add_user(name, Role::Engineer)?));
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| CliError(format!("cannot listen on {listen}: {e}")))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fieldsync_server::serve(listener, state.clone(), async {
        let _ = stop_rx.await;
    }));
    println!("fieldsync demo: server on {url}, data in {}", data.display());
    println!("dispatcher token (for `fieldsync dispatch --server {url} --token ...`): {}", dispatcher_token);
    println!("dispatcher console: {url}/console (sign in with the dispatcher token; the board is live)");

    let api = Api::new(&url, &dispatcher_token)?;
    let mut engineers = Vec::new();
    for (name, (user_id, device_id, token)) in &tokens {
        let identity = Identity { user_id: user_id.clone(), device_id: device_id.clone(), role: Role::Engineer };
        // The demo's phones are remade on every run: an action need not survive power loss
        // (no fsync per action), which keeps the history's thousands of actions quick.
        let options = OpenOptions { clock: clock.clock(), durability: Durability::AppCrash, ..OpenOptions::default() };
        let client = Client::open_with(data.join(format!("{name}-phone.sqlite")), identity, options)?;
        let engine = SyncEngine::new(client, SyncConfig::new(url.clone(), token.clone()))?;
        engineers.push(Engineer { name, engine });
    }

    println!("\n-- the last {} days, lived through again on a clock set back", history::DAYS);
    let started = std::time::Instant::now();
    let admin = fieldsync_server::storage::Principal {
        user_id: admin_id,
        device_id: admin_device,
        role: Role::Admin,
        last_sync_at: None,
    };
    let handler = Api::new(&url, &handler_token)?;
    let cast = history::Cast {
        state: &state,
        clock: &clock,
        admin,
        dispatcher: &api,
        handler: &handler,
        engineers: &engineers,
    };
    let (made, next_call) = history::live_through(cast, zone).await?;
    println!(
        "   {} tickets ({} completed, {} complaints), {} escalations, {} revisits ({} not fixed, reopened), {} ratings, in {:.1} s",
        made.tickets,
        made.completed,
        made.complaints,
        made.escalations,
        made.revisits,
        made.reopened,
        made.ratings,
        started.elapsed().as_secs_f64()
    );
    println!("   see them at {url}/console/statistics, /console/reports and the customers' pages");

    let first_call = next_call;
    println!("\n-- dana (dispatcher) creates and dispatches {} tickets", demo_tickets(first_call).len());
    let mut today = HashSet::new();
    for new in demo_tickets(first_call) {
        today.insert(api.create(&new).await?);
    }
    print_board(&api, "dispatched", &today).await?;

    println!("-- engineers sync in the morning, then drive out of coverage");
    for e in &engineers {
        e.sync().await?;
    }
    let mut rng = rand::rng();
    for round in 1..=4 {
        println!("\n-- round {round}: everyone works offline");
        for e in &engineers {
            for _ in 0..3 {
                if let Some(what) = e.work(&mut rng).await {
                    println!("  {:<4} offline {what}", e.name);
                }
            }
        }
        if round == 2 {
            conflict(&api, &engineers, &today).await?;
        }
        println!("-- round {round}: coverage is back");
        for e in &engineers {
            e.sync().await?;
        }
        print_board(&api, &format!("after round {round}"), &today).await?;
    }

    if once {
        let _ = stop_tx.send(());
        let _ = server.await;
        return Ok(());
    }
    println!("serving on {url} until Ctrl-C; the engineers keep working (one step every 3 s)");
    println!("watch the board at {url}/console, sign in with {dispatcher_token}");
    let mut call = first_call + FAULTS.len() as u32 - 1;
    let ticker = async {
        let mut interval = tokio::time::interval(Duration::from_secs(3));
        loop {
            interval.tick().await;
            let mut rng = rand::rng();
            let Some(e) = engineers.choose(&mut rng) else { return };
            if rng.random_ratio(1, 6) {
                call += 1;
                let new =
                    demo_ticket(call, rng.random_range(0..FAULTS.len()), rng.random_range(0..CUSTOMERS.len()), e.name);
                if api.create(&new).await.is_ok() {
                    println!("dana dispatched \"{}\" to {}", new.title, e.name);
                }
            }
            if let Some(what) = e.work(&mut rng).await {
                println!("{} {what}", e.name);
            }
            if let Err(err) = e.engine.sync_now().await {
                println!("{} could not sync: {err}", e.name);
            }
        }
    };
    tokio::select! {
        _ = ticker => {}
        _ = crate::shutdown_signal() => {}
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// The dispatcher cancels a ticket the engineer is completing offline: both survive in the
/// history and the board shows the conflict.
async fn conflict(api: &Api, engineers: &[Engineer], today: &HashSet<String>) -> Result<(), CliError> {
    let fay = &engineers[1];
    let tickets = fay.client().list(&ListFilter::default())?;
    let Some(ticket) =
        tickets.iter().find(|t| today.contains(&t.id) && !t.status.is_final() && t.status != Status::Rejected)
    else {
        return Ok(());
    };
    // Bring it on site first, the way fay would.
    let here = Location { lat: 52.3702, lon: 4.8952, accuracy_m: 5.0 };
    for command in [Command::Accept, Command::StartTravel { eta: None }, Command::CheckIn { location: here }] {
        let _ = fay.client().run(&ticket.id, command);
    }
    let photo = NewPhoto {
        source: PhotoInput::Bytes(photo_of_the_work(7)),
        caption: "New pump fitted".into(),
        taken_at: None,
        location: None,
    };
    fay.client().add_photo(&ticket.id, photo).await?;
    fay.client().capture_signature(&ticket.id, &ticket.customer_name, &signature(&mut rand::rng()))?;
    fay.client().complete(&ticket.id, "Replaced the pump")?;
    println!("  fay  offline completed \"{}\", photographed it, signed by {}", ticket.title, ticket.customer_name);
    api.act(&ticket.id, &Command::Cancel { reason: "Customer cancelled by phone".into() }).await?;
    println!("  dana cancels \"{}\" at the same time (the customer phoned)", ticket.title);
    Ok(())
}
