//! The service report made on a device (core::report through the client facade): Chinese and
//! English text read back with `pdftotext`, page 1 rendered with `pdftoppm` and kept in
//! `artifacts/reports/`, the size with four photos, the same bytes for the same heads, missing
//! blobs and fonts. Needs poppler-utils and fonts-noto-cjk: `scripts/ensure-report-tools.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use fieldsync_core::client::ReportRequest;
use fieldsync_core::media::StrokePoint;
use fieldsync_core::model::{Customer, NewPhoto, NewTicket, PhotoInput, Site};
use fieldsync_core::report::{ReportError, ReportOptions};
use fieldsync_core::{Client, Error, Identity, Location, Role};

const CUSTOMER: &str = "上海某某科技有限公司";
const NOTE_ZH: &str = "更换了主板电源模块，系统运行正常。客户要求下周回访。";
const NOTE_EN: &str = "Replaced the PSU module; burn-in test passed.";

struct Device {
    _dir: tempfile::TempDir,
    dispatcher: Client,
    engineer: Client,
    id: String,
    /// The document's heads just before the customer signed.
    before_signing: Vec<String>,
}

fn heads(client: &Client, id: &str) -> Vec<String> {
    let doc = automerge::Automerge::load(&client.export(id).expect("export")).expect("load");
    doc.get_heads().iter().map(ToString::to_string).collect()
}

fn identity(user: &str, role: Role) -> Identity {
    Identity { user_id: user.into(), device_id: format!("{user}-device"), role }
}

fn deliver(from: &Client, to: &Client, id: &str) {
    to.merge_remote(id, &from.export(id).expect("export")).expect("merge");
}

/// A camera-like JPEG: noise over a gradient, so it compresses like a photo, not like a flat test card.
fn camera_jpeg(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state & 0x3f) as u8;
            rgb.extend_from_slice(&[
                ((x * 255 / u32::from(width)) as u8).wrapping_add(noise),
                ((y * 255 / u32::from(height)) as u8).wrapping_add(noise / 2),
                (seed as u8).wrapping_mul(40).wrapping_add(noise),
            ]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 92).encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

fn stroke(y: f32) -> Vec<StrokePoint> {
    (0..40)
        .map(|i| StrokePoint { x: 0.1 + i as f32 * 0.02, y: y + ((i as f32) * 0.4).sin() * 0.1, t: i * 16 })
        .collect()
}

/// A ticket worked on the engineer's device: notes in Chinese and English, a part, time, four
/// photos, the customer's signature, completed.
fn worked_ticket(photos: u32) -> Device {
    let dir = tempfile::tempdir().expect("tempdir");
    let dispatcher = Client::open(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher)).expect("open");
    let engineer = Client::open(dir.path().join("eng.sqlite"), identity("eng-1", Role::Engineer)).expect("open");
    let id = dispatcher
        .create_ticket(&NewTicket {
            title: "服务器无法启动 Server does not boot".into(),
            description: "机房二号机柜的服务器断电后无法启动。".into(),
            customer: Customer {
                name: CUSTOMER.into(),
                phone: "+86 21 5555 0100".into(),
                address: "上海市浦东新区张江路 88 号".into(),
                tier: "gold".into(),
                ..Default::default()
            },
            site: Some(Site { lat: 31.2035, lon: 121.5906, radius_m: 200.0 }),
            assignee: Some("eng-1".into()),
            ..Default::default()
        })
        .expect("create");
    deliver(&dispatcher, &engineer, &id);
    let e = &engineer;
    e.accept(&id).expect("accept");
    e.start_travel(&id).expect("travel");
    e.check_in(&id, Location { lat: 31.2036, lon: 121.5907, accuracy_m: 5.0 }).expect("check in");
    e.start_work(&id).expect("work");
    e.add_note(&id, NOTE_ZH).expect("note");
    e.add_note(&id, NOTE_EN).expect("note");
    e.add_part(&id, "PSU-750W", 1).expect("part");
    e.log_time(&id, 95, "labour").expect("time");
    for n in 0..photos {
        e.add_photo_blocking(
            &id,
            &NewPhoto {
                source: PhotoInput::Bytes(camera_jpeg(1200, 900, n + 1)),
                caption: format!("机柜照片 {n} rack photo"),
                taken_at: Some(1_780_000_000_000 + i64::from(n)),
                location: None,
            },
        )
        .expect("photo");
    }
    let before_signing = heads(e, &id);
    e.capture_signature(&id, "王经理", &[stroke(0.4), stroke(0.6)]).expect("sign");
    e.complete(&id, "已修复 Fixed").expect("complete");
    Device { _dir: dir, dispatcher, engineer, id, before_signing }
}

fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(path.exists(), "{name} is missing: run scripts/ensure-report-tools.sh (Debian poppler-utils)");
    path
}

fn pdftotext(pdf: &Path) -> String {
    let out = Command::new(tool("pdftotext")).arg("-enc").arg("UTF-8").arg(pdf).arg("-").output().expect("pdftotext");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn run_tool(name: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(tool(name)).args(args).output().expect(name);
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/reports");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn request(out_dir: &Path) -> ReportRequest {
    ReportRequest {
        out_dir: Some(out_dir.to_owned()),
        options: ReportOptions { utc_offset_minutes: 480 },
        ..Default::default()
    }
}

#[test]
fn the_report_shows_chinese_and_english_text_and_fits_one_megabyte_with_four_photos() {
    let device = worked_ticket(4);
    let out = tempfile::tempdir().expect("tempdir");
    let path = device.engineer.service_report(&device.id, &request(out.path())).expect("report");
    let size = std::fs::metadata(&path).expect("written").len();
    println!("service report with 4 photos: {size} bytes");
    assert!(size <= 1_000_000, "a report with 4 photos is {size} bytes, over 1 MB");

    let text = pdftotext(&path);
    // What issue 15 item 4 lists: customer, site, times (arrival, work, completion), the signed
    // summary, parts, time entries, the signature with signer and time.
    for expected in [
        CUSTOMER,
        "上海市浦东新区张江路 88 号",
        "31.20350, 121.59060",
        "到达 Arrival",
        "开始工作 Work started",
        "完成 Completion",
        "更换了主板电源模块",
        NOTE_EN,
        "Service report",
        "服务报告",
        "王经理",
        "签字时间 Signed at",
        "PSU-750W",
        "工时记录 Time entries",
        "1 h 35 min",
        "UTC+08:00",
    ] {
        assert!(text.contains(expected), "the report's text lacks {expected:?}:\n{text}");
    }
    assert!(text.contains("Matches the signature record"), "the signed summary is not verified:\n{text}");
    assert!(!text.contains("Photo not available"), "the device holds every photo:\n{text}");
    for head in heads(&device.engineer, &device.id) {
        assert!(text.contains(&head), "the report does not name head {head}");
    }
    // The four photo thumbnails and the signature are images in it (poppler's pdfimages).
    let images = run_tool("pdfimages", &["-list".as_ref(), path.as_os_str()]);
    assert_eq!(images.lines().skip(2).filter(|l| l.contains("jpeg")).count(), 4, "{images}");
    assert_eq!(images.lines().skip(2).count(), 5, "4 thumbnails and the signature: {images}");
    // The CJK font is embedded as a subset (a six-letter tag), not the 19 MB collection.
    let fonts = run_tool("pdffonts", &[path.as_os_str()]);
    let noto = fonts.lines().find(|l| l.contains("NotoSansCJKsc")).unwrap_or_else(|| panic!("{fonts}"));
    assert!(noto.split_whitespace().next().is_some_and(|name| name.len() > 7 && name.as_bytes()[6] == b'+'), "{fonts}");
    assert!(noto.contains("yes yes yes"), "embedded, subset, with a ToUnicode map: {fonts}");

    // Page 1 as a picture, kept with the browser tests' screenshots (artifacts/).
    let prefix = artifacts().join("service-report");
    let status = Command::new(tool("pdftoppm"))
        .args(["-r", "80", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(&path)
        .arg(&prefix)
        .status()
        .expect("pdftoppm");
    assert!(status.success(), "pdftoppm failed");
    let png = prefix.with_extension("png");
    assert!(std::fs::metadata(&png).expect("page 1 png").len() > 10_000, "page 1 rendered blank");
    std::fs::copy(&path, artifacts().join("service-report.pdf")).expect("keep the pdf");
}

#[test]
fn the_same_heads_make_the_same_bytes_and_older_heads_the_report_of_then() {
    let device = worked_ticket(1);
    let out = tempfile::tempdir().expect("tempdir");
    // Let the clock pass the ticket's last second, so a date taken from the clock would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let first = device.engineer.service_report_pdf(&device.id, &request(out.path())).expect("report");
    let again = device.engineer.service_report_pdf(&device.id, &request(out.path())).expect("report");
    assert!(first == again, "the same heads must make the same bytes");
    // Pinned to the document, not the clock: the creation date is the ticket's latest time
    // (its completion), whenever the report is made.
    let ticket = device.engineer.get(&device.id).expect("ticket");
    let latest = ticket.events.iter().map(|e| e.at).max().expect("events");
    let date = chrono::DateTime::from_timestamp_millis(latest).expect("time").format("D:%Y%m%d%H%M%SZ").to_string();
    let pinned = format!("/CreationDate({date})");
    assert!(first.windows(pinned.len()).any(|w| w == pinned.as_bytes()), "the PDF's creation date is not {pinned}");

    // The same document on another device (the dispatcher's copy, with the blobs copied
    // over) makes the same report too.
    deliver(&device.engineer, &device.dispatcher, &device.id);
    let store_blobs = |client: &Client| {
        let ticket = client.get(&device.id).expect("ticket");
        let mut shas: Vec<String> = ticket.photos.iter().map(|p| p.thumbnail_sha256.clone()).collect();
        shas.extend(ticket.signature.map(|s| s.png_sha256));
        shas
    };
    let missing_there = store_blobs(&device.dispatcher);
    let on_dispatcher = device.dispatcher.service_report_pdf(&device.id, &request(out.path())).expect("report");
    assert_ne!(first, on_dispatcher, "without the blobs the report must say they are missing");
    assert!(!missing_there.is_empty());

    // Before the signature: the report of then, which says it is not signed.
    let mut older = request(out.path());
    older.heads = device.before_signing.clone();
    let path = device.engineer.service_report(&device.id, &older).expect("older report");
    let text = pdftotext(&path);
    assert!(text.contains("Not signed by the customer yet"), "{text}");
    for head in &device.before_signing {
        assert!(text.contains(head), "the older report does not name its head {head}");
    }

    older.heads = vec!["00".repeat(32)];
    let err = device.engineer.service_report_pdf(&device.id, &older).expect_err("unknown head");
    assert!(matches!(err, Error::Report(ReportError::UnknownHead(_))), "{err:?}");
}

#[test]
fn missing_photo_and_signature_bytes_are_said_in_the_report_not_fatal() {
    let device = worked_ticket(2);
    // The dispatcher's device got the document by sync but never the blobs.
    deliver(&device.engineer, &device.dispatcher, &device.id);
    let out = tempfile::tempdir().expect("tempdir");
    let path = device.dispatcher.service_report(&device.id, &request(out.path())).expect("report");
    let text = pdftotext(&path);
    assert_eq!(text.matches("Photo not available").count(), 2, "{text}");
    assert!(text.contains("Signature image not available"), "{text}");
    assert!(text.contains("王经理"), "the signer is still named:\n{text}");
}

#[test]
fn without_a_usable_font_the_report_is_a_typed_error() {
    let device = worked_ticket(0);
    let out = tempfile::tempdir().expect("tempdir");
    let mut req = request(out.path());

    req.font_path = Some(out.path().join("no-such-font.ttf"));
    let err = device.engineer.service_report(&device.id, &req).expect_err("missing font file");
    assert!(matches!(err, Error::Report(ReportError::NoFont(_))), "{err:?}");

    let garbage = out.path().join("garbage.ttf");
    std::fs::write(&garbage, b"not a font at all").expect("write");
    req.font_path = Some(garbage);
    let err = device.engineer.service_report(&device.id, &req).expect_err("not a font");
    assert!(matches!(err, Error::Report(ReportError::NoFont(_))), "{err:?}");

    // A Latin-only font cannot show the Chinese customer name: refused, naming characters.
    req.font_path = Some(PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    assert!(
        req.font_path.as_deref().is_some_and(Path::exists),
        "run scripts/ensure-report-tools.sh (fonts-dejavu-core)"
    );
    let err = device.engineer.service_report(&device.id, &req).expect_err("latin font");
    match err {
        Error::Report(ReportError::MissingGlyphs(chars)) => assert!(chars.contains('上'), "{chars}"),
        other => panic!("expected MissingGlyphs, got {other:?}"),
    }
    let written: Vec<_> = std::fs::read_dir(out.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(written.len(), 1, "no report file is written on an error: {written:?}");

    // The font the app passes is the one used (here the serif CJK face, not the default sans).
    req.font_path = Some(PathBuf::from("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"));
    let path = device.engineer.service_report(&device.id, &req).expect("report in the app's font");
    let fonts = run_tool("pdffonts", &[path.as_os_str()]);
    assert!(fonts.contains("NotoSerifCJKsc") && !fonts.contains("NotoSansCJK"), "{fonts}");
    assert!(pdftotext(&path).contains(CUSTOMER));
}

#[test]
fn the_report_is_the_customers_copy_without_internal_notes_description_or_user_ids() {
    // Completed without a signature (the CLI's and many desks' way): the report lists the
    // work the customer may see, the public notes, and nothing of the desk's internal text.
    let dir = tempfile::tempdir().expect("tempdir");
    let dispatcher = Client::open(dir.path().join("disp.sqlite"), identity("disp", Role::Dispatcher)).expect("open");
    let engineer = Client::open(dir.path().join("eng.sqlite"), identity("Mei Chen", Role::Engineer)).expect("open");
    let id = dispatcher
        .create_ticket(&NewTicket {
            title: "空调不制冷 Air conditioner not cooling".into(),
            description: "Gate code 4711; customer is difficult".into(),
            customer: Customer { name: CUSTOMER.into(), ..Default::default() },
            assignee: Some("Mei Chen".into()),
            ..Default::default()
        })
        .expect("create");
    dispatcher.add_note(&id, "INTERNAL: bring the big ladder").expect("note");
    deliver(&dispatcher, &engineer, &id);
    let e = &engineer;
    e.accept(&id).expect("accept");
    e.start_travel(&id).expect("travel");
    e.check_in(&id, Location { lat: 31.2, lon: 121.5, accuracy_m: 5.0 }).expect("check in");
    e.start_work(&id).expect("work");
    e.add_note(&id, "INTERNAL: compressor looks old").expect("note");
    e.add_public_note(&id, "已补充制冷剂 Refilled the refrigerant").expect("public note");
    e.add_part(&id, "R32-1KG", 1).expect("part");
    e.log_time(&id, 45, "labour").expect("time");
    e.complete(&id, "Refilled refrigerant").expect("complete");

    let out = tempfile::tempdir().expect("tempdir");
    let text = pdftotext(&engineer.service_report(&id, &request(out.path())).expect("report"));
    for expected in ["已补充制冷剂 Refilled the refrigerant", "R32-1KG", "45 min", "Not signed by the customer yet"]
    {
        assert!(text.contains(expected), "the report's text lacks {expected:?}:\n{text}");
    }
    for secret in ["INTERNAL", "ladder", "compressor", "4711", "difficult", "Chen"] {
        assert!(!text.contains(secret), "the customer's report shows {secret:?}:\n{text}");
    }
}
