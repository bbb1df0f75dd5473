//! Every client request body (new ticket, action, sync envelope, blob chunk) through the real axum router.
#![no_main]

#[path = "../../server/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::http_bodies(data));
