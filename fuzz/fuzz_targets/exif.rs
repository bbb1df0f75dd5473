//! A valid JPEG with an arbitrary EXIF (APP1) block spliced in: always a photo.
#![no_main]

#[path = "../../core/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::exif(data));
