//! Unit tests of the report's pieces: line wrapping, time formatting, font choice. The whole
//! report, read back with pdftotext: core/tests/report.rs.

use super::font::{ReportFont, load_font};
use super::layout::Layout;
use super::sections::format_time;
use super::{ReportError, parse_heads};

fn noto() -> ReportFont {
    load_font(None).expect("Noto Sans CJK: run scripts/ensure-report-tools.sh")
}

#[test]
fn the_collection_face_chosen_is_simplified_chinese() {
    assert_eq!(noto().family(), "Noto Sans CJK SC");
}

#[test]
fn chinese_wraps_between_characters_and_english_between_words() {
    let font = noto();
    let measure = font.measure().expect("measure");
    let mut layout = Layout::new(&measure);
    let chinese = "更换了主板电源模块，系统运行正常。客户要求下周回访。";
    let lines = layout.wrap(chinese, 100.0, 10.0);
    assert!(lines.len() > 2, "{lines:?}");
    assert_eq!(lines.concat(), chinese, "no character is lost or added");
    for line in &lines {
        assert!(layout.width(line, 10.0) <= 100.0 + 0.01, "{line:?} is wider than the column");
    }

    let english = "Replaced the PSU module and ran the burn-in test for two hours";
    let lines = layout.wrap(english, 120.0, 10.0);
    assert!(lines.len() > 1);
    assert_eq!(lines.join(" "), english, "breaks only at spaces");
    let long = "x".repeat(200);
    let lines = layout.wrap(&long, 120.0, 10.0);
    assert!(lines.len() > 1 && lines.concat() == long, "a word longer than the line is cut, not lost");
    assert_eq!(layout.wrap("a\n\nb", 120.0, 10.0), vec!["a", "", "b"], "line breaks are kept");
    assert!(layout.missing.is_empty());
}

#[test]
fn a_latin_font_reports_the_characters_it_lacks() {
    let bytes = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .expect("DejaVu Sans: run scripts/ensure-report-tools.sh");
    let font = ReportFont::from_bytes(bytes).expect("a font");
    let measure = font.measure().expect("measure");
    let mut layout = Layout::new(&measure);
    layout.width("Shanghai 上海", 10.0);
    assert_eq!(layout.missing.iter().collect::<String>(), "上海");
}

#[test]
fn fonts_that_are_not_fonts_are_refused_with_a_reason() {
    assert!(matches!(ReportFont::from_bytes(b"hello".to_vec()), Err(ReportError::NoFont(_))));
    assert!(matches!(ReportFont::from_bytes(Vec::new()), Err(ReportError::NoFont(_))));
    let err = load_font(Some(std::path::Path::new("/no/such/font.ttf"))).expect_err("missing");
    assert!(matches!(err, ReportError::NoFont(ref m) if m.contains("/no/such/font.ttf")), "{err}");
}

#[test]
fn times_are_shown_at_the_given_offset() {
    let ms = 1_780_000_000_000; // 2026-05-28 20:26:40 UTC
    assert_eq!(format_time(ms, 0), "2026-05-28 20:26 UTC+00:00");
    assert_eq!(format_time(ms, 480), "2026-05-29 04:26 UTC+08:00");
    assert_eq!(format_time(ms, -330), "2026-05-28 14:56 UTC-05:30");
    // An offset no zone has is clamped, never a panic.
    assert!(format_time(ms, i32::MAX).ends_with("UTC+23:59"));
    assert_eq!(format_time(i64::MAX, 0), i64::MAX.to_string());
}

#[test]
fn heads_that_are_not_hex_hashes_are_named() {
    assert!(parse_heads(&[&"ab".repeat(32)]).is_ok());
    assert_eq!(parse_heads(&["nothex"]), Err(ReportError::UnknownHead("nothex".into())));
}
