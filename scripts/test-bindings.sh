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
#     sample's model (ios-sample), runs both inside the chroot, which shares the host's loopback,
#     against the same HTTPS server through URLSessionTransport, the transport an iOS app uses:
#     the private CA is trusted the way Linux trusts a CA, in the system bundle the chroot sees
#     (bind-mounted for the run, in a private mount namespace); the Swift test also runs with the
#     chroot's bundle as it is: a typed TLS error, not a hang or a crash;
#   - both test programs also run an app's own unit test on an in-memory store (no server)
#     through FieldsyncApi (docs/adr/0027);
#   - packs the Android AAR for this machine's ABI and checks its layout;
#   - checks the shipped library (and JNA's Android libraries) load with 16 KB pages (readelf);
#   - publishes the jar (and the AAR) into a Maven repository directory and builds and runs a
#     separate Maven project (bindings/consumer-maven, Kotlin 2.0) that depends on it by
#     coordinates, against the HTTPS server;
#   - makes the release Swift package (binary target by URL and checksum, privacy manifest) from
#     a stand-in XCFramework and checks it with SwiftPM in the chroot;
#   - checks the README's Kotlin and Swift snippets are the code the tests run.
# Each program prints one line per step and "N passed, M failed"; exits non-zero on any failure.
#
# Toolchains (idempotent, cached outside the repo in $FIELDSYNC_CACHE):
#   kotlinc 2.4.20 + kotlin-stdlib: the npm package kotlin-compiler
#   JNA 5.17.0, kotlinx-coroutines 1.9.0, OkHttp 5.5.1 + Okio 3.18.1 (JVM jars; the versions the
#   published POM names, bindings/scripts/kotlin-deps.sh): Maven Central through mvn, into
#   $FIELDSYNC_CACHE/maven-jars; Maven's local repository is $FIELDSYNC_CACHE/m2
#   openssl and keytool (JDK 17): the private CA, the server certificate, the trust stores
#   Swift 6.0.3: Debian trixie's swiftlang in a chroot (~3 GB, ~3 min once; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
# shellcheck source=../bindings/scripts/kotlin-deps.sh
. bindings/scripts/kotlin-deps.sh
kotlin_version=$fieldsync_kotlin_compiler_version
kotlin_home="$cache/kotlin-compiler-$kotlin_version/package"
# Honour CARGO_TARGET_DIR (CI may build outside the clone): ask cargo where its target is.
metadata=$(cargo metadata --format-version 1 --no-deps --locked)
target=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
fieldsync_version=$(python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "fieldsync-ffi"))' <<<"$metadata")
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
command -v mvn >/dev/null || fail "mvn not found: it fetches the JVM dependencies and runs the consumer project"
fieldsync_kotlin_deps || fail "could not fetch the Kotlin layer's JVM dependencies"
command -v openssl >/dev/null || fail "openssl not found: it makes the test's private CA"
command -v keytool >/dev/null || fail "keytool (JDK 17) not found: it makes the JVM trust stores"
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"
[ -f "$stdlib" ] || fail "kotlin-compiler lacks the stdlib jar"
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
# The FFI's and the core's files (docs/adr/0032), the layer below the wrapper made internal: an
# app sees the wrapper, the records, enums and errors only (docs/adr/0027).
bindings/scripts/generate.sh "$target/debug/uniffi-bindgen" "$built" kotlin "$out/kotlin" ||
    fail "could not generate the Kotlin bindings"
bindings/scripts/generate.sh "$target/debug/uniffi-bindgen" "$built" swift "$out/swift-generated" ||
    fail "could not generate the Swift bindings"
# What an app ships: the same library, stripped. Every test below loads this copy.
mkdir -p "$out/lib"
strip --strip-unneeded -o "$out/lib/libfieldsync_ffi.so" "$built"
lib="$out/lib/libfieldsync_ffi.so"
say "shipped library: ship profile, stripped, $(stat -c %s "$lib") bytes (x86_64 Linux)"

# ---- Kotlin: compile (skipped when the sources did not change) -----------------------------
cp_libs="$fieldsync_kotlin_classpath"
compile() { # jar classpath sources...
    local jar=$1 classpath=$2; shift 2
    local stamp="$jar.sha256"
    local sum flags=(-Werror)
    # The library is what apps link: compiled for Kotlin 2.0 readers (kotlin-deps.sh).
    [ "$jar" = "$out/fieldsync.jar" ] && flags=("${fieldsync_kotlinc_flags[@]}")
    sum=$( (echo "${flags[*]} $classpath"; cat "$@") | sha256sum | cut -d' ' -f1)
    # A new bindings jar means the others must be compiled against it again.
    [ "$jar" = "$out/fieldsync.jar" ] || sum="$sum-$(cat "$out/fieldsync.jar.sha256")"
    if [ -f "$jar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        say "$(basename "$jar") is up to date"
        return
    fi
    say "kotlinc -> $(basename "$jar")"
    rm -f "$jar" "$stamp"
    "$kotlinc" "${flags[@]}" "$@" -cp "$classpath" -d "$jar"
    [ -f "$jar" ] || fail "kotlinc failed for $(basename "$jar")"
    echo "$sum" >"$stamp"
}
mapfile -t generated < <(find "$out/kotlin" -name '*.kt' | sort)
mapfile -t layer < <(find bindings/kotlin -name '*.kt' | sort)
mapfile -t android_model < <(find android-sample/model/src -name '*.kt' | sort)
compile "$out/fieldsync.jar" "$cp_libs" "${generated[@]}" "${layer[@]}"
mapfile -t kotlin_test < <(find bindings/kotlin-test -name '*.kt' | sort)
compile "$out/kotlin-test.jar" "$cp_libs:$out/fieldsync.jar" "${kotlin_test[@]}"
compile "$out/android-sample.jar" "$cp_libs:$out/fieldsync.jar" "${android_model[@]}"
# The layer below the wrapper is out of an app's reach: code naming the raw client must not
# compile against the library (the test programs are the other half: they compile with
# dev.fieldsync's public face alone). Skipped, like the compiles, when fieldsync.jar is unchanged.
hidden_probe="$out/hidden-probe"
if [ "$(cat "$hidden_probe/checked" 2>/dev/null)" != "$(cat "$out/fieldsync.jar.sha256")" ]; then
    rm -rf "$hidden_probe" && mkdir -p "$hidden_probe"
    printf 'import dev.fieldsync.FieldsyncClient\nfun probe() = FieldsyncClient::class\n' >"$hidden_probe/RawClient.kt"
    if "$kotlinc" "$hidden_probe/RawClient.kt" -cp "$cp_libs:$out/fieldsync.jar" -d "$hidden_probe/probe.jar" \
        >"$hidden_probe/kotlinc.log" 2>&1; then
        fail "an app can name the generated FieldsyncClient: the generated layer is not internal"
    fi
    grep -q "internal" "$hidden_probe/kotlinc.log" ||
        fail "the raw-client probe failed for another reason: $(head -3 "$hidden_probe/kotlinc.log")"
    cp "$out/fieldsync.jar.sha256" "$hidden_probe/checked"
fi
echo "ok   Kotlin: an app cannot name the generated FieldsyncClient (internal)"

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
cp "$lib" "$out"/swift-generated/* bindings/swift/*.swift bindings/swift-test/*.swift "$stage/"
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
kit_sources=(fieldsync_ffi.swift fieldsync_core.swift Fieldsync.swift FieldsyncApi.swift URLSessionTransport.swift)
kit_sum=$(sum_of "${kit_sources[@]}" fieldsync_ffiFFI.h fieldsync_ffiFFI.modulemap)
swift_compile libFieldsyncKit.so "$kit_sum" -emit-module -emit-library -module-name FieldsyncKit \
    "${kit_sources[@]}" -lfieldsync_ffi "${link[@]}"
swift_compile swift-test "$(sum_of main.swift AppTests.swift)-$kit_sum" main.swift AppTests.swift \
    -lFieldsyncKit -lfieldsync_ffi "${link[@]}"
mapfile -t model_sources < <(cd "$stage" && find ios-sample/Sources/TicketsModel -name '*.swift' | sort)
model_sum="$(sum_of "${model_sources[@]}")-$kit_sum"
swift_compile libTicketsModel.so "$model_sum" -emit-module -emit-library -module-name TicketsModel \
    "${model_sources[@]}" -lFieldsyncKit -lfieldsync_ffi "${link[@]}"
# trixie's libswiftObservation.so names swift::threading::fatal, which no library of the package
# defines (a packaging bug); it is only called on a fatal threading error, and bound lazily.
swift_compile ios-sample-check "$(sum_of ios-sample/Sources/SampleCheck/main.swift)-$model_sum" \
    ios-sample/Sources/SampleCheck/main.swift -lTicketsModel -lFieldsyncKit -lfieldsync_ffi "${link[@]}" \
    -Xlinker --allow-shlib-undefined
# As for Kotlin: an app importing FieldsyncKit cannot name the raw client.
printf 'import FieldsyncKit\nlet raw = FieldsyncClient.self\n' >"$stage/raw-client.swift"
if swift_in /usr/bin/swiftc -swift-version 6 -typecheck raw-client.swift "${link[@]}" >"$work/raw-client.log" 2>&1; then
    fail "an app can name the generated FieldsyncClient in Swift: the generated layer is not internal"
fi
grep -q "FieldsyncClient" "$work/raw-client.log" || fail "the Swift raw-client probe failed for another reason: $(head -3 "$work/raw-client.log")"
echo "ok   Swift: an app importing FieldsyncKit cannot name the generated FieldsyncClient"
# Keep the products for the next run.
(cd "$stage" && cp -a libFieldsyncKit.so libTicketsModel.so swift-test ios-sample-check ./*.sha256 \
    FieldsyncKit.swift* TicketsModel.swift* "$out/swift/")

# ---- the Android AAR for this machine's ABI, and its layout --------------------------------
say "packing the Android AAR for the host ABI (smoke test of the layout)"
bindings/scripts/android-aar.sh --host --lib "$lib" --classes "$out/fieldsync.jar" --out "$out/aar"

# ---- 16 KB pages: the shipped library, JNA's Android libraries, and the check itself ---------
say "checking LOAD segment alignment (16 KB pages, Android 15+)"
elf_failures=0
scripts/check-elf-alignment.sh "$lib" || elf_failures=$((elf_failures + 1))
jna_aar_dir="$fieldsync_jars/jna-$fieldsync_jna_version-aar"
if [ ! -d "$jna_aar_dir/jni" ]; then
    mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$fieldsync_m2" "$fieldsync_mvn_dependency:copy" -Dartifact="net.java.dev.jna:jna:$fieldsync_jna_version:aar" \
        -DoutputDirectory="$fieldsync_jars" </dev/null >/dev/null || fail "mvn could not fetch JNA's AAR"
    rm -rf "$jna_aar_dir" && mkdir -p "$jna_aar_dir"
    python3 -m zipfile -e "$fieldsync_jars/jna-$fieldsync_jna_version.aar" "$jna_aar_dir"
fi
scripts/check-elf-alignment.sh "$jna_aar_dir"/jni/{arm64-v8a,armeabi-v7a,x86_64,x86}/libjnidispatch.so ||
    elf_failures=$((elf_failures + 1))
# The check must be able to fail: a library linked with 4 KB pages is refused.
printf 'int fieldsync_probe(void) { return 1; }\n' >"$out/page-probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=4096 -o "$out/page-probe-4k.so" "$out/page-probe.c"
if scripts/check-elf-alignment.sh "$out/page-probe-4k.so" >/dev/null; then
    echo "FAIL the alignment check passed a library linked with 4 KB pages"; elf_failures=$((elf_failures + 1))
else
    echo "ok   the alignment check refuses a library linked with 4 KB pages"
fi
[ "$elf_failures" = 0 ] || fail "a library is not aligned for 16 KB pages"

# ---- the Maven repository: the jar as an app resolves it, and the AAR ------------------------
say "publishing dev.fieldsync:fieldsync (and fieldsync-android) into a Maven repository"
maven_repo="$out/maven"
rm -rf "$maven_repo"
bindings/scripts/publish-maven.sh --repo "$maven_repo" --lib "$lib" --kotlin "$out/kotlin" \
    --classes "$out/fieldsync.jar" --aar "$out/aar/fieldsync-$fieldsync_version.aar"
# Our own artifacts never come from an earlier run's cache: Maven keeps a release it resolved once.
rm -rf "$fieldsync_m2/dev/fieldsync"
# The AAR's POM resolves on Maven Central too: JNA's AAR, kotlinx-coroutines-android, OkHttp.
mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$fieldsync_m2" "$fieldsync_mvn_dependency:get" \
    -Dartifact="dev.fieldsync:fieldsync-android:$fieldsync_version:aar" \
    -DremoteRepositories="fieldsync::::file://$maven_repo,central::::https://repo.maven.apache.org/maven2" \
    </dev/null >/dev/null || fail "the published AAR's dependencies do not resolve"
echo "ok   dev.fieldsync:fieldsync-android:$fieldsync_version resolves with its dependencies"
rm -rf "$fieldsync_m2/dev/fieldsync"
say "building the consumer project (bindings/consumer-maven, Kotlin 2.0) against the repository"
consumer="$out/consumer-maven"
rm -rf "$consumer" && mkdir -p "$consumer"
cp -r bindings/consumer-maven/. "$consumer/"
consumer_mvn=(mvn -q -B -Dstyle.color=never -Dstyle.color=never -f "$consumer/pom.xml" -Dmaven.repo.local="$fieldsync_m2"
    -Dfieldsync.repo="file://$maven_repo" -Dfieldsync.version="$fieldsync_version")
"${consumer_mvn[@]}" package </dev/null || fail "the consumer project does not build against the published artifact"
"${consumer_mvn[@]}" dependency:build-classpath -Dmdep.outputFile="$consumer/classpath.txt" </dev/null >/dev/null ||
    fail "the consumer project's classpath does not resolve"
grep -q "/dev/fieldsync/fieldsync/$fieldsync_version/fieldsync-$fieldsync_version.jar" "$consumer/classpath.txt" ||
    fail "the consumer's classpath lacks the published jar"

# ---- the release Swift package: binary target by URL and checksum, privacy manifest ----------
say "making the release Swift package from a stand-in XCFramework, checking it with SwiftPM"
# No Apple SDK here: the stand-in has an XCFramework's shape (Info.plist, one slice with the
# generated header and module map), enough for the zip, the checksum and the manifest.
standin="$out/standin/FieldsyncFFI.xcframework"
rm -rf "$out/standin" && mkdir -p "$standin/ios-arm64/Headers"
cp "$out/swift-generated/fieldsync_ffiFFI.h" "$standin/ios-arm64/Headers/"
cp "$out/swift-generated/fieldsync_ffiFFI.modulemap" "$standin/ios-arm64/Headers/module.modulemap"
cp "$lib" "$standin/ios-arm64/libfieldsync_ffi.a"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>XCFrameworkFormatVersion</key><string>1.0</string></dict></plist>\n' \
    >"$standin/Info.plist"
swiftpm_url="https://downloads.fieldsync.invalid/releases/$fieldsync_version"
bindings/scripts/swift-package.sh --xcframework "$standin" --generated "$out/swift-generated" \
    --url-base "$swiftpm_url" --out "$out/swiftpm"
swiftpm_zip="FieldsyncFFI-$fieldsync_version.xcframework.zip"
mkdir -p "$stage/swiftpm"
cp -r "$out/swiftpm/FieldsyncKit" "$out/swiftpm/$swiftpm_zip" "$stage/swiftpm/"
swift_in /usr/bin/swift package --package-path swiftpm/FieldsyncKit dump-package >"$work/package.json" ||
    fail "SwiftPM cannot read the generated Package.swift"
swift_in /usr/bin/swift package compute-checksum "swiftpm/$swiftpm_zip" >"$work/package.checksum" ||
    fail "swift package compute-checksum failed"
python3 - "$work/package.json" "$(cat "$work/package.checksum")" "$swiftpm_url/$swiftpm_zip" \
    "$out/swiftpm/FieldsyncKit/Sources/FieldsyncKit/PrivacyInfo.xcprivacy" <<'EOF' || fail "the Swift package is not right"
import json, plistlib, sys
manifest, checksum, url, privacy = json.load(open(sys.argv[1])), sys.argv[2].strip(), sys.argv[3], sys.argv[4]
targets = {t["name"]: t for t in manifest["targets"]}
binary, kit = targets.get("fieldsync_ffiFFI", {}), targets.get("FieldsyncKit", {})
checks = [
    ("the binary target is fetched by URL", binary.get("type") == "binary" and binary.get("url") == url),
    ("its checksum is SwiftPM's own of the zip", binary.get("checksum") == checksum and len(checksum) == 64),
    ("FieldsyncKit depends on it", "fieldsync_ffiFFI" in json.dumps(kit.get("dependencies", []))),
    ("PrivacyInfo.xcprivacy is a resource of FieldsyncKit",
     any(r.get("path") == "PrivacyInfo.xcprivacy" for r in kit.get("resources", []))),
]
info = plistlib.load(open(privacy, "rb"))
checks.append(("the privacy manifest declares no tracking",
               info.get("NSPrivacyTracking") is False and info.get("NSPrivacyTrackingDomains") == []))
failed = 0
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
    failed += not ok
sys.exit(failed)
EOF
# Every required-reason API the library calls is declared (its glibc imports stand in for iOS's).
bindings/scripts/check-privacy-apis.py "$lib" bindings/swift/PrivacyInfo.xcprivacy ||
    fail "the library calls a required-reason API that PrivacyInfo.xcprivacy does not declare"

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

# Linux's way of trusting a CA (URLSession on Linux is FoundationNetworking over the distro's
# libcurl, which reads the system bundle): the chroot's own bundle plus the private CA, mounted
# over the chroot's /etc/ssl/certs/ca-certificates.crt in a mount namespace of its own for the
# time of one Swift program. The cached chroot is never changed and nothing else sees the mount.
cat "$swift_root/etc/ssl/certs/ca-certificates.crt" "$tls/ca.pem" >"$tls/system-and-ca.crt"
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo -n)
swift_trusting() { # command... (inside the chroot, in the stage)
    "${as_root[@]}" env FIELDSYNC_CACHE="$cache" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
        "$tls/system-and-ca.crt" "$swift_root/etc/ssl/certs/ca-certificates.crt" \
        scripts/swift-toolchain.sh exec "$stage_in" "$@"
}

# ---- a real server behind TLS, users and tickets ---------------------------------------------
# Every program talks HTTPS to it; the CLI trusts the private CA through SSL_CERT_FILE.
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
start_server tls-server --tls-cert "$tls/server.pem" --tls-key "$tls/server.key"
tls_url=$started_url
case $tls_url in https://*) ;; *) fail "the TLS server is not on https: $tls_url" ;; esac
say "server on $tls_url"
export SSL_CERT_FILE="$tls/ca.pem"
# One engineer and one ticket per program, so that no run sees another's work.
declare -A token ticket server_of data_of dispatcher_of
dispatcher_of[tls-server]=$("$fieldsync" user add dana --role dispatcher --data "$work/tls-server" 2>/dev/null)
for engineer in eli sam ana ivo max; do
    data=tls-server
    server_of[$engineer]=$tls_url
    data_of[$engineer]=$data
    token[$engineer]=$("$fieldsync" user add "$engineer" --role engineer --data "$work/$data" 2>/dev/null)
    ticket[$engineer]=$("$fieldsync" dispatch --server "${server_of[$engineer]}" --token "${dispatcher_of[$data]}" \
        create --title "Boiler leaks" --customer "Acme Bakery" --address "Main St 1" --lat 52.37 --lon 4.895 \
        --assignee "$engineer")
    [ -n "${ticket[$engineer]}" ] || fail "no ticket id from dispatch create"
done
say "tickets dispatched to eli (Kotlin test), sam (Swift test), ana (Android sample), ivo (iOS sample), \
max (the Maven consumer)"

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
run "the Swift test in the chroot, over HTTPS, the private CA in the system bundle" \
    swift_trusting "$stage_in/swift-test" "$tls_url" "${token[sam]}" "${ticket[sam]}" "$stage_in/swift-device"
run "the Swift test in the chroot, over HTTPS, the system bundle without the private CA" \
    swift_in "$stage_in/swift-test" --untrusted "$tls_url" "${token[sam]}" "$stage_in/swift-untrusted"
run "the Android sample's model on the JVM, over HTTPS" java -Djna.library.path="$out/lib" "${jvm_trust[@]}" \
    -cp "$cp_libs:$stdlib:$out/fieldsync.jar:$out/android-sample.jar" dev.fieldsync.sample.SampleCheckKt \
    "$tls_url" "${token[ana]}" "${ticket[ana]}" "$work/android"
run "the iOS sample's model in the chroot, over HTTPS" swift_trusting "$stage_in/ios-sample-check" \
    "$tls_url" "${token[ivo]}" "${ticket[ivo]}" "$stage_in/ios-device"
# Only what Maven resolved from the published POM: no -Djna.library.path (the library comes out
# of the jar), no jar of ours but the published one.
run "the Maven consumer of the published artifact, over HTTPS" java "${jvm_trust[@]}" \
    -cp "$consumer/target/classes:$(cat "$consumer/classpath.txt")" dev.fieldsync.consumer.MainKt \
    "$tls_url" "${token[max]}" "${ticket[max]}" "$work/consumer"

# ---- what the server has, and the README snippets --------------------------------------------
say "checking what the dispatcher sees"
passed=0 failed=0
declare -A wanted=([eli]=completed [sam]=completed [ana]=completed [ivo]=completed [max]=accepted)
for engineer in eli sam ana ivo max; do
    status=$("$fieldsync" dispatch --server "${server_of[$engineer]}" --token "${dispatcher_of[${data_of[$engineer]}]}" \
        show "${ticket[$engineer]}" --json |
        sed -n 's/^  "status": "\([a-z_]*\)".*/\1/p' | head -1)
    if [ "$status" = "${wanted[$engineer]}" ]; then
        echo "ok   the server has $engineer's ticket $status"; passed=$((passed + 1))
    else
        echo "FAIL the server has $engineer's ticket as ${status:-?}, not ${wanted[$engineer]}"; failed=$((failed + 1))
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
