//! render_signature on arbitrary strokes and options decoded from the bytes.
#![no_main]

#[path = "../../core/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::signature_strokes(data));
