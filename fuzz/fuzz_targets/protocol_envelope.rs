//! SyncRequest::decode and SyncResponse::decode on arbitrary bytes (and as the body of a valid header).
#![no_main]

#[path = "../../core/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::protocol_envelope(data));
