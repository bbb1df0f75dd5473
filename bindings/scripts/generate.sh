#!/usr/bin/env bash
# Generates the Kotlin or Swift bindings from the unstripped FFI library, the one way every
# script does (test-bindings.sh, android-aar.sh, publish-maven.sh, ios-xcframework.sh):
#
#     bindings/scripts/generate.sh BINDGEN LIBRARY kotlin|swift OUT_DIR
#
# The library carries two uniffi components: fieldsync_ffi (the client, its objects and the
# few records the boundary adds) and fieldsync_core (Command and every model record and enum an
# app reads, derived in the core behind its `uniffi` feature, docs/adr/0032). So:
#   kotlin: OUT_DIR/dev/fieldsync/fieldsync_ffi.kt and OUT_DIR/dev/fieldsync/core/fieldsync_core.kt
#           (packages of their own: each defines uniffi's runtime helpers; core/uniffi.toml);
#   swift:  OUT_DIR/fieldsync_ffi.swift, OUT_DIR/fieldsync_core.swift, and ONE C module
#           (fieldsync_ffiFFI.h + .modulemap): the core's header is appended to the FFI's, where
#           its shared declarations fall away behind uniffi's header guard.
# Then the layer below the wrappers is made internal in each file (hide-generated.py, ADR 0027).
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BINDGEN LIBRARY kotlin|swift OUT_DIR" >&2; exit 2; }
bindgen=$1 library=$2 language=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
"$bindgen" generate --library "$library" --language "$language" --out-dir "$out" --no-format >/dev/null
case $language in
kotlin)
    for file in "$out/dev/fieldsync/fieldsync_ffi.kt" "$out/dev/fieldsync/core/fieldsync_core.kt"; do
        [ -f "$file" ] || { echo "generate: uniffi-bindgen made no $file" >&2; exit 1; }
        python3 "$here/hide-generated.py" kotlin "$file"
    done
    ;;
swift)
    for file in fieldsync_ffi.swift fieldsync_core.swift fieldsync_ffiFFI.h fieldsync_coreFFI.h; do
        [ -f "$out/$file" ] || { echo "generate: uniffi-bindgen made no $out/$file" >&2; exit 1; }
    done
    { echo; cat "$out/fieldsync_coreFFI.h"; } >>"$out/fieldsync_ffiFFI.h"
    rm "$out/fieldsync_coreFFI.h"
    python3 "$here/hide-generated.py" swift "$out/fieldsync_ffi.swift"
    python3 "$here/hide-generated.py" swift "$out/fieldsync_core.swift"
    ;;
*) echo "generate: language is kotlin or swift, not '$language'" >&2; exit 2 ;;
esac
