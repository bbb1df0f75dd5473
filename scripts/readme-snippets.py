#!/usr/bin/env python3
"""Keeps README code snippets word for word the code the tests run.

A README block preceded by a line `<!-- snippet: PATH -->` must equal the regions of PATH
between lines `// readme:begin` and `// readme:end`, each region dedented, joined in order.

    scripts/readme-snippets.py [--write] [README...]     (default: README.md)

Prints one line per snippet and "N passed, M failed"; exits 1 when a snippet differs (with
--write it rewrites the README blocks from the sources instead).
"""

import difflib
import re
import sys
import textwrap
from pathlib import Path

MARKER = re.compile(r"^<!-- snippet: (\S+)")
BEGIN, END = "// readme:begin", "// readme:end"


def regions(source: Path) -> str:
    """The marked regions of `source`, each dedented, joined."""
    out, region = [], None
    for number, line in enumerate(source.read_text().splitlines(), 1):
        if line.strip() == BEGIN:
            if region is not None:
                raise ValueError(f"{source}:{number}: {BEGIN} inside a region")
            region = []
        elif line.strip() == END:
            if region is None:
                raise ValueError(f"{source}:{number}: {END} without {BEGIN}")
            out.append(textwrap.dedent("\n".join(region)))
            region = None
        elif region is not None:
            region.append(line)
    if region is not None:
        raise ValueError(f"{source}: {BEGIN} not closed")
    if not out:
        raise ValueError(f"{source}: no {BEGIN} region")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    write = "--write" in argv
    readmes = [Path(a) for a in argv if a != "--write"] or [Path("README.md")]
    passed = failed = 0
    for readme in readmes:
        lines = readme.read_text().splitlines(keepends=True)
        changed = False
        i = 0
        while i < len(lines):
            marker = MARKER.match(lines[i])
            i += 1
            if not marker:
                continue
            source = readme.parent / marker.group(1)
            # The fenced block right after the marker.
            if i >= len(lines) or not lines[i].startswith("```"):
                print(f"FAIL {readme}: no code block after the snippet marker for {source}")
                failed += 1
                continue
            start = i + 1
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            shown = "".join(lines[start:end])
            try:
                wanted = regions(source)
            except (OSError, ValueError) as e:
                print(f"FAIL {readme}: {e}")
                failed += 1
                i = end + 1
                continue
            if shown == wanted:
                print(f"ok   {readme} snippet is the code {source} runs")
                passed += 1
            elif write:
                lines[start:end] = [wanted]
                changed = True
                print(f"ok   {readme} snippet rewritten from {source}")
                passed += 1
                end = start + 1
            else:
                print(f"FAIL {readme} snippet differs from {source} (scripts/readme-snippets.py --write)")
                sys.stdout.writelines(
                    difflib.unified_diff(shown.splitlines(True), wanted.splitlines(True), "README", str(source))
                )
                failed += 1
            i = end + 1
        if changed:
            readme.write_text("".join(lines))
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
