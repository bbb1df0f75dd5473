//! WAL checkpoints on a thread of their own, so no action pays for one.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages:
//! that one action copies ~4 MB into the database file and fsyncs it (3–6 ms on the bench
//! machine, more on phone flash), which is most of an action's p99. Here the writer's WAL hook
//! only wakes a thread with its own connection, which runs a PASSIVE checkpoint: it never
//! blocks the writer or the readers, and the writer starts the WAL over at its next commit
//! once everything is copied. Should the thread fall far behind, the writer checkpoints itself
//! past a much larger size, so the WAL stays bounded whatever happens (docs/adr/0001).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;

use super::StoreError;

/// When checkpoints happen, in WAL pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CheckpointPolicy {
    /// The background thread is woken once the WAL holds this many pages (SQLite's own
    /// automatic checkpoint uses the same figure).
    pub background_after: i32,
    /// The committing writer checkpoints itself past this many: the background thread is not
    /// keeping up (about 64 MB at 4 KB pages).
    pub writer_after: i32,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { background_after: 1_000, writer_after: 16_000 }
    }
}

/// What the writer's hook and the thread share.
#[derive(Default)]
struct Shared {
    /// Set by the hook, cleared by the thread before it checkpoints: a commit while a
    /// checkpoint runs asks for another.
    wanted: AtomicBool,
    stop: AtomicBool,
    /// Requests made so far.
    requests: AtomicU64,
    /// The newest request a finished checkpoint started after.
    covered: AtomicU64,
    /// Checkpoints the thread has run.
    done: AtomicU64,
    wake: Mutex<()>,
    woken: Condvar,
}

impl Shared {
    /// Asks for a checkpoint of every frame committed so far; returns the request's number,
    /// which `covered` reaches once a checkpoint that started after it has finished.
    fn request(&self) -> u64 {
        let number = self.requests.fetch_add(1, Ordering::AcqRel) + 1;
        // Raised after the number is taken and cleared by the thread before it reads the
        // numbers: a run that missed this request is always followed by another.
        if !self.wanted.swap(true, Ordering::AcqRel) {
            let _guard = self.wake.lock();
            self.woken.notify_one();
        }
        number
    }
}

/// The checkpoint thread; stopped and joined when dropped.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `connection` (opened on the same file, keyed like the others) and
    /// hooks `writer`'s commits to it.
    pub(crate) fn start(
        writer: &mut Connection,
        connection: Connection,
        policy: CheckpointPolicy,
    ) -> Result<Checkpointer, StoreError> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("fieldsync-checkpoint".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&connection, &shared)
            })
            .map_err(StoreError::Io)?;
        // Built before the hook is set: should setting it fail, dropping this stops the thread.
        let checkpointer = Checkpointer { shared: Arc::clone(&shared), thread: Some(thread) };
        let hooked = shared;
        // The request made for the WAL as it is now (cleared when the writer starts it over).
        let mut asked: Option<u64> = None;
        // Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
        writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            // A checkpoint that cannot finish now is retried at a later commit; the commit
            // itself has already succeeded, so its outcome is not this commit's.
            if pages >= policy.writer_after {
                let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                asked = None;
            } else if pages < policy.background_after {
                asked = None;
            } else {
                match asked {
                    None => asked = Some(hooked.request()),
                    // The thread copied the bulk; the commits made meanwhile are a few frames,
                    // copied here so that the next commit starts the WAL over. A writer that
                    // never pauses would otherwise keep the thread copying forever.
                    Some(request) if hooked.covered.load(Ordering::Acquire) >= request => {
                        let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                        asked = None;
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        }))?;
        Ok(checkpointer)
    }

    /// How many checkpoints the thread has run.
    pub(crate) fn checkpoints_done(&self) -> u64 {
        self.shared.done.load(Ordering::Acquire)
    }

    /// Whether every checkpoint asked for so far has run.
    #[cfg(test)]
    pub(crate) fn settled(&self) -> bool {
        self.shared.covered.load(Ordering::Acquire) >= self.shared.requests.load(Ordering::Acquire)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _guard = self.shared.wake.lock();
            self.shared.woken.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            // A checkpoint in progress finishes first (it is bounded by the WAL's size).
            let _ = thread.join();
        }
    }
}

fn run(connection: &Connection, shared: &Shared) {
    loop {
        {
            let Ok(mut guard) = shared.wake.lock() else { return };
            while !shared.wanted.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire) {
                guard = match shared.woken.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        shared.wanted.store(false, Ordering::Release);
        let covers = shared.requests.load(Ordering::Acquire);
        // PASSIVE: copies what no reader still needs, without waiting on anyone. What it
        // cannot copy now is copied at a later request; a failure leaves the WAL as it was.
        let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        shared.done.fetch_add(1, Ordering::AcqRel);
        shared.covered.store(covers, Ordering::Release);
    }
}
