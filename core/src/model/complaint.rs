//! A complaint's level (docs/adr/0019): 建议 / 抱怨 / 投诉 / 危机.

use serde::{Deserialize, Serialize};

/// How serious a complaint is, least first.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintLevel {
    /// A suggestion (建议).
    Suggestion,
    /// A grumble (抱怨).
    Grumble,
    /// A complaint (投诉).
    Complaint,
    /// A crisis (危机).
    Crisis,
}

impl ComplaintLevel {
    /// Every level, least serious first.
    pub const ALL: [ComplaintLevel; 4] =
        [ComplaintLevel::Suggestion, ComplaintLevel::Grumble, ComplaintLevel::Complaint, ComplaintLevel::Crisis];

    /// The name stored in documents and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintLevel::Suggestion => "suggestion",
            ComplaintLevel::Grumble => "grumble",
            ComplaintLevel::Complaint => "complaint",
            ComplaintLevel::Crisis => "crisis",
        }
    }

    /// Parses [`ComplaintLevel::as_str`]'s output; anything else is `None`.
    pub fn parse(s: &str) -> Option<ComplaintLevel> {
        ComplaintLevel::ALL.into_iter().find(|level| level.as_str() == s)
    }
}
