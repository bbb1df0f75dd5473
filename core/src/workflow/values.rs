//! The values a ticket's records may hold: ranges, write-once fields and size caps.
//!
//! One copy of these rules serves both sides: a device checks an action's arguments with them
//! before it writes ([`crate::actions`]), and the server checks every record a pushed change
//! adds with the same functions (server/src/rules), so a value the app refuses is also one the
//! server undoes. Pure, no I/O. Sizes count characters (a Chinese character is one), not
//! bytes, so a limit means the same to a person in every script.

use std::fmt;

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 4_000;
/// Longest completion summary.
pub const MAX_SUMMARY_CHARS: usize = 4_000;
/// Longest reason given with a rejection, cancellation or reopening.
pub const MAX_REASON_CHARS: usize = 1_000;
/// Longest user id (an assignee named by an event, a record's author).
pub const MAX_USER_ID_CHARS: usize = 128;
/// Longest part number.
pub const MAX_SKU_CHARS: usize = 64;
/// Most pieces of one part in one record.
pub const MAX_PART_QTY: u64 = 10_000;
/// Longest kind of time entry ("labour", "travel", ...).
pub const MAX_TIME_KIND_CHARS: usize = 32;
/// Most minutes in one time entry: a day.
pub const MAX_MINUTES: u64 = 24 * 60;
/// Longest checklist item.
pub const MAX_CHECKLIST_ITEM_CHARS: usize = 200;
/// Most checklist items on a ticket.
pub const MAX_CHECKLIST_ITEMS: usize = 200;
/// Longest photo caption.
pub const MAX_CAPTION_CHARS: usize = 500;
/// Most photos on a ticket.
pub const MAX_PHOTOS: usize = 100;
/// Longest name of the person who signed.
pub const MAX_SIGNER_CHARS: usize = 200;
/// Largest signature strokes, as JSON.
pub const MAX_STROKES_BYTES: usize = 256 * 1024;
/// Longest feedback comment.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Ratings run from 1 to this.
pub const MAX_RATING: u64 = 5;
/// Longest message a customer may leave on the tracking page.
pub const MAX_CUSTOMER_MESSAGE_CHARS: usize = 1_000;
/// Most messages a customer may leave on one ticket.
pub const MAX_CUSTOMER_MESSAGES: usize = 50;
/// Latest an ETA may lie after the moment it is shared: a day.
pub const MAX_ETA_AHEAD_MS: i64 = 24 * 60 * 60 * 1000;

/// Most records in one of a ticket's lists (events, notes, parts, time entries).
pub const MAX_RECORDS_PER_LIST: usize = 5_000;

/// A value outside what a ticket may hold: what it is, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// Text that must be there (not only white space) and at most `max` characters.
pub fn required_text(value: &str, what: &str, max: usize) -> Result<(), BadValue> {
    if value.trim().is_empty() {
        return Err(BadValue(format!("{what} must not be empty")));
    }
    optional_text(value, what, max)
}

/// Text that may be empty, at most `max` characters.
pub fn optional_text(value: &str, what: &str, max: usize) -> Result<(), BadValue> {
    let chars = value.chars().count();
    if chars > max { Err(BadValue(format!("{what} is {chars} characters long; at most {max}"))) } else { Ok(()) }
}

/// Longest classification value (a type, product, module or version name).
pub const MAX_CLASSIFICATION_CHARS: usize = 100;

/// A classification's four values: each at most [`MAX_CLASSIFICATION_CHARS`], no control
/// characters.
pub fn classification(c: &crate::model::Classification) -> Result<(), BadValue> {
    for (what, value) in c.fields() {
        optional_text(value, what, MAX_CLASSIFICATION_CHARS)?;
        if value.chars().any(char::is_control) {
            return Err(BadValue(format!("{what} holds a control character")));
        }
    }
    Ok(())
}

/// A whole number from `min` to `max`.
pub fn in_range(value: u64, what: &str, min: u64, max: u64) -> Result<(), BadValue> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(BadValue(format!("{what} must be between {min} and {max}, not {value}")))
    }
}

/// A part's quantity: 1 to [`MAX_PART_QTY`].
pub fn part_qty(qty: u64) -> Result<(), BadValue> {
    in_range(qty, "quantity", 1, MAX_PART_QTY)
}

/// Minutes of one time entry: 1 to [`MAX_MINUTES`].
pub fn minutes(minutes: u64) -> Result<(), BadValue> {
    in_range(minutes, "minutes", 1, MAX_MINUTES)
}

/// A customer's rating: 1 to [`MAX_RATING`].
pub fn rating(rating: u64) -> Result<(), BadValue> {
    in_range(rating, "rating", 1, MAX_RATING)
}

/// A customer's message: there, at most [`MAX_CUSTOMER_MESSAGE_CHARS`], and no control
/// characters but line breaks and tabs.
pub fn customer_message(text: &str) -> Result<(), BadValue> {
    required_text(text, "message", MAX_CUSTOMER_MESSAGE_CHARS)?;
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(BadValue("message contains control characters".into()));
    }
    Ok(())
}

/// An ETA shared when travel starts: not before `now`, at most [`MAX_ETA_AHEAD_MS`] after it.
pub fn eta(eta: i64, now: i64) -> Result<(), BadValue> {
    if eta < now.saturating_sub(60_000) || eta > now.saturating_add(MAX_ETA_AHEAD_MS) {
        Err(BadValue("the ETA must lie between now and a day from now".into()))
    } else {
        Ok(())
    }
}

/// A SHA-256 in lower-case hex.
pub fn sha256_hex(value: &str, what: &str) -> Result<(), BadValue> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(BadValue(format!("{what} is not a SHA-256 in hex")))
    }
}

/// A device time clamped into `[created_at, received_at]`: a record cannot have happened
/// before its ticket existed, nor after the server received it. `None` when `at` is inside.
pub fn clamp_time(at: i64, created_at: i64, received_at: i64) -> Option<i64> {
    let high = received_at.max(created_at);
    if at < created_at {
        Some(created_at)
    } else if at > high {
        Some(high)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_caps() {
        assert!(rating(0).is_err() && rating(6).is_err() && rating(99).is_err());
        assert!(rating(1).is_ok() && rating(5).is_ok());
        assert!(minutes(0).is_err() && minutes(999_999).is_err() && minutes(1440).is_ok());
        assert!(part_qty(0).is_err() && part_qty(MAX_PART_QTY + 1).is_err() && part_qty(3).is_ok());
        assert!(required_text("  ", "note", 10).is_err());
        assert!(required_text("维修完成", "note", 4).is_ok(), "characters, not bytes");
        assert!(required_text("维修完成了", "note", 4).is_err());
        assert!(sha256_hex(&"a".repeat(64), "photo").is_ok());
        assert!(sha256_hex(&"A".repeat(64), "photo").is_err());
        assert!(customer_message("请尽快来").is_ok() && customer_message(" ").is_err());
        assert!(customer_message(&"字".repeat(MAX_CUSTOMER_MESSAGE_CHARS + 1)).is_err());
        assert!(customer_message("bell\u{7}").is_err() && customer_message("two\nlines").is_ok());
        assert!(eta(1_000_000, 1_000_000).is_ok() && eta(0, 1_000_000).is_err());
        assert!(eta(1_000_000 + MAX_ETA_AHEAD_MS + 1, 1_000_000).is_err());
    }

    #[test]
    fn times_are_clamped_into_the_tickets_life() {
        assert_eq!(clamp_time(50, 100, 200), Some(100));
        assert_eq!(clamp_time(250, 100, 200), Some(200));
        assert_eq!(clamp_time(150, 100, 200), None);
        // A server clock behind the creation time never clamps below creation.
        assert_eq!(clamp_time(150, 100, 90), Some(100));
    }
}
