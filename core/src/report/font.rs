//! The report's font: its bytes, the face to use, and text measurement (skrifa, the reader
//! krilla itself uses, so widths agree with what is drawn).

use std::sync::Arc;

use skrifa::raw::FileRef;
use skrifa::raw::TableProvider;
use skrifa::string::StringId;
use skrifa::{FontRef, MetadataProvider};

use super::ReportError;

/// Where a CJK font is usually found, first match wins: Debian's and Ubuntu's `fonts-noto-cjk`,
/// Fedora's, Android's. iOS keeps its system fonts out of an app's reach: an iOS app ships its
/// own (or passes none and gets [`ReportError::NoFont`]). The caller reads the file; this
/// module does no I/O.
pub const KNOWN_FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/system/fonts/NotoSansCJK-Regular.ttc",
    "/system/fonts/NotoSansSC-Regular.otf",
];

/// A font to set the report in: a TrueType or OpenType file or collection, and the face of it.
#[derive(Clone)]
pub struct ReportFont {
    data: Arc<Vec<u8>>,
    index: u32,
    /// The face's design units per em (advances are divided by it).
    units_per_em: f32,
}

impl std::fmt::Debug for ReportFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportFont").field("bytes", &self.data.len()).field("index", &self.index).finish()
    }
}

impl ReportFont {
    /// A font from a file's bytes. In a collection (`.ttc`, such as Noto Sans CJK) the
    /// Simplified Chinese face is chosen when there is one, else the first.
    pub fn from_bytes(data: Vec<u8>) -> Result<ReportFont, ReportError> {
        let index = match FileRef::new(&data) {
            Ok(FileRef::Font(_)) => 0,
            Ok(FileRef::Collection(collection)) => (0..collection.len())
                .find(|&i| collection.get(i).is_ok_and(|face| family_name(&face).ends_with(" SC")))
                .unwrap_or(0),
            Err(e) => return Err(ReportError::NoFont(format!("not a font file: {e}"))),
        };
        Self::from_bytes_at(data, index)
    }

    /// Face `index` of a font file's bytes.
    pub fn from_bytes_at(data: Vec<u8>, index: u32) -> Result<ReportFont, ReportError> {
        let units_per_em = {
            let face = FontRef::from_index(&data, index)
                .map_err(|e| ReportError::NoFont(format!("face {index} does not read: {e}")))?;
            if face.charmap().map('A').is_none() {
                return Err(ReportError::NoFont("the font has no Unicode character map".into()));
            }
            f32::from(face.head().map_err(|e| ReportError::NoFont(e.to_string()))?.units_per_em())
        };
        if units_per_em < 1.0 {
            return Err(ReportError::NoFont("the font's units per em are zero".into()));
        }
        let data = Arc::new(data);
        // What krilla will embed must load there too.
        krilla::text::Font::new(krilla::Data::from(Arc::clone(&data)), index)
            .ok_or_else(|| ReportError::NoFont("the PDF writer cannot read this font".into()))?;
        Ok(ReportFont { data, index, units_per_em })
    }

    /// The face's family name ("Noto Sans CJK SC").
    pub fn family(&self) -> String {
        FontRef::from_index(&self.data, self.index).map(|face| family_name(&face)).unwrap_or_default()
    }

    /// The face used, for krilla.
    pub(super) fn krilla_font(&self) -> Result<krilla::text::Font, ReportError> {
        krilla::text::Font::new(krilla::Data::from(Arc::clone(&self.data)), self.index)
            .ok_or_else(|| ReportError::NoFont("the PDF writer cannot read this font".into()))
    }

    /// A measurer for this font.
    pub(super) fn measure(&self) -> Result<Measure<'_>, ReportError> {
        let face = FontRef::from_index(&self.data, self.index).map_err(|e| ReportError::NoFont(e.to_string()))?;
        Ok(Measure {
            charmap: face.charmap(),
            metrics: face.glyph_metrics(skrifa::instance::Size::unscaled(), skrifa::instance::LocationRef::default()),
            units_per_em: self.units_per_em,
        })
    }
}

fn family_name(face: &FontRef<'_>) -> String {
    face.localized_strings(StringId::FAMILY_NAME).english_or_first().map(|name| name.to_string()).unwrap_or_default()
}

/// Text widths in points, and which characters the font lacks.
pub(super) struct Measure<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    units_per_em: f32,
}

impl Measure<'_> {
    /// The advance of `ch` at 1 pt, or `None` when the font has no glyph for it.
    pub(super) fn advance(&self, ch: char) -> Option<f32> {
        self.glyph(ch).map(|(_, advance)| advance)
    }

    /// The glyph of `ch` and its advance at 1 pt. One glyph per character, from the font's
    /// character map: the report's text needs no shaping (no ligatures, no complex scripts),
    /// and doing without a shaper keeps ~0.5 MB out of the shipped library (ADR 0013).
    pub(super) fn glyph(&self, ch: char) -> Option<(u32, f32)> {
        let glyph = self.charmap.map(ch)?;
        Some((glyph.to_u32(), self.metrics.advance_width(glyph).unwrap_or(0.0) / self.units_per_em))
    }
}

/// Reads the report font: the file at `path` when given, else the first of
/// [`KNOWN_FONT_PATHS`] that exists. The one function of this module that reads a file (the
/// device facade and the server both call it; [`super::render`] does no I/O).
///
/// No font at all is [`ReportError::NoFont`]; there is no built-in fallback, because a report
/// whose customer name is missing is worse than a clear error telling the app to pass a font.
pub fn load_font(path: Option<&std::path::Path>) -> Result<ReportFont, ReportError> {
    let candidates: Vec<std::path::PathBuf> = match path {
        Some(path) => vec![path.to_owned()],
        None => KNOWN_FONT_PATHS.iter().map(std::path::PathBuf::from).collect(),
    };
    for candidate in &candidates {
        match std::fs::read(candidate) {
            Ok(bytes) => return ReportFont::from_bytes(bytes),
            Err(e) if path.is_some() => {
                return Err(ReportError::NoFont(format!("{} cannot be read: {e}", candidate.display())));
            }
            Err(_) => continue,
        }
    }
    Err(ReportError::NoFont(format!(
        "none given and none of {} exists (Debian: apt-get install fonts-noto-cjk)",
        KNOWN_FONT_PATHS.join(", ")
    )))
}
