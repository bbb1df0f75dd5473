//! Property test of the server's trust rules (docs/security.md): random scripts of a
//! dispatcher, two honest phones and a hostile device (tests/fuzz/pushes.rs, the same harness
//! as the cargo-fuzz target `pushed_changes`). A hostile push never overrides a dispatcher
//! decision its device had seen, and no honest record is ever lost, voided or refused.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_pushes_never_override_a_seen_decision_nor_drop_an_honest_record(
        script in proptest::collection::vec(any::<u8>(), 0..80)
    ) {
        crate::fuzz_pushes::pushed_changes(&script);
    }
}
