//! The routing suggestion for a new ticket, as service practice has it: the engineer who last
//! served this customer, if their open load is under [`OPEN_LOAD_LIMIT`]; otherwise the
//! least-loaded engineer. The dispatcher may always pick someone else. Pure.

use std::collections::BTreeMap;

use fieldsync_core::workflow::Status;

use crate::storage::IndexRow;

/// An engineer with this many open tickets or more is not given a returning customer's job.
pub const OPEN_LOAD_LIMIT: usize = 4;

/// Tickets that are an engineer's open work: dispatched to them and not finished.
pub fn is_open_load(status: Status) -> bool {
    status == Status::Dispatched || status.is_active()
}

/// Open tickets per engineer (every engineer named, zero included).
pub fn open_loads(engineers: &[String], tickets: &[IndexRow]) -> BTreeMap<String, usize> {
    let mut loads: BTreeMap<String, usize> = engineers.iter().map(|e| (e.clone(), 0)).collect();
    for row in tickets.iter().filter(|row| is_open_load(row.status)) {
        if let Some(load) = row.assignee.as_ref().and_then(|a| loads.get_mut(a)) {
            *load += 1;
        }
    }
    loads
}

/// Whom to suggest, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// The engineer's user id.
    pub engineer: String,
    /// The reason, for the dispatcher.
    pub why: String,
}

fn same_customer(a: &str, b: &str) -> bool {
    let a = a.trim();
    !a.is_empty() && a.eq_ignore_ascii_case(b.trim())
}

/// The suggestion for a ticket of `customer`, given the engineers and every ticket's index row;
/// `None` when there are no engineers.
pub fn suggest(customer: &str, engineers: &[String], tickets: &[IndexRow]) -> Option<Suggestion> {
    let loads = open_loads(engineers, tickets);
    // The customer's most recent ticket that an engineer (still an engineer) worked on.
    let last = tickets
        .iter()
        .filter(|row| same_customer(customer, &row.customer_name))
        .filter_map(|row| {
            let engineer = row.assignee.as_ref().filter(|a| loads.contains_key(*a))?;
            Some((row.resolved_at.unwrap_or(row.updated_at), engineer))
        })
        .max();
    if let Some((_, engineer)) = last {
        let load = loads.get(engineer).copied().unwrap_or(0);
        if load < OPEN_LOAD_LIMIT {
            return Some(Suggestion {
                engineer: engineer.clone(),
                why: format!("last served {} ({load} open)", customer.trim()),
            });
        }
    }
    let (engineer, load) = loads.iter().min_by_key(|(id, load)| (**load, (*id).clone()))?;
    let why = match last {
        Some((_, regular)) => {
            format!("least loaded ({load} open); {regular}, who last served this customer, is at the limit")
        }
        None => format!("least loaded ({load} open)"),
    };
    Some(Suggestion { engineer: engineer.clone(), why })
}

#[cfg(test)]
mod tests {
    use fieldsync_core::model::TicketIndex;

    use super::*;

    fn row(id: &str, customer: &str, assignee: Option<&str>, status: Status, updated_at: i64) -> IndexRow {
        IndexRow {
            id: id.into(),
            index: TicketIndex {
                title: id.into(),
                status,
                assignee: assignee.map(str::to_owned),
                customer_name: customer.into(),
                ..Default::default()
            },
            updated_at,
            changed_seq: 0,
        }
    }

    fn engineers() -> Vec<String> {
        vec!["eli".into(), "fay".into(), "gus".into()]
    }

    #[test]
    fn the_engineer_who_last_served_the_customer_gets_it_under_the_limit() {
        let tickets = vec![
            row("1", "Hotel Amstel", Some("gus"), Status::Completed, 10),
            row("2", "Hotel Amstel", Some("fay"), Status::Completed, 20),
            row("3", "Other", Some("eli"), Status::Working, 30),
            row("4", "Other", Some("fay"), Status::Working, 30),
        ];
        let s = suggest(" hotel amstel ", &engineers(), &tickets).expect("a suggestion");
        assert_eq!(s.engineer, "fay", "the most recent one, not the first");
        assert!(s.why.contains("last served"), "{}", s.why);
    }

    #[test]
    fn at_the_limit_the_least_loaded_engineer_gets_it() {
        let mut tickets = vec![row("0", "Bakery", Some("fay"), Status::Completed, 5)];
        for n in 0..OPEN_LOAD_LIMIT {
            tickets.push(row(&format!("f{n}"), "X", Some("fay"), Status::Accepted, 10));
        }
        tickets.push(row("e", "X", Some("eli"), Status::Travelling, 10));
        // Final and rejected tickets are nobody's load.
        tickets.push(row("g1", "X", Some("gus"), Status::Completed, 10));
        tickets.push(row("g2", "X", Some("gus"), Status::Cancelled, 10));
        let s = suggest("Bakery", &engineers(), &tickets).expect("a suggestion");
        assert_eq!(s.engineer, "gus");
        assert!(s.why.contains("fay"), "says why the regular was passed over: {}", s.why);
        assert_eq!(open_loads(&engineers(), &tickets)["fay"], OPEN_LOAD_LIMIT);
    }

    #[test]
    fn a_new_customer_goes_to_the_least_loaded_and_ties_break_by_name() {
        let tickets = vec![row("1", "X", Some("eli"), Status::Dispatched, 1)];
        assert_eq!(suggest("New", &engineers(), &tickets).map(|s| s.engineer).as_deref(), Some("fay"));
        assert_eq!(suggest("New", &[], &tickets), None, "no engineers, no suggestion");
        // A former engineer (no longer listed) is not suggested.
        let gone = vec![row("1", "Y", Some("old"), Status::Completed, 1)];
        assert_eq!(suggest("Y", &engineers(), &gone).map(|s| s.engineer).as_deref(), Some("eli"));
    }
}
