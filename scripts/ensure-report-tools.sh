#!/usr/bin/env bash
# What the service report tests need (core/tests/report.rs, server/tests/suite/report.rs,
# docs/adr/0013): Debian's Noto Sans CJK (the font reports are set in, found at
# /usr/share/fonts/opentype/noto/), DejaVu Sans (a Latin-only font, to test the refusal of text
# it cannot show) and poppler-utils (pdftotext, pdftoppm: read the text back, render page 1).
# Installs what is missing; idempotent and quick when everything is there. apt keeps its
# downloads in /var/cache/apt, outside the repo.
set -euo pipefail
need=()
[ -x /usr/bin/pdftotext ] && [ -x /usr/bin/pdftoppm ] || need+=(poppler-utils)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
command -v apt-get >/dev/null || { echo "ensure-report-tools: missing ${need[*]} and apt-get is not available" >&2; exit 1; }
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
echo "== installing ${need[*]}" >&2
$sudo apt-get update -qq </dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
