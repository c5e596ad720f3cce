"""Names an edit leaves without a definition, for languages whose tree-sitter grammar ships a
`locals` query (JavaScript, and TypeScript on top of it).

A reference resolves when a definition of its name lies in a scope that contains it: the
grammar's own scopes, definitions and references, plus the bindings its query leaves out
(function and class names, imports, parameters, catch variables), each scoped where the
language puts it. The model is rough (no hoisting of `var`, no globals), so it is used only
as a comparison: a finding is a name the file defines somewhere that resolves somewhere
before the edit and no longer does after it, matched by name. `console` or `window` never
resolve and are never reported; code that was already odd does not block an edit.
Go, Rust, Java, C and C++ grammars ship no `locals` query: they get the syntax check only.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from hearth.context.languages import canonical, grammar
from hearth.context.syntax import parse

log = logging.getLogger(__name__)

_LOCALS = {
    "javascript": ("tree_sitter_javascript",),
    "typescript": ("tree_sitter_javascript", "tree_sitter_typescript"),
    "typescriptreact": ("tree_sitter_javascript", "tree_sitter_typescript"),
}
"""The packages whose `locals.scm` applies to a language (TypeScript extends JavaScript's)."""

_BINDINGS = (
    "(function_declaration name: (identifier) @outer.definition)",
    "(generator_function_declaration name: (identifier) @outer.definition)",
    "(class_declaration name: (identifier) @outer.definition)",
    "(class_declaration name: (type_identifier) @outer.definition)",
    "(import_clause (identifier) @local.definition)",
    "(import_specifier name: (identifier) @local.definition)",
    "(import_specifier alias: (identifier) @local.definition)",
    "(namespace_import (identifier) @local.definition)",
    "(formal_parameters (identifier) @local.definition)",
    "(formal_parameters (assignment_pattern left: (identifier) @local.definition))",
    "(rest_pattern (identifier) @local.definition)",
    "(for_in_statement left: (identifier) @local.definition)",
    "(arrow_function parameter: (identifier) @local.definition)",
    "(catch_clause parameter: (identifier) @local.definition)",
    "(shorthand_property_identifier_pattern) @local.definition",
)
"""Bindings the packaged queries leave out. `outer`: the name belongs to the scope around the
declaration (a function's name is visible beside it, not only inside it)."""


@dataclass(frozen=True)
class Unresolved:
    name: str
    line: int
    """1-based line of its first use that no definition reaches."""


def has_locals(language_id: str) -> bool:
    return _query(canonical(language_id)) is not None


@functools.cache
def _query(language_id: str) -> Any | None:
    packages = _LOCALS.get(language_id)
    language = grammar(language_id)
    if packages is None or language is None:
        return None
    import tree_sitter

    patterns: list[str] = []
    for package in packages:
        try:
            patterns.append(importlib.import_module(package).LOCALS_QUERY)
        except (ImportError, AttributeError) as exc:
            log.warning("no locals query in %s: %s", package, exc)
            return None
    for binding in _BINDINGS:  # one grammar's node names are not all the other's
        try:
            tree_sitter.Query(language, binding)
        except Exception:
            continue
        patterns.append(binding)
    try:
        return tree_sitter.Query(language, "\n".join(patterns))
    except Exception as exc:
        log.warning("locals query for %s does not compile: %s", language_id, exc)
        return None


@dataclass(frozen=True)
class _Names:
    defined: frozenset[str]
    unresolved: dict[str, int]


def _names(language_id: str, text: str) -> _Names | None:
    query = _query(language_id)
    if query is None:
        return None
    import tree_sitter

    tree = parse(language_id, text)
    if tree is None:
        return None
    captures = tree_sitter.QueryCursor(query).captures(tree.root_node)
    scopes = [(n.start_byte, n.end_byte) for n in captures.get("local.scope", [])]
    whole = (0, len(text.encode("utf-8")) + 1)

    def scope_of(node: Any, outer: bool) -> tuple[int, int]:
        # The innermost scope around the binding; an outer one's around its declaration, which
        # may be a scope itself (a function's name is not only visible inside it).
        holder = node.parent if outer and node.parent is not None else node
        own = (holder.start_byte, holder.end_byte)
        around = [(s, e) for s, e in scopes if s <= own[0] and own[1] <= e and (s, e) != own]
        return min(around, key=lambda span: span[1] - span[0], default=whole)

    definitions: dict[str, list[tuple[int, int]]] = {}
    seen: set[int] = set()
    for kind in ("local.definition", "outer.definition"):
        for node in captures.get(kind, []):
            seen.add(node.id)
            definitions.setdefault(_text(node), []).append(scope_of(node, kind == "outer.definition"))
    unresolved: dict[str, int] = {}
    for node in captures.get("local.reference", []):
        if node.id in seen:
            continue
        name = _text(node)
        at = node.start_byte
        if not any(start <= at < end for start, end in definitions.get(name, [])):
            line = node.start_point[0] + 1
            unresolved[name] = min(line, unresolved.get(name, line))
    return _Names(frozenset(definitions), unresolved)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace")


def lost_definitions(language_id: str, before: str | None, after: str) -> list[Unresolved] | None:
    """Names the edit leaves used where no definition reaches; None: no locals query here."""
    language_id = canonical(language_id)
    now = _names(language_id, after)
    if now is None:
        return None
    was = _names(language_id, before) if before is not None else None
    defined = now.defined | (was.defined if was else frozenset())
    already = was.unresolved if was else {}
    return [
        Unresolved(name, line)
        for name, line in sorted(now.unresolved.items(), key=lambda item: item[1])
        if name in defined and name not in already
    ]
