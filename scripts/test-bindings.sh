#!/usr/bin/env bash
# Runs the Kotlin bindings for real: builds libfieldsync_ffi, generates the Kotlin bindings
# from it, compiles them with the thin layer (bindings/kotlin) and the test program
# (bindings/kotlin-test) with a real kotlinc, starts a real server, and runs the test on the
# JVM with JNA. Ends with the test's "N passed, M failed" line; exits non-zero on any failure.
#
# Toolchain (idempotent, cached outside the repo in $FIELDSYNC_CACHE):
#   kotlinc 2.4.20 + kotlinx-coroutines + kotlin-stdlib: the npm package kotlin-compiler
#   JNA: Debian's libjna-java (/usr/share/java/jna.jar), installed if missing
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
kotlin_version=2.4.20
kotlin_home="$cache/kotlin-compiler-$kotlin_version/package"
jna=/usr/share/java/jna.jar
# Honour CARGO_TARGET_DIR (CI may build outside the clone): ask cargo where its target is.
target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out="$target/bindings"

say() { echo "== bindings: $*"; }
fail() { echo "test-bindings: $*" >&2; exit 1; }
started=$SECONDS

# ---- toolchain ---------------------------------------------------------------------------
command -v java >/dev/null || fail "java (JDK 17) not found"
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
    command -v npm >/dev/null || fail "npm not found: it fetches the kotlin-compiler package"
    say "fetching kotlin-compiler $kotlin_version into $cache"
    mkdir -p "$cache"
    staging=$(mktemp -d "$cache/.kotlin.XXXXXX")
    (cd "$staging" && npm pack --silent "kotlin-compiler@$kotlin_version" >/dev/null && tar xzf kotlin-compiler-*.tgz)
    [ -x "$staging/package/bin/kotlinc" ] || fail "the kotlin-compiler package has no bin/kotlinc"
    rm -rf "$cache/kotlin-compiler-$kotlin_version"
    mkdir -p "$cache/kotlin-compiler-$kotlin_version"
    mv "$staging/package" "$cache/kotlin-compiler-$kotlin_version/package"
    rm -rf "$staging"
fi
if [ ! -f "$jna" ]; then
    say "installing libjna-java"
    command -v apt-get >/dev/null || fail "$jna is missing and apt-get is not available"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libjna-java </dev/null >/dev/null
    [ -f "$jna" ] || fail "libjna-java installed no $jna"
fi
coroutines="$kotlin_home/lib/kotlinx-coroutines-core-jvm.jar"
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"
[ -f "$coroutines" ] && [ -f "$stdlib" ] || fail "kotlin-compiler lacks coroutines or stdlib jars"
kotlinc="$kotlin_home/bin/kotlinc"

# ---- library and generated bindings -------------------------------------------------------
say "building fieldsync-ffi, uniffi-bindgen and the fieldsync CLI"
cargo build --locked -p fieldsync-ffi -p uniffi-bindgen -p fieldsync-cli
lib="$target/debug/libfieldsync_ffi.so"
say "generating Kotlin from $(basename "$lib")"
rm -rf "$out/kotlin"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin" --no-format >/dev/null

# ---- compile (skipped when the sources did not change) -------------------------------------
cp_libs="$jna:$coroutines"
compile() { # jar classpath sources...
    local jar=$1 classpath=$2; shift 2
    local stamp="$jar.sha256"
    local sum
    sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
    # A new bindings jar means the test must be compiled against it again.
    [ "$jar" = "$out/fieldsync.jar" ] || sum="$sum-$(cat "$out/fieldsync.jar.sha256")"
    if [ -f "$jar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        say "$(basename "$jar") is up to date"
        return
    fi
    say "kotlinc -> $(basename "$jar")"
    rm -f "$jar" "$stamp"
    "$kotlinc" -Werror "$@" -cp "$classpath" -d "$jar"
    [ -f "$jar" ] || fail "kotlinc failed for $(basename "$jar")"
    echo "$sum" >"$stamp"
}
mapfile -t generated < <(find "$out/kotlin" -name '*.kt' | sort)
mapfile -t layer < <(find bindings/kotlin -name '*.kt' | sort)
compile "$out/fieldsync.jar" "$cp_libs" "${generated[@]}" "${layer[@]}"
compile "$out/kotlin-test.jar" "$cp_libs:$out/fieldsync.jar" bindings/kotlin-test/Main.kt

# ---- a real server, users and a ticket -----------------------------------------------------
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fieldsync="$target/debug/fieldsync"
mkfifo "$work/server.err"
"$fieldsync" serve --data "$work/server" --listen 127.0.0.1:0 2>"$work/server.err" </dev/null &
server_pid=$!
exec 3<"$work/server.err"
IFS= read -r -t 60 first_line <&3 || fail "the server printed nothing in 60 s"
cat <&3 >"$work/server.log" &
url=$(sed -n 's/^fieldsync server on \(http:\/\/[^ ]*\).*/\1/p' <<<"$first_line")
[ -n "$url" ] || fail "unexpected first server line: $first_line"
say "server on $url"
dispatcher=$("$fieldsync" user add dana --role dispatcher --data "$work/server" 2>/dev/null)
engineer=$("$fieldsync" user add eli --role engineer --data "$work/server" 2>/dev/null)
ticket=$("$fieldsync" dispatch --server "$url" --token "$dispatcher" create --title "Boiler leaks" \
    --customer "Acme Bakery" --address "Main St 1" --lat 52.37 --lon 4.895 --assignee eli)
[ -n "$ticket" ] || fail "no ticket id from dispatch create"
say "ticket $ticket dispatched to eli"

# ---- run ------------------------------------------------------------------------------------
say "running the Kotlin test on the JVM"
status=0
java -Djava.awt.headless=true -Djna.library.path="$target/debug" \
    -cp "$cp_libs:$stdlib:$out/fieldsync.jar:$out/kotlin-test.jar" dev.fieldsync.test.MainKt \
    "$url" "$engineer" "$ticket" "$work/device" | tee "$work/kotlin.out" || status=$?

# The dispatcher sees what the phone did.
server_status=$("$fieldsync" dispatch --server "$url" --token "$dispatcher" show "$ticket" --json |
    sed -n 's/^  "status": "\([a-z_]*\)".*/\1/p' | head -1)
say "the server has the ticket as: ${server_status:-?}"
say "took $((SECONDS - started)) s"
if [ "$status" != 0 ] || [ "$server_status" != completed ]; then
    [ "$server_status" = completed ] || echo "FAIL the server does not have the ticket completed"
    fail "Kotlin bindings test failed (exit $status)"
fi
