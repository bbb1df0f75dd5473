//! Complaints (docs/adr/0019): who may set a complaint's level and reclassify it. Pure, shared
//! by the device (before it writes) and the server (its API); the server's rules keep a
//! complaint's history whole whoever pushes.
//!
//! A ticket is a complaint once it is filed as one (type `complaint`, a level, or the
//! `complaint` flag at creation) and stays one: reclassifying it into a sales lead or an
//! inquiry keeps the flag, so it is never deleted and its history never rewritten.

use super::{Action, Reason, Refusal, Role};

/// The ticket type of a complaint.
pub const COMPLAINT_TYPE: &str = "complaint";

/// The types a complaint handler may move a complaint between: a complaint turned into a
/// sales lead or an inquiry, and back.
pub const HANDLER_TYPES: [&str; 3] = [COMPLAINT_TYPE, "sales_lead", "inquiry"];

/// Whether `role` may change a ticket's classification from type `from` to type `to`:
/// dispatchers and admins any ticket; complaint handlers a complaint, within [`HANDLER_TYPES`].
pub fn check_reclassify(role: Role, is_complaint: bool, from: &str, to: &str) -> Result<(), Refusal> {
    let refuse = |reason| Refusal { action: Action::Reclassify, reason };
    if role.dispatches() {
        return Ok(());
    }
    if role != Role::ComplaintHandler {
        return Err(refuse(Reason::NotDispatcher));
    }
    if !is_complaint {
        return Err(refuse(Reason::NotAComplaint));
    }
    if !HANDLER_TYPES.contains(&from) || !HANDLER_TYPES.contains(&to) {
        return Err(refuse(Reason::NotAComplaintType));
    }
    Ok(())
}

/// Whether `role` may set the level and unit of a ticket (a complaint's only).
pub fn check_set_complaint(role: Role, is_complaint: bool) -> Result<(), Refusal> {
    let refuse = |reason| Refusal { action: Action::SetComplaint, reason };
    if !role.handles_complaints() {
        return Err(refuse(Reason::NotDispatcher));
    }
    if !is_complaint {
        return Err(refuse(Reason::NotAComplaint));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_moves_complaints_between_complaint_sales_lead_and_inquiry_only() {
        let handler = Role::ComplaintHandler;
        assert_eq!(check_reclassify(handler, true, "complaint", "sales_lead"), Ok(()));
        assert_eq!(check_reclassify(handler, true, "inquiry", "complaint"), Ok(()));
        let reason = |r: Result<(), Refusal>| r.expect_err("refused").reason;
        assert_eq!(reason(check_reclassify(handler, true, "complaint", "bug")), Reason::NotAComplaintType);
        assert_eq!(reason(check_reclassify(handler, false, "inquiry", "complaint")), Reason::NotAComplaint);
        assert_eq!(reason(check_reclassify(Role::Engineer, true, "complaint", "inquiry")), Reason::NotDispatcher);
        assert_eq!(check_reclassify(Role::Dispatcher, false, "bug", "installation"), Ok(()));
    }

    #[test]
    fn the_level_is_set_on_complaints_by_handlers_and_dispatchers() {
        for role in [Role::ComplaintHandler, Role::Dispatcher, Role::Admin] {
            assert_eq!(check_set_complaint(role, true), Ok(()), "{role:?}");
            assert_eq!(check_set_complaint(role, false).expect_err("refused").reason, Reason::NotAComplaint);
        }
        assert_eq!(check_set_complaint(Role::Engineer, true).expect_err("refused").reason, Reason::NotDispatcher);
        assert_eq!(Role::parse("complaint_handler"), Some(Role::ComplaintHandler));
    }
}
