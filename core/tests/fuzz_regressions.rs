//! Every input kept from fuzzing (tests/fuzz-regressions/<target>/: crashes found and fixed,
//! and seeds) goes through the same harness as its cargo-fuzz target (fuzz/, run by
//! scripts/fuzz.sh on nightly); each must return without a panic. Runs on stable, in
//! `cargo test`.
#![allow(missing_docs, clippy::unwrap_used)]

mod fuzz;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn regressions(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions").join(target)
}

/// The files of a target's folder, sorted; fails when there are none, so a moved folder
/// cannot make this test pass by testing nothing.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = regressions(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

fn run(target: &str) {
    let (_, harness) = fuzz::TARGETS.iter().find(|(name, _)| *name == target).unwrap();
    let mut failed = Vec::new();
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: these inputs panic:\n{}", failed.join("\n"));
}

#[test]
fn protocol_envelope() {
    run("protocol_envelope");
}

#[test]
fn document_load() {
    run("document_load");
}

#[test]
fn photo_decoder() {
    run("photo_decoder");
}

#[test]
fn exif() {
    run("exif");
}

#[test]
fn signature_strokes() {
    run("signature_strokes");
}

#[test]
fn every_target_has_a_folder() {
    for (target, _) in fuzz::TARGETS {
        assert!(regressions(target).is_dir(), "{target}");
    }
}

/// Builds the seed inputs (`seed-*`) and runs each through its target's harness, so the seeds
/// stay meaningful as the code changes. With `FIELDSYNC_WRITE_SEEDS=1` it also rewrites the
/// committed seed files: `FIELDSYNC_WRITE_SEEDS=1 cargo test -p fieldsync-core --test fuzz_regressions`.
#[test]
fn seeds_pass_their_harnesses() {
    use fieldsync_core::model::doc::{self, Stamp};
    use fieldsync_core::protocol::{Push, Rejection, SyncRequest, SyncResponse, Update};
    use serde_bytes::ByteBuf;

    let rewrite = std::env::var_os("FIELDSYNC_WRITE_SEEDS").is_some();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let (_, harness) = fuzz::TARGETS.iter().find(|(t, _)| *t == target).unwrap();
        harness(bytes);
        if rewrite {
            let dir = regressions(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    };

    // protocol_envelope: a request with a push, a full response, the smallest request.
    let base = fuzz::base_document();
    let changes: Vec<ByteBuf> = base.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
    let heads = fieldsync_core::protocol::to_wire(&base.get_heads());
    let request = SyncRequest {
        cursor: 7,
        pushes: vec![Push { ticket_id: fuzz::TICKET_ID.into(), changes: changes.clone(), heads: heads.clone() }],
    };
    write("protocol_envelope", "request", &request.encode());
    write("protocol_envelope", "request-empty", &SyncRequest::default().encode());
    let response = SyncResponse {
        cursor: 9,
        updates: vec![Update { ticket_id: fuzz::TICKET_ID.into(), data: changes, heads }],
        rejections: vec![Rejection::not_stored("t-2", "not yours")],
        evictions: vec!["t-3".into()],
        more: true,
    };
    write("protocol_envelope", "response", &response.encode());
    let mut huge = SyncRequest::default().encode()[..7].to_vec();
    huge.extend_from_slice(&[0xa1, 0x66]);
    huge.extend_from_slice(b"pushes");
    huge.extend_from_slice(&[0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    write("protocol_envelope", "huge-array-length", &huge);

    // document_load: the saved base, later changes on their own, a saved longer history.
    write("document_load", "base-saved", &base.save());
    let mut later = base.clone();
    let engineer = fieldsync_core::Identity {
        user_id: "eli".into(),
        device_id: "eli-device".into(),
        role: fieldsync_core::Role::Engineer,
    };
    let at = 1_704_067_300_000;
    let stamp = Stamp { id: "event-3".into(), at, identity: &engineer };
    let accepted = doc::EventDraft::of(fieldsync_core::workflow::EventKind::Accepted);
    doc::edit(&mut later, at, "accept", |tx| doc::append_event(tx, &accepted, &stamp)).unwrap();
    let stamp = Stamp { id: "note-1".into(), at: at + 1, identity: &engineer };
    doc::edit(&mut later, at + 1, "note", |tx| doc::append_note(tx, "valve replaced", false, &stamp)).unwrap();
    let stamp = Stamp { id: "part-1".into(), at: at + 2, identity: &engineer };
    doc::edit(&mut later, at + 2, "part", |tx| doc::append_part(tx, "VALVE-22", 2, &stamp)).unwrap();
    let new_changes: Vec<u8> =
        later.get_changes(&base.get_heads()).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
    write("document_load", "later-changes", &new_changes);
    write("document_load", "later-saved", &later.save());
    write("document_load", "later-saved-nocompress", &later.save_nocompress());

    // photo_decoder: a JPEG, a PNG, a JPEG with EXIF orientation 6.
    let jpeg = fuzz::jpeg_with_exif(&[]);
    write("photo_decoder", "jpeg-16x8", &jpeg);
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, 4, 3);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[128; 4 * 3 * 4]).unwrap();
        writer.finish().unwrap();
    }
    write("photo_decoder", "png-4x3-rgba", &png);
    let orientation_6 = tiff_with_orientation(6);
    write("photo_decoder", "jpeg-exif-orientation-6", &fuzz::jpeg_with_exif(&orientation_6));

    // exif: TIFF blocks, little- and big-endian, and an empty one.
    write("exif", "orientation-6-big-endian", &orientation_6);
    let mut little = b"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00".to_vec();
    little.extend_from_slice(&[0, 0, 0, 0]);
    write("exif", "orientation-8-little-endian", &little);
    write("exif", "empty", b"");

    // signature_strokes: a two-stroke signature on a white pad, a transparent dot.
    let mut strokes = vec![0, 199, 79, 0, 0, 0x40, 0x40]; // white, 200×80, pen 3.0
    for (i, tag) in [0x80u8, 0, 0, 0, 0x80, 0].iter().enumerate() {
        let v = (i as u16 + 1) * 9000;
        strokes.push(*tag);
        strokes.extend_from_slice(&v.to_be_bytes());
        strokes.extend_from_slice(&(65535 - v).to_be_bytes());
        strokes.push(16);
    }
    write("signature_strokes", "two-strokes", &strokes);
    let mut raw = vec![1, 63, 63, 0, 0, 0x80, 0x3f]; // transparent, 64×64, pen 1.0
    for (x, y) in [(0.5f32, 0.5f32), (0.52, 0.5)] {
        raw.push(0x40);
        raw.extend_from_slice(&x.to_le_bytes());
        raw.extend_from_slice(&y.to_le_bytes());
        raw.push(5);
    }
    write("signature_strokes", "raw-floats", &raw);
}

/// A big-endian TIFF block whose IFD0 holds only an orientation.
fn tiff_with_orientation(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00".to_vec();
    tiff.extend_from_slice(&[orientation, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff
}
