"""What a Python draft asked only to document code can still offer when it changed the code too:
its docstrings and annotated signatures, put on the code as it was.

A small model asked for a docstring often rewrites the body it documents. The rewrite
is dropped, not reviewed: each definition's new or changed docstring, and a signature
that differs from the old one only in its annotations, replace their counterparts in
the file before the edit (matched by qualified name, re-indented to where they go).
The result is kept only if it parses and its code, with docstrings and annotations
taken out, is the code before the edit.
"""

from __future__ import annotations

import ast
import copy
import itertools
from typing import Any

from hearth.agent.changes import FileChange
from hearth.agent.interfaces import behaviour_changes, docstring_node

_Scope = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
_Splice = tuple[int, int, list[str]]
"""Lines [start, end) of the file before the edit, and what replaces them."""


def documentation_of(before: str, draft: str) -> str | None:
    """`before` with the draft's docstrings and annotated signatures; None when that is nothing."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(draft)
    except (SyntaxError, ValueError):
        return None
    old_lines, new_lines = before.splitlines(keepends=True), draft.splitlines(keepends=True)
    new_scopes = _scopes(new_tree)
    splices: list[_Splice] = []
    for name, old in _scopes(old_tree).items():
        new = new_scopes.get(name)
        if new is None or type(new) is not type(old):
            continue
        for make in (_docstring, _signature):
            splice = make(old, new, old_lines, new_lines)
            if splice is not None:
                splices.append(splice)
    splices.sort(key=lambda splice: (splice[0], splice[1]))
    if not splices or any(a[1] > b[0] for a, b in itertools.pairwise(splices)):
        return None
    lines = list(old_lines)
    for start, end, replacement in reversed(splices):
        lines[start:end] = replacement
    result = "".join(lines)
    return result if result != before and _same_code(before, result) else None


def _scopes(tree: ast.Module) -> dict[str, _Scope]:
    """The module and every class and function in it by qualified name (ambiguous ones left out)."""
    found: dict[str, _Scope] = {"": tree}
    twice: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                if name in found:
                    twice.add(name)
                found[name] = child
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return {name: node for name, node in found.items() if name not in twice}


def _value(node: ast.Expr) -> object:
    return node.value.value if isinstance(node.value, ast.Constant) else None


def _docstring(old: _Scope, new: _Scope, old_lines: list[str], new_lines: list[str]) -> _Splice | None:
    new_doc = docstring_node(new)
    if new_doc is None or not owns_lines(new_doc, new_lines):
        return None
    old_doc = docstring_node(old)
    if old_doc is not None:
        if _value(old_doc) == _value(new_doc) or not owns_lines(old_doc, old_lines):
            return None
        start, end, indent = old_doc.lineno - 1, old_doc.end_lineno or old_doc.lineno, old_doc.col_offset
    else:
        if not old.body:
            return None
        first = old.body[0]
        start = _first_line(first) - 1
        if not isinstance(old, ast.Module) and start <= old.lineno - 1:
            return None  # `def f(): return 1`: the body shares the header's line
        if old_lines[start][: first.col_offset].strip():
            return None
        end, indent = start, first.col_offset
    after = new_doc.end_lineno or new_doc.lineno
    text = new_lines[new_doc.lineno - 1 : after]
    if old_doc is None and after < len(new_lines) and not new_lines[after].strip():
        text.append("\n")  # the blank line the draft put between it and the code
    return start, end, _indented(text, new_doc.col_offset, indent)


def _signature(old: _Scope, new: _Scope, old_lines: list[str], new_lines: list[str]) -> _Splice | None:
    if not isinstance(old, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    assert isinstance(new, ast.FunctionDef | ast.AsyncFunctionDef)
    old_span, new_span = _header(old, old_lines), _header(new, new_lines)
    if old_span is None or new_span is None:
        return None
    old_text, new_text = old_lines[old_span[0] : old_span[1]], new_lines[new_span[0] : new_span[1]]
    if "".join(old_text).strip() == "".join(new_text).strip() or _bare(old) != _bare(new):
        return None
    return old_span[0], old_span[1], _indented(new_text, new.col_offset, old.col_offset)


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> tuple[int, int] | None:
    """Lines from `def` to the colon, when the body starts on a line of its own."""
    start, body = node.lineno - 1, _first_line(node.body[0]) - 1
    if body <= start:
        return None
    end = body
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return start, end


def _bare(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The signature without its annotations."""
    args = copy.deepcopy(node.args)
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            arg.annotation = None
    return f"{type(node).__name__} {node.name} {ast.dump(args)}"


def _first_line(node: Any) -> int:
    decorators = getattr(node, "decorator_list", [])
    return int(min([node.lineno, *(d.lineno for d in decorators)]))


def owns_lines(node: ast.stmt, lines: list[str]) -> bool:
    """Whether a statement has its lines to itself (nothing before it, a comment at most after)."""
    end = node.end_lineno or node.lineno
    if lines[node.lineno - 1][: node.col_offset].strip():
        return False
    rest = lines[end - 1][node.end_col_offset or 0 :].strip()
    return not rest or rest.startswith("#")


def _indented(lines: list[str], have: int, want: int) -> list[str]:
    if have == want:
        return list(lines)
    result = []
    for line in lines:
        body = line[have:] if line[:have].strip() == "" else line.lstrip(" \t")
        result.append(" " * want + body if line.strip() else line)
    return result


def _same_code(before: str, after: str) -> bool:
    return not behaviour_changes([FileChange("draft.py", before, after)])
