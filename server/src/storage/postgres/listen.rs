//! Ticket changes committed by any instance, from PostgreSQL's LISTEN/NOTIFY.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fieldsync_core::workflow::Status;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use super::PostgresStorage;
use crate::storage::{StorageError, TicketNotice, i64_of, u64_of};

/// The channel ticket changes are notified on.
pub(super) const CHANNEL: &str = "fieldsync_tickets";

impl PostgresStorage {
    /// Starts listening for ticket changes committed by any instance: `on_change` is called
    /// (on a thread of its own) once per change, in commit order. Returns once the listener is
    /// subscribed, so every change committed after this returns is seen. A dropped
    /// connection is reopened, and the changes committed meanwhile are caught up from the
    /// ticket index (the latest change of each ticket). Dropping the [`Listener`] stops it.
    pub fn listen(&self, on_change: impl Fn(TicketNotice) + Send + 'static) -> Result<Listener, StorageError> {
        let config = self.pool.config.clone();
        let (client, last_seq) = subscribe(&config)?;
        let seen = Arc::clone(&self.seen_seq);
        let on_change = move |notice: TicketNotice| {
            seen.fetch_max(notice.seq, Ordering::Relaxed);
            on_change(notice);
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("fieldsync-pg-listen".into())
            .spawn(move || run_listener(config, client, last_seq, &stopping, &on_change))
            .map_err(|e| StorageError::Backend(format!("listener thread: {e}")))?;
        Ok(Listener { stop })
    }
}

/// How a notice travels as a NOTIFY payload.
impl TicketNotice {
    /// The payload after its sequence number, `" {status} {id}"`: the whole payload is
    /// `"{seq} {status} {id}"`, the sequence number put in front by the statement that takes it
    /// (`save_ticket`, which takes the number and notifies in one statement).
    pub(super) fn payload_after_seq(status: Status, id: &str) -> String {
        format!(" {} {id}", status.as_str())
    }

    fn parse(payload: &str) -> Option<TicketNotice> {
        let mut parts = payload.splitn(3, ' ');
        let seq = parts.next()?.parse().ok()?;
        let status = Status::parse(parts.next()?)?;
        Some(TicketNotice { id: parts.next()?.to_owned(), status, seq })
    }
}

/// Stops the listener thread when dropped.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A connection that listens, and the highest seq committed when it started to.
fn subscribe(config: &postgres::Config) -> Result<(Client, u64), StorageError> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    let seq: i64 = client.query_one("SELECT value FROM counters WHERE name = 'change_seq'", &[])?.get(0);
    Ok((client, u64_of(seq)))
}

fn run_listener(
    config: postgres::Config,
    mut client: Client,
    mut last_seq: u64,
    stop: &AtomicBool,
    on_change: &dyn Fn(TicketNotice),
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let next = client.notifications().timeout_iter(Duration::from_millis(250)).next();
        match next {
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                if let Some(notice) = TicketNotice::parse(notification.payload()) {
                    // A notice already caught up after a reconnect is not repeated.
                    if notice.seq > last_seq {
                        last_seq = notice.seq;
                        on_change(notice);
                    }
                }
                continue;
            }
            Ok(None) if !client.is_closed() => continue,
            Ok(None) | Err(_) => {}
        }
        // The connection broke: reconnect, then publish what was committed meanwhile.
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            let Ok((mut fresh, _)) = subscribe(&config) else { continue };
            let Ok(rows) = fresh.query(
                "SELECT id, status, changed_seq FROM tickets WHERE changed_seq > $1 ORDER BY changed_seq",
                &[&i64_of(last_seq)],
            ) else {
                continue;
            };
            for row in rows {
                let (id, status, seq): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
                if let Some(status) = Status::parse(&status) {
                    on_change(TicketNotice { id, status, seq: u64_of(seq) });
                }
                last_seq = last_seq.max(u64_of(seq));
            }
            client = fresh;
            break;
        }
    }
}
