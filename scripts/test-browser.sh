#!/usr/bin/env bash
# Runs the browser tests (tests/browser: the dispatcher console, the customer's tracking page):
# Debian's Chromium (installed if missing) driven by playwright-core (pinned in tests/browser/package-lock.json, installed by
# `npm ci` into tests/browser/node_modules, npm's cache outside the repo) against a real
# `fieldsync serve`. Screenshots go to artifacts/screenshots/. Ends with "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
say() { echo "== browser: $*"; }

scripts/ensure-chromium.sh
command -v npm >/dev/null || { echo "test-browser: npm not found" >&2; exit 1; }
# npm ci only when the lock changed since the last install.
stamp=tests/browser/node_modules/.fieldsync-lock
if ! cmp -s tests/browser/package-lock.json "$stamp" 2>/dev/null; then
    say "npm ci (playwright-core)"
    (cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --cache "$cache/npm" >/dev/null)
    cp tests/browser/package-lock.json "$stamp"
fi

say "building the fieldsync CLI"
cargo build --locked -q -p fieldsync-cli
target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

rm -rf artifacts/screenshots
mkdir -p artifacts/screenshots
status=0
for test in console console_zh customers pool tracking revisits_complaints statistics; do
    say "running tests/browser/$test.test.mjs"
    FIELDSYNC_BIN="$target/debug/fieldsync" SCREENSHOTS="$PWD/artifacts/screenshots" node "tests/browser/$test.test.mjs" || status=1
done
exit $status
