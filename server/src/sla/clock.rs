//! How an SLA deadline reads at a given moment: the board's clock and the detail page's
//! milestones. Pure.

use fieldsync_core::model::{Milestones, Sla};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;

const MINUTE: Millis = 60_000;
#[cfg(test)]
const HOUR: Millis = 60 * MINUTE;

/// How an SLA clock reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// No running deadline (none set, all met, or the ticket is final).
    Idle,
    /// More than [`SOON`] left.
    Ok,
    /// Less than [`SOON`] left.
    Soon,
    /// Past the deadline.
    Overdue,
}

/// Under this much time left, a clock turns amber.
pub const SOON: Millis = 30 * MINUTE;

/// An SLA clock at a moment: its state, and the text shown ("1h 05m left", "overdue 12m").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// State (drives the colour).
    pub state: ClockState,
    /// Text for people.
    pub text: String,
}

impl ClockState {
    /// The CSS class of the state.
    pub fn class(self) -> &'static str {
        match self {
            ClockState::Idle => "sla-idle",
            ClockState::Ok => "sla-ok",
            ClockState::Soon => "sla-soon",
            ClockState::Overdue => "sla-overdue",
        }
    }
}

/// The clock of the earliest unmet deadline (`sla_due_at` of the index row) at `now`.
pub fn clock(sla_due_at: Option<Millis>, status: Status, now: Millis) -> Clock {
    let Some(due) = sla_due_at.filter(|_| !status.is_final()) else {
        return Clock { state: ClockState::Idle, text: "—".into() };
    };
    let left = due - now;
    if left < 0 {
        Clock { state: ClockState::Overdue, text: format!("overdue {}", duration(-left)) }
    } else if left < SOON {
        Clock { state: ClockState::Soon, text: format!("{} left", duration(left)) }
    } else {
        Clock { state: ClockState::Ok, text: format!("{} left", duration(left)) }
    }
}

/// A duration for people: "45s", "12m", "1h 05m", "3d 4h".
pub fn duration(ms: Millis) -> String {
    let ms = ms.max(0);
    let minutes = ms / MINUTE;
    if minutes == 0 {
        format!("{}s", ms / 1000)
    } else if minutes < 60 {
        format!("{minutes}m")
    } else if minutes < 24 * 60 {
        format!("{}h {:02}m", minutes / 60, minutes % 60)
    } else {
        format!("{}d {}h", minutes / (24 * 60), (minutes / 60) % 24)
    }
}

/// One SLA milestone of a ticket as the detail page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MilestoneView {
    /// "respond", "arrive", "resolve".
    pub name: &'static str,
    /// The deadline, if set.
    pub deadline: Option<Millis>,
    /// When it was met, if it was.
    pub met_at: Option<Millis>,
    /// "met", "met late", "due", "breached", "no deadline", "cancelled".
    pub verdict: &'static str,
    /// Whether the deadline was (or is) missed.
    pub breached: bool,
}

/// The three milestones (respond, arrive, resolve) judged at `now`.
pub fn milestones(sla: &Sla, met: &Milestones, status: Status, now: Millis) -> [MilestoneView; 3] {
    let judge = |name, deadline: Option<Millis>, met_at: Option<Millis>| {
        let (verdict, breached) = match (deadline, met_at) {
            (Some(deadline), Some(at)) if at > deadline => ("met late", true),
            (_, Some(_)) => ("met", false),
            (None, None) => ("no deadline", false),
            (Some(_), None) if status == Status::Cancelled => ("cancelled", false),
            (Some(deadline), None) if now > deadline => ("breached", true),
            (Some(_), None) => ("due", false),
        };
        MilestoneView { name, deadline, met_at, verdict, breached }
    };
    [
        judge("respond", sla.respond_by, met.responded_at),
        judge("arrive", sla.arrive_by, met.arrived_at),
        judge("resolve", sla.resolve_by, met.resolved_at),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_time_left_soon_and_overdue() {
        let now = 10 * HOUR;
        assert_eq!(clock(None, Status::Dispatched, now).state, ClockState::Idle);
        let ok = clock(Some(now + HOUR + 5 * MINUTE), Status::Dispatched, now);
        assert_eq!((ok.state, ok.text.as_str()), (ClockState::Ok, "1h 05m left"));
        let soon = clock(Some(now + 12 * MINUTE), Status::Accepted, now);
        assert_eq!((soon.state, soon.text.as_str()), (ClockState::Soon, "12m left"));
        let late = clock(Some(now - 3 * MINUTE), Status::Working, now);
        assert_eq!((late.state, late.text.as_str()), (ClockState::Overdue, "overdue 3m"));
        assert_eq!(clock(Some(now - HOUR), Status::Completed, now).state, ClockState::Idle, "final tickets stop");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(59 * MINUTE), "59m");
        assert_eq!(duration(26 * HOUR + 30 * MINUTE), "1d 2h");
    }

    #[test]
    fn milestones_are_met_late_breached_or_due() {
        let sla = Sla { respond_by: Some(100), arrive_by: Some(200), resolve_by: Some(300) };
        let met = Milestones { responded_at: Some(90), arrived_at: Some(250), resolved_at: None };
        let [respond, arrive, resolve] = milestones(&sla, &met, Status::Working, 250);
        assert_eq!((respond.verdict, respond.breached), ("met", false));
        assert_eq!((arrive.verdict, arrive.breached), ("met late", true));
        assert_eq!((resolve.verdict, resolve.breached), ("due", false));
        let [.., resolve] = milestones(&sla, &met, Status::Working, 301);
        assert_eq!((resolve.verdict, resolve.breached), ("breached", true));
        let [.., resolve] = milestones(&sla, &met, Status::Cancelled, 301);
        assert_eq!((resolve.verdict, resolve.breached), ("cancelled", false));
        let [respond, ..] = milestones(&Sla::default(), &Milestones::default(), Status::New, 0);
        assert_eq!(respond.verdict, "no deadline");
    }
}
