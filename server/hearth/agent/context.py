"""What chat and the edit agent tell the model about the code, under a token budget.

Plain data in, text out: the selection, the scope around it, the definitions
of the names the user mentions (repository index), and a ranked repository
map with what budget is left. Everything here is labelled as data: the model
is told that repository text is never an instruction.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from hearth.context.index import RepoIndex
from hearth.context.repomap import repository_map
from hearth.context.syntax import enclosing_scopes
from hearth.text.tokens import estimate_tokens

CountTokens = Callable[[str], int]
SCOPE_MAX_LINES = 80


@dataclass(frozen=True)
class Focus:
    """The document the user is looking at and the selected range (offsets; equal: a cursor)."""

    path: str
    language_id: str
    text: str
    start: int = 0
    end: int = 0

    @property
    def selection(self) -> str:
        return self.text[self.start : self.end]

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset)


def mentioned_names(*texts: str, min_length: int = 4) -> list[str]:
    """Identifiers worth looking up: code-like words from the question and the selection."""
    names: list[str] = []
    for text in texts:
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            code_like = "_" in word or any(c.isupper() for c in word[1:]) or f"{word}(" in text
            long_enough = len(word) >= min_length
            if (code_like or long_enough) and not keyword.iskeyword(word) and word not in names:
                names.append(word)
    return names[:40]


def scope_text(focus: Focus) -> tuple[str, int, int] | None:
    """The innermost definition around the selection, if it is short enough to show whole."""
    scopes = enclosing_scopes(focus.language_id, focus.text, focus.start)
    lines = focus.text.splitlines(keepends=True)
    for scope in reversed(scopes):
        if scope.end_line - scope.start_line < SCOPE_MAX_LINES:
            return "".join(lines[scope.start_line : scope.end_line + 1]), scope.start_line, scope.end_line
    first = max(0, focus.line_of(focus.start) - 15)
    last = min(len(lines) - 1, focus.line_of(focus.end) + 15)
    if not lines:
        return None
    return "".join(lines[first : last + 1]), first, last


def fenced(text: str, language_id: str = "") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{language_id}\n{text.rstrip()}\n{fence}"


def gather(
    question: str,
    focus: Focus | None,
    index: RepoIndex | None,
    budget_tokens: int,
    count: CountTokens = estimate_tokens,
) -> str:
    """Context sections for a chat question, most useful first, within the budget."""
    sections: list[str] = []
    used = 0

    def add(section: str) -> bool:
        nonlocal used
        cost = count(section)
        if used + cost > budget_tokens:
            return False
        sections.append(section)
        used += cost
        return True

    if focus is not None:
        if focus.selection.strip():
            first = focus.line_of(focus.start) + 1
            add(f"Selected in {focus.path} (line {first}):\n{fenced(focus.selection, focus.language_id)}")
        scope = scope_text(focus)
        if scope is not None:
            text, first, last = scope
            add(f"{focus.path}, lines {first + 1}-{last + 1}:\n{fenced(text, focus.language_id)}")
    if index is not None:
        names = mentioned_names(question, focus.selection if focus else "")
        definitions = [
            d for d in index.definitions(names, limit_per_name=2) if focus is None or d.path != focus.path
        ]
        lines = [f"{d.path}:{d.line + 1}: {d.signature}" for d in definitions[:20]]
        if lines:
            add("Definitions of names mentioned:\n" + "\n".join(lines))
        room = min(budget_tokens - used, max(64, budget_tokens // 3))
        if room > 64:
            outline = repository_map(index, room - 8, count)
            if outline:
                add("Repository map (path, line: signature):\n" + outline)
    return "\n\n".join(sections)
