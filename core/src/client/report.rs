//! The service report on the device: [`crate::report`] over this store's document and blobs.

use std::path::{Path, PathBuf};

use super::Client;
use crate::error::Error;
use crate::report::{self, ReportOptions, ReportSource};

/// What [`Client::service_report`] is asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportRequest {
    /// The font to set the report in (a CJK font for Chinese text; Android:
    /// `/system/fonts/NotoSansCJK-Regular.ttc`). `None`: the first of
    /// [`report::KNOWN_FONT_PATHS`] that exists.
    pub font_path: Option<PathBuf>,
    /// Where to write the file. `None`: a `reports` folder beside the store file.
    pub out_dir: Option<PathBuf>,
    /// The document heads (hex) to make the report from; empty: the ticket as it is now.
    pub heads: Vec<String>,
    /// How times are shown.
    pub options: ReportOptions,
}

impl Client {
    /// The service report of a ticket as PDF bytes, made offline from this store: the document
    /// at `request.heads` (now, when empty), photo thumbnails and the signature image from the
    /// local blobs (a blob this device does not hold is marked missing in the report).
    pub fn service_report_pdf(&self, ticket_id: &str, request: &ReportRequest) -> Result<Vec<u8>, Error> {
        let font = report::load_font(request.font_path.as_deref())?;
        let heads = report::parse_heads(&request.heads.iter().map(String::as_str).collect::<Vec<_>>())?;
        let source = {
            let mut docs = self.lock_docs()?;
            let document = self.loaded(&mut docs, ticket_id)?;
            ReportSource::at(document, (!heads.is_empty()).then_some(heads.as_slice()))?
        };
        let blob = |sha256: &str| self.blob(sha256).ok().flatten();
        Ok(report::render(&source, &blob, &font, &request.options)?)
    }

    /// Writes the service report of a ticket to a file and returns its path:
    /// `<dir>/service-report-<ticket>-<digest of the PDF>.pdf`, in `request.out_dir` or else in a
    /// `reports` folder beside the store file (created if missing). The same heads give the
    /// same bytes and so the same name: writing it again replaces it with itself.
    pub fn service_report(&self, ticket_id: &str, request: &ReportRequest) -> Result<PathBuf, Error> {
        let pdf = self.service_report_pdf(ticket_id, request)?;
        let dir = match &request.out_dir {
            Some(dir) => dir.clone(),
            None => self.inner.store.path().parent().unwrap_or(Path::new(".")).join("reports"),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::InvalidInput(format!("report folder {}: {e}", dir.display())))?;
        // The ticket id came from the caller; keep only what is safe in a file name.
        let safe_id: String = ticket_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
        let digest = crate::model::JobSummary::sha256_hex(&pdf);
        let path = dir.join(format!("service-report-{safe_id}-{}.pdf", digest.get(..12).unwrap_or(&digest)));
        let partial = path.with_extension("pdf.partial");
        std::fs::write(&partial, &pdf)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }
}
