//! Horizontal bar charts as inline SVG, server-rendered beside each table (no script).

use std::fmt::Write as _;

use super::Bar;

/// At most this many bars per chart (the first rows of the table).
pub const MAX_BARS: usize = 20;
const WIDTH: f64 = 420.0;
const LABEL: f64 = 130.0;
const ROW: f64 = 18.0;
const VALUE: f64 = 56.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The length of a bar of `value` when the longest is `max`, within `room`.
pub fn bar_length(value: f64, max: f64, room: f64) -> f64 {
    if max <= 0.0 || !value.is_finite() { 0.0 } else { (value.max(0.0) / max).min(1.0) * room }
}

/// The bars as an SVG, labels (already in the reader's language) escaped.
pub fn bars_svg(bars: &[Bar], caption: &str) -> String {
    let bars = &bars[..bars.len().min(MAX_BARS)];
    let height = ROW * bars.len().max(1) as f64 + 4.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let room = WIDTH - LABEL - VALUE;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        escape(caption)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 2.0 + ROW * i as f64;
        let length = bar_length(bar.value, max, room);
        let label: String = bar.label.chars().take(18).collect();
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{ty}" font-size="11" text-anchor="end">{label}</text><rect class="bar" x="{LABEL}" y="{y}" width="{length:.1}" height="{h}" fill="#2563eb" data-value="{value}"/><text x="{vx:.1}" y="{ty}" font-size="11">{value}</text>"##,
            x = LABEL - 4.0,
            ty = y + ROW - 6.0,
            label = escape(&label),
            h = ROW - 4.0,
            value = bar.value,
            vx = LABEL + length + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}
