//! The library's log for apps (issue 14, Deliver 6; docs/adr/0021): the core emits `tracing`
//! events — sync attempts and outcomes, rejections, evictions, uploads — and [`set_logger`]
//! hands those of the library (targets `fieldsync…`) at or above a level to one sink the app
//! installs (the FFI's `setLogger`; Logcat / java.util.logging, OSLog in the wrappers).
//!
//! What is logged at `Info` and above carries no personal data: ticket ids, counts, sizes,
//! durations, kinds of failure and the server's reasons, never a title, note, customer name,
//! address or user name. A Rust program with its own `tracing` subscriber keeps it: the sink is
//! installed only where no global subscriber is.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// How much to log, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// A failure the app should know of.
    Error,
    /// Something went wrong and will be retried, or was refused.
    Warn,
    /// What sync did: attempts, outcomes, rejections, uploads.
    Info,
    /// Each round trip and upload chunk.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

type Sink = Arc<dyn Fn(LogLevel, &str, &str) + Send + Sync>;

static SINK: RwLock<Option<(LogLevel, Sink)>> = RwLock::new(None);
static INSTALL: Once = Once::new();

thread_local! {
    /// Set while a sink runs: a sink that calls back into the library does not log again.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends the library's log lines at `level` and above to `sink` (level, target, message),
/// replacing any sink before. Called on the thread that logs (the library's): keep it quick.
pub fn set_logger(level: LogLevel, sink: impl Fn(LogLevel, &str, &str) + Send + Sync + 'static) {
    INSTALL.call_once(|| {
        // Fails when the program has a subscriber of its own: then that one sees our events.
        let _ = tracing::subscriber::set_global_default(Forwarder);
    });
    let mut slot = SINK.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some((level, Arc::new(sink)));
}

/// Stops sending log lines anywhere.
pub fn clear_logger() {
    let mut slot = SINK.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = None;
}

fn sink_for(level: LogLevel) -> Option<Sink> {
    let slot = SINK.read().ok()?;
    let (max, sink) = slot.as_ref()?;
    (level <= *max).then(|| sink.clone())
}

/// Hands events of the library's targets to the sink; spans are not used.
struct Forwarder;

impl Subscriber for Forwarder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target().starts_with("fieldsync") { Interest::sometimes() } else { Interest::never() }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("fieldsync") && sink_for(LogLevel::of(metadata.level())).is_some()
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let level = LogLevel::of(metadata.level());
        let Some(sink) = sink_for(level) else { return };
        if IN_SINK.with(Cell::get) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        IN_SINK.with(|flag| flag.set(true));
        // A sink that panics loses its line, not the sync that logged it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(level, metadata.target(), &line.text)));
        IN_SINK.with(|flag| flag.set(false));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The message, then `name=value` for every other field.
#[derive(Default)]
struct Line {
    text: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.text.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn library_events_reach_the_sink_at_its_level_and_others_do_not() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        set_logger(LogLevel::Info, move |level, target, message| {
            seen.lock().expect("lines").push((level, target.to_owned(), message.to_owned()));
        });
        tracing::info!(target: "fieldsync::logging_test", pushed = 2, "sync done");
        tracing::debug!(target: "fieldsync::logging_test", "too detailed");
        tracing::info!(target: "someone_else", "not ours");
        tracing::warn!(target: "fieldsync::logging_test", kind = "network", "sync failed");
        clear_logger();
        tracing::error!(target: "fieldsync::logging_test", "after clearing");
        // Other tests of this process may log meanwhile: only this test's target counts.
        let lines: Vec<_> = lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|(_, target, _)| target == "fieldsync::logging_test")
            .cloned()
            .collect();
        assert_eq!(
            lines,
            vec![
                (LogLevel::Info, "fieldsync::logging_test".to_owned(), "sync done pushed=2".to_owned()),
                (LogLevel::Warn, "fieldsync::logging_test".to_owned(), "sync failed kind=network".to_owned()),
            ]
        );
    }
}
