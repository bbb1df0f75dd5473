#!/usr/bin/env bash
# Fuzzes fieldsync: runs every cargo-fuzz target under fuzz/ for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# NOT part of CI (scripts/test.sh): cargo-fuzz needs the nightly toolchain, which CI machines
# may not have. What CI does run is the regression half: every input kept under
# core/tests/fuzz-regressions/<target>/ and server/tests/fuzz-regressions/{http_bodies,pushed_changes}/ goes
# through the same harness in `cargo test` (core/tests/fuzz_regressions.rs,
# server/tests/suite/fuzz_regressions.rs), on stable.
#
# - Installs cargo-fuzz (crates.io, into ~/.cargo/bin) when it is missing; needs
#   `rustup toolchain install nightly`.
# - The targets open no sockets (the server's router is driven in-process); the fuzzing runs
#   in a network namespace without network when `unshare` allows it, so nothing but this
#   machine is ever touched. Only the build needs the network (crates).
# - Each target's growing corpus is fuzz/corpus/<target>/ (not committed); the committed
#   regression folder is read as a second corpus, so its seeds start every run.
# - A crash (or timeout, leak, out-of-memory) input is copied into the target's regression
#   folder, where `cargo test` keeps it from coming back once fixed; the script then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-60}
shift || true
all=(protocol_envelope document_load photo_decoder exif signature_strokes http_bodies pushed_changes)
targets=("${@:-${all[@]}}")

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

regressions() {
    case "$1" in
        http_bodies | pushed_changes) echo "$root/server/tests/fuzz-regressions/$1" ;;
        *) echo "$root/core/tests/fuzz-regressions/$1" ;;
    esac
}

# No network while fuzzing, when this machine lets us make a namespace without one.
offline=()
if unshare --net true 2>/dev/null; then
    offline=(unshare --net)
elif unshare --map-root-user --net true 2>/dev/null; then
    offline=(unshare --map-root-user --net)
else
    echo "fuzz.sh: no network namespace here; the targets open no sockets anyway" >&2
fi
# Stores and blobs the harnesses create go to memory when it can.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi

echo "== building (nightly, address sanitizer, debug assertions)"
(cd fuzz && cargo +nightly fuzz build --debug-assertions)

summary=()
found=0
for target in "${targets[@]}"; do
    corpus="$root/fuzz/corpus/$target"
    artifacts="$root/fuzz/artifacts/$target"
    kept=$(regressions "$target")
    log="$root/fuzz/artifacts/$target.log"
    mkdir -p "$corpus" "$artifacts" "$kept"
    # Inputs of an earlier run were kept already.
    rm -f "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-* "$artifacts"/oom-*
    echo "== $target: ${seconds} s"
    status=0
    (cd fuzz && CARGO_NET_OFFLINE=true "${offline[@]}" cargo +nightly fuzz run --debug-assertions "$target" "$corpus" "$kept" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/") >"$log" 2>&1 || status=$?
    tail -n 5 "$log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    for input in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-* "$artifacts"/oom-*; do
        [ -e "$input" ] || continue
        cp "$input" "$kept/"
        echo "   kept $(basename "$input") in ${kept#"$root"/}"
        found=1
    done
    if [ "$status" -ne 0 ]; then
        found=1
        summary+=("$target: FAILED after ${execs:-?} runs (log: ${log#"$root"/})")
    else
        summary+=("$target: ${seconds} s, ${execs:-?} runs, no crash")
    fi
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit "$found"
