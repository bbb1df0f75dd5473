//! Page layout: text wrapped to widths the font measures, flowing onto new pages, as a list of
//! drawing operations per page. No PDF here (`pdf.rs` draws the operations), so the layout is
//! tested on its own.

use std::collections::BTreeSet;

use super::font::Measure;

/// A4 in points.
pub(super) const PAGE_WIDTH: f32 = 595.28;
pub(super) const PAGE_HEIGHT: f32 = 841.89;
pub(super) const MARGIN: f32 = 48.0;
pub(super) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Where the label column of a field ends and its value starts.
const LABEL_WIDTH: f32 = 150.0;
const LINE_GAP: f32 = 1.35;

/// Grey levels, 0 black.
pub(super) const TEXT: u8 = 0;
pub(super) const MUTED: u8 = 100;
pub(super) const RULE: u8 = 190;

/// One thing to draw on a page; coordinates from the top left, y down, text at its baseline.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Op {
    /// A line of text.
    Text { x: f32, y: f32, size: f32, grey: u8, text: String },
    /// An image blob (by SHA-256) scaled into the box.
    Image { x: f32, y: f32, width: f32, height: f32, blob: usize },
    /// An outlined rectangle.
    Frame { x: f32, y: f32, width: f32, height: f32 },
    /// A horizontal rule.
    Rule { x: f32, y: f32, width: f32 },
}

/// Lays text out page by page.
pub(super) struct Layout<'a> {
    measure: &'a Measure<'a>,
    pub(super) pages: Vec<Vec<Op>>,
    /// The top of the free space on the current page.
    pub(super) y: f32,
    /// Characters the font has no glyph for.
    pub(super) missing: BTreeSet<char>,
}

impl<'a> Layout<'a> {
    pub(super) fn new(measure: &'a Measure<'a>) -> Layout<'a> {
        Layout { measure, pages: vec![Vec::new()], y: MARGIN, missing: BTreeSet::new() }
    }

    fn page(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page unless `height` more fits on this one.
    pub(super) fn ensure(&mut self, height: f32) {
        if self.y + height > PAGE_HEIGHT - MARGIN && self.y > MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    pub(super) fn push(&mut self, op: Op) {
        self.page().push(op);
    }

    /// The width of `text` at `size` points; characters without a glyph are noted.
    pub(super) fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|ch| self.advance(ch)).sum::<f32>() * size
    }

    fn advance(&mut self, ch: char) -> f32 {
        match self.measure.advance(ch) {
            Some(advance) => advance,
            None => {
                if !ch.is_whitespace() {
                    self.missing.insert(ch);
                }
                0.5
            }
        }
    }

    /// `text` broken into lines no wider than `width` at `size`: at spaces, and between any two
    /// CJK characters (they need no spaces); a word too long for a line is cut.
    pub(super) fn wrap(&mut self, text: &str, width: f32, size: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let chars: Vec<char> = paragraph.chars().collect();
            let mut start = 0;
            while start < chars.len() {
                let mut used = 0.0;
                let mut end = start;
                let mut last_break = None;
                while end < chars.len() {
                    let advance = self.advance(chars[end]) * size;
                    if used + advance > width && end > start {
                        break;
                    }
                    used += advance;
                    end += 1;
                    if chars[end - 1] == ' ' || is_cjk(chars[end - 1]) || chars.get(end).copied().is_some_and(is_cjk) {
                        last_break = Some(end);
                    }
                }
                let cut = if end < chars.len() { last_break.filter(|&b| b > start).unwrap_or(end) } else { end };
                lines.push(chars[start..cut].iter().collect::<String>().trim_end().to_owned());
                start = cut;
                while start < chars.len() && chars[start] == ' ' {
                    start += 1;
                }
            }
            if chars.is_empty() {
                lines.push(String::new());
            }
        }
        lines
    }

    /// One line of text at the current position, then moves down.
    pub(super) fn line(&mut self, x: f32, text: &str, size: f32, grey: u8) {
        let height = size * LINE_GAP;
        self.ensure(height);
        let y = self.y + size;
        self.width(text, size);
        self.push(Op::Text { x, y, size, grey, text: text.to_owned() });
        self.y += height;
    }

    /// A wrapped paragraph from `x` to the right margin.
    pub(super) fn paragraph(&mut self, x: f32, text: &str, size: f32, grey: u8) {
        for line in self.wrap(text, MARGIN + CONTENT_WIDTH - x, size) {
            self.line(x, &line, size, grey);
        }
    }

    /// A section heading with a rule under it.
    pub(super) fn heading(&mut self, text: &str) {
        self.ensure(40.0);
        self.y += 10.0;
        self.line(MARGIN, text, 12.0, TEXT);
        self.push(Op::Rule { x: MARGIN, y: self.y, width: CONTENT_WIDTH });
        self.y += 4.0;
    }

    /// A label and its value, the value wrapped in its column.
    pub(super) fn field(&mut self, label: &str, value: &str) {
        const SIZE: f32 = 9.5;
        let value_x = MARGIN + LABEL_WIDTH;
        let lines = self.wrap(value, CONTENT_WIDTH - LABEL_WIDTH, SIZE);
        let labels = self.wrap(label, LABEL_WIDTH - 8.0, SIZE);
        let rows = lines.len().max(labels.len()).max(1);
        self.ensure(SIZE * LINE_GAP * rows.min(3) as f32);
        for row in 0..rows {
            let height = SIZE * LINE_GAP;
            self.ensure(height);
            let y = self.y + SIZE;
            if let Some(label) = labels.get(row) {
                self.width(label, SIZE);
                self.push(Op::Text { x: MARGIN, y, size: SIZE, grey: MUTED, text: label.clone() });
            }
            if let Some(value) = lines.get(row) {
                self.push(Op::Text { x: value_x, y, size: SIZE, grey: TEXT, text: value.clone() });
            }
            self.y += height;
        }
    }
}

/// Han, kana, hangul, CJK punctuation and full-width forms: a line may break around them.
fn is_cjk(ch: char) -> bool {
    matches!(ch as u32,
        0x2E80..=0x2FFF | 0x3000..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}
