//! A throwaway PostgreSQL database per bench run, and what the servers asked of it: the
//! statements and round trips per sync, from `pg_stat_statements` when the cluster loads it
//! (`scripts/postgres.sh` starts its clusters so), and the CPU its backends spent, when the
//! cluster runs on this machine.

use std::collections::HashMap;
use std::time::Duration;

/// A fresh database on the cluster at `admin_url`, dropped with this. Blocking.
pub(crate) struct BenchDatabase {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl BenchDatabase {
    pub(crate) fn create(admin_url: &str) -> BenchDatabase {
        let name = format!("fieldsync_bench_{}_{:08x}", std::process::id(), clock_nanos());
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls).expect("connect to PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the bench database");
        let settings: Vec<String> = ["fsync", "synchronous_commit"]
            .iter()
            .map(|s| {
                let value: String = admin.query_one(&format!("SHOW {s}"), &[]).map(|r| r.get(0)).unwrap_or_default();
                format!("{s}={value}")
            })
            .collect();
        eprintln!("server: PostgreSQL {} ({})", server_version(&mut admin), settings.join(", "));
        let url = fieldsync_server::storage::postgres::url_of_database(admin_url, &name).expect("PostgreSQL URL");
        BenchDatabase { admin_url: admin_url.to_owned(), name, url }
    }

    /// Gathers the planner's statistics, as autovacuum does within a minute of a deployment's
    /// first writes: the bench's set-up fills the fresh database in less, and without
    /// statistics PostgreSQL plans whole-table scans for what an index finds. Blocking.
    pub(crate) fn analyze(&self) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the bench database");
        client.batch_execute("ANALYZE").expect("analyze the bench database");
    }

    /// What has been executed in this database so far, or `None` when the cluster does not
    /// load `pg_stat_statements` (said once on standard error).
    pub(crate) fn statements(&self) -> Option<StatementCount> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the bench database");
        let installed = client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        let rows = installed.and_then(|()| {
            client.query(
                // The bench's own queries about the statistics are left out.
                "SELECT query, calls::BIGINT FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_stat_activity%'",
                &[],
            )
        });
        match rows {
            Ok(rows) => {
                let mut count = StatementCount::default();
                for row in rows {
                    let (query, calls): (String, i64) = (row.get(0), row.get(1));
                    let calls = u64::try_from(calls).unwrap_or(0);
                    // Each statement the synchronous client sends is awaited before the next:
                    // one round trip each, BEGIN and COMMIT included.
                    count.round_trips += calls;
                    if !is_transaction_control(&query) {
                        count.statements += calls;
                    }
                }
                Some(count)
            }
            Err(e) => {
                eprintln!(
                    "server: PostgreSQL statements per sync not counted (start the cluster with shared_preload_libraries=pg_stat_statements, as scripts/postgres.sh does): {e}"
                );
                None
            }
        }
    }

    /// The CPU time so far (user + system) of every process serving this database, by pid:
    /// the servers' connections, the listener's and any autovacuum worker; the cluster's own
    /// processes (WAL writer, checkpointer) are not counted. Empty when the cluster is not on
    /// this machine (no process of that pid here is PostgreSQL's). Blocking.
    pub(crate) fn backend_cpu(&self) -> HashMap<i32, Duration> {
        let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) else { return HashMap::new() };
        let pids: Vec<i32> = client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .map(|rows| rows.iter().map(|row| row.get(0)).collect())
            .unwrap_or_default();
        // A pid of a cluster elsewhere (another machine, a container) may name an unrelated
        // process here: only a process that is PostgreSQL's is counted.
        let is_postgres =
            |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres");
        pids.into_iter()
            .filter(|pid| is_postgres(*pid))
            .map(|pid| (pid, crate::cpu_time_of(&format!("/proc/{pid}/stat"))))
            .collect()
    }
}

/// The CPU the backends in `after` spent since `before` (one not in `before` started
/// meanwhile: all of its time); `None` when none was found on this machine. A backend that
/// ended between the two is not counted (the servers keep their connections).
pub(crate) fn backend_cpu_since(before: &HashMap<i32, Duration>, after: &HashMap<i32, Duration>) -> Option<Duration> {
    (!after.is_empty())
        .then(|| after.iter().map(|(pid, cpu)| cpu.saturating_sub(before.get(pid).copied().unwrap_or_default())).sum())
}

fn is_transaction_control(query: &str) -> bool {
    let first = query.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "END")
}

/// Statements executed in a database, as counted by `pg_stat_statements`.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatementCount {
    /// Statements other than transaction control.
    pub(crate) statements: u64,
    /// Every statement, BEGIN and COMMIT included: each one a round trip for a client that
    /// awaits each statement's answer before it sends the next.
    pub(crate) round_trips: u64,
}

impl StatementCount {
    /// What was executed between `before` and this count.
    pub(crate) fn since(&self, before: &StatementCount) -> StatementCount {
        StatementCount {
            statements: self.statements.saturating_sub(before.statements),
            round_trips: self.round_trips.saturating_sub(before.round_trips),
        }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn server_version(admin: &mut postgres::Client) -> String {
    admin.query_one("SHOW server_version", &[]).map(|r| r.get::<_, String>(0)).unwrap_or_default()
}

fn clock_nanos() -> u32 {
    // Unique enough for a database name: the clock's nanoseconds.
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
