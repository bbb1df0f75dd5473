//! The server the `sync`, `server` and `memory` suites measure, in a child process so that its
//! CPU and memory are measured apart from the devices': this build's server (this checkout's `fieldsync` binary,
//! else the bench binary's `__serve` entry point), or a baseline `fieldsync` binary built from
//! an older commit (`FIELDSYNC_BENCH_BASELINE=PATH`), run side by side on the same work in the
//! same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Mutex, Once, OnceLock, PoisonError};
use std::time::Duration;

use fieldsync_core::Role;
use fieldsync_server::{AppState, ServerConfig};

use crate::cpu_time_of;

/// A user as the devices and the dispatcher need it: (user id, device id, token).
pub(crate) type User = (String, String, String);

/// Which server build runs.
#[derive(Clone, Debug)]
pub(crate) enum Build {
    /// This build's server.
    Current,
    /// A `fieldsync` binary of an older commit: `fieldsync serve` and `fieldsync user add`.
    Baseline(PathBuf),
}

impl Build {
    /// The baseline named by `FIELDSYNC_BENCH_BASELINE`, if any; a path that is not a file
    /// stops the bench (a typo must not silently drop the comparison).
    pub(crate) fn baseline_from_env() -> Option<Build> {
        let path = PathBuf::from(std::env::var_os("FIELDSYNC_BENCH_BASELINE")?);
        assert!(path.is_file(), "FIELDSYNC_BENCH_BASELINE={} is not a file", path.display());
        Some(Build::Baseline(path))
    }

    /// How figures of this build are labelled in the output.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Build::Current => "this build",
            Build::Baseline(_) => "baseline",
        }
    }

    /// Adds users (engineers, then one dispatcher named `dispatcher`) to the server's storage in
    /// `data` (or the PostgreSQL database at `database_url`) the way this build does it, so
    /// that each build creates its own schema. Blocking.
    pub(crate) fn add_users(
        &self,
        data: &Path,
        database_url: Option<&str>,
        engineers: &[String],
        dispatcher: &str,
    ) -> (User, Vec<User>) {
        match self {
            Build::Current => {
                let state = match database_url {
                    Some(url) => AppState::open_postgres(url, data, ServerConfig::default()),
                    None => AppState::open(data, ServerConfig::default()),
                }
                .expect("state");
                let users = engineers.iter().map(|n| state.add_user(n, Role::Engineer).expect("user")).collect();
                (state.add_user(dispatcher, Role::Dispatcher).expect("user"), users)
            }
            Build::Baseline(exe) => {
                let users = engineers.iter().map(|n| cli_add_user(exe, data, database_url, n, "engineer")).collect();
                (cli_add_user(exe, data, database_url, dispatcher, "dispatcher"), users)
            }
        }
    }
}

/// `fieldsync user add NAME --role ROLE`: the token on stdout, the device id on stderr
/// (`added NAME (role), device ID`).
fn cli_add_user(exe: &Path, data: &Path, database_url: Option<&str>, name: &str, role: &str) -> User {
    let mut command = Process::new(exe);
    command.args(["user", "add", name, "--role", role, "--data"]).arg(data);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().expect("run the baseline's `user add`");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "baseline `user add {name}` failed: {stderr}");
    let device_id = stderr
        .lines()
        .find_map(|l| l.rsplit_once(", device ").map(|(_, id)| id.trim().to_owned()))
        .unwrap_or_else(|| panic!("no device id in the baseline's `user add` output: {stderr}"));
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (name.to_owned(), device_id, token)
}

/// Entry point of the child process: serve `data` (SQLite, or PostgreSQL at `database_url` with
/// blobs in `data`) on 127.0.0.1:0, print the port, stop when standard input closes.
pub fn serve_child(data: &Path, database_url: Option<&str>) {
    // Opened before the runtime: the PostgreSQL client blocks on a runtime of its own.
    let state = match database_url {
        Some(url) => AppState::open_postgres(url, data, ServerConfig::default()),
        None => AppState::open(data, ServerConfig::default()),
    }
    .expect("server state");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
            })
            .await;
        };
        fieldsync_server::serve(listener, state.clone(), stdin_closed).await.expect("serve");
    });
    drop(runtime);
    // Off the runtime, for the same reason.
    drop(state);
}

/// This build's own `fieldsync` binary, the server as shipped (its allocator and build profile:
/// docs/adr/0037), which the suites run as `fieldsync serve` the way they run the baseline:
/// `FIELDSYNC_BENCH_CURRENT_CLI` when it names one, else the binary of this checkout, built (or
/// found up to date) by cargo before the first server starts, so that it is never older than
/// the sources. Only when cargo cannot build it is this binary's `__serve` measured instead
/// (said on stderr): the same code, but this binary's allocator. Run with the baseline set to
/// the same binary, it is an A/A check.
fn current_cli() -> Option<PathBuf> {
    static CLI: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLI.get_or_init(|| match std::env::var_os("FIELDSYNC_BENCH_CURRENT_CLI") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "FIELDSYNC_BENCH_CURRENT_CLI={} is not a file", path.display());
            Some(path)
        }
        None => match build_current_cli() {
            Ok(path) => Some(path),
            Err(why) => {
                eprintln!("bench: measuring this binary's `__serve`, not the `fieldsync` binary: {why}");
                None
            }
        },
    })
    .clone()
}

/// What the suites measured as this build's server, for their JSON line: the `fieldsync`
/// binary's path, or `__serve` when cargo could not build it.
pub(crate) fn measured_server() -> String {
    current_cli().map_or_else(|| "__serve".to_owned(), |cli| cli.display().to_string())
}

/// `cargo build [--release] -p fieldsync-cli` in this bench's workspace, target directory and
/// profile: the `fieldsync` binary beside this one.
fn build_current_cli() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // This binary is `<target>/<profile>/fieldsync-bench`.
    let profile_dir = exe.parent().ok_or("this binary has no directory")?;
    let target_dir = profile_dir.parent().ok_or("this binary's directory has no parent")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("no workspace")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let release = (!cfg!(debug_assertions)).then_some("--release");
    eprintln!("bench: cargo build {} -p fieldsync-cli (the server as shipped)", release.unwrap_or_default());
    let status = Process::new(cargo)
        .arg("build")
        .args(release)
        .args(["--locked", "--quiet", "-p", "fieldsync-cli", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cargo did not start: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    let cli = profile_dir.join("fieldsync");
    if cli.is_file() { Ok(cli) } else { Err(format!("{} was not built", cli.display())) }
}

/// The server child process.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// Run as `fieldsync serve` (stopped by SIGTERM), not as `__serve`.
    cli: bool,
}

impl ServerProcess {
    /// This build's server on `data`.
    pub(crate) fn start(data: &Path) -> ServerProcess {
        Self::start_with(&Build::Current, data, None)
    }

    /// A server of `build` on `data`, or on PostgreSQL at `database_url` with its blobs in
    /// `data`. A profiler may wrap it (e.g. `FIELDSYNC_BENCH_SERVER_WRAPPER=heaptrack`).
    pub(crate) fn start_with(build: &Build, data: &Path, database_url: Option<&str>) -> ServerProcess {
        // Whether the server runs as `fieldsync serve` (the baseline, or this build's own CLI
        // when named) rather than as this binary's `__serve`.
        let (exe, cli) = match build {
            Build::Current => match current_cli() {
                Some(cli) => (cli, true),
                None => (std::env::current_exe().expect("exe"), false),
            },
            Build::Baseline(exe) => (exe.clone(), true),
        };
        let mut command = match std::env::var_os("FIELDSYNC_BENCH_SERVER_WRAPPER") {
            Some(wrapper) => {
                let mut p = Process::new(wrapper);
                p.arg(&exe);
                p
            }
            None => Process::new(&exe),
        };
        if cli {
            // The same settings as `__serve`'s `ServerConfig::default()`.
            command.args(["serve", "--listen", "127.0.0.1:0", "--escalation-interval-ms", "15000", "--data"]);
            command.arg(data).stdout(Stdio::null()).stderr(Stdio::piped());
            if let Some(url) = database_url {
                command.args(["--database-url", url]);
            }
        } else {
            command.arg("__serve").arg(data).args(database_url).stdout(Stdio::piped());
        }
        let mut child = command.stdin(Stdio::piped()).spawn().expect("spawn server");
        orphans::watch(&child);
        // `__serve` prints `PORT n` on stdout; `fieldsync serve` its address on stderr. A
        // wrapper may print lines of its own first.
        let (port, lines) = if cli {
            first_port(BufReader::new(child.stderr.take().expect("stderr")), |l| {
                let after = l.split_once("fieldsync server on http://")?.1;
                let address = after.split_whitespace().next()?;
                address.rsplit_once(':').map(|(_, port)| port.to_owned())
            })
        } else {
            first_port(BufReader::new(child.stdout.take().expect("stdout")), |l| {
                l.trim().strip_prefix("PORT ").map(str::to_owned)
            })
        };
        // Drained, so that what the server or wrapper prints later does not meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, url: format!("http://127.0.0.1:{port}"), cli }
    }

    /// The server's CPU time so far (user + system).
    pub(crate) fn cpu(&self) -> Duration {
        cpu_time_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

/// The rest of a server's output, drained.
type Output = Box<dyn Iterator<Item = std::io::Result<String>> + Send>;

/// The port the server announced, and the rest of its output.
fn first_port<R: BufRead + Send + 'static>(reader: R, port_of: impl Fn(&str) -> Option<String>) -> (String, Output) {
    let mut lines = reader.lines();
    let port =
        lines.by_ref().find_map(|line| port_of(&line.expect("server output"))).expect("the server's address line");
    (port, Box::new(lines))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        orphans::forget(&self.child);
        if self.cli {
            // `fieldsync serve` stops on SIGTERM.
            let stopped =
                Process::new("kill").args(["-TERM", &self.child.id().to_string()]).status().is_ok_and(|s| s.success());
            if !stopped {
                let _ = self.child.kill();
            }
        } else {
            // `__serve` stops when its standard input closes.
            drop(self.child.stdin.take());
        }
        let _ = self.child.wait();
    }
}

/// Servers left behind by a bench that panics: a panic while another unwinds aborts the process
/// without running `Drop`, and a `fieldsync serve` child (which does not watch its standard
/// input as `__serve` does) then went on serving, and taking CPU from the next run's figures.
mod orphans {
    use super::*;

    /// The process ids of the servers running now.
    static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static HOOK: Once = Once::new();

    /// Kills `child` at the bench's first panic unless it was stopped before.
    pub(super) fn watch(child: &Child) {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(PoisonError::into_inner));
                for pid in running {
                    let _ = Process::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }));
        });
        RUNNING.lock().unwrap_or_else(PoisonError::into_inner).push(child.id());
    }

    /// `child` is being stopped the ordinary way.
    pub(super) fn forget(child: &Child) {
        RUNNING.lock().unwrap_or_else(PoisonError::into_inner).retain(|pid| *pid != child.id());
    }
}
