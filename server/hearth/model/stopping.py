"""When a suggestion being generated is complete: plain rules evaluated per token.

The completion policy fills a `StopSpec`; the model worker applies it to the
text generated so far after every token, so generation stops as soon as the
suggestion is done rather than being trimmed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def indentation_width(line: str, tab_size: int = 4) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab_size - width % tab_size
        else:
            break
    return width


@dataclass(frozen=True)
class StopSpec:
    """Where a generated suggestion ends. All fields are optional rules."""

    max_lines: int = 8
    """Most lines a suggestion may have."""
    single_line: bool = False
    """End at the first newline (code to the right of the cursor)."""
    block_indent: int | None = None
    """End before a later line indented this much or less (the block is over)."""
    closing_line_ends_block: bool = False
    """A line at `block_indent` that starts with a closing bracket is kept, then ends it."""
    next_line: str | None = None
    """End before a generated line that repeats the first non-blank line below the cursor."""
    stop_strings: tuple[str, ...] = ()
    """End before any of these strings (special tokens, file separators)."""

    def longest_marker(self) -> int:
        """Characters a streamed text holds back: a stop string may still be forming."""
        return max((len(stop) - 1 for stop in self.stop_strings), default=0)

    def cut(self, text: str, final: bool = False) -> int | None:
        """Length of `text` to keep if the suggestion is complete, else None.

        With `final`, the text is all there will be: the last line counts as whole.
        """
        cut: int | None = None
        for stop in self.stop_strings:
            at = text.find(stop)
            if at != -1 and (cut is None or at < cut):
                cut = at
        if cut is not None:
            text = text[:cut]
        line_cut = self._cut_lines(text, final or cut is not None)
        return line_cut if line_cut is not None else cut

    def _cut_lines(self, text: str, final: bool) -> int | None:
        if self.single_line:
            at = text.find("\n")
            return at if at != -1 else None
        lines = text.split("\n")
        # Only whole lines can be judged; the last one may still be growing.
        complete = lines if final else lines[:-1]
        offset = 0
        for index, line in enumerate(complete):
            if index > 0 and self._ends_before(line):
                return max(0, offset - 1)
            if index > 0 and self._closes_block(line):
                return offset + len(line)
            offset += len(line) + 1
            if index + 1 >= self.max_lines and index + 1 < len(lines):
                return offset - 1
        growing = lines[-1]
        if not final and len(lines) > 1 and self._dedented(growing):
            # Its indentation is known from its first visible character: stop now.
            return offset - 1
        return None

    def _dedented(self, line: str) -> bool:
        if self.block_indent is None or not line.strip():
            return False
        width = indentation_width(line)
        if self.closing_line_ends_block and width == self.block_indent:
            return False
        return width <= self.block_indent

    def _ends_before(self, line: str) -> bool:
        if not line.strip():
            return False
        if self.next_line is not None and line.strip() == self.next_line.strip():
            return True
        if self.block_indent is None:
            return False
        width = indentation_width(line)
        if width > self.block_indent:
            return False
        return not (self.closing_line_ends_block and width == self.block_indent and _closes(line))

    def _closes_block(self, line: str) -> bool:
        return (
            self.closing_line_ends_block
            and self.block_indent is not None
            and indentation_width(line) == self.block_indent
            and _closes(line)
        )


def _closes(line: str) -> bool:
    return line.lstrip()[:1] in ("}", ")", "]")


LOOP_MIN_UNIT = 12
"""Shorter repeats are ordinary code (`)))`, `0, 0, `); a loop repeats a line or more."""
LOOP_LONG_UNIT = 64
"""A unit this long repeated twice back to back is already a loop; shorter ones need three."""
LOOP_MAX_UNIT = 2000


def loop_cut(text: str) -> int | None:
    """Where a degenerate loop began, keeping its first copy; None when the text does not loop.

    A small model at greedy decoding can fall into writing the same paragraph or
    line again and again until its token limit. The tail of `text` is a loop when
    it is the same unit, whitespace included, repeated back to back: three times
    for a unit that spans a line break, or twice for a unit of LOOP_LONG_UNIT
    characters or more. The unit must hold a letter or digit.
    """
    size = len(text)
    if size < 2 * LOOP_MIN_UNIT:
        return None
    last = text[-1]
    for unit in range(LOOP_MIN_UNIT, min(LOOP_MAX_UNIT, size // 2) + 1):
        copies = 2 if unit >= LOOP_LONG_UNIT else 3
        # Cheap character tests first: this runs after every generated token.
        if unit * copies > size or text[size - 1 - unit] != last:
            continue
        tail = text[size - unit :]
        if any(text[size - (k + 1) * unit : size - k * unit] != tail for k in range(1, copies)):
            continue
        # A short unit is a loop only as whole lines: `0, 0, 0, ` inside a line is data.
        if (unit >= LOOP_LONG_UNIT or "\n" in tail) and any(ch.isalnum() for ch in tail):
            return size - (copies - 1) * unit
    return None


class Unfolding:
    """A generation's text as it grows: where it must end, and what may be streamed yet.

    The in-process worker and the shared-engine backends read tokens differently
    and end them by the same rules: a stop rule or a loop ends the text at once,
    and what could still turn out to be the start of a stop string is held back
    from the stream until the text is over.
    """

    def __init__(self, stop: StopSpec, stream: Callable[[str], None] | None = None) -> None:
        self._stop = stop
        self._stream = stream
        self._sent = 0
        self.text = ""

    def grow(self, text: str) -> str | None:
        """Take the text so far; the stop reason ("stop", "repetition") once it is complete."""
        self.text = text
        cut = self._stop.cut(text)
        if cut is not None:
            self.text = text[:cut]
            return "stop"
        looped = loop_cut(text)
        if looped is not None:  # the same paragraph or line again: what came before stays
            self.text = text[:looped]
            return "repetition"
        if self._stream is not None:
            safe = len(text) - self._stop.longest_marker()
            if safe > self._sent:
                self._stream(text[self._sent : safe])
                self._sent = safe
        return None

    def end(self, stop_reason: str) -> str:
        """The final text: where the model stopped on its own, the last line is judged whole."""
        if stop_reason in ("max_tokens", "eos", "deadline"):
            cut = self._stop.cut(self.text, final=True)
            if cut is not None:
                self.text = self.text[:cut]
        if self._stream is not None and len(self.text) > self._sent:
            self._stream(self.text[self._sent :])
            self._sent = len(self.text)
        return self.text
