//! The service report: one PDF per ticket, made from the ticket's document at given heads, the
//! same bytes on the device (offline, handed over on site) and on the server (on demand).
//!
//! Pure: the caller passes the document, the blob bytes (a lookup closure) and the font bytes;
//! nothing here touches the network, and the only file read is [`load_font`]'s, for callers
//! that have a font path. Which PDF crate and why: docs/adr/0013.
//!
//! - [`ReportSource::at`] reads a ticket as it stood at some heads, with the job summary the
//!   customer signed (the ticket at the signature change's dependencies).
//! - [`ReportFont`] is the one font the report is set in; a CJK font (Noto Sans CJK, or the
//!   platform's) covers Chinese and English. A text the font cannot show is refused with
//!   [`ReportError::MissingGlyphs`], naming the characters, rather than drawn as empty boxes.
//! - [`render`] lays the report out and writes the PDF. Identical inputs give identical bytes:
//!   the creation date is the document's own latest time and the ids are hashes of the content.

mod font;
mod layout;
mod pdf;
mod sections;
#[cfg(test)]
mod tests;

use automerge::{Automerge, ChangeHash, ROOT, ReadDoc};

use crate::model::{JobSummary, Ticket, doc};

pub use font::{KNOWN_FONT_PATHS, ReportFont, load_font};

/// Why a report could not be made. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// No usable font: none was given and none of [`KNOWN_FONT_PATHS`] exists, or the given
    /// one is not a font this code can read (the reason).
    #[error("no font for the service report: {0}")]
    NoFont(String),
    /// The font has no glyph for some characters of the ticket (a Latin-only font for a Chinese
    /// customer name): pass a CJK font. The first few characters are listed.
    #[error("the report font cannot show {0:?}: pass a font that covers them (a CJK font)")]
    MissingGlyphs(String),
    /// A head asked for is not in the document.
    #[error("head {0} is not in the ticket's document")]
    UnknownHead(String),
    /// The document is not a readable ticket at those heads.
    #[error("not a ticket document at these heads: {0}")]
    Document(String),
    /// The PDF writer failed (a bug, or an input it could not take): the reason.
    #[error("writing the report PDF failed: {0}")]
    Pdf(String),
}

/// How to present times. Both sides pass the same options to get the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// The offset from UTC that times are shown in, in minutes (480 for China, UTC+08:00).
    pub utc_offset_minutes: i32,
}

/// A ticket as it stood at some heads: what a report is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSource {
    /// The ticket at `heads`.
    pub ticket: Ticket,
    /// The job summary as the customer saw it when signing (the ticket at the dependencies of
    /// the change that recorded the signature); `None` when there is no signature.
    pub signed_summary: Option<JobSummary>,
    /// The heads (hex), sorted: the report can be made again from exactly these.
    pub heads: Vec<String>,
}

impl ReportSource {
    /// The ticket of `document` at `heads` (the document's current heads when `None`).
    pub fn at(document: &Automerge, heads: Option<&[ChangeHash]>) -> Result<ReportSource, ReportError> {
        let heads: Vec<ChangeHash> = match heads {
            Some(heads) => {
                for head in heads {
                    if document.get_change_by_hash(head).is_none() {
                        return Err(ReportError::UnknownHead(head.to_string()));
                    }
                }
                heads.to_vec()
            }
            None => document.get_heads(),
        };
        let at_heads = document.fork_at(&heads).map_err(|e| ReportError::Document(e.to_string()))?;
        let ticket = doc::read_ticket(&at_heads).map_err(|e| ReportError::Document(e.to_string()))?;
        let signed_summary = signed_summary(&at_heads)?;
        let mut heads: Vec<String> = at_heads.get_heads().iter().map(ToString::to_string).collect();
        heads.sort();
        Ok(ReportSource { ticket, signed_summary, heads })
    }

    /// Whether the summary the customer signed hashes to what the signature recorded.
    pub fn signature_matches(&self) -> bool {
        match (&self.signed_summary, &self.ticket.signature) {
            (Some(summary), Some(signature)) => summary.sha256() == signature.summary_sha256,
            _ => false,
        }
    }
}

/// Parses heads given as hex (a query string, a command line); a malformed one is named.
pub fn parse_heads(heads: &[&str]) -> Result<Vec<ChangeHash>, ReportError> {
    heads.iter().map(|h| h.trim().parse::<ChangeHash>().map_err(|_| ReportError::UnknownHead(h.to_string()))).collect()
}

/// The job summary at the dependencies of the change that wrote the signature: what the
/// device summarized and hashed just before recording it.
fn signed_summary(document: &Automerge) -> Result<Option<JobSummary>, ReportError> {
    let Ok(Some((_, automerge::ObjId::Id(counter, actor, _)))) = document.get(ROOT, "signature") else {
        return Ok(None);
    };
    let Some(change) = document.get_changes(&[]).into_iter().find(|change| {
        let start = change.start_op().get();
        *change.actor_id() == actor && (start..start + change.len() as u64).contains(&counter)
    }) else {
        return Ok(None);
    };
    let before = document.fork_at(change.deps()).map_err(|e| ReportError::Document(e.to_string()))?;
    match doc::read_ticket(&before) {
        Ok(ticket) => Ok(Some(JobSummary::of(&ticket))),
        // The signature came with the ticket itself (a crafted document): nothing was shown.
        Err(_) => Ok(None),
    }
}

/// Renders the service report of `source` as a PDF. `blob` returns a blob's bytes by SHA-256
/// (thumbnails and the signature image); a missing or mismatching blob is reported in the PDF
/// as missing, never an error.
pub fn render(
    source: &ReportSource,
    blob: &dyn Fn(&str) -> Option<Vec<u8>>,
    font: &ReportFont,
    options: &ReportOptions,
) -> Result<Vec<u8>, ReportError> {
    // krilla and the image and font parsers under it are not ours: a panic on an input they
    // did not expect becomes an error here, never a crash of the app or a server thread.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pages = sections::lay_out(source, blob, font, options)?;
        pdf::write(&pages, source, font)
    }))
    .unwrap_or_else(|_| Err(ReportError::Pdf("the PDF writer stopped on an unexpected input".into())))
}
