//! Automerge::load + read_ticket + summarize, and Client::merge_remote into a real store.
#![no_main]

#[path = "../../core/tests/fuzz/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::document_load(data));
