"""Line starts of an open document, kept up to date edit by edit.

Converting an LSP position to an offset by scanning from the top of the
document costs milliseconds per keystroke in a 300,000-line file. This
index holds every line's start offset in a numpy array; an edit re-scans
only the lines it touches (one more on each side, so a `\\r` + `\\n` pair
formed or split by the edit is seen) and shifts the rest in one step.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from hearth.text.positions import NEWLINE, count_units, offset_in_line


def _starts(text: str, begin: int, end: int) -> list[int]:
    return [m.end() for m in NEWLINE.finditer(text, begin, end)]


def _all_starts(text: str) -> np.ndarray:
    if len(text) > 100_000 and "\r" not in text:
        # Large files with plain \n breaks: find them in C, not one regex match at a time.
        if text.isascii():
            codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        else:
            codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return np.concatenate([np.zeros(1, dtype=np.int64), np.flatnonzero(codes == 10).astype(np.int64) + 1])
    return np.array([0, *_starts(text, 0, len(text))], dtype=np.int64)


class LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = _all_starts(text)

    def edit(self, new_text: str, start: int, end: int, inserted: int) -> None:
        """`new_text` is the whole text after replacing old [start, end) by `inserted` characters."""
        starts = self.starts
        first = max(0, bisect_right(starts, start) - 2)
        last = bisect_right(starts, end) + 1  # the first line start kept as it was (shifted)
        delta = inserted - (end - start)
        scan_from = int(starts[first])
        if last < len(starts):
            scan_to = int(starts[last]) + delta
            middle = [s for s in _starts(new_text, scan_from, scan_to) if scan_from < s < scan_to]
        else:  # up to the end: a line break at the very end starts a last, empty line
            scan_to = len(new_text)
            middle = [s for s in _starts(new_text, scan_from, scan_to) if scan_from < s]
        tail = starts[last:] + delta
        self.starts = np.concatenate([starts[: first + 1], np.array(middle, dtype=np.int64), tail])

    def bounds(self, text: str, line: int) -> tuple[int, int] | None:
        if line >= len(self.starts):
            return None
        start = int(self.starts[max(0, line)])
        if line + 1 >= len(self.starts):
            return start, len(text)
        end = int(self.starts[line + 1])
        end -= 2 if text[end - 2 : end] == "\r\n" else 1
        return start, end

    def offset_at(self, text: str, line: int, character: int, encoding: str) -> int:
        bounds = self.bounds(text, max(0, line))
        if bounds is None:
            return len(text)
        return offset_in_line(text, bounds[0], bounds[1], character, encoding)

    def position_at(self, text: str, offset: int, encoding: str) -> tuple[int, int]:
        offset = max(0, min(offset, len(text)))
        line = bisect_right(self.starts, offset) - 1
        start = int(self.starts[line])
        return line, count_units(text[start:offset], encoding)
