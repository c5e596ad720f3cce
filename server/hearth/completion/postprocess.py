"""Turn raw model output into the text shown, or nothing. Pure functions.

Each function takes the text generated at the cursor and the text around it
and returns the cleaned text; `clean_suggestion` chains them in order.
"""

from __future__ import annotations

from hearth.completion.policy import Cursor, Decision


def strip_markers(text: str, markers: tuple[str, ...]) -> str:
    """Cut at the first special token: nothing after one belongs to the suggestion."""
    for marker in markers:
        at = text.find(marker)
        if at != -1:
            text = text[:at]
    return text


def trim_trailing_space(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def trim_suffix_overlap(text: str, line_after: str) -> str:
    """Drop the end of a one-line suggestion that the line already has right of the cursor.

    The model often re-types the closing `)` or `:` an editor auto-inserted.
    """
    rest = line_after.strip()
    if not rest:
        return text
    if text.rstrip().endswith(rest):
        return text.rstrip()[: -len(rest)].rstrip() if text.strip() != rest else ""
    # Partial overlap: the suggestion ends with a start of the remaining text.
    for size in range(min(len(rest), len(text)), 0, -1):
        if text.endswith(rest[:size]) and not rest[:size].isalnum():
            return text[:-size]
    return text


_PAIRS = {")": "(", "]": "[", "}": "{"}


def balance_closers(text: str, line_after: str) -> str:
    """Cut a one-line suggestion at the first closer it has no opener for, if the line has it already.

    `foo(|)` with the output `a, b))` shows `a, b`: the editor's `)` closes the
    call. With nothing right of the cursor, the closer is the suggestion's to give.
    """
    stack: list[str] = []
    quote = ""
    for index, ch in enumerate(text):
        if quote:
            if ch == quote and text[index - 1] != "\\":
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            elif ch in line_after:
                return text[:index].rstrip()
            else:
                return text
    return text


def drop_next_line_repeat(text: str, suffix: str) -> str:
    """Drop a final line that repeats the first non-blank line below the cursor (a `}` already there)."""
    following = next((line.strip() for line in suffix.split("\n")[1:] if line.strip()), None)
    lines = text.split("\n")
    if following is not None and len(lines) > 1 and lines[-1].strip() == following:
        return "\n".join(lines[:-1])
    return text


def drop_repeated_lines(text: str) -> str:
    """Stop at a line that repeats the previous non-blank line (degenerate loops)."""
    lines = text.split("\n")
    kept: list[str] = []
    previous = None
    for line in lines:
        if line.strip() and line.strip() == previous:
            break
        kept.append(line)
        if line.strip():
            previous = line.strip()
    return "\n".join(kept)


def split_trailing_space(prefix: str) -> tuple[str, str]:
    """The prefix without the whitespace that ends it, and that whitespace.

    A prompt that ends in whitespace sits on an unnatural token boundary (BPE
    merges spaces with the word after them, and a line break with the next
    line's indentation); the model does better writing them itself, and
    `align_to_cursor` takes them off again. On a blank line the line break
    before the cursor is held back too.
    """
    stripped = prefix.rstrip(" \t")
    if stripped.endswith("\n") and stripped.strip():
        cut = len(stripped) - (2 if stripped.endswith("\r\n") else 1)
        return prefix[:cut], prefix[cut:]
    return stripped, prefix[len(stripped) :]


def align_to_cursor(text: str, held_back: str, blank_line: bool) -> str:
    """Remove from the output the whitespace the document already has at the cursor.

    On a blank line, output indented less than the cursor is the model ending
    the block: there is nothing to suggest here.
    """
    if not held_back:
        return text
    if text.startswith(held_back):
        return text[len(held_back) :]
    if held_back.startswith(("\n", "\r\n")):
        newline = held_back[: held_back.index("\n") + 1]
        if not text.startswith(newline):
            return ""  # the model went on with the line above, not this one
        text, held_back = text[len(newline) :], held_back[len(newline) :]
        if text.startswith(held_back):
            return text[len(held_back) :]
    first = text.split("\n", 1)[0]
    if blank_line and first.strip() and len(first) - len(first.lstrip()) < len(held_back):
        return ""
    return text.lstrip(" \t") if blank_line else text


def clean_suggestion(raw: str, cursor: Cursor, decision: Decision, markers: tuple[str, ...]) -> str:
    """The text to show at the cursor, or "" for nothing."""
    text = strip_markers(raw, markers)
    if decision.mode == "line":
        text = text.split("\n", 1)[0]
        text = trim_suffix_overlap(text, cursor.line_after)
        text = balance_closers(text, cursor.line_after)
    else:
        text = drop_next_line_repeat(drop_repeated_lines(text), cursor.suffix)
    text = trim_trailing_space(text)
    if not text.strip():
        return ""
    # Already in the document: nothing to suggest.
    if cursor.suffix.startswith(text):
        return ""
    return text
