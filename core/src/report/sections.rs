//! What a service report says, section by section, laid out with [`Layout`].

use chrono::{DateTime, FixedOffset, Offset};

use super::layout::{CONTENT_WIDTH, Layout, MARGIN, MUTED, Op, PAGE_HEIGHT, TEXT};
use super::{ReportError, ReportFont, ReportOptions, ReportSource};
use crate::model::{JobSummary, TicketEvent};
use crate::time::Millis;
use crate::workflow::EventKind;

/// An image the report embeds, its bytes checked against the hash the document gives.
pub(super) struct Embedded {
    pub bytes: Vec<u8>,
    pub png: bool,
}

/// The laid-out report: operations per page and the images they refer to.
pub(super) struct Pages {
    pub pages: Vec<Vec<Op>>,
    pub images: Vec<Embedded>,
}

const PHOTOS_PER_ROW: usize = 4;
const PHOTO_GAP: f32 = 10.0;
const SIGNATURE_BOX: (f32, f32) = (220.0, 90.0);

/// Lays out the whole report.
pub(super) fn lay_out(
    source: &ReportSource,
    blob: &dyn Fn(&str) -> Option<Vec<u8>>,
    font: &ReportFont,
    options: &ReportOptions,
) -> Result<Pages, ReportError> {
    let measure = font.measure()?;
    let mut out = Layout::new(&measure);
    let mut images = Vec::new();
    let t = &source.ticket;
    let when = |ms: Millis| format_time(ms, options.utc_offset_minutes);

    out.line(MARGIN, "服务报告 Service report", 20.0, TEXT);
    out.paragraph(MARGIN, &clean(&t.title), 13.0, TEXT);
    out.line(MARGIN, &format!("工单 Ticket {}", t.id), 8.5, MUTED);

    out.heading("客户与现场 Customer and site");
    out.field("客户 Customer", &clean(&t.customer.name));
    if !t.customer.phone.is_empty() {
        out.field("电话 Phone", &clean(&t.customer.phone));
    }
    out.field("地址 Address", &dash(&clean(&t.customer.address)));
    if let Some(site) = t.site {
        out.field("位置 Site", &format!("{:.5}, {:.5} (±{:.0} m)", site.lat, site.lon, site.radius_m));
    }
    out.field("状态 Status", t.status.as_str());
    // No problem description: the report is the customer's copy (handed over on site,
    // downloaded from the tracking page), and the description is the desk's working text
    // (gate codes, remarks) that the tracking page does not show either.

    out.heading("时间 Times");
    out.field("创建 Created", &when(t.created_at));
    let first = |kind: EventKind| live(&t.events).find(|e| e.kind == kind.as_str()).map(|e| e.at);
    let last = |kind: EventKind| live(&t.events).filter(|e| e.kind == kind.as_str()).last().map(|e| e.at);
    for (label, at) in [
        ("出发 Travel started", first(EventKind::TravelStarted)),
        ("到达 Arrival", t.milestones.arrived_at.or(first(EventKind::CheckedIn))),
        ("开始工作 Work started", first(EventKind::WorkStarted)),
        ("完成 Completion", t.milestones.resolved_at.or(last(EventKind::Completed))),
    ] {
        out.field(label, &at.map_or_else(|| "—".to_owned(), when));
    }
    let worked: u64 = t.time_entries.iter().filter(|e| e.void.is_none()).map(|e| u64::from(e.minutes)).sum();
    out.field("工时合计 Time recorded", &minutes(worked));
    if let Some(summary) =
        live(&t.events).filter(|e| e.kind == EventKind::Completed.as_str()).last().and_then(|e| e.summary.clone())
    {
        out.field("完成说明 Completion note", &clean(&summary));
    }

    out.heading("客户签字确认的工作内容 Job summary signed by the customer");
    match (&source.signed_summary, &t.signature) {
        (Some(summary), Some(signature)) => {
            summary_lines(&mut out, summary);
            let verdict = if source.signature_matches() {
                "与签名记录一致 Matches the signature record"
            } else {
                "与签名记录不一致 Does NOT match the signature record"
            };
            out.field("核对 Check", &format!("{verdict} (SHA-256 {})", short(&signature.summary_sha256)));
            if JobSummary::of(t) != *summary {
                out.paragraph(
                    MARGIN,
                    "签字后有新增记录，见下文。Work was recorded after signing; see below.",
                    9.0,
                    MUTED,
                );
            }
        }
        (None, Some(signature)) => {
            out.field(
                "核对 Check",
                &format!(
                    "签名所依据的内容无法读取 The signed summary cannot be read (SHA-256 {})",
                    short(&signature.summary_sha256)
                ),
            );
        }
        _ => {
            out.paragraph(MARGIN, "客户尚未签字 Not signed by the customer yet.", 9.5, MUTED);
            summary_lines(&mut out, &unsigned_summary(t));
        }
    }

    out.heading("备件 Parts");
    let parts: Vec<_> = t.parts.iter().filter(|p| p.void.is_none()).collect();
    if parts.is_empty() {
        out.paragraph(MARGIN, "—", 9.5, MUTED);
    }
    for part in parts {
        // Who recorded it is left out: a user id may be an engineer's full name.
        out.field(&clean(&part.sku), &format!("× {}   {}", part.qty, when(part.at)));
    }

    out.heading("工时记录 Time entries");
    let entries: Vec<_> = t.time_entries.iter().filter(|e| e.void.is_none()).collect();
    if entries.is_empty() {
        out.paragraph(MARGIN, "—", 9.5, MUTED);
    }
    for entry in entries {
        out.field(&clean(&entry.kind), &format!("{}   {}", minutes(u64::from(entry.minutes)), when(entry.at)));
    }

    let cell = (CONTENT_WIDTH - PHOTO_GAP * (PHOTOS_PER_ROW - 1) as f32) / PHOTOS_PER_ROW as f32;
    out.ensure(40.0 + cell + 30.0);
    out.heading("照片 Photos");
    if t.photos.is_empty() {
        out.paragraph(MARGIN, "—", 9.5, MUTED);
    }
    // The document keeps photos by hash; the report shows them in the order they were taken.
    let mut photos: Vec<_> = t.photos.iter().collect();
    photos.sort_by(|a, b| {
        (a.taken_at.is_none(), a.taken_at, &a.sha256).cmp(&(b.taken_at.is_none(), b.taken_at, &b.sha256))
    });
    for row in photos.chunks(PHOTOS_PER_ROW) {
        let captions: Vec<Vec<String>> =
            row.iter().map(|p| out.wrap(&clean(&p.caption), cell, 7.5).into_iter().take(2).collect()).collect();
        let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0) as f32;
        out.ensure(cell + 6.0 + caption_lines * 10.0);
        let top = out.y;
        for (i, photo) in row.iter().enumerate() {
            let x = MARGIN + i as f32 * (cell + PHOTO_GAP);
            match image(blob, &photo.thumbnail_sha256, false) {
                Some((embedded, (w, h))) => {
                    let (width, height) = fit((w, h), (cell, cell));
                    let (dx, dy) = ((cell - width) / 2.0, (cell - height) / 2.0);
                    images.push(embedded);
                    out.push(Op::Image { x: x + dx, y: top + dy, width, height, blob: images.len() - 1 });
                }
                None => {
                    out.push(Op::Frame { x, y: top, width: cell, height: cell });
                    out.push(Op::Text {
                        x: x + 6.0,
                        y: top + cell / 2.0 - 4.0,
                        size: 8.0,
                        grey: MUTED,
                        text: "照片缺失".into(),
                    });
                    out.push(Op::Text {
                        x: x + 6.0,
                        y: top + cell / 2.0 + 8.0,
                        size: 8.0,
                        grey: MUTED,
                        text: "Photo not available".into(),
                    });
                    out.width("照片缺失 Photo not available", 8.0);
                }
            }
            for (n, caption) in captions[i].iter().enumerate() {
                out.push(Op::Text {
                    x,
                    y: top + cell + 12.0 + n as f32 * 10.0,
                    size: 7.5,
                    grey: TEXT,
                    text: caption.clone(),
                });
            }
        }
        out.y = top + cell + 6.0 + caption_lines * 10.0 + 8.0;
    }

    // The heading stays with the signature it announces.
    out.ensure(40.0 + SIGNATURE_BOX.1 + 40.0);
    out.heading("客户签字 Customer signature");
    match &t.signature {
        Some(signature) => {
            let top = out.y + 4.0;
            match image(blob, &signature.png_sha256, true) {
                Some((embedded, size)) => {
                    let (width, height) = fit(size, SIGNATURE_BOX);
                    images.push(embedded);
                    out.push(Op::Image { x: MARGIN, y: top, width, height, blob: images.len() - 1 });
                }
                None => {
                    out.push(Op::Frame { x: MARGIN, y: top, width: SIGNATURE_BOX.0, height: SIGNATURE_BOX.1 });
                    out.push(Op::Text {
                        x: MARGIN + 8.0,
                        y: top + 20.0,
                        size: 8.0,
                        grey: MUTED,
                        text: "签名图像缺失 Signature image not available".into(),
                    });
                    out.width("签名图像缺失 Signature image not available", 8.0);
                }
            }
            out.y = top + SIGNATURE_BOX.1 + 6.0;
            out.field("签字人 Signed by", &clean(&signature.signer));
            out.field("签字时间 Signed at", &when(signature.signed_at));
        }
        None => out.paragraph(MARGIN, "—", 9.5, MUTED),
    }

    out.heading("文档版本 Made from document heads");
    out.paragraph(
        MARGIN,
        "本报告由以下文档版本生成，可据此重新生成核对。This report was made from the ticket's document at these heads; the same heads make the same report.",
        8.0,
        MUTED,
    );
    for head in &source.heads {
        out.line(MARGIN, head, 7.5, TEXT);
    }
    out.line(MARGIN, &format!("文档时间 Document time: {}", when(document_time(source))), 7.5, MUTED);

    // A footer on every page, now that the number of pages is known.
    let count = out.pages.len();
    let footers: Vec<String> =
        (1..=count).map(|n| format!("{}   第 {n}/{count} 页 Page {n} of {count}", t.id)).collect();
    for (page, footer) in out.pages.iter_mut().zip(footers) {
        page.push(Op::Text { x: MARGIN, y: PAGE_HEIGHT - MARGIN / 2.0, size: 7.0, grey: MUTED, text: footer });
    }
    out.width("第页 Page of 0123456789", 7.0);
    if !out.missing.is_empty() {
        return Err(ReportError::MissingGlyphs(out.missing.iter().take(12).collect()));
    }
    Ok(Pages { pages: out.pages, images })
}

fn summary_lines(out: &mut Layout<'_>, summary: &JobSummary) {
    if summary.work.is_empty() && summary.parts.is_empty() && summary.time.is_empty() {
        out.paragraph(MARGIN, "—", 9.5, MUTED);
    }
    for work in &summary.work {
        out.field("工作 Work", &clean(work));
    }
    for (sku, qty) in &summary.parts {
        out.field("备件 Part", &format!("{} × {qty}", clean(sku)));
    }
    for (mins, kind) in &summary.time {
        out.field("工时 Time", &format!("{} {}", minutes(u64::from(*mins)), clean(kind)));
    }
    out.field("照片 Photos", &summary.photos.len().to_string());
}

/// What an unsigned ticket's report lists as work: the ticket's summary with only the notes
/// marked public. Nobody showed the customer the internal ones (a signed summary is printed
/// as signed: the customer saw it on the device), and they never leave the service team.
fn unsigned_summary(t: &crate::model::Ticket) -> JobSummary {
    let work = t.notes.iter().filter(|n| n.void.is_none() && n.public).map(|n| n.text.clone()).collect();
    JobSummary { work, ..JobSummary::of(t) }
}

/// Events the state machine did not skip.
fn live(events: &[TicketEvent]) -> impl Iterator<Item = &TicketEvent> {
    events.iter().filter(|e| e.void.is_none())
}

/// An image blob whose bytes hash to `sha256` and read as the expected format, with its size
/// in pixels; `None` when missing or not what the document says.
fn image(blob: &dyn Fn(&str) -> Option<Vec<u8>>, sha256: &str, png: bool) -> Option<(Embedded, (u32, u32))> {
    if sha256.is_empty() {
        return None;
    }
    let bytes = blob(sha256)?;
    if JobSummary::sha256_hex(&bytes) != sha256 {
        return None;
    }
    let size = if png { png_size(&bytes)? } else { jpeg_size(&bytes)? };
    (size.0 > 0 && size.1 > 0).then_some((Embedded { bytes, png }, size))
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().ok()?;
    let info = reader.info();
    Some((info.width, info.height))
}

fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    decoder.info().map(|info| (u32::from(info.width), u32::from(info.height)))
}

/// The largest size with the image's aspect that fits the box.
fn fit((w, h): (u32, u32), (box_w, box_h): (f32, f32)) -> (f32, f32) {
    let scale = (box_w / w as f32).min(box_h / h as f32);
    (w as f32 * scale, h as f32 * scale)
}

/// The latest time the ticket records: the report's date, so it is the same wherever made.
pub(super) fn document_time(source: &ReportSource) -> Millis {
    let t = &source.ticket;
    let times = std::iter::once(t.created_at)
        .chain(t.events.iter().map(|e| e.at))
        .chain(t.notes.iter().map(|n| n.at))
        .chain(t.parts.iter().map(|p| p.at))
        .chain(t.time_entries.iter().map(|e| e.at))
        .chain(t.photos.iter().filter_map(|p| p.taken_at))
        .chain(t.signature.iter().map(|s| s.signed_at))
        .chain(t.feedback.iter().map(|f| f.at));
    times.max().unwrap_or(t.created_at)
}

/// "2026-12-03 14:05 UTC+08:00".
pub(super) fn format_time(ms: Millis, utc_offset_minutes: i32) -> String {
    let minutes = utc_offset_minutes.clamp(-(24 * 60 - 1), 24 * 60 - 1);
    let offset = FixedOffset::east_opt(minutes * 60).unwrap_or(chrono::Utc.fix());
    match DateTime::from_timestamp_millis(ms) {
        Some(time) => {
            let local = time.with_timezone(&offset);
            let sign = if minutes < 0 { '-' } else { '+' };
            let abs = minutes.unsigned_abs();
            format!("{} UTC{sign}{:02}:{:02}", local.format("%Y-%m-%d %H:%M"), abs / 60, abs % 60)
        }
        None => ms.to_string(),
    }
}

fn minutes(total: u64) -> String {
    if total >= 60 { format!("{} h {:02} min", total / 60, total % 60) } else { format!("{total} min") }
}

fn short(sha256: &str) -> &str {
    sha256.get(..16).unwrap_or(sha256)
}

fn dash(text: &str) -> String {
    if text.trim().is_empty() { "—".to_owned() } else { text.to_owned() }
}

/// Text from the document with control characters (other than line breaks) and tabs made
/// spaces: they have no glyph and mean nothing on paper.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' {
                c
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect()
}
