#!/usr/bin/env bash
# Packs fieldsync for iOS: a Swift package an app adds by path, and (with --url-base) the release
# form, the zipped XCFramework and a package naming it by URL and checksum
# (bindings/scripts/swift-package.sh: $OUT/swiftpm/).
#
#   $OUT/FieldsyncKit/
#     Package.swift                       library FieldsyncKit = the Swift sources + the XCFramework
#     Sources/FieldsyncKit/               fieldsync_ffi.swift, fieldsync_core.swift (generated) + Fieldsync.swift (bindings/swift)
#     FieldsyncFFI.xcframework/
#       ios-arm64/                        libfieldsync_ffi.a (aarch64-apple-ios) + Headers/
#       ios-arm64_x86_64-simulator/       one lipo'd libfieldsync_ffi.a (aarch64-apple-ios-sim,
#                                         x86_64-apple-ios) + Headers/
#     (Headers/: fieldsync_ffiFFI.h and module.modulemap, module fieldsync_ffiFFI)
#
#   bindings/scripts/ios-xcframework.sh [--out DIR] [--url-base https://...]
#       --out       default: <cargo target dir>/ios
#       --url-base  where the release zip will be downloadable from: also writes $OUT/swiftpm/
#
# The libraries' imports are checked against bindings/swift/PrivacyInfo.xcprivacy (every
# required-reason API category they call is declared; bindings/scripts/check-privacy-apis.py).
#
# Needs macOS with Xcode (the iOS SDK, xcodebuild, lipo) and rustup. This machine is Linux with
# no Apple SDK: here it stops and says so; CI compiles the same Swift sources for Linux
# instead (scripts/test-bindings.sh). The static libraries come from
# `cargo rustc --profile ship --crate-type staticlib` (the crate's own types are lib + cdylib: a debug
# staticlib on every build would waste ~0.5 GB of disk).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "ios-xcframework: $*" >&2; exit 1; }
say() { echo "== ios-xcframework: $*"; }

out="" url_base=""
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift ;;
        --url-base) url_base=$2; shift ;;
        *) fail "unknown argument $1" ;;
    esac
    shift
done

[ "$(uname -s)" = Darwin ] || fail "needs macOS with Xcode (the Apple iOS SDK); this is $(uname -s). \
The Swift sources are compiled and run on Linux by scripts/test-bindings.sh instead."
command -v xcodebuild >/dev/null || fail "xcodebuild not found: install Xcode (the Apple iOS SDK) and run xcode-select"
xcrun --sdk iphoneos --show-sdk-path >/dev/null 2>&1 || fail "the iOS SDK is missing: install Xcode's iOS platform"
command -v rustup >/dev/null || fail "rustup not found"

target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out=${out:-$target/ios}
package="$out/FieldsyncKit"
device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)

rustup target add "$device" "${simulators[@]}"
export IPHONEOS_DEPLOYMENT_TARGET=15.0
for triple in "$device" "${simulators[@]}"; do
    say "static library for $triple"
    cargo rustc --locked --profile ship -p fieldsync-ffi --lib --crate-type staticlib --target "$triple"
    bindings/scripts/check-privacy-apis.py "$target/$triple/ship/libfieldsync_ffi.a" bindings/swift/PrivacyInfo.xcprivacy ||
        fail "the $triple library calls a required-reason API that bindings/swift/PrivacyInfo.xcprivacy does not declare"
done

say "generating Swift from the host library"
cargo build --locked --profile ship -p fieldsync-ffi
cargo build --locked --workspace --bins
rm -rf "$out/generated" "$package"
# The FFI's and the core's files over one C module, the layer below the wrapper internal to
# FieldsyncKit (docs/adr/0027, 0032).
bindings/scripts/generate.sh "$target/debug/uniffi-bindgen" "$target/ship/libfieldsync_ffi.dylib" swift "$out/generated" ||
    fail "could not generate the Swift bindings"

headers="$out/generated/Headers"
mkdir -p "$headers"
cp "$out/generated/fieldsync_ffiFFI.h" "$headers/"
cp "$out/generated/fieldsync_ffiFFI.modulemap" "$headers/module.modulemap"

mkdir -p "$out/simulator"
lipo -create "$target/aarch64-apple-ios-sim/ship/libfieldsync_ffi.a" \
    "$target/x86_64-apple-ios/ship/libfieldsync_ffi.a" -output "$out/simulator/libfieldsync_ffi.a"

mkdir -p "$package/Sources/FieldsyncKit"
xcodebuild -create-xcframework \
    -library "$target/$device/ship/libfieldsync_ffi.a" -headers "$headers" \
    -library "$out/simulator/libfieldsync_ffi.a" -headers "$headers" \
    -output "$package/FieldsyncFFI.xcframework"
cp "$out/generated/fieldsync_ffi.swift" "$out/generated/fieldsync_core.swift" bindings/swift/*.swift bindings/swift/PrivacyInfo.xcprivacy \
    "$package/Sources/FieldsyncKit/"
cat >"$package/Package.swift" <<'EOF'
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "FieldsyncKit",
    platforms: [.iOS(.v15)],
    products: [.library(name: "FieldsyncKit", targets: ["FieldsyncKit"])],
    targets: [
        .binaryTarget(name: "fieldsync_ffiFFI", path: "FieldsyncFFI.xcframework"),
        .target(name: "FieldsyncKit", dependencies: ["fieldsync_ffiFFI"], path: "Sources/FieldsyncKit",
                resources: [.copy("PrivacyInfo.xcprivacy")]),
    ]
)
EOF
say "done: $package (add it to the app with File > Add Package Dependencies > Add Local)"
if [ -n "$url_base" ]; then
    bindings/scripts/swift-package.sh --xcframework "$package/FieldsyncFFI.xcframework" \
        --generated "$out/generated" --url-base "$url_base" --out "$out/swiftpm"
fi
