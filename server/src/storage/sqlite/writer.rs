//! The one writer connection, group-committed by the callers themselves.
//!
//! Every write is a job put in one queue. A caller that finds nobody writing leads: it takes
//! what is queued (its own job first), runs each job in its own savepoint (a failing job is
//! rolled back alone) inside one transaction, commits once (one fsync for all of them), and
//! only then answers each caller. Jobs queued meanwhile wait; once its group is committed the
//! leader hands the lead to the owner of the next queued job, or, with none, gives it up. So a
//! write is acknowledged only once it is durable, concurrent writes share the commit, and a
//! write that finds nobody writing runs on its caller's thread: no hand-off to a writer thread
//! and back, which were two thread wake-ups per sync (docs/adr/0035). A leader runs one group
//! and hands on: its own caller is not kept waiting behind everyone else's writes.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, mpsc};

use fieldsync_core::store::sql_tx::{Begin, Tx};
use rusqlite::Connection;

// A lock whose holder panicked still guards consistent data here: a job's panic is caught
// where it runs, and the queue is changed by single pushes and pops.
use crate::storage::StorageError;
use crate::storage::lock_unpoisoned as locked;

/// At most this many writes share one transaction.
const GROUP_COMMIT_MAX: usize = 256;

/// A write job: runs inside the group's transaction (in its own savepoint) and returns whether
/// it succeeded and how to answer its caller once the group's commit is known.
type JobFn = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A queued write.
struct Job {
    run: JobFn,
    /// Whether the caller needs the write to survive a power loss (see `super`'s docs).
    durable: bool,
    /// Tells the job's caller, waiting for its answer, to lead.
    lead: Box<dyn Fn() + Send>,
}

/// What a waiting caller is told.
enum Told<T> {
    Answer(Result<T, StorageError>),
    Lead,
}

/// The queue, and whether some caller leads.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    leading: bool,
}

/// The writer connection, as its leader finds it.
struct Connected {
    conn: Connection,
    /// Whether the connection commits with `synchronous=FULL` (as opening left it).
    synchronous_full: bool,
}

/// The writer: its queue and its connection.
pub(crate) struct Writer {
    queue: Mutex<Queue>,
    /// Locked by the leader only; never contended.
    connected: Mutex<Connected>,
}

impl Writer {
    /// The writer of `conn`, configured to commit with `synchronous=FULL`.
    pub(crate) fn new(conn: Connection) -> Writer {
        Writer {
            queue: Mutex::new(Queue::default()),
            connected: Mutex::new(Connected { conn, synchronous_full: true }),
        }
    }

    /// Runs `f` in a write transaction (shared with other queued writes) and returns its value
    /// once that transaction is committed; `durable`: with an fsync of its own group's. An
    /// error from `f` rolls back `f`'s writes only.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        durable: bool,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        // Room for both messages a caller can get: told to lead, then its answer.
        let (tell, told) = mpsc::sync_channel::<Told<T>>(2);
        let lead = {
            let tell = tell.clone();
            Box::new(move || {
                let _ = tell.try_send(Told::Lead);
            })
        };
        let run: JobFn = Box::new(move |tx: &Connection| {
            let result = f(tx);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: Result<(), String>| {
                let _ = tell.try_send(Told::Answer(match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(StorageError::Backend(e)),
                    (Ok(value), Ok(())) => Ok(value),
                }));
            });
            (ok, reply)
        });
        let leads = {
            let mut queue = locked(&self.queue);
            queue.jobs.push_back(Job { run, durable, lead });
            !std::mem::replace(&mut queue.leading, true)
        };
        if leads {
            self.lead();
        }
        loop {
            match told.recv() {
                Ok(Told::Answer(answer)) => return answer,
                Ok(Told::Lead) => self.lead(),
                // Its job was dropped unrun: the group's transaction failed before it.
                Err(_) => {
                    return Err(StorageError::Backend("the write was not committed (the writer failed)".into()));
                }
            }
        }
    }

    /// Runs one group (the leading caller's job is first in the queue), then hands the lead on.
    fn lead(&self) {
        // Handed on however this ends, a panic included: a lead never handed on would leave
        // every later write waiting.
        let _hand_on = HandOn(self);
        let group: Vec<Job> = {
            let mut queue = locked(&self.queue);
            let n = queue.jobs.len().min(GROUP_COMMIT_MAX);
            queue.jobs.drain(..n).collect()
        };
        run_group(&mut locked(&self.connected), group);
    }
}

/// Hands the lead to the next queued job's caller when dropped, or gives it up with none.
struct HandOn<'a>(&'a Writer);

impl Drop for HandOn<'_> {
    fn drop(&mut self) {
        let mut queue = locked(&self.0.queue);
        match queue.jobs.front() {
            Some(next) => (next.lead)(),
            None => queue.leading = false,
        }
    }
}

/// One transaction for `group`: each job in its own savepoint, one commit, then every answer.
fn run_group(connected: &mut Connected, group: Vec<Job>) {
    let mut replies = Vec::with_capacity(group.len());
    let durable = group.iter().any(|job| job.durable);
    let outcome = (|| -> Result<(), rusqlite::Error> {
        if durable != connected.synchronous_full {
            connected.conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
            connected.synchronous_full = durable;
        }
        let tx = Tx::begin(&connected.conn, Begin::Immediate)?;
        for job in group {
            // Prepared once: `execute_batch` would parse these at every job (13% of the
            // writer's time in the server benchmark).
            tx.prepare_cached("SAVEPOINT job")?.execute([])?;
            let (ok, reply) = match std::panic::catch_unwind(AssertUnwindSafe(|| (job.run)(&tx))) {
                Ok(done) => done,
                Err(_) => (false, Box::new(|_| {}) as Reply),
            };
            replies.push(reply);
            if !ok {
                tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            tx.prepare_cached("RELEASE job")?.execute([])?;
        }
        tx.commit()
    })();
    let outcome = outcome.map_err(|e| e.to_string());
    for reply in replies {
        reply(outcome.clone());
    }
    // Jobs never run (the transaction failed before them) are dropped: their callers see their
    // channel close and get an error.
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use super::*;

    impl Writer {
        /// How many writes wait in the queue.
        fn queued(&self) -> usize {
            locked(&self.queue).jobs.len()
        }
    }

    /// `handle`'s result, or a failure when it has not finished within a minute: a write
    /// nobody leads waits forever, which must fail the test rather than hang it.
    fn finished<T>(handle: thread::JoinHandle<T>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !handle.is_finished() {
            assert!(std::time::Instant::now() < deadline, "a write never finished: nobody led it");
            thread::sleep(std::time::Duration::from_millis(5));
        }
        handle.join().expect("the thread does not panic")
    }

    fn writer() -> (tempfile::TempDir, Arc<Writer>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = Connection::open(dir.path().join("w.sqlite")).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY)").expect("schema");
        (dir, Arc::new(Writer::new(conn)))
    }

    fn insert(k: &str) -> impl FnOnce(&Connection) -> Result<(), StorageError> + Send + 'static {
        let k = k.to_owned();
        move |tx| {
            tx.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
            Ok(())
        }
    }

    fn keys(writer: &Writer) -> Vec<String> {
        writer
            .write(true, |tx| {
                let mut stmt = tx.prepare("SELECT k FROM t ORDER BY k")?;
                let rows = stmt.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })
            .expect("read")
    }

    /// A write that starts while `first` runs as the leader's job, once `waiting` writes queue.
    fn while_leading(
        writer: &Arc<Writer>,
        waiting: usize,
        first: impl FnOnce(&Connection) -> Result<(), StorageError> + Send + 'static,
    ) -> thread::JoinHandle<Result<(), StorageError>> {
        let (started, start) = mpsc::channel();
        let leader = {
            let writer = Arc::clone(writer);
            thread::spawn(move || {
                let inner = Arc::clone(&writer);
                writer.write(true, move |tx| {
                    started.send(()).expect("started");
                    while inner.queued() < waiting {
                        thread::yield_now();
                    }
                    first(tx)
                })
            })
        };
        start.recv().expect("the leader's job runs");
        leader
    }

    #[test]
    fn concurrent_writes_all_commit_and_each_caller_gets_its_own_answer() {
        let (_dir, writer) = writer();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let writer = Arc::clone(&writer);
                thread::spawn(move || {
                    for i in 0..50 {
                        let k = format!("{t}-{i:02}");
                        let echoed = writer
                            .write(true, move |tx| {
                                tx.execute("INSERT INTO t (k) VALUES (?1)", [&k])?;
                                Ok(k)
                            })
                            .expect("write");
                        assert_eq!(echoed, format!("{t}-{i:02}"));
                    }
                })
            })
            .collect();
        for thread in threads {
            finished(thread);
        }
        assert_eq!(keys(&writer).len(), 400);
        assert_eq!(writer.queued(), 0);
    }

    /// Writes queued behind a leader run as one group once it hands the lead on; one failing
    /// there is rolled back alone.
    #[test]
    fn a_failing_write_in_a_group_is_rolled_back_alone() {
        let (_dir, writer) = writer();
        let leader = while_leading(&writer, 2, insert("a"));
        let failing = {
            let writer = Arc::clone(&writer);
            thread::spawn(move || {
                writer.write(true, |tx| {
                    tx.execute("INSERT INTO t (k) VALUES ('b')", [])?;
                    Err::<(), _>(StorageError::Backend("refused".into()))
                })
            })
        };
        while writer.queued() < 1 {
            thread::yield_now();
        }
        let beside = {
            let writer = Arc::clone(&writer);
            thread::spawn(move || writer.write(true, insert("c")))
        };
        finished(leader).expect("a");
        assert!(finished(failing).is_err());
        finished(beside).expect("c");
        assert_eq!(keys(&writer), ["a", "c"]);
    }

    /// A write whose job panics fails alone; the writes queued meanwhile are still led and
    /// committed, and so are later ones.
    #[test]
    fn a_panicking_write_fails_alone_and_the_lead_is_handed_on() {
        let (_dir, writer) = writer();
        let leader = while_leading(&writer, 1, |_| panic!("a job that panics"));
        let queued = {
            let writer = Arc::clone(&writer);
            thread::spawn(move || writer.write(true, insert("queued")))
        };
        assert!(finished(leader).is_err());
        finished(queued).expect("committed");
        writer.write(true, insert("later")).expect("later");
        assert_eq!(keys(&writer), ["later", "queued"]);
    }
}
