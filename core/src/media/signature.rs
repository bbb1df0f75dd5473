//! The customer's signature: strokes captured on the pad, rendered to a PNG.

use serde::{Deserialize, Serialize};
use tiny_skia::{Color, FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Stroke, Transform};

use super::MediaError;

/// One sampled point of a stroke, normalised to the pad: (0, 0) top-left, (1, 1)
/// bottom-right.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrokePoint {
    /// Horizontal position, 0..=1.
    pub x: f32,
    /// Vertical position, 0..=1.
    pub y: f32,
    /// Milliseconds since the signature started.
    pub t: u32,
}

/// What the ink is drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureBackground {
    /// Opaque white (a grey PNG).
    #[default]
    White,
    /// Transparent (a grey + alpha PNG).
    Transparent,
}

/// How a signature is rendered. Every field has a default, so `{}` in JSON is a valid value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignatureOptions {
    /// Canvas width in pixels.
    pub width: u32,
    /// Canvas height in pixels.
    pub height: u32,
    /// Pen width in pixels.
    pub pen_width: f32,
    /// White or transparent canvas.
    pub background: SignatureBackground,
    /// Refuse signatures with more points than this in all.
    pub max_points: usize,
}

impl Default for SignatureOptions {
    fn default() -> Self {
        Self { width: 800, height: 300, pen_width: 3.0, background: SignatureBackground::White, max_points: 10_000 }
    }
}

/// How far outside 0..=1 a point may stray (pads report slightly past their edges).
const TOLERANCE: f32 = 0.02;
/// Largest canvas side accepted, so a bad option cannot ask for gigabytes.
const MAX_SIDE: u32 = 4096;

/// Renders the strokes anti-aliased in black ink as a PNG of `options.width` ×
/// `options.height`. Deterministic: the same strokes and options give the same bytes.
///
/// Needs at least one stroke of two points or more; single-point strokes are drawn as dots
/// and empty strokes are ignored.
pub fn render_signature(strokes: &[Vec<StrokePoint>], options: &SignatureOptions) -> Result<Vec<u8>, MediaError> {
    validate_options(options)?;
    validate_strokes(strokes, options.max_points)?;
    let invalid = |what: &str| MediaError::InvalidOptions(what.to_owned());
    let mut pixmap = Pixmap::new(options.width, options.height).ok_or_else(|| invalid("canvas size"))?;
    if options.background == SignatureBackground::White {
        pixmap.fill(Color::WHITE);
    }

    // The pad maps onto the canvas inset by half a pen, so strokes on the edge stay whole.
    let inset = options.pen_width / 2.0;
    let span_x = (options.width as f32 - options.pen_width).max(1.0);
    let span_y = (options.height as f32 - options.pen_width).max(1.0);
    let to_canvas = |p: &StrokePoint| (inset + p.x.clamp(0.0, 1.0) * span_x, inset + p.y.clamp(0.0, 1.0) * span_y);

    let mut lines = PathBuilder::new();
    let mut dots = PathBuilder::new();
    for stroke in strokes {
        let points: Vec<(f32, f32)> = stroke.iter().map(to_canvas).collect();
        match points.as_slice() {
            [] => {}
            [(x, y)] => dots.push_circle(*x, *y, inset.max(0.5)),
            [first, rest @ ..] => {
                // A smooth curve: quadratic segments through the midpoints, with each sampled
                // point as a control point, then a line to the last point.
                lines.move_to(first.0, first.1);
                for pair in rest.windows(2) {
                    let (control, next) = (pair[0], pair[1]);
                    let mid = ((control.0 + next.0) / 2.0, (control.1 + next.1) / 2.0);
                    lines.quad_to(control.0, control.1, mid.0, mid.1);
                }
                if let Some(last) = rest.last() {
                    lines.line_to(last.0, last.1);
                }
            }
        }
    }

    let mut paint = Paint::default();
    paint.set_color(Color::BLACK);
    paint.anti_alias = true;
    if let Some(path) = lines.finish() {
        let stroke = Stroke {
            width: options.pen_width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
    }
    if let Some(path) = dots.finish() {
        pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
    }
    encode_png(&pixmap, options.background)
}

fn validate_options(options: &SignatureOptions) -> Result<(), MediaError> {
    let bad = |what: &str| Err(MediaError::InvalidOptions(what.to_owned()));
    if !(1..=MAX_SIDE).contains(&options.width) || !(1..=MAX_SIDE).contains(&options.height) {
        return bad("signature canvas must be 1..=4096 px on each side");
    }
    if !options.pen_width.is_finite() || !(0.5..=64.0).contains(&options.pen_width) {
        return bad("pen width must be within 0.5..=64 px");
    }
    Ok(())
}

fn validate_strokes(strokes: &[Vec<StrokePoint>], max_points: usize) -> Result<(), MediaError> {
    let invalid = |what: String| Err(MediaError::InvalidSignature(what));
    let total: usize = strokes.iter().map(Vec::len).sum();
    if total > max_points {
        return Err(MediaError::TooLarge { what: "signature points", limit: max_points as u64, found: total as u64 });
    }
    if !strokes.iter().any(|stroke| stroke.len() >= 2) {
        return invalid("nothing drawn: no stroke has two points or more".to_owned());
    }
    let range = -TOLERANCE..=1.0 + TOLERANCE;
    for (s, stroke) in strokes.iter().enumerate() {
        for (p, point) in stroke.iter().enumerate() {
            if !point.x.is_finite() || !point.y.is_finite() {
                return invalid(format!("stroke {s}, point {p} is not a number"));
            }
            if !range.contains(&point.x) || !range.contains(&point.y) {
                return invalid(format!("stroke {s}, point {p} ({}, {}) is off the pad (0..1)", point.x, point.y));
            }
        }
    }
    Ok(())
}

/// Black ink only, so grey (or grey + alpha) is lossless and a third of RGBA's size.
fn encode_png(pixmap: &Pixmap, background: SignatureBackground) -> Result<Vec<u8>, MediaError> {
    let (color, data): (png::ColorType, Vec<u8>) = match background {
        // Opaque: premultiplied equals straight; the ink is black, so any channel is grey.
        SignatureBackground::White => (png::ColorType::Grayscale, pixmap.pixels().iter().map(|p| p.red()).collect()),
        // Black ink: the straight grey is 0 wherever there is ink, alpha carries the shape.
        SignatureBackground::Transparent => (
            png::ColorType::GrayscaleAlpha,
            pixmap
                .pixels()
                .iter()
                .flat_map(|p| {
                    let c = p.demultiply();
                    [c.red(), c.alpha()]
                })
                .collect(),
        ),
    };
    let mut out = Vec::new();
    let failed = |e: png::EncodingError| MediaError::Corrupt(format!("PNG encoder: {e}"));
    let mut encoder = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&data).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}
