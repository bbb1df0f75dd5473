#!/usr/bin/env bash
# Reference benchmark: small incremental edits synced through the automerge-repo
# sync server. See README.md.
#
#   bench/automerge-repo/run.sh --devices 50 --edits 2000 [--docs-per-device 20] [--seconds 60]
#
# Installs the pinned npm dependencies if needed, starts server.mjs on
# 127.0.0.1 (free port) with a fresh temp data dir, waits for its ready line,
# runs bench.mjs against it with the given arguments, stops the server, and
# prints bench.mjs's JSON line as the last (only) line on stdout. Everything
# else goes to stderr. Exits non-zero on any failure. The whole run is bounded
# by AMR_BENCH_TIMEOUT seconds (default 120); on expiry everything it started
# is killed and it exits 124.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HARD_TIMEOUT="${AMR_BENCH_TIMEOUT:-120}"

# Re-run ourselves under `timeout`, which (not in --foreground mode) signals its
# whole process group, so node, npm and the server are all stopped on expiry.
if [[ -z "${AMR_BENCH_UNDER_TIMEOUT:-}" ]]; then
  export AMR_BENCH_UNDER_TIMEOUT=1
  exec timeout --kill-after=5 "$HARD_TIMEOUT" "$HERE/run.sh" "$@"
fi

die() { echo "run.sh: $*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (Node 20+ required)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node 20+ required, found $(node --version)"

cd "$HERE"

# Dependencies: exact versions from package-lock.json. Skipped when every
# package in the lockfile is installed at its locked version (npm records the
# installed tree in node_modules/.package-lock.json).
if [[ ! -f node_modules/.package-lock.json ]] ||
   ! node -e '
     const fs = require("fs");
     const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
     const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
     for (const [p, v] of Object.entries(want)) {
       if (p === "") continue;
       // optional packages for other platforms (os/cpu) are never installed
       if (!have[p]) { if (v.optional) continue; process.exit(1); }
       if (have[p].version !== v.version) process.exit(1);
     }' 2>/dev/null; then
  echo "run.sh: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/amr-bench.XXXXXX")"
server_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # server.mjs exits within 5 s of SIGTERM (it bounds its own shutdown)
    for _ in $(seq 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated (hard timeout ${HARD_TIMEOUT}s?)" >&2; exit 124' TERM

# The server's stdin and stdout are pipes to us: it prints its ready line on
# stdout and exits by itself if we die and its stdin closes.
coproc SERVER { exec node "$HERE/server.mjs" --dir "$tmp/data"; }
server_pid="$SERVER_PID"

ready=""
IFS= read -r -t 30 ready <&"${SERVER[0]}" || die "server did not report ready within 30 s"
[[ "$ready" =~ \"ready\":true ]] && [[ "$ready" =~ \"port\":([0-9]+) ]] ||
  die "unexpected server ready line: $ready"
port="${BASH_REMATCH[1]}"
echo "run.sh: automerge-repo sync server ready on 127.0.0.1:$port (data in $tmp/data)" >&2

# Let bench.mjs's own progress go to stderr; capture its stdout.
bench_rc=0
node "$HERE/bench.mjs" --server-port "$port" --server-pid "$server_pid" "$@" >"$tmp/bench.out" || bench_rc=$?

# Stop the server cleanly (SIGTERM; it flushes and exits 0).
kill -TERM "$server_pid" 2>/dev/null || true
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""

(( bench_rc == 0 )) || die "bench.mjs failed (exit $bench_rc)"
(( server_rc == 0 )) || die "server exited with status $server_rc"

line="$(tail -n 1 "$tmp/bench.out")"
[[ "$line" == \{*\"suite\":\"automerge-repo\"*\} ]] || die "bench.mjs printed no result line"
printf '%s\n' "$line"
