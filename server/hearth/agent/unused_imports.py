"""Removing a Python file's unused imports without a model: pyflakes says which bindings are
unused, and only those names leave their import statements.

A model asked to remove an unused import may delete a line of code instead (on the edit
bench, one kept `import os` and dropped the report's total line; no static check can see
that). This is exact: a statement whose names are all unused goes, one with some used
names keeps those, written again on one line. A statement that shares its line with other
code is left alone. What it removes still goes through the agent's checks (an import
another module re-exports from here is caught there).
"""

from __future__ import annotations

import ast

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from hearth.agent.salvage import owns_lines

_Import = ast.Import | ast.ImportFrom


class NothingToRemove(Exception):
    pass


def remove_unused_imports(path: str, text: str, name: str | None = None) -> str:
    """`text` without its unused imports (only `name`'s, when given); NothingToRemove says why not."""
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise NothingToRemove(f"{path} does not parse: {exc}") from exc
    unused = {
        (message.lineno, message.message_args[0])
        for message in pyflakes_checker.Checker(tree, filename=path).messages
        if isinstance(message, pyflakes_messages.UnusedImport)
    }
    lines = text.splitlines(keepends=True)
    splices: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, _Import):
            continue
        going = [
            alias
            for alias in node.names
            if (node.lineno, _shown(node, alias)) in unused and (name is None or name in _names(node, alias))
        ]
        if not going or not owns_lines(node, lines):
            continue
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        kept = [alias for alias in node.names if alias not in going]
        if kept:
            indent = lines[start][: node.col_offset]
            statement = ast.unparse(_with_names(node, kept))
            splices.append((start, end, [f"{indent}{statement}\n"]))
        else:
            if end < len(lines) and not lines[end].strip() and (start == 0 or not lines[start - 1].strip()):
                end += 1  # the blank line that separated it goes with it
            splices.append((start, end, []))
    if not splices:
        what = f"`{name}` is not an unused import" if name else "there are no unused imports"
        raise NothingToRemove(f"{what} in {path} (pyflakes)")
    for start, end, replacement in sorted(splices, reverse=True):
        lines[start:end] = replacement
    return "".join(lines)


def _shown(node: _Import, alias: ast.alias) -> str:
    """The binding as pyflakes names it in its message."""
    if isinstance(node, ast.ImportFrom):
        dots = "." * node.level
        full = f"{dots}{node.module}.{alias.name}" if node.module else f"{dots}{alias.name}"
    else:
        full = alias.name
    return f"{full} as {alias.asname}" if alias.asname else full


def _names(node: _Import, alias: ast.alias) -> set[str]:
    """What a user may call the import: its bound name, the imported name, the whole path."""
    return {alias.asname or alias.name.split(".")[0], alias.name, _shown(node, alias).split(" as ")[0]}


def _with_names(node: _Import, names: list[ast.alias]) -> _Import:
    if isinstance(node, ast.ImportFrom):
        return ast.ImportFrom(module=node.module, names=names, level=node.level)
    return ast.Import(names=names)
