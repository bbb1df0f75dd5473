//! Lifecycle plumbing (issue 14, Deliver 5; docs/adr/0021): cancelling a call from Swift, the
//! bounded background sync's outcome, and tying a spawned task to the foreign future awaiting
//! it. The deciding is the core's ([`fieldsync_core::sync::SyncEngine::sync_once`],
//! [`fieldsync_core::sync::SyncEngine::close`]).

use std::future::Future;
use std::sync::Arc;

use fieldsync_core::sync::{SyncError, SyncOnce};
use tokio::sync::watch;

use crate::error::{FieldsyncError, SyncFailureKind};
use crate::types::SyncReport;

/// Cancels the call it is given to (`sync_now`, `sync_once`): the Swift layer cancels it from a
/// task's cancellation handler, since Swift's generated async calls do not drop the Rust
/// future when their task is cancelled. (Kotlin needs none: a cancelled coroutine frees it.)
#[derive(uniffi::Object)]
pub struct Cancellation {
    cancelled: watch::Sender<bool>,
}

#[uniffi::export]
impl Cancellation {
    /// A cancellation not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Cancellation { cancelled: watch::channel(false).0 })
    }

    /// Cancels the calls given this cancellation: they stop at their next step.
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }

    /// Whether [`Cancellation::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }
}

/// What a bounded background sync came to, shaped for WorkManager (`Result.success()` /
/// `retry()` / `failure()`) and BGTaskScheduler (`setTaskCompleted(success:)`, and when to ask
/// for the next run).
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum SyncOutcome {
    /// Everything went both ways.
    Synced {
        /// What moved.
        report: SyncReport,
    },
    /// Not finished for a reason that passes by itself (network, server busy, out of time,
    /// uploads cut short): try again later.
    Retry {
        /// What kind of failure.
        kind: SyncFailureKind,
        /// What failed, for logs.
        reason: String,
    },
    /// Retrying will not help until something changes: sign in again (`needs_sign_in`), a
    /// certificate to trust, a closed client.
    Failed {
        /// What kind of failure.
        kind: SyncFailureKind,
        /// What failed, for logs.
        reason: String,
        /// The user must sign in again before sync can work.
        needs_sign_in: bool,
    },
}

impl From<SyncOnce> for SyncOutcome {
    fn from(outcome: SyncOnce) -> Self {
        match outcome {
            SyncOnce::Synced(report) => SyncOutcome::Synced { report: report.into() },
            SyncOnce::Retry(e) => {
                let (kind, reason) = kind_and_reason(e);
                SyncOutcome::Retry { kind, reason }
            }
            SyncOnce::Failed(e) => {
                let (kind, reason) = kind_and_reason(e);
                SyncOutcome::Failed { kind, reason, needs_sign_in: kind.needs_sign_in() }
            }
        }
    }
}

fn kind_and_reason(e: SyncError) -> (SyncFailureKind, String) {
    let e = FieldsyncError::from(e);
    (e.sync_failure_kind(), e.to_string())
}

/// Runs `work` on the library's runtime until it ends, `cancellation` is cancelled
/// ([`FieldsyncError::Cancelled`]) or the returned future is dropped (a Kotlin coroutine
/// cancelled: uniffi frees the future): the task stops with it, it does not run on unheard.
pub(crate) async fn cancellable<T: Send + 'static>(
    cancellation: Option<Arc<Cancellation>>,
    work: impl Future<Output = Result<T, FieldsyncError>> + Send + 'static,
) -> Result<T, FieldsyncError> {
    let mut task = AbortOnDrop(crate::runtime()?.spawn(work));
    let mut cancelled = match &cancellation {
        Some(c) => c.cancelled.subscribe(),
        None => watch::channel(false).1,
    };
    // `false` when nobody can cancel (no cancellation given): that branch is then disabled.
    let asked = async move { cancelled.wait_for(|cancelled| *cancelled).await.is_ok() };
    tokio::select! {
        joined = &mut task.0 => joined?,
        true = asked => {
            // Returns once the work has stopped (dropped at its next await), not merely asked to.
            task.0.abort();
            let _ = (&mut task.0).await;
            Err(FieldsyncError::Cancelled)
        }
    }
}

/// A spawned task aborted when this handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<Result<T, FieldsyncError>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
