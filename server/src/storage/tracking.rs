//! Storage of the customers' tracking links and the follow-ups of bad ratings
//! (docs/adr/0012-customer-tracking-page.md).
//!
//! A tracking link is stored as the SHA-256 of its token only. The token itself is derived
//! from a server secret (kept here, shared by every instance on one database), the ticket id
//! and the link's generation, so the dispatcher API can show a ticket's link again without the
//! token ever being stored; revoking marks every generation revoked, and a new link is the next
//! generation.

use fieldsync_core::time::Millis;

use super::{HashBytes, StorageError};

/// One tracking link of a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingLink {
    /// The ticket it shows.
    pub ticket_id: String,
    /// 1 for the first link of the ticket, then one more per new link.
    pub generation: u32,
    /// SHA-256 of the token.
    pub token_sha256: HashBytes,
    /// When it was made (UTC ms).
    pub created_at: Millis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
}

/// A bad rating to call back, and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    /// The ticket rated.
    pub ticket_id: String,
    /// The customer's rating.
    pub rating: u8,
    /// The customer's comment.
    pub comment: String,
    /// When the rating came in (UTC ms).
    pub opened_at: Millis,
    /// Who followed up (a dispatcher's user id).
    pub followed_up_by: Option<String>,
    /// When.
    pub followed_up_at: Option<Millis>,
    /// What came of it.
    pub outcome: Option<String>,
}

/// Tracking links and follow-ups; part of every [`Storage`].
pub trait TrackingStorage {
    /// The server's tracking secret: the stored one, or `fresh` stored now when there is none
    /// (the first caller of any instance wins).
    fn tracking_secret(&self, fresh: &[u8]) -> Result<Vec<u8>, StorageError>;
    /// Stores a new link; `false` when the ticket already has a link of that generation.
    fn add_tracking_link(&self, link: &TrackingLink) -> Result<bool, StorageError>;
    /// The link with this token hash.
    fn tracking_link(&self, token_sha256: &HashBytes) -> Result<Option<TrackingLink>, StorageError>;
    /// The ticket's newest link (revoked or not).
    fn latest_tracking_link(&self, ticket_id: &str) -> Result<Option<TrackingLink>, StorageError>;
    /// Revokes every link of the ticket not yet revoked; how many were.
    fn revoke_tracking_links(&self, ticket_id: &str, at: Millis) -> Result<u64, StorageError>;
    /// Opens a follow-up; `false` when the ticket has one already (a ticket is rated once).
    fn open_follow_up(&self, follow_up: &FollowUp) -> Result<bool, StorageError>;
    /// Every follow-up, open ones first, newest first within each.
    fn follow_ups(&self) -> Result<Vec<FollowUp>, StorageError>;
    /// Records who followed up, when, and the outcome; `false` when there is no such follow-up.
    fn record_follow_up(&self, ticket_id: &str, by: &str, at: Millis, outcome: &str) -> Result<bool, StorageError>;
}
