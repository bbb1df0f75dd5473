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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
echo "== bindings"
scripts/test-bindings.sh 2>&1 | tee -a "$log"
# One closing line for the whole run: cargo prints one per test binary, the last of which
# may be a binary with no tests of its own; the bindings tests print "N passed, M failed".
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
     END { printf "fieldsync: %d passed, %d failed\n", p, f }' "$log"
