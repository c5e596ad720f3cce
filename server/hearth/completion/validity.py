"""Syntax validity of a suggestion: it may not add parse errors the document did not have.

The document around the cursor is parsed with and without the suggestion
(a window of lines, so a long file costs the same as a short one). A
suggestion that adds ERROR or MISSING nodes is cut back to its longest
whole-line prefix that does not, or dropped. Languages without a grammar
pass unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

from hearth.context.languages import grammar
from hearth.context.syntax import lines_after, lines_before, parse

WINDOW_LINES_BEFORE = 150
WINDOW_LINES_AFTER = 60


@functools.cache
def _error_query(language_id: str) -> Any | None:
    language = grammar(language_id)
    if language is None:
        return None
    import tree_sitter

    return tree_sitter.Query(language, "(ERROR) @e (MISSING) @m")


def error_count(language_id: str, text: str) -> int | None:
    query, tree = _error_query(language_id), parse(language_id, text)
    if query is None or tree is None:
        return None
    if not tree.root_node.has_error:
        return 0
    import tree_sitter

    captures = tree_sitter.QueryCursor(query).captures(tree.root_node)
    return sum(len(nodes) for nodes in captures.values())


def _window(prefix: str, suffix: str) -> tuple[str, str]:
    return lines_before(prefix, len(prefix), WINDOW_LINES_BEFORE), lines_after(suffix, 0, WINDOW_LINES_AFTER)


def keep_valid(language_id: str, prefix: str, suggestion: str, suffix: str) -> tuple[str, str]:
    """The suggestion, or its longest whole-line prefix adding no parse error; and what was done."""
    before, after = _window(prefix, suffix)
    base = error_count(language_id, before + after)
    if base is None or not suggestion:
        return suggestion, "unchecked"
    if (error_count(language_id, before + suggestion + after) or 0) <= base:
        return suggestion, "valid"
    lines = suggestion.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        candidate = "\n".join(lines[:keep]).rstrip()
        if candidate.strip() and (error_count(language_id, before + candidate + after) or 0) <= base:
            return candidate, "cut"
    return "", "dropped"
