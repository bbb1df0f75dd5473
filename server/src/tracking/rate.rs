//! Fixed-window request counters per key (a token, an IP address), in memory per instance.
//!
//! Several instances behind a load balancer each count on their own, so the effective limit
//! is at most the limit times the instances: enough against a guesser or a spammer, which is
//! what these are for (docs/adr/0012).

use std::collections::HashMap;
use std::sync::Mutex;

use fieldsync_core::time::Millis;

/// Keys kept at most; beyond, windows that have ended are dropped (and, if still full, all).
const MAX_KEYS: usize = 100_000;

/// Counts per key in windows of `window_ms`.
#[derive(Debug)]
pub(crate) struct Limiter {
    window_ms: Millis,
    counts: Mutex<HashMap<String, (Millis, u32)>>,
}

impl Limiter {
    pub(crate) fn new(window_ms: Millis) -> Limiter {
        Limiter { window_ms: window_ms.max(1), counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one request of `key` at `now`: `Ok` while the window holds at most `limit`, else
    /// the milliseconds until the window ends.
    pub(crate) fn hit(&self, key: &str, limit: u32, now: Millis) -> Result<(), Millis> {
        // The map holds no invariant a panic could break halfway.
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            let window = self.window_ms;
            counts.retain(|_, (start, _)| now - *start < window);
            if counts.len() >= MAX_KEYS {
                counts.clear();
            }
        }
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= self.window_ms {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > limit { Err(self.window_ms - (now - entry.0)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_per_window() {
        let limiter = Limiter::new(1_000);
        assert!(limiter.hit("a", 2, 0).is_ok() && limiter.hit("a", 2, 10).is_ok());
        assert_eq!(limiter.hit("a", 2, 20), Err(980));
        assert!(limiter.hit("b", 2, 20).is_ok(), "per key");
        assert!(limiter.hit("a", 2, 1_000).is_ok(), "a new window");
    }
}
