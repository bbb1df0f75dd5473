#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium (the browser tests drive it with
# playwright-core); installs the `chromium` package when it is missing. Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
command -v apt-get >/dev/null || { echo "ensure-chromium: /usr/bin/chromium is missing and apt-get is not available" >&2; exit 1; }
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
echo "== installing Debian's chromium" >&2
$sudo apt-get update -qq </dev/null
# A first install on a fresh machine has been seen to stop at a package's configure step;
# finishing the configuration and asking once more completes it.
if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium </dev/null >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $sudo dpkg --configure -a </dev/null >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium </dev/null >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: the chromium package installed no /usr/bin/chromium" >&2; exit 1; }
