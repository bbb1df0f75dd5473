//! `fieldsync`: run the server, add users, act as an engineer's device or a dispatcher from the
//! command line, or watch the demo.

mod allocator;
mod demo;
mod device;
mod dispatch;
mod ids;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_core::Role;

#[derive(Parser)]
#[command(name = "fieldsync", version, about = "Offline-first work orders for field service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync server (SQLite in the data directory, or PostgreSQL with --database-url).
    Serve {
        /// Where the server keeps its database and blobs (with --database-url: its blobs only;
        /// instances on one machine share blobs by sharing this directory).
        #[arg(long, default_value = "fieldsync-data")]
        data: PathBuf,
        /// PostgreSQL instead of SQLite (`postgres://user@host:port/db`, no TLS): several
        /// instances may share one database (docs/adr/0006).
        #[arg(long, env = "FIELDSYNC_DATABASE_URL")]
        database_url: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Let webhooks reach loopback and private addresses (10/8, 172.16/12, 192.168/16,
        /// 100.64/10, fc00::/7): for receivers on your own network. Off by default, so a
        /// webhook cannot be used to probe the server's network. Link-local (cloud metadata),
        /// multicast, broadcast and unspecified addresses stay refused either way.
        #[arg(long)]
        allow_private_webhooks: bool,
        /// Mark the console's cookies `Secure`: set it when the console is reached over HTTPS
        /// (a TLS proxy in front of this server, or --tls-cert), so browsers never send them
        /// over plain HTTP. Implied by --tls-cert.
        #[arg(long)]
        secure_cookies: bool,
        /// The address customers reach this server at, for their tracking links
        /// (`https://service.example.com`); default `http://` and the address listened on.
        #[arg(long)]
        public_url: Option<String>,
        /// The customers' zone as minutes east of UTC, for times on tracking pages and in
        /// notifications (480: China Standard Time).
        #[arg(long, default_value_t = 480, allow_hyphen_values = true)]
        utc_offset_minutes: i32,
        /// The notification language and the tracking page's when the browser names neither
        /// (`zh` or `en`).
        #[arg(long, default_value = "zh", value_parser = parse_language)]
        language: fieldsync_server::tracking::i18n::Lang,
        /// How many days a customer's tracking link keeps working after the job is completed.
        #[arg(long, default_value_t = 30)]
        tracking_link_days: u32,
        /// How often (milliseconds) the SLA clocks of open tickets are checked against the
        /// escalation rules (docs/adr/0014).
        #[arg(long, default_value_t = 15_000)]
        escalation_interval_ms: u64,
        /// The font service reports are set in (a CJK font for Chinese text); default: Noto
        /// Sans CJK where installed (docs/adr/0013). Devices use the same file to make the
        /// same bytes.
        #[arg(long, env = "FIELDSYNC_REPORT_FONT")]
        report_font: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (the server's certificate first).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Act as an engineer's device: every command but `sync` works offline.
    Device {
        /// The device's store file.
        #[arg(long, env = "FIELDSYNC_STORE")]
        store: PathBuf,
        /// The server's URL (needed the first time; remembered beside the store).
        #[arg(long, env = "FIELDSYNC_SERVER")]
        server: Option<String>,
        /// This device's token (needed the first time; remembered beside the store, readable
        /// by its owner only).
        #[arg(long, env = "FIELDSYNC_TOKEN")]
        token: Option<String>,
        /// A file holding the store's key, 64 hexadecimal digits: the store is encrypted with it
        /// (a new store is created encrypted). The key itself may be given in the environment
        /// variable FIELDSYNC_STORE_KEY instead; never on the command line.
        #[arg(long, env = "FIELDSYNC_STORE_KEY_FILE")]
        key_file: Option<PathBuf>,
        #[command(subcommand)]
        command: device::DeviceCommand,
    },
    /// Act as a dispatcher through the server's REST API.
    Dispatch {
        /// The server's URL.
        #[arg(long, env = "FIELDSYNC_SERVER")]
        server: String,
        /// A dispatcher's or admin's token.
        #[arg(long, env = "FIELDSYNC_TOKEN")]
        token: String,
        #[command(subcommand)]
        command: dispatch::DispatchCommand,
    },
    /// Re-examine every stored ticket's history with the checks a push passes today: lists the
    /// tickets a server before them stored with changes nobody can load or read back. It
    /// changes no ticket; run it after upgrading a server. Fails when it finds one.
    Check {
        #[command(flatten)]
        server: ServerData,
    },
    /// Start a server with simulated engineers working offline and online, and watch.
    Demo {
        /// Where the demo keeps its data (recreated on every run).
        #[arg(long, default_value = "fieldsync-demo-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Stop after the scripted part instead of serving until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
}

/// Where the server keeps its users: the same options as `serve`.
#[derive(clap::Args)]
struct ServerData {
    /// The server's data directory.
    #[arg(long, default_value = "fieldsync-data")]
    data: PathBuf,
    /// The server's PostgreSQL database, when it uses one (see `serve`).
    #[arg(long, env = "FIELDSYNC_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user and print a token for their first device.
    Add {
        /// The user's id (engineers are assigned by it).
        name: String,
        /// engineer, dispatcher or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        server: ServerData,
    },
    /// Print a token for another device of an existing user (a second phone, a replaced one).
    AddDevice {
        /// The user's id.
        name: String,
        #[command(flatten)]
        server: ServerData,
    },
    /// List every device: its user, whether it is revoked, when it last synced.
    Devices {
        /// Only this user's devices.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        server: ServerData,
    },
    /// Revoke a device's token at once (a lost phone): its next request is refused.
    Revoke {
        /// The device id (see `user devices`).
        device: String,
        #[command(flatten)]
        server: ServerData,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: use engineer, dispatcher or admin"))
}

/// A failure, as one line for the person at the terminal.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

fn main() -> ExitCode {
    allocator::return_freed_memory_at_once();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            database_url,
            allow_private_webhooks,
            secure_cookies,
            public_url,
            utc_offset_minutes,
            language,
            tracking_link_days,
            escalation_interval_ms,
            report_font,
            tls_cert,
            tls_key,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(fieldsync_server::tls::server_config(&cert, &key)?),
                _ => None,
            };
            let tracking = fieldsync_server::tracking::TrackingConfig {
                public_url,
                utc_offset_minutes,
                language,
                link_ttl_after_completion: std::time::Duration::from_secs(u64::from(tracking_link_days) * 86_400),
                ..Default::default()
            };
            let config = fieldsync_server::ServerConfig {
                allow_private_webhooks,
                secure_cookies: secure_cookies || tls.is_some(),
                tracking,
                report_font,
                escalation: fieldsync_server::escalator::EscalationConfig {
                    interval: std::time::Duration::from_millis(escalation_interval_ms.max(10)),
                    ..Default::default()
                },
                ..fieldsync_server::ServerConfig::default()
            };
            serve(data, listen, database_url, config, tls).await
        }
        Command::User { command } => tokio::task::spawn_blocking(move || users(command)).await?,
        Command::Device { store, server, token, key_file, command } => {
            let key = device::store_key(key_file.as_deref())?;
            device::run(store, server, token, key, command).await
        }
        Command::Dispatch { server, token, command } => dispatch::run(&server, &token, command).await,
        Command::Demo { data, listen, once } => demo::run(data, listen, once).await,
        Command::Check { server } => tokio::task::spawn_blocking(move || check(&server)).await?,
    }
}

/// Runs `check` against the server's database and says what it found. Blocking.
fn check(server: &ServerData) -> Result<(), CliError> {
    // Opening creates a database: a mistyped directory would otherwise "pass", empty.
    let sqlite = server.data.join("server.sqlite");
    if server.database_url.is_none() && !sqlite.exists() {
        return Err(CliError(format!("no server database at {}: see --data", sqlite.display())));
    }
    let state = open_state(&server.data, server.database_url.as_deref(), fieldsync_server::ServerConfig::default())?;
    let mut told = 0;
    let report = fieldsync_server::check::check_stored_tickets(state.storage(), |done, total| {
        if done / 1_000 > told {
            told = done / 1_000;
            eprintln!("checked {done} of {total} tickets");
        }
    })
    .map_err(|e| CliError(format!("cannot read the tickets: {e}")))?;
    // Who sent each blamed change: the device (and its user) to look at, perhaps to revoke.
    let senders_known = report.findings.iter().any(|f| f.received.is_some());
    let users: std::collections::HashMap<String, String> = if senders_known {
        state
            .storage()
            .list_devices()
            .map_err(|e| CliError(format!("cannot read the devices: {e}")))?
            .into_iter()
            .map(|d| (d.id, d.user_id))
            .collect()
    } else {
        Default::default()
    };
    for finding in &report.findings {
        println!("{}: {}", finding.ticket_id, finding.problem);
        match (&finding.change, &finding.received) {
            (Some(_), Some(received)) => {
                let user = users.get(&received.device_id).map_or(String::new(), |u| format!(" (user {u})"));
                println!(
                    "  sent by device {}{user}, received {}",
                    received.device_id,
                    when(Some(received.received_at))
                );
            }
            (Some(_), None) => println!("  who sent it is not recorded (no change log entry)"),
            (None, _) => {}
        }
    }
    if senders_known {
        eprintln!("a device is refused from now on with: fieldsync user revoke DEVICE --data …");
    }
    let plural = |n: u64, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    let summary = format!("{} and {} checked", plural(report.tickets, "ticket"), plural(report.changes, "change"));
    if report.findings.is_empty() {
        println!("{summary}: every ticket's history passes");
        Ok(())
    } else {
        let found = report.findings.len() as u64;
        let verb = if found == 1 { "holds" } else { "hold" };
        Err(CliError(format!(
            "{summary}: {} {verb} changes a push would be refused for today (listed above)",
            plural(found, "ticket")
        )))
    }
}

/// Runs one `user` command against the server's database. Blocking.
fn users(command: UserCommand) -> Result<(), CliError> {
    let open = |server: &ServerData| {
        open_state(&server.data, server.database_url.as_deref(), fieldsync_server::ServerConfig::default())
    };
    match command {
        UserCommand::Add { name, role, server } => {
            let (user_id, device_id, token) = open(&server)?.add_user(&name, role)?;
            println!("{token}");
            eprintln!("added {user_id} ({}), device {device_id}", role.as_str());
        }
        UserCommand::AddDevice { name, server } => {
            let (device_id, token) = open(&server)?.add_device(&name)?;
            println!("{token}");
            eprintln!("added device {device_id} for {name}");
        }
        UserCommand::Devices { user, server } => {
            let devices = open(&server)?.devices()?;
            let shown: Vec<_> = devices.iter().filter(|d| user.as_ref().is_none_or(|u| *u == d.user_id)).collect();
            if shown.is_empty() {
                println!("no devices");
            }
            for d in shown {
                let state = if d.revoked { "revoked" } else { "active" };
                println!("{}  {:<16}  {:<7}  last sync {}", d.id, d.user_id, state, when(d.last_sync_at));
            }
        }
        UserCommand::Revoke { device, server } => {
            if !open(&server)?.revoke_device(&device)? {
                return Err(CliError(format!("no device {device:?}: see `user devices`")));
            }
            println!("revoked {device}: its token is refused from now on");
        }
    }
    Ok(())
}

fn parse_language(s: &str) -> Result<fieldsync_server::tracking::i18n::Lang, String> {
    fieldsync_server::tracking::i18n::Lang::parse(s).ok_or_else(|| format!("unknown language {s:?}: zh or en"))
}

/// The server's state: SQLite in `data`, or PostgreSQL at `database_url` (blobs in `data`).
/// Blocking.
fn open_state(
    data: &std::path::Path,
    database_url: Option<&str>,
    config: fieldsync_server::ServerConfig,
) -> Result<fieldsync_server::AppState, CliError> {
    Ok(match database_url {
        Some(url) => fieldsync_server::AppState::open_postgres(url, data, config)?,
        None => fieldsync_server::AppState::open(data, config)?,
    })
}

async fn serve(
    data: PathBuf,
    listen: String,
    database_url: Option<String>,
    mut config: fieldsync_server::ServerConfig,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> Result<(), CliError> {
    let postgres = database_url.is_some();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| CliError(format!("cannot listen on {listen}: {e}")))?;
    let store = if postgres { "PostgreSQL, blobs" } else { "data" };
    let address = listener.local_addr()?;
    // Tracking links in notifications need an absolute address.
    let scheme = if tls.is_some() { "https" } else { "http" };
    config.tracking.public_url.get_or_insert_with(|| format!("{scheme}://{address}"));
    let state = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || open_state(&data, database_url.as_deref(), config)).await??
    };
    // One line: tests and scripts read the address from the first line and may close the pipe.
    eprintln!(
        "fieldsync server on {scheme}://{address} ({store} in {}), dispatcher console on {scheme}://{address}/console",
        data.display()
    );
    match tls {
        Some(tls) => {
            let listener = fieldsync_server::tls::TlsListener::new(listener, tls)?;
            fieldsync_server::serve(listener, state.clone(), shutdown_signal()).await?
        }
        None => fieldsync_server::serve(listener, state.clone(), shutdown_signal()).await?,
    }
    // The PostgreSQL client closes its connections blocking: off the async threads.
    tokio::task::spawn_blocking(move || drop(state)).await?;
    eprintln!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Formats UTC milliseconds for a terminal.
pub fn when(ms: Option<i64>) -> String {
    ms.map(fieldsync_core::time::to_rfc3339).unwrap_or_else(|| "-".into())
}
