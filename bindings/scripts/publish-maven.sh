#!/usr/bin/env bash
# Publishes fieldsync's Kotlin library into a Maven-layout repository (a directory; serve it, or
# copy it to a real one), so that Gradle and Maven resolve it by coordinates, dependencies
# included (issue 14 item 2):
#
#   dev.fieldsync:fieldsync:<version>            jar: the Kotlin layer (bindings/kotlin) + the
#       generated bindings, and this machine's native library as a JNA resource
#       (linux-x86-64/libfieldsync_ffi.so: JNA extracts and loads it, no -Djna.library.path);
#       sources jar; POM naming JNA, kotlinx-coroutines, OkHttp and the Kotlin stdlib.
#   dev.fieldsync:fieldsync-android:<version>    (with --aar) the AAR of android-aar.sh; its POM
#       names JNA's AAR, kotlinx-coroutines-android, OkHttp and the stdlib.
#
# Each with maven-metadata.xml and .md5/.sha1 checksums, written by Maven's own deploy plugin
# (`mvn deploy:deploy-file`). Versions of the dependencies: bindings/scripts/kotlin-deps.sh.
# The version is the workspace's (root Cargo.toml). Kotlin is compiled with -language-version
# 2.0 -api-version 2.0, so apps on Kotlin 2.0 and 2.1 read it.
#
#   bindings/scripts/publish-maven.sh [--repo DIR] [--lib SO] [--kotlin DIR] [--classes JAR] [--aar AAR]
#     --repo     the repository directory (default: <cargo target dir>/maven)
#     --lib      the stripped library to put in the jar (default: built with the ship profile, stripped)
#     --kotlin   the generated Kotlin (default: generated from the ship library)
#     --classes  the compiled Kotlin, generated + bindings/kotlin (default: compiled here)
#     --aar      also publish this AAR (bindings/scripts/android-aar.sh) as fieldsync-android
#
# scripts/test-bindings.sh passes what it already built, publishes into <target>/bindings/maven
# and resolves the result from a separate Maven project (bindings/consumer-maven).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "publish-maven: $*" >&2; exit 1; }
say() { echo "== publish-maven: $*"; }

repo="" lib="" kotlin="" classes="" aar=""
while [ $# -gt 0 ]; do
    case $1 in
        --repo) repo=$2; shift ;;
        --lib) lib=$2; shift ;;
        --kotlin) kotlin=$2; shift ;;
        --classes) classes=$2; shift ;;
        --aar) aar=$2; shift ;;
        *) fail "unknown argument $1 (see the comment at the top of $0)" ;;
    esac
    shift
done

cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
# shellcheck source=kotlin-deps.sh
. bindings/scripts/kotlin-deps.sh
command -v mvn >/dev/null || fail "mvn not found (Maven writes the repository)"
metadata=$(cargo metadata --format-version 1 --no-deps --locked)
target=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
version=$(python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "fieldsync-ffi"))' <<<"$metadata")
repo=${repo:-$target/maven}
mkdir -p "$repo"
repo=$(cd "$repo" && pwd)
build="$target/maven-build"
rm -rf "$build"
mkdir -p "$build"

# JNA's resource prefix for this machine (com.sun.jna.Platform.RESOURCE_PREFIX).
case $(uname -s)-$(uname -m) in
    Linux-x86_64) jna_prefix=linux-x86-64 ;;
    Linux-aarch64) jna_prefix=linux-aarch64 ;;
    Darwin-*) jna_prefix=darwin-$(uname -m | sed 's/arm64/aarch64/;s/x86_64/x86-64/') ;;
    *) fail "no JNA resource prefix known for $(uname -s) $(uname -m)" ;;
esac
case $jna_prefix in darwin-*) lib_name=libfieldsync_ffi.dylib ;; *) lib_name=libfieldsync_ffi.so ;; esac

# ---- the library and the Kotlin -------------------------------------------------------------
if [ -z "$lib" ] || [ -z "$kotlin" ]; then
    cargo build --locked --profile ship -p fieldsync-ffi
    cargo build --locked --workspace --bins
fi
if [ -z "$lib" ]; then
    lib="$build/$lib_name"
    strip --strip-unneeded -o "$lib" "$target/ship/$lib_name" 2>/dev/null || strip -x -o "$lib" "$target/ship/$lib_name"
fi
if [ -z "$kotlin" ]; then
    kotlin="$build/generated"
    # From the unstripped library: a stripped one has no uniffi metadata.
    # The FFI's and the core's files, the layer below the wrapper internal (docs/adr/0027, 0032).
    bindings/scripts/generate.sh "$target/debug/uniffi-bindgen" "$target/ship/$lib_name" kotlin "$kotlin" ||
        fail "could not generate the Kotlin bindings"
fi
[ -f "$lib" ] || fail "no library at $lib"
if [ -z "$classes" ]; then
    fieldsync_kotlin_deps
    kotlinc="$cache/kotlin-compiler-$fieldsync_kotlin_compiler_version/package/bin/kotlinc"
    [ -x "$kotlinc" ] || fail "kotlinc is missing: scripts/test-bindings.sh fetches it into $cache"
    classes="$build/classes.jar"
    mapfile -t kt < <(find "$kotlin" bindings/kotlin -name '*.kt' | sort)
    say "kotlinc ${fieldsync_kotlinc_flags[*]} -> classes.jar"
    "$kotlinc" "${fieldsync_kotlinc_flags[@]}" "${kt[@]}" -cp "$fieldsync_kotlin_classpath" -d "$classes"
fi

# ---- the artifacts ----------------------------------------------------------------------------
jar="$build/fieldsync-$version.jar"
sources="$build/fieldsync-$version-sources.jar"
python3 - "$classes" "$lib" "$jna_prefix/$lib_name" "$jar" "$sources" "$kotlin" bindings/kotlin <<'EOF'
import os, sys, zipfile
classes, lib, lib_entry, jar, sources, *source_dirs = sys.argv[1:]
stamp = (1980, 1, 1, 0, 0, 0)  # fixed times: the same inputs make the same bytes

def put(z, name, data):
    info = zipfile.ZipInfo(name, stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)

with zipfile.ZipFile(classes) as src, zipfile.ZipFile(jar, "w") as out:
    names = [n for n in src.namelist() if not n.endswith("/")]
    if "META-INF/MANIFEST.MF" not in names:
        put(out, "META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n")
    for name in names:
        put(out, name, src.read(name))
    with open(lib, "rb") as f:
        put(out, lib_entry, f.read())
with zipfile.ZipFile(sources, "w") as out:
    for root_dir in source_dirs:
        for dirpath, _, files in sorted(os.walk(root_dir)):
            for file in sorted(files):
                if file.endswith(".kt"):
                    path = os.path.join(dirpath, file)
                    with open(path, "rb") as f:
                        put(out, os.path.relpath(path, root_dir), f.read())
EOF

pom() { # artifactId packaging name
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.fieldsync</groupId>
  <artifactId>$1</artifactId>
  <version>$version</version>
  <packaging>$2</packaging>
  <name>$3</name>
  <description>Offline-first work-order sync for field service: Kotlin API over the Rust core (uniffi, JNA).</description>
  <licenses>
    <license><name>Apache-2.0</name><url>https://www.apache.org/licenses/LICENSE-2.0</url></license>
  </licenses>
$(fieldsync_pom_dependencies "$4")
</project>
EOF
}
deploy() { # file pom packaging sources
    mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$fieldsync_m2" \
        org.apache.maven.plugins:maven-deploy-plugin:3.1.2:deploy-file \
        -Dfile="$1" -DpomFile="$2" -Dpackaging="$3" -Dsources="$4" \
        -Durl="file://$repo" -DrepositoryId=fieldsync-local </dev/null >/dev/null ||
        fail "mvn deploy:deploy-file failed for $1"
}

pom fieldsync jar "fieldsync (JVM)" jvm >"$build/fieldsync-$version.pom"
say "deploying dev.fieldsync:fieldsync:$version (jar with $jna_prefix/$lib_name) into $repo"
deploy "$jar" "$build/fieldsync-$version.pom" jar "$sources"
published=("dev.fieldsync:fieldsync:$version:jar")
if [ -n "$aar" ]; then
    [ -f "$aar" ] || fail "no AAR at $aar"
    pom fieldsync-android aar "fieldsync (Android)" android >"$build/fieldsync-android-$version.pom"
    say "deploying dev.fieldsync:fieldsync-android:$version (aar) into $repo"
    deploy "$aar" "$build/fieldsync-android-$version.pom" aar "$sources"
    published+=("dev.fieldsync:fieldsync-android:$version:aar")
fi

# ---- check what is there: layout, checksums, metadata ------------------------------------------
python3 - "$repo" "${published[@]}" <<'EOF'
import hashlib, os, sys, xml.etree.ElementTree as ET
repo, coords = sys.argv[1], sys.argv[2:]
problems = []
for coord in coords:
    group, artifact, version, ext = coord.split(":")
    base = os.path.join(repo, *group.split("."), artifact)
    files = [f"{artifact}-{version}.{ext}", f"{artifact}-{version}.pom", f"{artifact}-{version}-sources.jar"]
    for name in files:
        path = os.path.join(base, version, name)
        if not os.path.isfile(path):
            problems.append(f"missing {path}")
            continue
        data = open(path, "rb").read()
        for algo in ("md5", "sha1"):
            try:
                said = open(f"{path}.{algo}").read().split()[0]
            except OSError:
                problems.append(f"missing {path}.{algo}")
                continue
            if said != hashlib.new(algo, data).hexdigest():
                problems.append(f"{path}.{algo} does not match the file")
    try:
        meta = ET.parse(os.path.join(base, "maven-metadata.xml")).getroot()
        if version not in [v.text for v in meta.iter("version")]:
            problems.append(f"{artifact}'s maven-metadata.xml does not list {version}")
    except (OSError, ET.ParseError) as e:
        problems.append(f"{artifact}'s maven-metadata.xml: {e}")
if problems:
    sys.exit("publish-maven: " + "; ".join(problems))
print(f"ok   {', '.join(coords)}: artifact, POM, sources jar, md5/sha1 checksums, maven-metadata.xml")
EOF
say "done: $repo"
