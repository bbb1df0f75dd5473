//! `fieldsync device`: an engineer's device on the command line, through the same core the
//! phones use. The first run learns the identity from the server and keeps it beside the
//! store; after that every command except `sync` works offline.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use fieldsync_core::client::ReportRequest;
use fieldsync_core::media::StrokePoint;
use fieldsync_core::model::{Identity, ListFilter, Location, NewPhoto, PhotoInput, Ticket};
use fieldsync_core::report::ReportOptions;
use fieldsync_core::store::{StoreKey, encrypt_existing};
use fieldsync_core::sync::{SyncConfig, SyncEngine, who_am_i};
use fieldsync_core::{Client, OpenOptions, TicketSummary};

use crate::{CliError, when};

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Encrypt this (plaintext) store with the key given by --key-file or FIELDSYNC_STORE_KEY,
    /// in place and once; from then on it opens only with that key.
    Encrypt,
    /// List the tickets on this device.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket in full.
    Show {
        /// Ticket id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Claim a ticket from the shared pool (offline too): it becomes yours, accepted, unless
    /// someone else's claim reaches the server first.
    Claim {
        /// Ticket id.
        id: String,
    },
    /// Accept a dispatched ticket.
    Accept {
        /// Ticket id.
        id: String,
    },
    /// Reject a dispatched ticket.
    Reject {
        /// Ticket id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Start travelling to the site.
    Travel {
        /// Ticket id.
        id: String,
        /// Share an estimated arrival this many minutes from now with the customer.
        #[arg(long)]
        eta_minutes: Option<u32>,
    },
    /// Check in on site.
    CheckIn {
        /// Ticket id.
        id: String,
        /// Latitude.
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        /// Longitude.
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        /// GPS accuracy in metres.
        #[arg(long, default_value_t = 10.0)]
        accuracy: f64,
    },
    /// Start work on site.
    Work {
        /// Ticket id.
        id: String,
    },
    /// Add a note.
    Note {
        /// Ticket id.
        id: String,
        /// The note.
        text: String,
        /// Show it to the customer on the tracking page (an answer to their message).
        #[arg(long)]
        public: bool,
    },
    /// Record a part used.
    Part {
        /// Ticket id.
        id: String,
        /// Stock-keeping unit.
        sku: String,
        /// Quantity.
        qty: u32,
    },
    /// Log time worked.
    Time {
        /// Ticket id.
        id: String,
        /// Minutes.
        minutes: u32,
        /// labour, travel, ...
        #[arg(long, default_value = "labour")]
        kind: String,
    },
    /// Record the customer's feedback (1 to 5).
    Feedback {
        /// Ticket id.
        id: String,
        /// Rating, 1 to 5.
        #[arg(long)]
        rating: u8,
        /// The customer's words.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Complete the job.
    Complete {
        /// Ticket id.
        id: String,
        /// What was done.
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// Sync with the server now.
    Sync,
    /// What is waiting to sync.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a photo (JPEG or PNG) to a ticket: processed, stored, queued for upload.
    Photo {
        /// Ticket id.
        id: String,
        /// The image file.
        file: PathBuf,
        /// Caption.
        #[arg(long, default_value = "")]
        caption: String,
    },
    /// Capture the customer's signature from a strokes file: JSON `[[{"x":0.1,"y":0.5,"t":0}, ...], ...]`
    /// with coordinates normalised to the pad (0..1).
    Sign {
        /// Ticket id.
        id: String,
        /// The signer's name.
        #[arg(long)]
        signer: String,
        /// The strokes file.
        #[arg(long)]
        strokes: PathBuf,
    },
    /// Write a stored blob (photo, thumbnail or signature PNG) to a file.
    Blob {
        /// The blob's SHA-256.
        sha256: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a ticket's service report (PDF) to a file, offline, from this device's copy and
    /// photos (docs/adr/0013).
    Report {
        /// Ticket id.
        id: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Document heads (hex, comma-separated) to make it from; default: the ticket now.
        #[arg(long, value_delimiter = ',')]
        heads: Vec<String>,
        /// The font (a CJK font for Chinese text); default: Noto Sans CJK where installed.
        #[arg(long)]
        font: Option<PathBuf>,
        /// Show times at this offset from UTC, in minutes (China: 480).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        utc_offset_minutes: i32,
    },
    /// Write a ticket's raw Automerge document to a file.
    Export {
        /// Ticket id.
        id: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn identity_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".identity.json");
    PathBuf::from(name)
}

/// What the CLI keeps beside a store: who the device is, and the server and token it syncs
/// with, so `sync` needs neither again. Older files hold the identity alone.
#[derive(serde::Serialize, serde::Deserialize)]
struct DeviceFile {
    #[serde(flatten)]
    identity: Identity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl DeviceFile {
    fn read(path: &Path) -> Result<Option<DeviceFile>, CliError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).map_err(|e| CliError(format!("{}: {e}", path.display())))?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError(format!("{}: {e}", path.display()))),
        }
    }

    /// Written readable by its owner only: it holds the device's token.
    fn write(&self, path: &Path) -> Result<(), CliError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

/// The server and token to sync with: the command line's, else those remembered.
struct Connection {
    server: Option<String>,
    token: Option<String>,
}

/// The store key from `--key-file`, or else from `FIELDSYNC_STORE_KEY`; `None` without either.
pub fn store_key(key_file: Option<&Path>) -> Result<Option<StoreKey>, CliError> {
    if let Some(file) = key_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| CliError(format!("{}: {e}", file.display())))?,
        );
        return Ok(Some(StoreKey::from_hex(&text).map_err(|e| CliError(format!("{}: {e}", file.display())))?));
    }
    match std::env::var("FIELDSYNC_STORE_KEY") {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            Ok(Some(StoreKey::from_hex(&text).map_err(|e| CliError(format!("FIELDSYNC_STORE_KEY: {e}")))?))
        }
        Err(_) => Ok(None),
    }
}

async fn open(
    store: &Path,
    server: Option<String>,
    token: Option<String>,
    key: Option<StoreKey>,
) -> Result<(Client, Connection), CliError> {
    let path = identity_path(store);
    let (identity, connection) = match DeviceFile::read(&path)? {
        Some(file) => {
            let connection = Connection { server: server.or(file.server), token: token.or(file.token) };
            (file.identity, connection)
        }
        None => {
            let (Some(server), Some(token)) = (server, token) else {
                return Err(CliError(
                    "this store is new: give --server and --token once so the device can learn who it is".into(),
                ));
            };
            let me = who_am_i(&server, &token).await?;
            let identity = Identity { user_id: me.user_id, device_id: me.device_id, role: me.role };
            let file = DeviceFile { identity, server: Some(server), token: Some(token) };
            file.write(&path)?;
            (file.identity, Connection { server: file.server, token: file.token })
        }
    };
    let client = Client::open_with(store, identity, OpenOptions { store_key: key, ..OpenOptions::default() })?;
    Ok((client, connection))
}

/// Remembers the server and token a sync just succeeded with (a new token after the old one
/// was revoked, a server that moved).
fn remember(store: &Path, connection: &Connection) -> Result<(), CliError> {
    let path = identity_path(store);
    let Some(mut file) = DeviceFile::read(&path)? else { return Ok(()) };
    if file.server == connection.server && file.token == connection.token {
        return Ok(());
    }
    file.server.clone_from(&connection.server);
    file.token.clone_from(&connection.token);
    file.write(&path)
}

impl DeviceCommand {
    /// The ticket id the command names, if any, to be completed from a typed prefix.
    fn ticket_id(&mut self) -> Option<&mut String> {
        use DeviceCommand as D;
        match self {
            D::Show { id, .. }
            | D::Accept { id }
            | D::Claim { id }
            | D::Reject { id, .. }
            | D::Travel { id, .. }
            | D::CheckIn { id, .. }
            | D::Work { id }
            | D::Note { id, .. }
            | D::Part { id, .. }
            | D::Time { id, .. }
            | D::Feedback { id, .. }
            | D::Complete { id, .. }
            | D::Photo { id, .. }
            | D::Sign { id, .. }
            | D::Report { id, .. }
            | D::Export { id, .. } => Some(id),
            D::Encrypt | D::List { .. } | D::Sync | D::Status { .. } | D::Blob { .. } => None,
        }
    }
}

/// Runs one device command.
pub async fn run(
    store: PathBuf,
    server: Option<String>,
    token: Option<String>,
    key: Option<StoreKey>,
    command: DeviceCommand,
) -> Result<(), CliError> {
    if let DeviceCommand::Encrypt = command {
        let key = key.ok_or_else(|| CliError("encrypt needs the key: --key-file or FIELDSYNC_STORE_KEY".into()))?;
        encrypt_existing(&store, &key)?;
        println!("{} is encrypted", store.display());
        return Ok(());
    }
    let (client, connection) = open(&store, server, token, key).await?;
    let mut command = command;
    if let Some(id) = command.ticket_id() {
        let tickets = client.list(&ListFilter::default())?;
        *id = crate::ids::resolve(id, tickets.iter().map(|t| t.id.as_str()))?;
    }
    match command {
        // Done above, before the store is opened: encrypting needs it closed.
        DeviceCommand::Encrypt => {}
        DeviceCommand::List { json } => {
            let tickets = client.list(&ListFilter::default())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tickets)?);
            } else {
                print_list(&tickets);
            }
        }
        DeviceCommand::Show { id, json } => {
            let ticket = client.get(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ticket)?);
            } else {
                print_ticket(&ticket);
            }
        }
        DeviceCommand::Accept { id } => act(client.accept(&id), "accepted", &id)?,
        DeviceCommand::Claim { id } => act(client.claim(&id), "claimed", &id)?,
        DeviceCommand::Reject { id, reason } => act(client.reject(&id, &reason), "rejected", &id)?,
        DeviceCommand::Travel { id, eta_minutes: None } => act(client.start_travel(&id), "travelling to", &id)?,
        DeviceCommand::Travel { id, eta_minutes: Some(minutes) } => {
            let eta = fieldsync_core::time::now_ms() + i64::from(minutes) * 60_000;
            act(client.start_travel_with_eta(&id, eta), "travelling to", &id)?
        }
        DeviceCommand::CheckIn { id, lat, lon, accuracy } => {
            client.check_in(&id, Location { lat, lon, accuracy_m: accuracy })?;
            let ticket = client.get(&id)?;
            let place = ticket.events.last().and_then(|e| e.place);
            match place.and_then(|p| p.distance_m.zip(p.inside_site)) {
                Some((distance, inside)) => println!(
                    "checked in at {id}: {distance:.0} m from the site ({})",
                    if inside { "inside the site radius" } else { "OUTSIDE the site radius" }
                ),
                None => println!("checked in at {id}"),
            }
        }
        DeviceCommand::Work { id } => act(client.start_work(&id), "started work on", &id)?,
        DeviceCommand::Note { id, text, public: false } => act(client.add_note(&id, &text), "noted on", &id)?,
        DeviceCommand::Note { id, text, public: true } => {
            act(client.add_public_note(&id, &text), "answered the customer on", &id)?
        }
        DeviceCommand::Part { id, sku, qty } => act(client.add_part(&id, &sku, qty), "recorded part on", &id)?,
        DeviceCommand::Time { id, minutes, kind } => act(client.log_time(&id, minutes, &kind), "logged time on", &id)?,
        DeviceCommand::Feedback { id, rating, comment } => {
            act(client.record_feedback(&id, rating, &comment), "recorded feedback on", &id)?
        }
        DeviceCommand::Complete { id, summary } => act(client.complete(&id, &summary), "completed", &id)?,
        DeviceCommand::Sync => {
            let (Some(server), Some(token)) = (connection.server.clone(), connection.token.clone()) else {
                return Err(CliError("this store has no server yet: give --server and --token once".into()));
            };
            let engine = SyncEngine::new(client.clone(), SyncConfig::new(server, token))?;
            let report = engine.sync_now().await?;
            remember(&store, &connection)?;
            println!(
                "synced: sent {} ticket(s), received {}, {} round trip(s), {} bytes up, {} bytes down",
                report.pushed.len(),
                report.received.len(),
                report.round_trips,
                report.bytes_sent,
                report.bytes_received
            );
            for (id, reason) in &report.rejected {
                println!("rejected by the server: {id}: {reason}");
            }
            for id in &report.evicted {
                println!("removed from this device: {id}");
            }
            for (id, reason) in &report.failed {
                println!("could not merge {id}: {reason}");
            }
            let uploads = &report.uploads;
            if !uploads.uploaded.is_empty() || uploads.bytes_sent > 0 {
                println!("uploaded {} blob(s), {} bytes", uploads.uploaded.len(), uploads.bytes_sent);
            }
            for (sha, reason) in &uploads.refused {
                println!("upload refused by the server, set aside: {sha}: {reason}");
            }
            if let Some(why) = &uploads.interrupted {
                println!("uploads interrupted, will resume: {why}");
            }
        }
        DeviceCommand::Status { json } => {
            let tickets = client.list(&ListFilter::default())?;
            let pending: Vec<&TicketSummary> = tickets.iter().filter(|t| t.pending).collect();
            let rejected: Vec<&TicketSummary> = tickets.iter().filter(|t| t.rejected.is_some()).collect();
            let last_sync = client.last_sync_at()?;
            let uploads = client.pending_upload_totals()?;
            if json {
                let value = serde_json::json!({
                    "user_id": client.identity().user_id,
                    "device_id": client.identity().device_id,
                    "tickets": tickets.len(),
                    "pending": pending.iter().map(|t| &t.id).collect::<Vec<_>>(),
                    "rejected": rejected.iter().map(|t| serde_json::json!({"id": t.id, "reason": t.rejected})).collect::<Vec<_>>(),
                    "last_sync_at": last_sync,
                    "pending_uploads": uploads.0,
                    "pending_upload_bytes": uploads.1,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{} on {}", client.identity().user_id, client.identity().device_id);
                println!(
                    "{} ticket(s), {} waiting to sync, last sync {}",
                    tickets.len(),
                    pending.len(),
                    when(last_sync)
                );
                for t in rejected {
                    println!("rejected: {} {}: {}", t.id, t.title, t.rejected.as_deref().unwrap_or(""));
                }
            }
        }
        DeviceCommand::Photo { id, file, caption } => {
            let photo = NewPhoto { source: PhotoInput::Path(file), caption, taken_at: None, location: None };
            let meta = client.add_photo(&id, photo).await?;
            println!(
                "added photo {} ({}x{}, {} bytes; thumbnail {}) to {id}",
                meta.sha256, meta.width, meta.height, meta.bytes, meta.thumbnail_sha256
            );
        }
        DeviceCommand::Sign { id, signer, strokes } => {
            let strokes: Vec<Vec<StrokePoint>> = serde_json::from_slice(&std::fs::read(&strokes)?)
                .map_err(|e| CliError(format!("{}: {e}", strokes.display())))?;
            let signature = client.capture_signature(&id, &signer, &strokes)?;
            println!(
                "signed by {} on {id}: image {}, bound to job summary {}",
                signature.signer, signature.png_sha256, signature.summary_sha256
            );
        }
        DeviceCommand::Blob { sha256, out } => {
            let Some(bytes) = client.blob(&sha256)? else {
                return Err(CliError(format!("no blob {sha256} on this device")));
            };
            std::fs::write(&out, &bytes)?;
            println!("wrote {} bytes to {}", bytes.len(), out.display());
        }
        DeviceCommand::Report { id, out, heads, font, utc_offset_minutes } => {
            let request =
                ReportRequest { font_path: font, out_dir: None, heads, options: ReportOptions { utc_offset_minutes } };
            let pdf = client.service_report_pdf(&id, &request)?;
            std::fs::write(&out, &pdf)?;
            println!("wrote the service report of {id} ({} bytes) to {}", pdf.len(), out.display());
        }
        DeviceCommand::Export { id, out } => {
            let bytes = client.export(&id)?;
            std::fs::write(&out, &bytes)?;
            println!("wrote {} bytes to {}", bytes.len(), out.display());
        }
    }
    Ok(())
}

fn act(result: Result<(), fieldsync_core::Error>, done: &str, id: &str) -> Result<(), CliError> {
    result?;
    println!("{done} {id}");
    Ok(())
}

/// One line per ticket: id, status, priority, sync state, title and customer.
pub fn print_list(tickets: &[TicketSummary]) {
    if tickets.is_empty() {
        println!("no tickets");
        return;
    }
    println!("{:<36}  {:<10}  {:<6}  {:<8}  {:<9}  TITLE", "ID", "STATUS", "PRIO", "ASSIGNEE", "SYNC");
    for t in tickets {
        let sync = match (&t.rejected, t.pending, &t.quarantined) {
            (_, _, Some(_)) => "set aside",
            (Some(_), _, _) => "rejected",
            (None, true, _) => "pending",
            (None, false, _) => "synced",
        };
        println!(
            "{:<36}  {:<10}  {:<6}  {:<8}  {:<9}  {} ({}){}",
            t.id,
            t.status.label(),
            t.priority.as_str(),
            t.assignee.as_deref().unwrap_or("-"),
            sync,
            t.title,
            t.customer_name,
            if t.conflicts > 0 { format!("  [{} conflict(s)]", t.conflicts) } else { String::new() }
        );
    }
}

/// A ticket in full, for people.
pub fn print_ticket(t: &Ticket) {
    println!("{}  {}", t.id, t.title);
    println!(
        "status {}  priority {}  assignee {}",
        t.status.label(),
        t.priority.as_str(),
        t.assignee.as_deref().unwrap_or("-")
    );
    let customer: Vec<&str> =
        [t.customer.name.as_str(), t.customer.tier.as_str(), t.customer.address.as_str(), t.customer.phone.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect();
    if !customer.is_empty() {
        println!("customer {}", customer.join(", "));
    }
    if !t.description.is_empty() {
        println!("{}", t.description);
    }
    println!("history:");
    for e in &t.events {
        let mut line = format!("  {}  {:<14} by {} on {}", when(Some(e.at)), e.kind, e.by, e.device);
        if let Some(a) = &e.assignee {
            line.push_str(&format!(" -> {a}"));
        }
        if let Some(place) = e.place {
            if let Some(d) = place.distance_m {
                line.push_str(&format!(" ({d:.0} m from site)"));
            }
        }
        if let Some(r) = &e.reason {
            line.push_str(&format!(": {r}"));
        }
        println!("{line}");
    }
    for c in &t.conflicts {
        println!("CONFLICT: {} by {}: {}", c.kind, c.by, c.reason);
    }
    for n in &t.notes {
        let to = if n.public { ", to the customer" } else { "" };
        println!("note ({} {}{to}): {}", n.by, when(Some(n.at)), n.text);
    }
    for m in &t.customer_messages {
        println!("customer message ({}): {}", when(Some(m.at)), m.text);
    }
    if let Some(f) = &t.customer_feedback {
        println!("customer's rating {} / 5: {}", f.rating, f.comment);
    }
    for p in &t.parts {
        println!("part {} x{}", p.sku, p.qty);
    }
    for e in &t.time_entries {
        println!("time {} min {}", e.minutes, e.kind);
    }
}
