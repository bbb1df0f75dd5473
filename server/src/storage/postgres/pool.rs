//! A few PostgreSQL connections, opened on demand and reused, each with its prepared statements.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

// The pool's state is a list and a count: a panic elsewhere cannot leave it half-changed.
use crate::storage::StorageError;
use crate::storage::lock_unpoisoned as lock;

/// At most this many connections per storage (the listener has one more).
const POOL_SIZE: usize = 8;

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Backend(match e.as_db_error() {
            Some(db) => format!("postgres: {}", db.message()),
            None => format!("postgres: {e}"),
        })
    }
}

/// One pooled connection with its prepared statements.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// How PostgreSQL plans this connection's statements now.
    pub(super) plans: Plans,
}

/// How PostgreSQL plans a connection's prepared statements (its `plan_cache_mode`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Plans {
    /// PostgreSQL's own choice: a plan made for each call's values while it prices those
    /// cheaper than one plan for all. Right for statements whose best plan depends on values
    /// (a report's date range), and the default.
    Auto,
    /// One plan for all calls, made once. For a statement whose plan does not depend on its
    /// values but which PostgreSQL would otherwise plan again on every call: the sync's read
    /// (its planning cost more than running it, docs/adr/0026).
    Generic,
}

impl Plans {
    fn setting(self) -> &'static str {
        match self {
            Plans::Auto => "SET plan_cache_mode = auto",
            Plans::Generic => "SET plan_cache_mode = force_generic_plan",
        }
    }
}

pub(super) struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A few connections, opened on demand and reused.
pub(super) struct Pool {
    pub(super) config: postgres::Config,
    state: Mutex<PoolState>,
    returned: Condvar,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics on an async thread (the
        // last `AppState` may well be dropped on one): close them on a thread of their own.
        let idle = std::mem::take(&mut lock(&self.state).idle);
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("fieldsync-pg-close".into()).spawn(move || drop(idle));
        }
    }
}

/// A connection taken from the pool; returned to it on drop.
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    pub(super) conn: Option<Conn>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.pool.state);
        match self.conn.take() {
            Some(conn) if !conn.client.is_closed() => state.idle.push(conn),
            _ => state.open -= 1,
        }
        drop(state);
        self.pool.returned.notify_one();
    }
}

impl Pool {
    /// An empty pool for the database `config` names.
    pub(super) fn new(config: postgres::Config) -> Pool {
        Pool { config, state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }), returned: Condvar::new() }
    }

    /// A connection whose statements are planned as `plans` says: an idle one already so when
    /// there is one, else a new one while the pool has room, else an idle one switched over (one
    /// round trip). `None` is for statements planned alike either way (a lookup by key): any
    /// idle connection, never switched. Waits while every connection is taken.
    pub(super) fn get(&self, plans: Option<Plans>) -> Result<Pooled<'_>, StorageError> {
        let mut state = lock(&self.state);
        loop {
            // The server went away meanwhile: those are dropped, and new ones opened instead.
            let idle = state.idle.len();
            state.idle.retain(|conn| !conn.client.is_closed());
            state.open -= idle - state.idle.len();
            if let Some(at) = state.idle.iter().rposition(|conn| plans.is_none_or(|plans| conn.plans == plans)) {
                let conn = state.idle.remove(at);
                return Ok(Pooled { pool: self, conn: Some(conn) });
            }
            let conn = if state.open < POOL_SIZE {
                state.open += 1;
                drop(state);
                match self.config.connect(NoTls) {
                    Ok(client) => Conn { client, statements: HashMap::new(), plans: Plans::Auto },
                    Err(e) => {
                        lock(&self.state).open -= 1;
                        self.returned.notify_one();
                        return Err(e.into());
                    }
                }
            } else if let Some(conn) = state.idle.pop() {
                drop(state);
                conn
            } else {
                state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            // Dropped on failure: its `Drop` gives the connection back, or its place when closed.
            let mut pooled = Pooled { pool: self, conn: Some(conn) };
            if let (Some(conn), Some(plans)) = (pooled.conn.as_mut(), plans) {
                if conn.plans != plans {
                    conn.client.batch_execute(plans.setting())?;
                    conn.plans = plans;
                }
            }
            return Ok(pooled);
        }
    }
}

/// A transaction with the connection's statement cache.
pub(super) struct Tx<'a> {
    pub(super) tx: postgres::Transaction<'a>,
    pub(super) statements: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    pub(super) fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params)
    }

    pub(super) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params)
    }
}

/// What runs a statement, in a transaction ([`Tx`]) or on its own ([`Autocommit`]): for a
/// statement both paths share.
pub(super) trait RunsStatements {
    /// The one row `sql` returns.
    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error>;
}

impl RunsStatements for Tx<'_> {
    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        Tx::query_one(self, sql, params)
    }
}

impl RunsStatements for Autocommit<'_> {
    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        Autocommit::query_one(self, sql, params)
    }
}

/// Statements run on their own, outside any transaction: one statement is atomic and reads one
/// snapshot by itself, so a lone statement needs no `BEGIN` and `COMMIT` (two round trips
/// more, each awaited: the cost that made a sync on PostgreSQL take 35 round trips).
pub(super) struct Autocommit<'a> {
    pub(super) client: &'a mut Client,
    pub(super) statements: &'a mut HashMap<String, Statement>,
}

impl Autocommit<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params)
    }

    pub(super) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }
}

pub(super) fn parse_config(url: &str) -> Result<postgres::Config, StorageError> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StorageError::Backend(format!("bad database URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("fieldsync-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// The URL of database `dbname` on the cluster `url` names (same host, port, user and
/// password): how tests and benchmarks reach the throwaway databases they create.
pub fn url_of_database(url: &str, dbname: &str) -> Result<String, StorageError> {
    let config: postgres::Config = url.parse().map_err(|e| StorageError::Backend(format!("bad database URL: {e}")))?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
    Ok(format!("postgres://{user}{password}@{host}:{port}/{dbname}"))
}
