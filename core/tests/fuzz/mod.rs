//! The fuzz harnesses of fieldsync-core, one function per cargo-fuzz target.
//!
//! The same functions run twice: under libFuzzer (fuzz/fuzz_targets/*.rs include this file)
//! and in `cargo test` (tests/fuzz_regressions.rs feeds them every file under
//! tests/fuzz-regressions/<target>/). Each takes arbitrary bytes and must return; a panic,
//! an abort or a failed assertion is a finding. Typed errors are the expected outcome for
//! most inputs.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::sync::{Mutex, OnceLock};

use automerge::{ActorId, Automerge};
use fieldsync_core::Client;
use fieldsync_core::media::{self, PhotoOptions, PhotoSource, SignatureBackground, SignatureOptions, StrokePoint};
use fieldsync_core::model::doc::{self, EventDraft, Stamp};
use fieldsync_core::model::{Customer, Identity, NewTicket};
use fieldsync_core::protocol::{SyncRequest, SyncResponse};
use fieldsync_core::workflow::{EventKind, Role};

/// A harness: arbitrary bytes in, a panic when something is wrong.
pub type Harness = fn(&[u8]);

/// Every target, by name: the folder under tests/fuzz-regressions and the fuzz target.
pub const TARGETS: &[(&str, Harness)] = &[
    ("protocol_envelope", protocol_envelope),
    ("document_load", document_load),
    ("photo_decoder", photo_decoder),
    ("exif", exif),
    ("signature_strokes", signature_strokes),
];

// ---------------------------------------------------------------------------------------------
// protocol_envelope

/// An envelope header (magic, kind, version 1), so the fuzzer reaches the CBOR body at once.
const REQUEST_HEADER: &[u8] = b"FSYN\x01\x00\x01";
const RESPONSE_HEADER: &[u8] = b"FSYN\x02\x00\x01";

/// Both decoders on the bytes as they are, and on the bytes as the body of a valid header.
/// Whatever decodes must encode and decode back to the same message.
pub fn protocol_envelope(data: &[u8]) {
    let with_header = |header: &[u8]| [header, data].concat();
    for bytes in [data.to_vec(), with_header(REQUEST_HEADER)] {
        if let Ok(request) = SyncRequest::decode(&bytes) {
            assert_eq!(SyncRequest::decode(&request.encode()).as_ref(), Ok(&request), "request round trip");
        }
    }
    for bytes in [data.to_vec(), with_header(RESPONSE_HEADER)] {
        if let Ok(response) = SyncResponse::decode(&bytes) {
            assert_eq!(SyncResponse::decode(&response.encode()).as_ref(), Ok(&response), "response round trip");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// document_load

/// The ticket every `document_load` input is merged into (and, for a second try, a ticket
/// the store does not have).
pub const TICKET_ID: &str = "fuzz-ticket-1";
const OTHER_TICKET_ID: &str = "fuzz-ticket-2";
/// 2024-01-01T00:00:00Z: fixed, so the base document (and seeds built on it) never changes.
const BASE_TIME: i64 = 1_704_067_200_000;

fn fixed_identity(user: &str, role: Role) -> Identity {
    Identity { user_id: user.into(), device_id: format!("{user}-device"), role }
}

/// A small ticket document, byte-for-byte the same on every run: fixed actor, ids and times.
pub fn base_document() -> Automerge {
    let dispatcher = fixed_identity("dana", Role::Dispatcher);
    let mut document = Automerge::new().with_actor(ActorId::from(b"fuzz-dispatcher".as_slice()));
    let new = NewTicket {
        title: "Boiler leaks".into(),
        description: "Water under the boiler".into(),
        customer: Customer { name: "Ada".into(), address: "1 Main St".into(), ..Customer::default() },
        checklist: vec!["valve".into(), "pressure".into()],
        ..NewTicket::default()
    };
    let stamp = Stamp { id: "event-1".into(), at: BASE_TIME, identity: &dispatcher };
    doc::edit(&mut document, BASE_TIME, "create", |tx| doc::create(tx, TICKET_ID, &new, &stamp)).unwrap();
    let dispatched = EventDraft { assignee: Some("eli".into()), ..EventDraft::of(EventKind::Dispatched) };
    let stamp = Stamp { id: "event-2".into(), at: BASE_TIME + 1, identity: &dispatcher };
    doc::edit(&mut document, BASE_TIME + 1, "dispatch", |tx| doc::append_event(tx, &dispatched, &stamp)).unwrap();
    document
}

/// A device store (on a temp dir) holding the base ticket.
struct Device {
    client: Client,
    _dir: tempfile::TempDir,
}

impl Device {
    fn open() -> Device {
        let dir = tempfile::tempdir().unwrap();
        let options = fieldsync_core::OpenOptions {
            durability: fieldsync_core::Durability::AppCrash,
            ..fieldsync_core::OpenOptions::default()
        };
        let client =
            Client::open_with(dir.path().join("device.sqlite"), fixed_identity("eli", Role::Engineer), options)
                .unwrap();
        assert!(client.merge_remote(TICKET_ID, &base_document().save()).unwrap(), "the base ticket merges");
        Device { client, _dir: dir }
    }
}

/// One store for every input: a refused merge changes nothing, and a store that took an input
/// is replaced before the next one, so each input meets the same store.
static DEVICE: Mutex<Option<Device>> = Mutex::new(None);
static BASE: OnceLock<Automerge> = OnceLock::new();

/// The bytes as a saved document (the read path: load, read, summarize), then as changes
/// received for a ticket the store has and for one it does not (the receive path).
pub fn document_load(data: &[u8]) {
    if let Ok(document) = Automerge::load(data) {
        read(&document);
    }
    // Incremental changes on top of the base document, as a device applies them.
    let mut document = BASE.get_or_init(base_document).clone();
    if document.load_incremental(data).is_ok() {
        read(&document);
    }

    let mut device = DEVICE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let client = &device.get_or_insert_with(Device::open).client;
    let mut changed = false;
    for ticket_id in [TICKET_ID, OTHER_TICKET_ID] {
        if let Ok(true) = client.merge_remote(ticket_id, data) {
            changed = true;
            // What was stored must read back, from the cache and from the store.
            client.get(ticket_id).unwrap();
            client.list(&Default::default()).unwrap();
        }
    }
    if changed {
        *device = None;
    }
}

fn read(document: &Automerge) {
    let _ = doc::read_ticket(document);
    let _ = doc::summarize(document, BASE_TIME, false);
    let _ = doc::derive(document);
}

// ---------------------------------------------------------------------------------------------
// photo_decoder, exif

/// Small limits, so one input costs milliseconds: 64 K pixels, 64 px output.
pub fn small_photo_options() -> PhotoOptions {
    PhotoOptions {
        max_pixels: 256 * 256,
        max_bytes: 1024 * 1024,
        long_edge: 64,
        thumbnail_edge: 16,
        ..PhotoOptions::default()
    }
}

/// The photo pipeline on arbitrary bytes: a photo, or a typed error.
pub fn photo_decoder(data: &[u8]) {
    if let Ok(photo) = media::process_photo(PhotoSource::Bytes(data), &small_photo_options()) {
        assert!(photo.width <= 64 && photo.height <= 64, "{}×{}", photo.width, photo.height);
        assert!(photo.thumbnail_width <= 16 && photo.thumbnail_height <= 16);
    }
}

/// A valid 16×8 baseline JPEG, made once.
fn small_jpeg() -> &'static [u8] {
    static JPEG: OnceLock<Vec<u8>> = OnceLock::new();
    JPEG.get_or_init(|| {
        let (width, height) = (16u16, 8u16);
        let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
            .flat_map(|i| [(i * 16) as u8, (i * 3) as u8, 255 - (i * 7) as u8])
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90).encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    })
}

/// The longest EXIF payload an APP1 segment holds (65535 minus the length and "Exif\0\0").
const MAX_EXIF: usize = 65535 - 2 - 6;

/// A valid JPEG with `tiff` spliced in as its EXIF (APP1) block, right after SOI.
pub fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let tiff = &tiff[..tiff.len().min(MAX_EXIF)];
    let jpeg = small_jpeg();
    let segment_len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = Vec::with_capacity(jpeg.len() + tiff.len() + 10);
    out.extend_from_slice(&jpeg[..2]); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&segment_len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A good JPEG with arbitrary EXIF: a broken EXIF block costs the rotation, never the photo,
/// so this must always give a 16×8 (or, rotated, 8×16) photo.
pub fn exif(data: &[u8]) {
    let photo = media::process_photo(PhotoSource::Bytes(&jpeg_with_exif(data)), &small_photo_options())
        .expect("a valid JPEG with any EXIF is a photo");
    assert!(matches!((photo.width, photo.height), (16, 8) | (8, 16)), "{}×{}", photo.width, photo.height);
}

// ---------------------------------------------------------------------------------------------
// signature_strokes

/// Reads the options and strokes from bytes:
/// - options: background (1 byte), width and height (1 byte each: 1..=256 px, so a render
///   stays cheap), pen width (an f32: any value, NaN included);
/// - then points, each a tag byte (bit 7: start a new stroke; bit 6: the coordinates are raw
///   f32s rather than fixed-point numbers spread over -0.05..=1.05), the coordinates, and a
///   one-byte time step.
pub fn strokes_from_bytes(data: &[u8]) -> (Vec<Vec<StrokePoint>>, SignatureOptions) {
    let mut bytes = data.iter().copied();
    let mut take = |n: usize| -> Option<Vec<u8>> {
        let taken: Vec<u8> = bytes.by_ref().take(n).collect();
        (taken.len() == n).then_some(taken)
    };
    let mut options = SignatureOptions { width: 200, height: 80, ..SignatureOptions::default() };
    if let Some(head) = take(7) {
        options.background =
            if head[0] & 1 == 1 { SignatureBackground::Transparent } else { SignatureBackground::White };
        options.width = u32::from(head[1]) + 1;
        options.height = u32::from(head[2]) + 1;
        options.pen_width = f32::from_le_bytes([head[3], head[4], head[5], head[6]]);
    }
    let mut strokes: Vec<Vec<StrokePoint>> = Vec::new();
    let mut t = 0u32;
    while let Some(tag) = take(1).map(|b| b[0]) {
        let raw = tag & 0x40 != 0;
        let Some(coordinates) = take(if raw { 8 } else { 4 }) else { break };
        let Some(step) = take(1) else { break };
        let (x, y) = if raw {
            (
                f32::from_le_bytes([coordinates[0], coordinates[1], coordinates[2], coordinates[3]]),
                f32::from_le_bytes([coordinates[4], coordinates[5], coordinates[6], coordinates[7]]),
            )
        } else {
            let fixed = |hi: u8, lo: u8| f32::from(u16::from_be_bytes([hi, lo])) / 65535.0 * 1.1 - 0.05;
            (fixed(coordinates[0], coordinates[1]), fixed(coordinates[2], coordinates[3]))
        };
        t = t.saturating_add(u32::from(step[0]));
        if tag & 0x80 != 0 || strokes.is_empty() {
            strokes.push(Vec::new());
        }
        if let Some(stroke) = strokes.last_mut() {
            stroke.push(StrokePoint { x, y, t });
        }
    }
    (strokes, options)
}

/// The signature renderer on arbitrary strokes and options: a PNG of the asked size, or a
/// typed error.
pub fn signature_strokes(data: &[u8]) {
    let (strokes, options) = strokes_from_bytes(data);
    if let Ok(png) = media::render_signature(&strokes, &options) {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
