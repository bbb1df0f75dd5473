//! Every grouping the reports read, folded from the index's rows in one pass (docs/adr/0024):
//! one scan of the window instead of a `GROUP BY` scan per grouping.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;

use super::{DAY, Inputs};
use crate::storage::statistics::{AgedTicket, TicketFigures};

/// Counts and sums for one group of tickets created in a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The group's key (see [`Tallies`]); "" for none.
    pub key: String,
    /// A readable name for the key (the customer's name when grouped by customer).
    pub label: String,
    /// Tickets.
    pub tickets: i64,
    /// Of which not completed or cancelled.
    pub open: i64,
    /// Of which with a first response (acceptance) at or after creation.
    pub responded: i64,
    /// Sum over those of creation → first response, ms.
    pub response_ms: i64,
    /// Tickets whose first-time-fix outcome is known (a revisit judged it).
    pub ftf_known: i64,
    /// Of which fixed the first time.
    pub ftf_fixed: i64,
    /// Tickets revisited.
    pub revisited: i64,
    /// Tickets whose revisit is due and not done.
    pub revisit_due: i64,
    /// Complaints.
    pub complaints: i64,
    /// Tickets of type "bug".
    pub bugs: i64,
    /// Completed tickets.
    pub completed: i64,
    /// Minutes of time recorded (time entries).
    pub minutes: i64,
    /// Part lines recorded.
    pub parts_lines: i64,
    /// Parts used, quantities summed.
    pub parts_quantity: i64,
    /// Reassignments (events), summed over the tickets.
    pub reassignments: i64,
    /// Rejections (events), summed over the tickets.
    pub rejections: i64,
}

impl Tally {
    /// One ticket's counts (no key).
    pub fn of(t: &TicketFigures<'_>) -> Tally {
        let responded = t.responded_at.filter(|&at| at >= t.created_at);
        // The workflow says which statuses are final (ADR 0007); an unknown one counts as open.
        let status = Status::parse(t.status);
        Tally {
            tickets: 1,
            open: i64::from(!status.is_some_and(Status::is_final)),
            responded: i64::from(responded.is_some()),
            response_ms: responded.map_or(0, |at| at - t.created_at),
            ftf_known: i64::from(t.first_time_fix.is_some()),
            ftf_fixed: i64::from(t.first_time_fix == Some(true)),
            revisited: i64::from(t.revisited_at.is_some()),
            revisit_due: i64::from(t.revisit_due_at.is_some() && t.revisited_at.is_none()),
            complaints: i64::from(t.complaint),
            bugs: i64::from(t.ticket_type.eq_ignore_ascii_case("bug")),
            completed: i64::from(status == Some(Status::Completed)),
            minutes: t.minutes_worked,
            parts_lines: t.parts_lines,
            parts_quantity: t.parts_quantity,
            reassignments: t.reassigned_count,
            rejections: t.rejected_count,
            ..Tally::default()
        }
    }

    /// Adds `t`'s counts and sums to these.
    pub fn add(&mut self, t: &Tally) {
        self.tickets += t.tickets;
        self.open += t.open;
        self.responded += t.responded;
        self.response_ms += t.response_ms;
        self.ftf_known += t.ftf_known;
        self.ftf_fixed += t.ftf_fixed;
        self.revisited += t.revisited;
        self.revisit_due += t.revisit_due;
        self.complaints += t.complaints;
        self.bugs += t.bugs;
        self.completed += t.completed;
        self.minutes += t.minutes;
        self.parts_lines += t.parts_lines;
        self.parts_quantity += t.parts_quantity;
        self.reassignments += t.reassignments;
        self.rejections += t.rejections;
    }
}

/// FNV-1a: the fold hashes ten short keys per row, and SipHash's resistance to chosen keys is
/// not needed for grouping the organisation's own index values.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Groups by key. A labelled group's label is the greatest seen (by bytes), so the result does
/// not depend on the order rows arrive in; other groups are labelled with their key.
#[derive(Debug, Default)]
struct Groups(FnvMap<String, Tally>);

impl Groups {
    /// Counts `one` in the group `key` (labelled with its key).
    fn add(&mut self, key: &str, one: &Tally) {
        // Looked up by `&str` first: a key is allocated once per group, not once per row.
        match self.0.get_mut(key) {
            Some(group) => group.add(one),
            None => self.insert(key, key, one),
        }
    }

    /// Counts `one` in the group `key`, whose label is then at least `label`.
    fn add_labelled(&mut self, key: &str, label: &str, one: &Tally) {
        match self.0.get_mut(key) {
            Some(group) => {
                group.add(one);
                if label > group.label.as_str() {
                    label.clone_into(&mut group.label);
                }
            }
            None => self.insert(key, label, one),
        }
    }

    fn insert(&mut self, key: &str, label: &str, one: &Tally) {
        let mut group = Tally { key: key.to_owned(), label: label.to_owned(), ..Tally::default() };
        group.add(one);
        self.0.insert(key.to_owned(), group);
    }

    /// The groups, by key.
    fn into_sorted(self) -> Vec<Tally> {
        let mut groups: Vec<Tally> = self.0.into_values().collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        groups
    }
}

/// Every grouping of the tickets created in a window, folded from their rows in one pass.
#[derive(Debug, Default)]
pub struct Tallies {
    utc_offset_ms: i64,
    by_type: Groups,
    by_product: Groups,
    by_module: Groups,
    by_customer: Groups,
    by_engineer: Groups,
    rejected_by: Groups,
    reassigned_from: Groups,
    by_day: FnvMap<i64, Tally>,
    complaint_levels: Groups,
    complaint_products: Groups,
    /// The `product / module` key being built (reused, not allocated per row).
    module_key: String,
}

impl Tallies {
    /// No tickets yet; days are cut at `utc_offset_ms` (the organisation's zone).
    pub fn new(utc_offset_ms: i64) -> Tallies {
        Tallies { utc_offset_ms, ..Tallies::default() }
    }

    /// Counts one ticket in every grouping it belongs to.
    pub fn add(&mut self, t: &TicketFigures<'_>) {
        let one = Tally::of(t);
        self.by_type.add(t.ticket_type, &one);
        self.by_product.add(t.product, &one);
        self.module_key.clear();
        if !t.module.is_empty() {
            self.module_key.push_str(t.product);
            self.module_key.push_str(" / ");
            self.module_key.push_str(t.module);
        }
        self.by_module.add_labelled(&self.module_key, t.module, &one);
        self.by_customer.add_labelled(t.customer_id, t.customer_name, &one);
        self.by_engineer.add(t.assignee, &one);
        if !t.rejected_by.is_empty() {
            self.rejected_by.add(t.rejected_by, &one);
        }
        if !t.reassigned_from.is_empty() {
            self.reassigned_from.add(t.reassigned_from, &one);
        }
        let day = (t.created_at + self.utc_offset_ms).div_euclid(DAY);
        self.by_day.entry(day).or_default().add(&one);
        if t.complaint {
            self.complaint_levels.add(t.complaint_level, &one);
            self.complaint_products.add(t.complaint_product, &one);
        }
    }

    /// The reports' inputs: these groupings beside the ageing list, ages measured to `now`.
    pub fn into_inputs(self, oldest_open: Vec<AgedTicket>, open_total: i64, now: Millis) -> Inputs {
        let mut by_day: Vec<(i64, Tally)> = self.by_day.into_iter().collect();
        by_day.sort_by_key(|(day, _)| *day);
        Inputs {
            by_type: self.by_type.into_sorted(),
            by_product: self.by_product.into_sorted(),
            by_module: self.by_module.into_sorted(),
            by_customer: self.by_customer.into_sorted(),
            by_engineer: self.by_engineer.into_sorted(),
            rejected_by: self.rejected_by.into_sorted(),
            reassigned_from: self.reassigned_from.into_sorted(),
            by_day: by_day.into_iter().map(|(day, t)| Tally { key: day.to_string(), ..t }).collect(),
            complaint_levels: self.complaint_levels.into_sorted(),
            complaint_products: self.complaint_products.into_sorted(),
            oldest_open,
            open_total,
            now,
        }
    }
}

#[cfg(test)]
mod tests;
