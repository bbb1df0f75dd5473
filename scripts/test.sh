#!/usr/bin/env bash
# Runs every test fieldsync has, the way CI does: format, lints, then the whole test suite
# (unit, property, crash and integration tests) on the debug profile.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$HOME/.cargo/bin:$PATH"
scripts/ensure-toolchain.sh
# The service report tests read PDFs back (poppler-utils) and set them in Noto Sans CJK.
scripts/ensure-report-tools.sh

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== postgres"
# The PostgreSQL tests (server/tests/suite/postgres.rs) need a cluster: a throwaway one on loopback
# (installed if missing, stopped and deleted on exit) unless FIELDSYNC_TEST_DATABASE_URL names one.
pg_dir=""
log=$(mktemp)
# Quiet: the last line of the run stays the closing count.
trap 'rm -f "$log"; if [[ -n $pg_dir ]]; then scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true; fi' EXIT
if [[ -z ${FIELDSYNC_TEST_DATABASE_URL:-} ]]; then
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-pg.XXXXXX")
    FIELDSYNC_TEST_DATABASE_URL=$(scripts/postgres.sh start "$pg_dir")
    export FIELDSYNC_TEST_DATABASE_URL
fi
echo "== tests"
cargo test --workspace --locked 2>&1 | tee "$log"
echo "== bindings"
scripts/test-bindings.sh 2>&1 | tee -a "$log"
scripts/test-browser.sh 2>&1 | tee -a "$log"
# One closing line for the whole run: cargo prints one per test binary, the last of which
# may be a binary with no tests of its own; the bindings tests print "N passed, M failed".
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
     END { printf "fieldsync: %d passed, %d failed\n", p, f }' "$log"
