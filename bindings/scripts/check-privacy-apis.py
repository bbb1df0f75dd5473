#!/usr/bin/env python3
"""Checks a native library's imports against a privacy manifest's required-reason APIs.

    bindings/scripts/check-privacy-apis.py LIBRARY PrivacyInfo.xcprivacy

Apple asks every SDK to declare, in its PrivacyInfo.xcprivacy, each "required-reason API"
category it calls (file timestamps: stat/fstat/...; disk space: statfs/statvfs/...; system boot
time: mach_absolute_time), with a reason. This lists the C functions LIBRARY imports (`nm`:
undefined symbols of a Mach-O static library or the dynamic imports of an ELF shared library),
maps them to Apple's categories and fails when a category is used but not declared, or
declared without a reason. On Linux the ELF library is a proxy for the iOS one: the same C
(SQLite) and Rust std code, under glibc's names (stat64, statx, ...).
"""

import plistlib
import re
import subprocess
import sys

# Apple's categories and the C functions (and glibc's variants of them) that fall under each.
CATEGORIES = {
    "NSPrivacyAccessedAPICategoryFileTimestamp": {
        "stat", "fstat", "fstatat", "lstat", "getattrlist", "getattrlistbulk", "fgetattrlist",
        "getattrlistat", "stat64", "fstat64", "lstat64", "fstatat64", "newfstatat", "statx",
        "__xstat", "__fxstat", "__lxstat", "__fxstatat", "__xstat64", "__fxstat64", "__lxstat64",
        "__fxstatat64",
    },
    "NSPrivacyAccessedAPICategoryDiskSpace": {
        "statfs", "statvfs", "fstatfs", "fstatvfs", "statfs64", "statvfs64", "fstatfs64", "fstatvfs64",
    },
    "NSPrivacyAccessedAPICategorySystemBootTime": {"mach_absolute_time"},
}


def imports(library: str) -> set[str]:
    with open(library, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    args = ["nm", "-D", "--undefined-only", library] if elf else ["nm", "-u", library]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if not fields or fields[-1].endswith(":"):
            continue  # blank lines and archive member headers
        name = re.split(r"[@$]", fields[-1])[0]
        if not elf and name.startswith("_"):
            name = name[1:]  # Mach-O prefixes C names with an underscore
        names.add(name)
    return names


def main() -> int:
    library, manifest = sys.argv[1:3]
    with open(manifest, "rb") as f:
        declared = {
            entry["NSPrivacyAccessedAPIType"]: entry.get("NSPrivacyAccessedAPITypeReasons", [])
            for entry in plistlib.load(f).get("NSPrivacyAccessedAPITypes", [])
        }
    used = imports(library)
    problems = []
    for category, functions in CATEGORIES.items():
        calls = sorted(used & functions)
        if calls and category not in declared:
            problems.append(f"{category} is used ({', '.join(calls)}) but not declared")
        elif calls and not declared[category]:
            problems.append(f"{category} is declared without a reason")
        elif calls:
            print(f"ok   {category} ({', '.join(calls)}): declared, reasons {', '.join(declared[category])}")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
