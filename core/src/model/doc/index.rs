//! The ticket index: which fields lists, sync decisions and statistics read without loading a
//! document, their columns, and how each is computed from the document — all here
//! (docs/adr/0025). Adding a listed field is a line in [`ticket_index!`], a line in
//! [`TicketIndex::of`] and a migration per database.

use automerge::Automerge;

use super::{
    Fields, customer_rating, is_complaint, is_escalated, key, milestones, read_classification, read_complaint_level,
    read_complaint_unit, read_customer, read_priority, read_revisit_after, read_sla, records, revisit_due_at, root,
    sla_due_at,
};
use crate::model::columns::ticket_index;
use crate::model::{Priority, Sla};
use crate::time::Millis;
use crate::workflow::{Derived, Status};

/// Bump when a field's computation changes without a column being added: every store then
/// reindexes its tickets from their documents when it next opens.
pub const INDEX_REVISION: u32 = 1;

/// Root keys of a ticket document that neither [`TicketIndex::of`] nor the derived state reads
/// (the workflow folds `events` only): a write that changes nothing but these leaves the index
/// and the state as they were, and the server reuses them instead of reading the document again
/// (docs/adr/0026). A listed field that comes to read one of these takes it off this list.
pub const INDEX_NEUTRAL_KEYS: [&str; 4] = [key::NOTES, key::PHOTOS, key::CHECKLIST, key::SIGNATURE];

ticket_index! {
    /// Title.
    title: String => ["title"],
    /// Derived status.
    status: Status => ["status"],
    /// Derived assignee.
    assignee: Option<String> => ["assignee"],
    /// Priority.
    priority: Priority => ["priority"],
    /// Ticket type (the classification's `type`; empty when unclassified).
    ticket_type: String => ["ticket_type"],
    /// Customer name.
    customer_name: String => ["customer_name"],
    /// Customer address.
    customer_address: String => ["customer_address"],
    /// Deadlines.
    sla: Sla => ["respond_by", "arrive_by", "resolve_by"],
    /// The earliest deadline not yet met (none once all are met or the ticket is cancelled).
    sla_due_at: Option<Millis> => ["sla_due_at"],
    /// Number of refused events.
    conflicts: u32 => ["conflicts"],
    /// When the ticket was completed (the `resolved_at` milestone), if it is.
    resolved_at: Option<Millis> => ["resolved_at"],
    /// Whether the server has escalated the ticket (docs/adr/0014).
    escalated: bool => ["escalated"],
    /// The customer record the ticket is for (empty: none; docs/adr/0018).
    customer_id: String => ["customer_id"],
    /// The record's site it is at (empty: none).
    site_id: String => ["site_id"],
    /// When the ticket was created (`None` if the document does not say).
    created_at: Option<Millis> => ["created_at"],
    /// The `responded_at` milestone: first acceptance since the last dispatch.
    responded_at: Option<Millis> => ["responded_at"],
    /// The `arrived_at` milestone: first check-in since the last dispatch.
    arrived_at: Option<Millis> => ["arrived_at"],
    /// When the revisit call is due: completed, not yet revisited, and a revisit target was
    /// set (docs/adr/0019).
    revisit_due_at: Option<Millis> => ["revisit_due_at"],
    /// When the completed job was revisited and confirmed fixed.
    revisited_at: Option<Millis> => ["revisited_at"],
    /// The first revisit's verdict: fixed at the first visit, or not; `None` until revisited.
    first_time_fix: Option<bool> => ["first_time_fix"],
    /// The customer's own rating from the tracking page, once given.
    customer_rating: Option<u8> => ["customer_rating"],
    /// Whether the ticket is (or was filed as) a complaint (docs/adr/0019).
    complaint: bool => ["complaint"],
    /// A complaint's level ("" until set); the complaint fields are empty on other tickets.
    complaint_level: String => ["complaint_level"],
    /// The organisation unit a complaint concerns.
    complaint_unit: String => ["complaint_unit"],
    /// A complaint's product (its classification's).
    complaint_product: String => ["complaint_product"],
    /// A complaint's customer tier.
    complaint_tier: String => ["complaint_tier"],
    /// The product concerned (the classification's; empty when unclassified).
    product: String => ["product"],
    /// The product's module.
    module: String => ["module"],
    /// Minutes of time recorded on the ticket (every time entry not voided by the server).
    minutes_worked: u32 => ["minutes_worked"],
    /// Part lines recorded (not voided).
    parts_lines: u32 => ["parts_lines"],
    /// The parts' quantities summed.
    parts_quantity: u32 => ["parts_quantity"],
    /// How many times the ticket was reassigned (`reassigned` events).
    reassigned_count: u32 => ["reassigned_count"],
    /// Who it was last reassigned away from ("" if never).
    reassigned_from: String => ["reassigned_from"],
    /// How many times an engineer gave it back (`rejected` events).
    rejected_count: u32 => ["rejected_count"],
    /// Who last gave it back ("" if nobody did).
    rejected_by: String => ["rejected_by"],
}

impl TicketIndex {
    /// The index of a ticket document whose history `derived` folds: the one place each
    /// listed field is computed.
    pub fn of(doc: &Automerge, derived: &Derived) -> TicketIndex {
        let state = &derived.state;
        let customer = read_customer(doc);
        let classification = read_classification(doc);
        let sla = read_sla(doc);
        let complaint = is_complaint(doc);
        let only_complaint = |value: String| if complaint { value } else { String::new() };
        let handovers = Handovers::of(doc);
        TicketIndex {
            title: root(doc).string(key::TITLE),
            status: state.status,
            assignee: state.assignee.clone(),
            priority: read_priority(doc),
            ticket_type: classification.ticket_type.clone(),
            customer_name: customer.name,
            customer_address: customer.address,
            sla,
            sla_due_at: sla_due_at(&sla, state.status, &milestones(derived)),
            conflicts: u32::try_from(derived.conflicts.len()).unwrap_or(u32::MAX),
            resolved_at: state.resolved_at,
            escalated: is_escalated(doc),
            customer_id: customer.id,
            site_id: customer.site_id,
            created_at: super::created_at(doc),
            responded_at: state.responded_at,
            arrived_at: state.arrived_at,
            revisit_due_at: revisit_due_at(
                state.status,
                state.resolved_at,
                state.revisited_at,
                read_revisit_after(doc),
            ),
            revisited_at: state.revisited_at,
            first_time_fix: state.first_time_fix,
            customer_rating: customer_rating(doc),
            complaint,
            complaint_level: only_complaint(
                read_complaint_level(doc).map(|l| l.as_str().to_owned()).unwrap_or_default(),
            ),
            complaint_unit: only_complaint(read_complaint_unit(doc)),
            complaint_product: only_complaint(classification.product.clone()),
            complaint_tier: only_complaint(customer.tier),
            product: classification.product,
            module: classification.module,
            minutes_worked: sum(doc, key::TIME_ENTRIES, "minutes"),
            parts_lines: sum_with(doc, key::PARTS, |_| 1),
            parts_quantity: sum(doc, key::PARTS, "qty"),
            reassigned_count: handovers.reassigned,
            reassigned_from: handovers.reassigned_from,
            rejected_count: handovers.rejected,
            rejected_by: handovers.rejected_by,
        }
    }
}

/// The sum of `field` over the records of the list at `list` (voided records left out).
fn sum(doc: &Automerge, list: &str, field: &str) -> u32 {
    sum_with(doc, list, |record| record.u32(field).unwrap_or(0))
}

/// The sum of `value` over the records of the list at `list` (voided records left out).
fn sum_with(doc: &Automerge, list: &str, value: impl Fn(&super::Record) -> u32) -> u32 {
    records(doc, list).iter().filter(|r| r.str(key::VOID).is_none()).fold(0, |total, r| total.saturating_add(value(r)))
}

/// Who the ticket went from, by the history: reassignments and rejections, counted, and the
/// engineer each last took it from (so statistics can count them per engineer).
#[derive(Default)]
struct Handovers {
    reassigned: u32,
    reassigned_from: String,
    rejected: u32,
    rejected_by: String,
}

impl Handovers {
    fn of(doc: &Automerge) -> Handovers {
        let mut handovers = Handovers::default();
        let mut holder: Option<String> = None;
        for event in records(doc, key::EVENTS).iter().filter(|e| e.str(key::VOID).is_none()) {
            match event.string("kind").as_str() {
                "dispatched" => holder = event.str("assignee"),
                "claimed" => holder = event.str("by"),
                "reassigned" => {
                    handovers.reassigned = handovers.reassigned.saturating_add(1);
                    if let Some(previous) = holder.take() {
                        handovers.reassigned_from = previous;
                    }
                    holder = event.str("assignee");
                }
                "rejected" => {
                    handovers.rejected = handovers.rejected.saturating_add(1);
                    handovers.rejected_by = event.string("by");
                    holder = None;
                }
                _ => {}
            }
        }
        handovers
    }
}
