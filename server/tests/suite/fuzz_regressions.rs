//! Every input kept from fuzzing the request bodies (tests/fuzz-regressions/http_bodies/:
//! crashes found and fixed, and seeds) goes through the same harness as the cargo-fuzz target
//! `http_bodies` (fuzz/, run by scripts/fuzz.sh on nightly): each must be answered without a
//! panic or a 5xx. Runs on stable, in `cargo test`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[test]
fn http_bodies() {
    replay("http_bodies", crate::fuzz::http_bodies);
}

/// Scripts of honest and hostile pushes kept from fuzzing `pushed_changes`: each must keep
/// every promise of docs/security.md (tests/fuzz/pushes.rs).
#[test]
fn pushed_changes() {
    replay("pushed_changes", crate::fuzz_pushes::pushed_changes);
}

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    // A moved folder must not make this test pass by testing nothing.
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    let mut failed = Vec::new();
    for path in files {
        let data = std::fs::read(&path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "these inputs panic or get a 5xx:\n{}", failed.join("\n"));
}
