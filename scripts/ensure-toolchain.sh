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
