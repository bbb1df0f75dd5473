//! Time: every timestamp in fieldsync is UTC milliseconds since the Unix epoch.
//!
//! Whatever stamps a record — a device's action, a sync, the server's receive time, an SLA
//! clock — reads it from a [`Clock`] owned by the client or server instance doing the work
//! (docs/adr/0029). The default is the system clock; a [`ManualClock`] lets the demo build its
//! history in the past and tests move time without sleeping, without any global state that
//! instances running side by side could trip over.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// UTC milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in UTC milliseconds, from the system clock. Code that stamps records reads
/// its instance's [`Clock`] instead.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Formats UTC milliseconds as RFC 3339 (for people and logs), or the raw number when out of range.
pub fn to_rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Where an instance reads "now": the system clock (the default), or the time a
/// [`ManualClock`] was set to. Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

/// A manual clock's value while it follows the system clock.
const FOLLOWS_SYSTEM: Millis = Millis::MIN;

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Now, UTC ms.
    pub fn now(&self) -> Millis {
        match &self.manual {
            Some(at) => match at.load(Ordering::SeqCst) {
                FOLLOWS_SYSTEM => now_ms(),
                at => at,
            },
            None => now_ms(),
        }
    }

    /// Whether this clock is (or may be set away from) the system clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock(system)"),
            Some(_) => write!(f, "Clock(manual, {})", to_rfc3339(self.now())),
        }
    }
}

/// A clock that stands where it is set until it is set again or moved, for the demo's history
/// and for tests. [`ManualClock::clock`] hands out the [`Clock`] instances read.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn at(at: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(at.max(FOLLOWS_SYSTEM + 1))))
    }

    /// The clock to give clients and servers: it reads this one.
    pub fn clock(&self) -> Clock {
        Clock { manual: Some(self.0.clone()) }
    }

    /// Now, as this clock reads it.
    pub fn now(&self) -> Millis {
        self.clock().now()
    }

    /// Sets the clock to `at`; it stands there.
    pub fn set(&self, at: Millis) {
        self.0.store(at.max(FOLLOWS_SYSTEM + 1), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` ms (from the system time if it was following it).
    pub fn advance(&self, by: Millis) {
        self.set(self.now().saturating_add(by));
    }

    /// From now on the clock reads the system clock again (and moves with it).
    pub fn follow_system(&self) {
        self.0.store(FOLLOWS_SYSTEM, Ordering::SeqCst);
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.clock(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_clock_is_the_system_clock() {
        let before = now_ms();
        let read = Clock::default().now();
        let after = now_ms();
        assert!(before <= read && read <= after, "{before} <= {read} <= {after}");
        assert!(!Clock::default().is_manual());
    }

    #[test]
    fn a_manual_clock_stands_where_it_is_set_and_its_clones_share_it() {
        let manual = ManualClock::at(1_000);
        let clock = manual.clock();
        assert_eq!(clock.now(), 1_000);
        assert_eq!(clock.now(), 1_000, "it does not move by itself");
        manual.advance(500);
        assert_eq!(clock.clone().now(), 1_500);
        manual.set(42);
        assert_eq!(clock.now(), 42);
    }

    #[test]
    fn a_manual_clock_can_go_back_to_the_system_time() {
        let manual = ManualClock::at(1_000);
        manual.follow_system();
        let before = now_ms();
        let read = manual.clock().now();
        assert!(read >= before, "{read} follows the system clock");
    }
}
