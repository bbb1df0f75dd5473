#!/usr/bin/env bash
# Runs every test fieldsync has, the way CI does: format, lints, then the whole test suite
# (unit, property, crash and integration tests) on the debug profile.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$HOME/.cargo/bin:$PATH"
scripts/ensure-toolchain.sh

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
