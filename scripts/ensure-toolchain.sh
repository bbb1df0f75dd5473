#!/usr/bin/env bash
# Makes sure the Rust toolchain and its components are there; idempotent and quick when they are.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
    echo "fieldsync needs Rust (rustup, stable >= 1.85): cargo was not found on PATH" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
    done
fi
# SQLCipher (the store's encryption, docs/adr/0011) is compiled against the system's libcrypto on
# Linux: its headers come from libssl-dev. Installed once, only when a compile check fails.
if [ "$(uname -s)" = Linux ] && ! echo '#include <openssl/evp.h>' | cc -E -x c - >/dev/null 2>&1; then
    command -v apt-get >/dev/null || { echo "fieldsync needs the OpenSSL headers (libssl-dev or openssl-devel)" >&2; exit 1; }
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libssl-dev </dev/null >/dev/null
fi
