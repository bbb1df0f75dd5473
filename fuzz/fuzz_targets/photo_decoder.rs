//! The photo pipeline (process_photo) on arbitrary bytes, with small limits.
#![no_main]

#[path = "../../core/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::photo_decoder(data));
