#!/usr/bin/env bash
# Checks that shared libraries load on devices with 16 KB memory pages: every LOAD segment of
# each ELF file aligned to at least 16 KB (0x4000), the rule Google Play applies to apps that
# target Android 15+. Reads the program headers with `readelf -lW`.
#
#   scripts/check-elf-alignment.sh LIB.so...
#
# Prints one "ok"/"FAIL" line per file and exits non-zero if any file fails (or is no ELF
# file, or has no LOAD segment).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 LIB.so..." >&2; exit 2; }
command -v readelf >/dev/null || { echo "check-elf-alignment: readelf (binutils) not found" >&2; exit 2; }

min=$((0x4000))
bad=0
for lib in "$@"; do
    if ! headers=$(readelf -lW "$lib" 2>&1); then
        echo "FAIL $lib: readelf cannot read it: ${headers%%$'\n'*}"
        bad=$((bad + 1))
        continue
    fi
    # LOAD lines: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg(1 or 2 words) Align; Align last.
    aligns=$(awk '$1 == "LOAD" { print $NF }' <<<"$headers")
    if [ -z "$aligns" ]; then
        echo "FAIL $lib: no LOAD segment"
        bad=$((bad + 1))
        continue
    fi
    smallest=""
    for align in $aligns; do
        if [ -z "$smallest" ] || [ $((align)) -lt $((smallest)) ]; then smallest=$align; fi
    done
    count=$(wc -w <<<"$aligns")
    if [ $((smallest)) -lt $min ]; then
        echo "FAIL $lib: a LOAD segment is aligned to $smallest (< 0x4000): it cannot load with 16 KB pages"
        bad=$((bad + 1))
    else
        echo "ok   $lib: $count LOAD segments, all aligned to >= 0x4000 (smallest $smallest)"
    fi
done
[ "$bad" = 0 ]
