//! Scripts of honest and hostile pushes against one ticket on an in-process server; asserts
//! the promises of docs/security.md after every step.
#![no_main]

#[path = "../../server/tests/fuzz/pushes.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::pushed_changes(data));
