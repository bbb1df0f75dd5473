//! The `server` suite's timed part: every server set-up (a build on a backend) is prepared the
//! same way first, then the set-ups take turns in rounds of saturated syncs (the order rotated
//! each round, A B then B A), so that a comparison of two set-ups is made of per-round ratios
//! measured seconds apart on documents of the same size, not of one run each minutes apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::sync::SyncEngine;
use fieldsync_e2e::Dispatcher;

use super::{Backend, SERVER_DEVICES};
use crate::postgres_stats::{BenchDatabase, StatementCount};
use crate::server_process::{Build, ServerProcess};
use crate::sync::{create_many, device};

/// Timed rounds per set-up unless `FIELDSYNC_BENCH_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 6;

/// Timed rounds per set-up: `FIELDSYNC_BENCH_ROUNDS` (at least 1) when set, for a profile that
/// needs the saturated rounds to last, or tighter medians of an A/B run; else 6.
pub(super) fn rounds() -> usize {
    match std::env::var("FIELDSYNC_BENCH_ROUNDS") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => panic!("FIELDSYNC_BENCH_ROUNDS={text} is not a whole number of rounds (1 or more)"),
        },
        Err(_) => DEFAULT_ROUNDS,
    }
}
/// Saturated syncs per set-up per round (all devices at once, none pausing).
pub(super) const SYNCS_PER_ROUND: usize = 2_000;
/// Tickets each device works on (its notes go round them).
const TICKETS_PER_DEVICE: usize = 20;

/// A device's engine and the tickets it works on.
pub(super) type Device = (Arc<SyncEngine>, Arc<Vec<String>>);

/// One server set-up with its devices, prepared and ready for timed rounds.
pub(super) struct SetUp {
    pub(super) build: Build,
    pub(super) backend: Backend,
    pub(super) devices: Vec<Device>,
    /// Every round this set-up ran, in order.
    pub(super) rounds: Vec<Round>,
    database: Option<Arc<BenchDatabase>>,
    servers: Vec<ServerProcess>,
    // Last: the stores and the server's data live here until the servers have stopped.
    _dir: tempfile::TempDir,
}

/// The figures of one set-up's turn in one round.
pub(super) struct Round {
    pub(super) syncs: usize,
    pub(super) elapsed_s: f64,
    pub(super) server_cpu_s: f64,
    pub(super) client_cpu_s: f64,
    pub(super) latencies: Vec<Duration>,
    /// What the server(s) asked PostgreSQL in this turn (PostgreSQL only, and only when the
    /// cluster loads `pg_stat_statements`).
    pub(super) statements: Option<StatementCount>,
    /// The CPU the database's backends spent in this turn (PostgreSQL on this machine only).
    pub(super) backends_cpu_s: Option<f64>,
}

impl Round {
    pub(super) fn cpu_ms_per_sync(&self) -> f64 {
        self.server_cpu_s * 1_000.0 / self.syncs as f64
    }

    pub(super) fn syncs_per_s(&self) -> f64 {
        self.syncs as f64 / self.elapsed_s
    }
}

impl SetUp {
    /// A fresh server of `build` on `backend` (a fresh database on PostgreSQL), its users, and
    /// devices that each got [`TICKETS_PER_DEVICE`] tickets, accepted them and synced.
    pub(super) async fn prepare(build: Build, backend: Backend) -> SetUp {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("server");
        std::fs::create_dir_all(&data).expect("data");
        let (database, instances) = match &backend {
            Backend::Sqlite => (None, 1),
            Backend::Postgres { admin_url, instances } => {
                let admin_url = admin_url.clone();
                let database = tokio::task::spawn_blocking(move || BenchDatabase::create(&admin_url))
                    .await
                    .expect("create database");
                (Some(Arc::new(database)), *instances)
            }
        };
        let database_url = database.as_ref().map(|d| d.url.clone());
        let (dispatcher_user, users) = {
            let (data, url, build) = (data.clone(), database_url.clone(), build.clone());
            let names: Vec<String> = (0..SERVER_DEVICES).map(|n| format!("eng{n}")).collect();
            // Blocking (and, for PostgreSQL, on a runtime of its own): off the async threads.
            tokio::task::spawn_blocking(move || build.add_users(&data, url.as_deref(), &names, "dana"))
                .await
                .expect("users")
        };
        let servers: Vec<ServerProcess> =
            (0..instances).map(|_| ServerProcess::start_with(&build, &data, database_url.as_deref())).collect();
        let dispatcher = Dispatcher::at(&servers[0].url, &dispatcher_user.2);
        let mut devices = Vec::with_capacity(SERVER_DEVICES);
        for (n, user) in users.iter().enumerate() {
            let ids = create_many(&dispatcher, TICKETS_PER_DEVICE, &user.0).await;
            let engine = device(dir.path(), &servers[n % instances].url, user);
            engine.sync_now().await.expect("first sync");
            for id in &ids {
                engine.client().accept(id).expect("accept");
            }
            engine.sync_now().await.expect("accepts synced");
            devices.push((Arc::new(engine), Arc::new(ids)));
        }
        if let Some(database) = &database {
            let database = Arc::clone(database);
            tokio::task::spawn_blocking(move || database.analyze()).await.expect("analyze");
        }
        SetUp { build, backend, devices, rounds: Vec::new(), database, servers, _dir: dir }
    }

    /// One turn: every device in turn edits one of its tickets and syncs it, all devices at
    /// once, [`SYNCS_PER_ROUND`] syncs in all; the figures are kept in `rounds`.
    pub(super) async fn run_round(&mut self) {
        let per_device = SYNCS_PER_ROUND / self.devices.len();
        let statements_before = self.statements().await;
        let backends_before = self.backend_cpu().await;
        let (server_cpu_before, client_cpu_before) = (self.server_cpu(), crate::cpu_time());
        let started = Instant::now();
        let tasks: Vec<_> = self
            .devices
            .iter()
            .map(|(engine, ids)| {
                let (engine, ids) = (Arc::clone(engine), Arc::clone(ids));
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_device);
                    for n in 0..per_device {
                        let id = &ids[n % ids.len()];
                        super::note(&engine, id, "Seal replaced, pressure tested").await;
                        let sync_started = Instant::now();
                        let report = engine.sync_now().await.expect("sync");
                        latencies.push(sync_started.elapsed());
                        assert_eq!(report.round_trips, 1);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(SYNCS_PER_ROUND);
        for task in tasks {
            latencies.extend(task.await.expect("device task"));
        }
        let elapsed_s = started.elapsed().as_secs_f64();
        let server_cpu_s = self.server_cpu().saturating_sub(server_cpu_before).as_secs_f64();
        let client_cpu_s = crate::cpu_time().saturating_sub(client_cpu_before).as_secs_f64();
        let backends_cpu_s = crate::postgres_stats::backend_cpu_since(&backends_before, &self.backend_cpu().await)
            .map(|cpu| cpu.as_secs_f64());
        let statements = match (statements_before, self.statements().await) {
            (Some(before), Some(after)) => Some(after.since(&before)),
            _ => None,
        };
        self.rounds.push(Round {
            syncs: latencies.len(),
            elapsed_s,
            server_cpu_s,
            client_cpu_s,
            latencies,
            statements,
            backends_cpu_s,
        });
    }

    /// Stops the servers and drops the database (off the async threads: it blocks).
    pub(super) async fn stop(self) {
        let SetUp { servers, database, _dir, .. } = self;
        drop(servers);
        if let Some(database) = database {
            tokio::task::spawn_blocking(move || drop(database)).await.expect("drop database");
        }
    }

    fn server_cpu(&self) -> Duration {
        self.servers.iter().map(ServerProcess::cpu).sum()
    }

    /// The CPU so far of each of the database's backends (empty on SQLite).
    async fn backend_cpu(&self) -> HashMap<i32, Duration> {
        let Some(database) = self.database.as_ref().map(Arc::clone) else { return HashMap::new() };
        tokio::task::spawn_blocking(move || database.backend_cpu()).await.expect("backend CPU")
    }

    async fn statements(&self) -> Option<StatementCount> {
        let database = Arc::clone(self.database.as_ref()?);
        tokio::task::spawn_blocking(move || database.statements()).await.expect("statements")
    }
}

/// Runs [`rounds`] rounds over every set-up, the order rotated each round so that no set-up
/// always runs first (or right after a given other one).
/// `after_round(n)` runs once each round `n` (from 0) is over, for what is measured between
/// rounds (the automerge-repo reference).
pub(super) async fn alternate(set_ups: &mut [SetUp], mut after_round: impl FnMut(usize)) {
    let total = rounds();
    for round in 0..total {
        let count = set_ups.len();
        for turn in 0..count {
            let index =
                if round % 2 == 0 { (turn + round / 2) % count } else { (count - 1 - turn + round / 2) % count };
            set_ups[index].run_round().await;
        }
        eprintln!(
            "server: round {}/{total}: {}",
            round + 1,
            set_ups
                .iter()
                .map(|s| {
                    let last = s.rounds.last().expect("a round");
                    format!(
                        "{} {} {:.3} ms/sync {:.0}/s",
                        s.build.label(),
                        s.backend.key(),
                        last.cpu_ms_per_sync(),
                        last.syncs_per_s()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        );
        after_round(round);
    }
}

/// The median of per-round ratios and their spread.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spread {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Spread {
    /// `figure(ours) / figure(theirs)` round by round (both ran in the same rounds).
    pub(super) fn of(ours: &[Round], theirs: &[Round], figure: impl Fn(&Round) -> f64) -> Spread {
        Spread::of_ratios(ours.iter().zip(theirs).map(|(a, b)| figure(a) / figure(b)).collect())
    }

    /// The median and spread of `ratios` (at least one).
    pub(super) fn of_ratios(mut ratios: Vec<f64>) -> Spread {
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median = if n % 2 == 1 { ratios[n / 2] } else { (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0 };
        Spread { median, min: ratios[0], max: ratios[n - 1] }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} (rounds {:.3}–{:.3})", self.median, self.min, self.max)
    }
}
