//! Media back out (issue 14, Deliver 4; docs/adr/0021).

use super::tests::{World, boiler, camera_jpeg, deliver, on_site, photo, world};
use super::*;

/// A ticket the dispatcher made and the engineer accepted and checked in to.
fn checked_in(w: &World) -> String {
    let id = w.dispatcher.create_ticket(&boiler()).expect("create");
    deliver(&w.dispatcher, &w.engineer, &id);
    w.engineer.accept(&id).expect("accept");
    w.engineer.check_in(&id, on_site()).expect("check in");
    id
}

#[test]
fn photos_thumbnails_and_signatures_come_back_out_as_files() {
    let w = world();
    let id = checked_in(&w);
    let meta = w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(800, 600, 3))).expect("photo from bytes");
    let stroke = (0..20).map(|n| crate::media::StrokePoint { x: n as f32 / 20.0, y: 0.5, t: n * 10 }).collect();
    let signature = w.engineer.capture_signature(&id, "Ms Jansen", &[stroke]).expect("sign");

    for (sha256, extension) in [(&meta.sha256, "jpg"), (&meta.thumbnail_sha256, "jpg"), (&signature.png_sha256, "png")]
    {
        let path = w.engineer.media_file(sha256).expect("file").expect("on this device");
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some(extension), "{path:?}");
        assert!(path.starts_with(w.engineer.media_dir()), "{path:?}");
        let bytes = std::fs::read(&path).expect("read the file");
        assert_eq!(JobSummary::sha256_hex(&bytes), *sha256, "the file is the blob");
        // Asked again: the same file, not rewritten.
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
        assert_eq!(w.engineer.media_file(sha256).expect("again"), Some(path.clone()));
        assert_eq!(std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime"), modified);
    }
    assert_eq!(w.engineer.media_file(&"0".repeat(64)).expect("asked"), None, "not on this device");
    for bad in ["../../etc/passwd", "ABC", &"A".repeat(64)] {
        assert!(matches!(w.engineer.media_file(bad), Err(Error::InvalidInput(_))), "{bad}");
    }
}

#[test]
fn the_summary_text_is_what_the_signature_binds() {
    let w = world();
    let id = checked_in(&w);
    w.engineer.add_note(&id, "Replaced the valve").expect("note");
    w.engineer.add_part(&id, "VALVE-22", 1).expect("part");
    let shown = w.engineer.signed_summary(&id).expect("summary");
    assert!(shown.text.contains("Replaced the valve") && shown.text.contains("VALVE-22"), "{}", shown.text);
    assert_eq!(shown.sha256, JobSummary::sha256_hex(shown.text.as_bytes()));
    let stroke = (0..20).map(|n| crate::media::StrokePoint { x: n as f32 / 20.0, y: 0.5, t: n * 10 }).collect();
    let signature = w.engineer.capture_signature(&id, "Ms Jansen", &[stroke]).expect("sign");
    assert_eq!(signature.summary_sha256, shown.sha256, "the signature binds exactly the text shown");
}

/// The sync engine reads what waits (counts and the upload queue) in one snapshot: the same
/// figures as the two reads it replaces, with an upload partly sent and one done.
#[test]
fn what_waits_in_one_read_is_what_the_two_reads_say() {
    let w = world();
    let id = checked_in(&w);
    let first = w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(640, 480, 1))).expect("photo");
    w.engineer.add_photo_blocking(&id, &photo(camera_jpeg(320, 240, 2))).expect("photo");
    let queued = w.engineer.pending_uploads().expect("queue");
    assert!(queued.len() >= 3, "two photos and a thumbnail at least: {queued:?}");
    let partly = queued.iter().find(|u| u.sha256 == first.sha256).expect("the first photo is queued");
    w.engineer.record_upload(partly, partly.size / 2, "pending", None).expect("half sent");
    let done = queued.iter().find(|u| u.sha256 != first.sha256).expect("another upload");
    w.engineer.record_upload(done, done.size, "done", None).expect("done");

    let (pending, uploads) = w.engineer.waiting().expect("one read");
    assert_eq!(uploads, w.engineer.pending_uploads().expect("queue"));
    assert_eq!(pending, w.engineer.pending().expect("counts"));
    assert_eq!(pending.uploads, queued.len() as u64 - 1, "the done one no longer waits");
    let unsent: u64 = queued.iter().map(|u| u.size - u.sent).sum::<u64>() - done.size - partly.size / 2;
    assert_eq!(pending.upload_bytes, unsent, "what is left to send of those that wait");
    assert_eq!(pending.tickets, 1, "the ticket's own changes wait too");
}
