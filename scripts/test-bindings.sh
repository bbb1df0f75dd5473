#!/usr/bin/env bash
# Runs the Kotlin and Swift bindings for real, against the library as shipped (the `ship`
# profile: release with LTO, stripped libfieldsync_ffi.so) and real servers:
#   - generates the Kotlin and Swift bindings from that library;
#   - Kotlin: kotlinc the generated code + bindings/kotlin, the test (bindings/kotlin-test) and
#     the Android sample's model (android-sample/model), runs both on the JVM with JNA against a
#     server over HTTPS (`fieldsync serve --tls-cert --tls-key`) whose certificate comes from a
#     private CA made here, trusted the way the JVM trusts a CA (a trust store,
#     -Djavax.net.ssl.trustStore); every request goes through OkHttpTransport, the transport an
#     Android app uses (docs/adr/0015). The test also meets a trust store with another CA only:
#     a typed TLS error, not a hang or a crash;
#   - Swift: swiftc 6.0.3 (a Debian trixie chroot, scripts/swift-toolchain.sh) the generated
#     code + bindings/swift as module FieldsyncKit, the test (bindings/swift-test) and the iOS
#     sample's model (ios-sample), runs both inside the chroot, which shares the host's loopback;
#   - packs the Android AAR for this machine's ABI and checks its layout;
#   - checks the README's Kotlin and Swift snippets are the code the tests run.
# Each program prints one line per step and "N passed, M failed"; exits non-zero on any failure.
#
# Toolchains (idempotent, cached outside the repo in $FIELDSYNC_CACHE):
#   kotlinc 2.4.20 + kotlinx-coroutines + kotlin-stdlib: the npm package kotlin-compiler
#   JNA: Debian's libjna-java (/usr/share/java/jna.jar), installed if missing
#   OkHttp 5.5.1 + Okio 3.18.1 (JVM jars): Maven Central through mvn, into $FIELDSYNC_CACHE
#   openssl and keytool (JDK 17): the private CA, the server certificate, the trust stores
#   Swift 6.0.3: Debian trixie's swiftlang in a chroot (~3 GB, ~3 min once; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

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
mkdir -p "$out"

# ---- toolchains ----------------------------------------------------------------------------
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
okhttp_dir="$cache/okhttp-5.5.1"
okhttp="$okhttp_dir/okhttp-jvm-5.5.1.jar:$okhttp_dir/okio-jvm-3.18.1.jar"
if [ ! -f "$okhttp_dir/okhttp-jvm-5.5.1.jar" ] || [ ! -f "$okhttp_dir/okio-jvm-3.18.1.jar" ]; then
    command -v mvn >/dev/null || fail "mvn not found: it fetches OkHttp from Maven Central"
    say "fetching OkHttp 5.5.1 and Okio 3.18.1 into $okhttp_dir"
    for artifact in com.squareup.okhttp3:okhttp-jvm:5.5.1 com.squareup.okio:okio-jvm:3.18.1; do
        mvn -q dependency:copy -Dartifact="$artifact" -DoutputDirectory="$okhttp_dir" </dev/null >/dev/null ||
            fail "mvn could not fetch $artifact"
    done
fi
command -v openssl >/dev/null || fail "openssl not found: it makes the test's private CA"
command -v keytool >/dev/null || fail "keytool (JDK 17) not found: it makes the JVM trust stores"
coroutines="$kotlin_home/lib/kotlinx-coroutines-core-jvm.jar"
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"
[ -f "$coroutines" ] && [ -f "$stdlib" ] || fail "kotlin-compiler lacks coroutines or stdlib jars"
kotlinc="$kotlin_home/bin/kotlinc"
swift_root=$(scripts/swift-toolchain.sh root)

# ---- the library as shipped, and the generated bindings ------------------------------------
# The server and uniffi-bindgen on the debug profile with the workspace's features: after
# `cargo test --workspace` (scripts/test.sh) this builds nothing new.
say "building the fieldsync CLI and uniffi-bindgen (debug), fieldsync-ffi (ship profile: release + LTO)"
cargo build --locked --workspace --bins
cargo build --locked --profile ship -p fieldsync-ffi
built="$target/ship/libfieldsync_ffi.so"
say "generating Kotlin and Swift from $built"
# From the unstripped library: a stripped one has no uniffi metadata.
rm -rf "$out/kotlin" "$out/swift-generated"
"$target/debug/uniffi-bindgen" generate --library "$built" --language kotlin --out-dir "$out/kotlin" --no-format >/dev/null
"$target/debug/uniffi-bindgen" generate --library "$built" --language swift --out-dir "$out/swift-generated" --no-format >/dev/null
# What an app ships: the same library, stripped. Every test below loads this copy.
mkdir -p "$out/lib"
strip --strip-unneeded -o "$out/lib/libfieldsync_ffi.so" "$built"
lib="$out/lib/libfieldsync_ffi.so"
say "shipped library: ship profile, stripped, $(stat -c %s "$lib") bytes (x86_64 Linux)"

# ---- Kotlin: compile (skipped when the sources did not change) -----------------------------
cp_libs="$jna:$coroutines:$okhttp"
compile() { # jar classpath sources...
    local jar=$1 classpath=$2; shift 2
    local stamp="$jar.sha256"
    local sum
    sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
    # A new bindings jar means the others must be compiled against it again.
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
mapfile -t android_model < <(find android-sample/model/src -name '*.kt' | sort)
compile "$out/fieldsync.jar" "$cp_libs" "${generated[@]}" "${layer[@]}"
compile "$out/kotlin-test.jar" "$cp_libs:$out/fieldsync.jar" bindings/kotlin-test/Main.kt
compile "$out/android-sample.jar" "$cp_libs:$out/fieldsync.jar" "${android_model[@]}"

# ---- Swift: compile in the chroot (skipped when the sources did not change) ----------------
# The chroot sees nothing of the host's files: a stage inside it holds the library, the
# sources and the compiled products (kept in $out/swift between runs).
stage=$(mktemp -d "$swift_root/work/run.XXXXXX")
stage_in=${stage#"$swift_root"}
server_pids=()
work=$(mktemp -d)
cleanup() {
    for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work" "$stage"
}
trap cleanup EXIT
swift_in() { scripts/swift-toolchain.sh exec "$stage_in" "$@"; }
mkdir -p "$out/swift"
cp "$lib" "$out"/swift-generated/* bindings/swift/*.swift bindings/swift-test/main.swift "$stage/"
mkdir -p "$stage/ios-sample"
cp -r ios-sample/Sources "$stage/ios-sample/"
cp -a "$out/swift/." "$stage/" # products of an earlier run
ffi_map="-fmodule-map-file=$stage_in/fieldsync_ffiFFI.modulemap"
swift_compile() { # product sum swiftc-arguments...
    local product=$1 sum=$2; shift 2
    if [ -f "$stage/$product" ] && [ "$(cat "$stage/$product.sha256" 2>/dev/null)" = "$sum" ]; then
        say "$product is up to date"
        return
    fi
    say "swiftc -> $product"
    rm -f "$stage/$product" "$stage/$product.sha256"
    swift_in /usr/bin/swiftc -swift-version 6 "$@" -o "$product" || fail "swiftc failed for $product"
    echo "$sum" >"$stage/$product.sha256"
}
sum_of() { (cd "$stage" && cat "$@" | sha256sum | cut -d' ' -f1); }
link=(-I . -L . -Xcc "$ffi_map")
kit_sum=$(sum_of fieldsync_ffi.swift fieldsync_ffiFFI.h fieldsync_ffiFFI.modulemap Fieldsync.swift URLSessionTransport.swift)
swift_compile libFieldsyncKit.so "$kit_sum" -emit-module -emit-library -module-name FieldsyncKit \
    fieldsync_ffi.swift Fieldsync.swift URLSessionTransport.swift -lfieldsync_ffi "${link[@]}"
swift_compile swift-test "$(sum_of main.swift)-$kit_sum" main.swift -lFieldsyncKit -lfieldsync_ffi "${link[@]}"
mapfile -t model_sources < <(cd "$stage" && find ios-sample/Sources/TicketsModel -name '*.swift' | sort)
model_sum="$(sum_of "${model_sources[@]}")-$kit_sum"
swift_compile libTicketsModel.so "$model_sum" -emit-module -emit-library -module-name TicketsModel \
    "${model_sources[@]}" -lFieldsyncKit -lfieldsync_ffi "${link[@]}"
# trixie's libswiftObservation.so names swift::threading::fatal, which no library of the package
# defines (a packaging bug); it is only called on a fatal threading error, and bound lazily.
swift_compile ios-sample-check "$(sum_of ios-sample/Sources/SampleCheck/main.swift)-$model_sum" \
    ios-sample/Sources/SampleCheck/main.swift -lTicketsModel -lFieldsyncKit -lfieldsync_ffi "${link[@]}" \
    -Xlinker --allow-shlib-undefined
# Keep the products for the next run.
(cd "$stage" && cp -a libFieldsyncKit.so libTicketsModel.so swift-test ios-sample-check ./*.sha256 \
    FieldsyncKit.swift* TicketsModel.swift* "$out/swift/")

# ---- the Android AAR for this machine's ABI, and its layout --------------------------------
say "packing the Android AAR for the host ABI (smoke test of the layout)"
bindings/scripts/android-aar.sh --host --lib "$lib" --classes "$out/fieldsync.jar" --out "$out/aar"

# ---- a private CA, a server certificate signed by it, and the JVM's trust stores ------------
say "making a private CA, a certificate for 127.0.0.1 signed by it, and another CA"
tls="$work/tls"
mkdir -p "$tls"
make_ca() { # name
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fieldsync test $1" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$tls/$1.key" -out "$tls/$1.pem" 2>/dev/null || fail "openssl could not make the $1 CA"
    # The JVM's way of trusting a CA: a trust store holding it.
    keytool -importcert -noprompt -storetype PKCS12 -keystore "$tls/$1.p12" -storepass fieldsync-test \
        -alias "$1" -file "$tls/$1.pem" >/dev/null 2>&1 || fail "keytool could not make the $1 trust store"
}
make_ca ca
make_ca stranger
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" \
    2>/dev/null || fail "openssl could not make the server key"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null || fail "openssl could not sign the server certificate"
jvm_trust=(-Djavax.net.ssl.trustStore="$tls/ca.p12" -Djavax.net.ssl.trustStorePassword=fieldsync-test
    -Djavax.net.ssl.trustStoreType=PKCS12)

# ---- real servers, users and tickets ---------------------------------------------------------
# HTTPS for the Kotlin programs; plain HTTP for the Swift ones: on Linux, URLSession trusts only
# the system's bundle in the shared chroot (docs/adr/0015). The CLI trusts the private CA
# through SSL_CERT_FILE.
fieldsync="$target/debug/fieldsync"
server_pids=()
start_server() { # name extra-args... ; sets $started_url
    local name=$1; shift
    mkfifo "$work/$name.err"
    "$fieldsync" serve --data "$work/$name" --listen 127.0.0.1:0 "$@" 2>"$work/$name.err" </dev/null &
    server_pids+=($!)
    local fd
    exec {fd}<"$work/$name.err"
    IFS= read -r -t 60 first_line <&$fd || fail "the $name server printed nothing in 60 s"
    cat <&$fd >"$work/$name.log" &
    started_url=$(sed -n 's/^fieldsync server on \(https\{0,1\}:\/\/[^ ]*\).*/\1/p' <<<"$first_line")
    [ -n "$started_url" ] || fail "unexpected first $name server line: $first_line"
}
start_server server
url=$started_url
start_server tls-server --tls-cert "$tls/server.pem" --tls-key "$tls/server.key"
tls_url=$started_url
case $tls_url in https://*) ;; *) fail "the TLS server is not on https: $tls_url" ;; esac
say "servers on $url and $tls_url"
export SSL_CERT_FILE="$tls/ca.pem"
# One engineer and one ticket per program, so that no run sees another's work.
declare -A token ticket server_of data_of dispatcher_of
for data in server tls-server; do
    dispatcher_of[$data]=$("$fieldsync" user add dana --role dispatcher --data "$work/$data" 2>/dev/null)
done
for engineer in eli sam ana ivo; do
    case $engineer in eli | ana) data=tls-server; server_of[$engineer]=$tls_url ;; *) data=server; server_of[$engineer]=$url ;; esac
    data_of[$engineer]=$data
    token[$engineer]=$("$fieldsync" user add "$engineer" --role engineer --data "$work/$data" 2>/dev/null)
    ticket[$engineer]=$("$fieldsync" dispatch --server "${server_of[$engineer]}" --token "${dispatcher_of[$data]}" \
        create --title "Boiler leaks" --customer "Acme Bakery" --address "Main St 1" --lat 52.37 --lon 4.895 \
        --assignee "$engineer")
    [ -n "${ticket[$engineer]}" ] || fail "no ticket id from dispatch create"
done
say "tickets dispatched to eli (Kotlin test, HTTPS), sam (Swift test), ana (Android sample, HTTPS), ivo (iOS sample)"

# ---- run -------------------------------------------------------------------------------------
failures=()
run() { # name command...
    local name=$1; shift
    say "running $name"
    "$@" || failures+=("$name (exit $?)")
}
run "the Kotlin test on the JVM, over HTTPS" java -Djava.awt.headless=true -Djna.library.path="$out/lib" \
    "${jvm_trust[@]}" -cp "$cp_libs:$stdlib:$out/fieldsync.jar:$out/kotlin-test.jar" dev.fieldsync.test.MainKt \
    "$tls_url" "${token[eli]}" "${ticket[eli]}" "$work/kotlin" "$tls/stranger.p12"
run "the Swift test in the chroot" swift_in "$stage_in/swift-test" \
    "$url" "${token[sam]}" "${ticket[sam]}" "$stage_in/swift-device"
run "the Android sample's model on the JVM, over HTTPS" java -Djna.library.path="$out/lib" "${jvm_trust[@]}" \
    -cp "$cp_libs:$stdlib:$out/fieldsync.jar:$out/android-sample.jar" dev.fieldsync.sample.SampleCheckKt \
    "$tls_url" "${token[ana]}" "${ticket[ana]}" "$work/android"
run "the iOS sample's model in the chroot" swift_in "$stage_in/ios-sample-check" \
    "$url" "${token[ivo]}" "${ticket[ivo]}" "$stage_in/ios-device"

# ---- what the server has, and the README snippets --------------------------------------------
say "checking what the dispatcher sees"
passed=0 failed=0
for engineer in eli sam ana ivo; do
    status=$("$fieldsync" dispatch --server "${server_of[$engineer]}" --token "${dispatcher_of[${data_of[$engineer]}]}" \
        show "${ticket[$engineer]}" --json |
        sed -n 's/^  "status": "\([a-z_]*\)".*/\1/p' | head -1)
    if [ "$status" = completed ]; then
        echo "ok   the server has $engineer's ticket completed"; passed=$((passed + 1))
    else
        echo "FAIL the server has $engineer's ticket as ${status:-?}, not completed"; failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] || failures+=("the server's view")
say "checking the README's Kotlin and Swift snippets"
python3 scripts/readme-snippets.py README.md || failures+=("README snippets")

say "took $((SECONDS - started)) s"
if [ ${#failures[@]} -gt 0 ]; then
    printf 'FAIL %s\n' "${failures[@]}"
    fail "bindings tests failed"
fi
