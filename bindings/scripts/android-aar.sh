#!/usr/bin/env bash
# Packs fieldsync for Android: an AAR with the native library for each ABI (jni/<abi>/, built
# with cargo-ndk into a jniLibs/<abi>/ tree, linked for 16 KB pages by bindings/build.rs and
# checked), classes.jar (the generated Kotlin + the Flow layer, compiled with kotlinc for Kotlin
# 2.0 readers), AndroidManifest.xml and consumer ProGuard rules. Publish it with its POM (JNA's
# AAR, kotlinx-coroutines-android, OkHttp: bindings/scripts/kotlin-deps.sh) as
# dev.fieldsync:fieldsync-android with `bindings/scripts/publish-maven.sh --aar <the AAR>`.
#
#   bindings/scripts/android-aar.sh [--out DIR]
#       the AAR (`ship` profile: release + LTO) for arm64-v8a, armeabi-v7a, x86_64 and x86. Needs the Android NDK
#       (ANDROID_NDK_HOME or ANDROID_NDK_ROOT) and cargo-ndk (`cargo install cargo-ndk`).
#       This machine has no NDK: here it stops and says so.
#   bindings/scripts/android-aar.sh --host [--lib SO] [--classes JAR] [--out DIR]
#       a smoke test that runs anywhere: the same AAR layout with this machine's own library
#       under jni/<host abi>/ (a glibc library: not loadable on Android), to check the packing.
#       --lib and --classes reuse what scripts/test-bindings.sh already built.
#
# Kotlin: kotlinc 2.4.20 from the cache scripts/test-bindings.sh fills
# (${XDG_CACHE_HOME:-~/.cache}/fieldsync/kotlin-compiler-2.4.20), the JVM jars of JNA,
# kotlinx-coroutines, OkHttp and Okio fetched by bindings/scripts/kotlin-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "android-aar: $*" >&2; exit 1; }
say() { echo "== android-aar: $*"; }

host=false lib="" classes="" out=""
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=true ;;
        --lib) lib=$2; shift ;;
        --classes) classes=$2; shift ;;
        --out) out=$2; shift ;;
        *) fail "unknown argument $1 (see the comment at the top of $0)" ;;
    esac
    shift
done

if ! $host; then
    ndk=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
    [ -n "$ndk" ] && [ -d "$ndk" ] || fail "the Android NDK is not installed (set ANDROID_NDK_HOME to it; \
sdkmanager 'ndk;27.2.12479018'). This machine has none: use --host for the layout smoke test."
    command -v cargo-ndk >/dev/null || fail "cargo-ndk is missing: cargo install cargo-ndk"
fi

target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
version=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "fieldsync-ffi"))')
out=${out:-$target/android}
cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
# shellcheck source=kotlin-deps.sh
. bindings/scripts/kotlin-deps.sh
kotlin_home="$cache/kotlin-compiler-$fieldsync_kotlin_compiler_version/package"
abis=(arm64-v8a armeabi-v7a x86_64 x86)

# ---- the native libraries: jniLibs/<abi>/libfieldsync_ffi.so --------------------------------
jni_libs="$out/jniLibs"
rm -rf "$jni_libs"
mkdir -p "$jni_libs"
if $host; then
    case $(uname -m) in
        x86_64) abi=x86_64 ;; aarch64) abi=arm64-v8a ;; i?86) abi=x86 ;; armv7*) abi=armeabi-v7a ;;
        *) fail "no Android ABI for $(uname -m)" ;;
    esac
    if [ -z "$lib" ]; then
        cargo build --locked --profile ship -p fieldsync-ffi
        lib="$out/libfieldsync_ffi.so"
        strip --strip-unneeded -o "$lib" "$target/ship/libfieldsync_ffi.so"
    fi
    mkdir -p "$jni_libs/$abi"
    cp "$lib" "$jni_libs/$abi/libfieldsync_ffi.so"
    abis=("$abi")
else
    rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
    # cargo-ndk strips the libraries it copies into jniLibs/<abi>/.
    cargo ndk --platform 24 -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 -o "$jni_libs" \
        build --locked --profile ship -p fieldsync-ffi
fi
# Google Play: every native library of an app targeting Android 15+ loads with 16 KB pages.
scripts/check-elf-alignment.sh "$jni_libs"/*/*.so || fail "a native library is not aligned for 16 KB pages"

# ---- the Kotlin: generated from the host's unstripped library, plus the Flow layer ----------
sources="$out/kotlin"
rm -rf "$sources"
cargo build --locked --profile ship -p fieldsync-ffi
# uniffi-bindgen with the workspace's features: nothing new to build after scripts/test.sh.
cargo build --locked --workspace --bins
# The FFI's and the core's files, the layer below the wrapper internal (docs/adr/0027, 0032).
bindings/scripts/generate.sh "$target/debug/uniffi-bindgen" "$target/ship/libfieldsync_ffi.so" kotlin "$sources" ||
    fail "could not generate the Kotlin bindings"
cp -r bindings/kotlin/. "$sources/"
if [ -z "$classes" ]; then
    [ -x "$kotlin_home/bin/kotlinc" ] || fail "kotlinc is missing: scripts/test-bindings.sh fetches it into $cache"
    fieldsync_kotlin_deps
    classes="$out/classes-build.jar"
    mapfile -t kt < <(find "$sources" -name '*.kt' | sort)
    "$kotlin_home/bin/kotlinc" "${fieldsync_kotlinc_flags[@]}" "${kt[@]}" -cp "$fieldsync_kotlin_classpath" \
        -d "$classes"
fi

# ---- the AAR ------------------------------------------------------------------------------------
aar_dir="$out/aar"
rm -rf "$aar_dir"
mkdir -p "$aar_dir/jni"
cp "$classes" "$aar_dir/classes.jar"
cp -r "$jni_libs"/. "$aar_dir/jni/"
cat >"$aar_dir/AndroidManifest.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.fieldsync">
    <uses-sdk android:minSdkVersion="24" />
    <!-- Sync talks to the fieldsync server; the app reports connectivity with setOnline. -->
    <uses-permission android:name="android.permission.INTERNET" />
</manifest>
EOF
: >"$aar_dir/R.txt"
cat >"$aar_dir/proguard.txt" <<'EOF'
# JNA finds the generated structures and callbacks by reflection.
-keep class com.sun.jna.** { *; }
-keep class dev.fieldsync.** { *; }
-dontwarn java.awt.**
EOF
aar="$out/fieldsync-$version.aar"
rm -f "$aar" "$out/fieldsync-$version-sources.jar"
(cd "$aar_dir" && python3 -m zipfile -c "$aar" AndroidManifest.xml classes.jar R.txt proguard.txt jni)
(cd "$sources" && python3 -m zipfile -c "$out/fieldsync-$version-sources.jar" .)

# ---- check the layout -------------------------------------------------------------------------
python3 - "$aar" "${abis[@]}" <<'EOF'
import sys, zipfile
aar, abis = sys.argv[1], sys.argv[2:]
names = set(zipfile.ZipFile(aar).namelist())
wanted = ["AndroidManifest.xml", "classes.jar", "R.txt", "proguard.txt"] + [f"jni/{a}/libfieldsync_ffi.so" for a in abis]
missing = [n for n in wanted if n not in names]
with zipfile.ZipFile(aar) as z:
    classes = set(zipfile.ZipFile(z.open("classes.jar")).namelist()) if "classes.jar" in names else set()
for cls in ["dev/fieldsync/Fieldsync.class", "dev/fieldsync/FieldsyncClient.class"]:
    if cls not in classes:
        missing.append(f"classes.jar!{cls}")
stray = [n for n in names if n.startswith("jni/") and not n.endswith("/") and n.count("/") != 2]
if missing or stray:
    sys.exit(f"android-aar: bad layout in {aar}: missing {missing}, stray {stray}")
print(f"ok   {aar.rsplit('/', 1)[-1]}: manifest, classes.jar (Fieldsync, FieldsyncClient), jni/{{{','.join(abis)}}}/libfieldsync_ffi.so")
EOF
say "$aar ($(stat -c %s "$aar") bytes) and its sources jar in $out"
