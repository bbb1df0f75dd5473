//! Revisits (回访, docs/adr/0019), pure: which completed jobs are due a call back and in what
//! order, and the first-time-fix rate. The workflow decides what a revisit does to a ticket
//! (`fieldsync_core::workflow`: `revisited`, or a revisit's `reopened`) and keeps each ticket's
//! verdict; this module reads those verdicts across tickets. The console renders what it gives.

use fieldsync_core::time::Millis;

/// Where a due revisit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisitState {
    /// Its target has not passed yet.
    Due,
    /// Its target has passed: the customer waits for the call.
    Overdue,
}

impl RevisitState {
    /// The state of a revisit due at `due_at`, read at `now`.
    pub fn at(due_at: Millis, now: Millis) -> RevisitState {
        if now > due_at { RevisitState::Overdue } else { RevisitState::Due }
    }

    /// The name CSS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RevisitState::Due => "due",
            RevisitState::Overdue => "overdue",
        }
    }

    /// The words pages show.
    pub fn label(self) -> &'static str {
        match self {
            RevisitState::Due => "to call",
            RevisitState::Overdue => "overdue",
        }
    }
}

/// The revisit queue: every item with a due time, the oldest due first (the longest waiting
/// customer on top), ties by the order given; each with its state at `now`.
pub fn queue<T>(items: Vec<T>, due_at: impl Fn(&T) -> Option<Millis>, now: Millis) -> Vec<(T, Millis, RevisitState)> {
    let mut due: Vec<(T, Millis, RevisitState)> = items
        .into_iter()
        .filter_map(|item| {
            let at = due_at(&item)?;
            Some((item, at, RevisitState::at(at, now)))
        })
        .collect();
    due.sort_by_key(|(_, at, _)| *at);
    due
}

/// The first-time-fix figures over revisited tickets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FirstTimeFix {
    /// Tickets revisited at least once.
    pub revisited: u64,
    /// Of those, the ones whose first revisit confirmed the fix with no reopen before it.
    pub fixed_first_time: u64,
}

impl FirstTimeFix {
    /// Counts the verdicts of each ticket's first revisit (`None`: not revisited, left out).
    pub fn of(verdicts: impl IntoIterator<Item = Option<bool>>) -> FirstTimeFix {
        let mut figures = FirstTimeFix::default();
        for verdict in verdicts.into_iter().flatten() {
            figures.revisited += 1;
            figures.fixed_first_time += u64::from(verdict);
        }
        figures
    }

    /// fixed first time / revisited, in percent; `None` while nothing was revisited.
    pub fn rate_percent(&self) -> Option<f64> {
        (self.revisited > 0).then(|| self.fixed_first_time as f64 * 100.0 / self.revisited as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_puts_the_oldest_due_first_and_marks_what_is_overdue() {
        let items = vec![("late", Some(300)), ("none", None), ("oldest", Some(100)), ("soon", Some(900))];
        let queued = queue(items, |(_, due)| *due, 500);
        let order: Vec<(&str, RevisitState)> = queued.iter().map(|((name, _), _, state)| (*name, *state)).collect();
        assert_eq!(
            order,
            [("oldest", RevisitState::Overdue), ("late", RevisitState::Overdue), ("soon", RevisitState::Due)]
        );
        assert_eq!(RevisitState::at(500, 500), RevisitState::Due, "due until the moment passes");
    }

    #[test]
    fn first_time_fix_counts_only_revisited_tickets() {
        let figures = FirstTimeFix::of([Some(true), None, Some(false), Some(true), Some(true), None]);
        assert_eq!(figures, FirstTimeFix { revisited: 4, fixed_first_time: 3 });
        assert_eq!(figures.rate_percent(), Some(75.0));
        assert_eq!(FirstTimeFix::of([None, None]).rate_percent(), None, "no revisits, no rate");
    }
}
