"""Where to suggest, and how much: none, the rest of the line, or a block.

Multi-line suggestions are offered only where they cannot push the user's
code around: at the end of a line that opens a block, or on a blank line.
With code to the right of the cursor the suggestion completes that line only.
"""

from __future__ import annotations

from dataclasses import dataclass

from hearth.model.stopping import StopSpec, indentation_width
from hearth.text.tokens import comment_token

# Closers that may sit right of the cursor without making it "code to the right".
_AUTO_CLOSED = set(")]}\"'`;:, \t")
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")
_BRACE_LANGUAGES = {
    "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust",
    "java", "c", "cpp", "csharp", "kotlin", "swift", "php", "scala", "dart",
}  # fmt: skip


@dataclass(frozen=True)
class Cursor:
    """The text around the cursor, split the ways the policy needs."""

    prefix: str
    suffix: str

    @property
    def line_before(self) -> str:
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def line_after(self) -> str:
        end = self.suffix.find("\n")
        return self.suffix if end == -1 else self.suffix[:end]

    @property
    def next_nonblank_line(self) -> str | None:
        for line in self.suffix.split("\n")[1:]:
            if line.strip():
                return line
        return None


@dataclass(frozen=True)
class Decision:
    mode: str
    """none, line or block."""
    reason: str
    stop: StopSpec


def decide(cursor: Cursor, language_id: str, multiline: str = "auto", max_lines: int = 8) -> Decision:
    before, after = cursor.line_before, cursor.line_after
    stripped = before.rstrip()
    none = StopSpec()
    if _in_line_comment(before, language_id):
        return Decision("none", "inside a comment", none)
    code_to_right = any(ch not in _AUTO_CLOSED for ch in after)
    if not code_to_right and stripped.endswith((")", "]", "}", ";")) and before == stripped:
        return Decision("none", "statement just closed", none)
    next_line = cursor.next_nonblank_line
    # Even an auto-closed bracket right of the cursor would be pushed down by a block.
    if after.strip() or multiline == "never":
        reason = "text to the right" if after.strip() else "multi-line off"
        return Decision("line", reason, StopSpec(single_line=True, max_lines=1))
    indent = indentation_width(before)
    braces = language_id in _BRACE_LANGUAGES
    if stripped.endswith(_BLOCK_OPENERS):
        block = StopSpec(
            max_lines=max_lines, block_indent=indent, closing_line_ends_block=braces,
            next_line=next_line,
        )  # fmt: skip
        return Decision("block", "end of a line that opens a block", block)
    if not before.strip():
        # A blank line inside a block: lines at this indentation continue it.
        block = StopSpec(max_lines=max_lines, block_indent=indent - 1, next_line=next_line)
        return Decision("block", "blank line", block)
    if multiline == "always":
        block = StopSpec(max_lines=max_lines, block_indent=indent - 1, next_line=next_line)
        return Decision("block", "multi-line always", block)
    return Decision("line", "end of a statement line", StopSpec(single_line=True, max_lines=1))


def _in_line_comment(line_before: str, language_id: str) -> bool:
    token = comment_token(language_id)
    quote: str | None = None
    index = 0
    while index < len(line_before):
        ch = line_before[index]
        if quote:
            if ch == "\\":
                index += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif line_before.startswith(token, index):
            return True
        index += 1
    return False
