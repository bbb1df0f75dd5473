#!/usr/bin/env python3
"""Makes the generated bindings' lower layer internal, so that the app's face is the wrapper.

uniffi-bindgen 0.32 has no visibility option: every object, callback interface, converter and
function it generates is public. The wrappers (bindings/kotlin, bindings/swift) are compiled
into one module with the generated code, so they still reach what this hides; an app does not.
What stays public is the data an app handles (records, enums, errors) and HttpTransport (an app
may give its own). docs/adr/0027.

    bindings/scripts/hide-generated.py kotlin FILE.kt
    bindings/scripts/hide-generated.py swift FILE.swift

FILE is the FFI crate's generated file (fieldsync_ffi.*) or the core's (fieldsync_core.*: the
records and enums fieldsync-core derives itself, feature `uniffi`, docs/adr/0032); the core's
holds no object, callback or function, only converters to hide.

Edits FILE in place; fails (exit 1) when an expected declaration is missing, so a uniffi
upgrade that changes the generated shape stops the build instead of leaving the layer public.
"""

import re
import sys
from pathlib import Path

# The objects and callback interfaces the wrappers use and apps do not.
OBJECTS = ["FieldsyncClient", "TaskHandle", "ObservationHandle", "Cancellation"]
CALLBACKS = ["TicketsListener", "SyncStatusListener", "TicketObserver", "TicketsObserver", "FieldsyncLogger"]
FUNCTIONS = ["whoAmI", "setLogger", "clearLogger", "encryptExistingStore"]


def kotlin(text: str, core: bool) -> str:
    rules = []
    for name in [] if core else OBJECTS:
        rules += [
            (rf"^public interface {name}Interface\b", f"internal interface {name}Interface"),
            (rf"^open class {name}\b", f"internal open class {name}"),
        ]
    for name in [] if core else CALLBACKS:
        rules += [
            (rf"^public interface {name}\b", f"internal interface {name}"),
            (rf"^open class {name}Impl\b", f"internal open class {name}Impl"),
        ]
    # Every converter is plumbing (records' and enums' too): none is part of an app's face.
    rules += [
        (r"^public object (FfiConverter\w*)", r"internal object \1"),
        (r"^public interface (FfiConverter\w*)", r"internal interface \1"),
    ]
    for name in [] if core else FUNCTIONS:
        # After an annotation or the end of a doc comment on the same line.
        rules.append((rf"^(.*?)((?:suspend )?fun `{name}`\()", r"\1internal \2"))
    return apply(text, rules)


def swift(text: str, core: bool) -> str:
    # `open` members of a class that is no longer open are allowed; only public signatures that
    # name a hidden type are not, hence the converters and their lift/lower functions too.
    if core:
        # Every converter of the core's records and enums: the FFI's file, in the same module,
        # still reaches them.
        return apply(text, [(r"^public (struct|func) (FfiConverter\w*)", r"\1 \2")])
    rules = []
    for name in OBJECTS:
        rules += [
            (rf"^public protocol {name}Protocol\b", f"protocol {name}Protocol"),
            (rf"^open class {name}\b", f"class {name}"),
        ]
    for name in CALLBACKS:
        rules += [
            (rf"^public protocol {name}\b", f"protocol {name}"),
            (rf"^open class {name}Impl\b", f"class {name}Impl"),
        ]
    for name in OBJECTS + CALLBACKS:
        rules += [
            (rf"^public struct FfiConverterType{name}\b", f"struct FfiConverterType{name}"),
            (rf"^public func FfiConverterType{name}_lift\(", f"func FfiConverterType{name}_lift("),
            (rf"^public func FfiConverterType{name}_lower\(", f"func FfiConverterType{name}_lower("),
        ]
    for name in FUNCTIONS:
        rules.append((rf"^public func {name}\(", f"func {name}("))
    # The generated error makes way for the app's `FieldsyncError` (bindings/swift/Fieldsync.swift:
    # lowerCamelCase cases, LocalizedError); its converters keep their names. (uniffi.toml's
    # `rename` misses the error type of constructors in uniffi 0.32.)
    rules.append((r"\bFieldsyncError\b", "FieldsyncFfiError"))
    return apply(text, rules)


def apply(text: str, rules, optional=False) -> str:
    missing = []
    for pattern, replacement in rules:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if count == 0 and not optional:
            missing.append(pattern)
    if missing:
        sys.exit("hide-generated: not in the generated code: " + ", ".join(missing))
    return text


def main(argv):
    if len(argv) != 3 or argv[1] not in ("kotlin", "swift"):
        sys.exit(__doc__)
    path = Path(argv[2])
    transform = kotlin if argv[1] == "kotlin" else swift
    core = path.stem == "fieldsync_core"
    if not core and path.stem != "fieldsync_ffi":
        sys.exit(f"hide-generated: {path.name} is neither fieldsync_ffi nor fieldsync_core")
    path.write_text(transform(path.read_text(), core))


main(sys.argv)
