#!/usr/bin/env bash
# Swift 6.0.3 on this Debian 12 machine: a Debian trixie chroot with Debian's `swiftlang`,
# made once and cached outside the repo (~3 GB, ~3 min), then used for swiftc and for running
# what it built. Swift has no Debian 12 package and swift.org's tarballs are not reachable
# here; trixie's package is (ADR 0009).
#
#   scripts/swift-toolchain.sh root                makes the chroot if missing; prints its path
#   scripts/swift-toolchain.sh exec DIR CMD [ARG...]
#                                                  runs CMD inside the chroot in DIR (a path
#                                                  inside the chroot), with /proc mounted for
#                                                  the time of the command only
#
# Needs root (debootstrap, chroot, mount) or password-less sudo. Installs debootstrap from
# Debian when it is missing. The chroot shares the host's network: a server on the host's
# loopback is reachable from inside.
set -euo pipefail

cache="${FIELDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync}"
root="$cache/swift-trixie"
mirror="${FIELDSYNC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What a finished chroot has; a chroot without this marker is made again from scratch.
ready_marker="$root/.fieldsync-swift-ready"
packages="swiftlang libc6-dev libstdc++-14-dev ca-certificates"

fail() { echo "swift-toolchain: $*" >&2; exit 1; }
say() { echo "== swift-toolchain: $*" >&2; }
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || fail "needs root or password-less sudo (debootstrap, chroot, mount)"
    sudo="sudo -n"
fi

# One chroot user at a time: making it, or a command with /proc mounted.
mkdir -p "$cache"
exec 9>"$cache/swift-trixie.lock"
flock 9

ensure_debootstrap() {
    command -v debootstrap >/dev/null && return
    [ -x /usr/sbin/debootstrap ] && return
    command -v apt-get >/dev/null || fail "debootstrap is missing and apt-get is not available to install it"
    say "installing debootstrap"
    $sudo apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null
}

# A mount left behind by a killed run would make `rm -rf` walk into /proc: drop it first.
unmount_stale() {
    local dir=$1
    if [ -d "$dir/proc" ] && mountpoint -q "$dir/proc"; then $sudo umount -l "$dir/proc"; fi
}

ensure_root() {
    if [ -f "$ready_marker" ]; then return; fi
    ensure_debootstrap
    local staging="$root.partial"
    unmount_stale "$staging"
    $sudo rm -rf "$staging"
    say "debootstrap trixie into $staging (about 3 minutes, once)"
    local started=$SECONDS
    PATH="/usr/sbin:/sbin:$PATH" $sudo debootstrap --variant=minbase trixie "$staging" "$mirror" >"$cache/swift-trixie.log" 2>&1 ||
        fail "debootstrap failed; see $cache/swift-trixie.log"
    say "installing $packages"
    $sudo chroot "$staging" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages" \
        >>"$cache/swift-trixie.log" 2>&1 </dev/null || fail "apt-get in the chroot failed; see $cache/swift-trixie.log"
    $sudo chroot "$staging" /usr/bin/apt-get clean
    $sudo chroot "$staging" /usr/bin/swiftc --version >/dev/null 2>&1 ||
        $sudo test -x "$staging/usr/bin/swiftc" || fail "the chroot has no swiftc"
    $sudo mkdir -p "$staging/work"
    unmount_stale "$root"
    $sudo rm -rf "$root"
    $sudo mv "$staging" "$root"
    echo "$packages" | $sudo tee "$ready_marker" >/dev/null
    say "chroot ready in $((SECONDS - started)) s: $root"
}

case "${1:-}" in
    root)
        ensure_root
        echo "$root"
        ;;
    exec)
        [ $# -ge 3 ] || fail "usage: $0 exec DIR CMD [ARG...]"
        dir=$2; shift 2
        ensure_root
        unmount_stale "$root"
        # swiftc finds its runtime through /proc/self/exe; without /proc it cannot find
        # libswiftCore.so. Unmounted on every way out.
        $sudo mount -t proc proc "$root/proc"
        trap 'unmount_stale "$root"' EXIT
        trap 'exit 130' INT TERM
        # A reset environment and absolute paths: nothing of the host's PATH leaks in.
        $sudo chroot "$root" /usr/bin/env -i -C "$dir" PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
            LD_LIBRARY_PATH="$dir" "$@"
        ;;
    *)
        fail "usage: $0 root | exec DIR CMD [ARG...]"
        ;;
esac
