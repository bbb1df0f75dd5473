#!/usr/bin/env python3
"""What each crate costs in the shipped library: symbol sizes of an unstripped build, by crate.

    bindings/scripts/size-by-crate.py <target>/ship/libfieldsync_ffi.so [--top N]

Reads `nm -S --size-sort -C` (code and read-only/initialised data; not .bss, which takes no
room in the file) and attributes each symbol to the crate its demangled path starts with (for
`<a::T as b::Trait>::f`, the crate of the type, where a generic's code is instantiated
counts for the crate that defines it). C symbols are grouped by their library's prefixes
(SQLite/SQLCipher, ring's C and assembly). Symbols sum to less than the file: section
headers, unwind tables, dynamic symbol and relocation tables and padding are not symbols.
"""

import collections
import re
import subprocess
import sys

STD = {"core", "alloc", "std"}
C_PREFIXES = [
    ("sqlite (C, SQLCipher)", ("sqlite3", "sqlcipher", "fts5", "fts3", "rtree", "json", "Sqlite")),
    ("ring (C, asm)", ("ring_core_", "GFp", "fiat_", "ecp_nistz256", "ChaCha20", "aes_", "bn_", "x25519", "p256_", "p384_", "sha256_block", "sha512_block", "gcm_", "CRYPTO_", "LIMBS_", "LIMB_")),
    ("zlib-rs / miniz", ("zng_", "deflate", "inflate", "crc32", "adler32")),
]


def crate_of(name: str) -> str:
    # The crates a symbol's demangled name mentions, in order. Generic code of the standard
    # library (`core::ptr::drop_in_place<automerge::X>`, `<alloc::vec::Vec<T> as ...>`) is
    # instantiated for, and so counted to, the first other crate it names.
    crates = re.findall(r"(?:^|[<\s(&,\[*;])([A-Za-z_][A-Za-z0-9_]*)::", name)
    if crates:
        return next((c for c in crates if c not in STD), crates[0])
    for group, prefixes in C_PREFIXES:
        if name.startswith(prefixes):
            return group
    return "other C (mostly SQLite's static functions)"


def main() -> int:
    library = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    out = subprocess.run(["nm", "-S", "--size-sort", "-C", library], check=True, capture_output=True, text=True).stdout
    sizes: collections.Counter[str] = collections.Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or parts[2] in ("b", "B"):
            continue
        sizes[crate_of(parts[3])] += int(parts[1], 16)
    total = sum(sizes.values())
    print(f"{'crate':44} {'bytes':>12} {'share':>6}")
    for crate, size in sizes.most_common(top):
        print(f"{crate:44} {size:>12,} {size / total:>6.1%}")
    rest = sum(size for _, size in sizes.most_common()[top:])
    print(f"{'(the rest)':44} {rest:>12,} {rest / total:>6.1%}")
    print(f"{'all symbols':44} {total:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
