"""LSP positions <-> string offsets, in one place.

LSP counts lines by `\\n`, `\\r\\n` and `\\r` only, and characters in the
negotiated encoding (UTF-16 by default, UTF-8 or UTF-32 when agreed).
Offsets here are indices into a Python string (code points). A position
past the end of its line is clamped to the line's end, a line past the end
of the document to the document's end, and a character that falls inside a
code point (half a surrogate pair) to the start of that code point.
"""

from __future__ import annotations

import re

NEWLINE = re.compile(r"\r\n|\r|\n")
UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def units(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def count_units(text: str, encoding: str) -> int:
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text.encode("utf-16-le")) // 2
    return len(text.encode("utf-8"))


def line_bounds(text: str, line: int) -> tuple[int, int] | None:
    """Start and end (before the terminator) of a line; None past the last line."""
    start = 0
    for _ in range(max(0, line)):
        match = NEWLINE.search(text, start)
        if match is None:
            return None
        start = match.end()
    match = NEWLINE.search(text, start)
    return start, match.start() if match else len(text)


def offset_at(text: str, line: int, character: int, encoding: str = UTF16) -> int:
    bounds = line_bounds(text, line)
    if bounds is None:
        return len(text)
    return offset_in_line(text, bounds[0], bounds[1], character, encoding)


def offset_in_line(text: str, start: int, end: int, character: int, encoding: str) -> int:
    """The offset of `character` code units into the line text[start:end], clamped to it."""
    character = max(0, character)
    segment = text[start:end]
    if encoding == UTF32 or segment.isascii():
        return start + min(character, len(segment))
    used = 0
    for index, ch in enumerate(segment):
        used += units(ch, encoding)
        if used > character:
            return start + index
    return end


def position_at(text: str, offset: int, encoding: str = UTF16) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = 0
    start = 0
    for match in NEWLINE.finditer(text, 0, offset):
        line += 1
        start = match.end()
    return line, count_units(text[start:offset], encoding)


def count_lines(text: str) -> int:
    return len(NEWLINE.findall(text)) + 1
