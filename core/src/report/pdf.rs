//! Draws laid-out pages with krilla. Everything that could vary between two machines is pinned:
//! the creation date is the document's latest time and the document id is made from the ticket
//! and its heads (krilla derives the file ids from that and from the content).

use chrono::{Datelike, Timelike};
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};

use super::font::Measure;
use super::layout::{Op, PAGE_HEIGHT, PAGE_WIDTH, RULE};
use super::sections::{Embedded, Pages, document_time};
use super::{ReportError, ReportFont, ReportSource};

/// Writes the PDF.
pub(super) fn write(laid_out: &Pages, source: &ReportSource, font: &ReportFont) -> Result<Vec<u8>, ReportError> {
    let krilla_font = font.krilla_font()?;
    let measure = font.measure()?;
    let images = laid_out.images.iter().map(image).collect::<Result<Vec<Image>, ReportError>>()?;
    let mut document = Document::new_with(SerializeSettings::default());
    let settings =
        PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or_else(|| ReportError::Pdf("page size".into()))?;
    for ops in &laid_out.pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text { x, y, size, grey, text } => {
                    surface.set_fill(Some(Fill { paint: luma::Color::new(*grey).into(), ..Fill::default() }));
                    surface.set_stroke(None);
                    let glyphs = glyphs(&measure, text);
                    surface.draw_glyphs(Point::from_xy(*x, *y), &glyphs, krilla_font.clone(), text, *size, false);
                }
                Op::Image { x, y, width, height, blob } => {
                    let (Some(image), Some(size)) = (images.get(*blob), Size::from_wh(*width, *height)) else {
                        continue;
                    };
                    surface.push_transform(&Transform::from_translate(*x, *y));
                    surface.draw_image(image.clone(), size);
                    surface.pop();
                }
                Op::Frame { x, y, width, height } => {
                    if let Some(rect) = Rect::from_xywh(*x, *y, *width, *height) {
                        stroke_path(&mut surface, |path| path.push_rect(rect), 0.75);
                    }
                }
                Op::Rule { x, y, width } => stroke_path(
                    &mut surface,
                    |path| {
                        path.move_to(*x, *y);
                        path.line_to(x + width, *y);
                    },
                    0.5,
                ),
            }
        }
        surface.finish();
        page.finish();
    }
    let t = &source.ticket;
    let mut metadata = Metadata::new()
        .title(format!("服务报告 Service report — {}", t.title))
        .creator("fieldsync".to_owned())
        .producer("fieldsync".to_owned())
        .document_id(format!("fieldsync-service-report:{}:{}", t.id, source.heads.join(",")));
    if let Some(time) = chrono::DateTime::from_timestamp_millis(document_time(source)) {
        let year = u16::try_from(time.year()).unwrap_or(0);
        // Small values by construction (month, day, hour, ...): `as` cannot truncate them.
        metadata = metadata.creation_date(
            DateTime::new(year)
                .month(time.month() as u8)
                .day(time.day() as u8)
                .hour(time.hour() as u8)
                .minute(time.minute() as u8)
                .second(time.second() as u8)
                .utc_offset_hour(0)
                .utc_offset_minute(0),
        );
    }
    document.set_metadata(metadata);
    document.finish().map_err(|e| ReportError::Pdf(format!("{e:?}")))
}

/// One glyph per character, each mapped back to its character (the text `pdftotext` reads).
/// A character without a glyph was refused before (`ReportError::MissingGlyphs`); should one
/// get here it is drawn as the font's .notdef.
fn glyphs(measure: &Measure<'_>, text: &str) -> Vec<KrillaGlyph> {
    text.char_indices()
        .map(|(at, ch)| {
            let (glyph, advance) = measure.glyph(ch).unwrap_or((0, 0.5));
            KrillaGlyph::new(GlyphId::new(glyph), advance, 0.0, 0.0, 0.0, at..at + ch.len_utf8(), None)
        })
        .collect()
}

fn image(embedded: &Embedded) -> Result<Image, ReportError> {
    let data = krilla::Data::from(embedded.bytes.clone());
    let image = if embedded.png { Image::from_png(data, true) } else { Image::from_jpeg(data, true) };
    image.map_err(|e| ReportError::Pdf(format!("image: {e}")))
}

fn stroke_path(surface: &mut krilla::surface::Surface<'_>, build: impl FnOnce(&mut PathBuilder), width: f32) {
    let mut builder = PathBuilder::new();
    build(&mut builder);
    let Some(path) = builder.finish() else { return };
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke { paint: luma::Color::new(RULE).into(), width, ..Stroke::default() }));
    surface.draw_path(&path);
    surface.set_stroke(None);
}
