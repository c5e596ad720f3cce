"""Adding a parameter with a default to a Python function without a model.

"Add a timeout parameter with default 10 to fetch" is a change of signature
that an IDE makes exactly; the small model rewrites the function (or the
wrong one) and fails more often than not. With a default, every existing
call keeps working, so "and update its callers" needs no change at them; the
agent's imports-and-calls check confirms it.

The parameter goes after the last parameter that may be given by position
(and after `/`), or among the keyword-only ones where the function has `*` or
`*args`; it is written `name=default`, on the line of the parameter before
it, or on a line of its own where the parameters are one per line. A function
that takes `**kwargs` is refused: callers that pass that keyword would now
bind it to the new parameter instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

_FUNCTION = ast.FunctionDef | ast.AsyncFunctionDef


class CannotAdd(Exception):
    pass


@dataclass(frozen=True)
class NewParameter:
    function: str
    name: str
    default: str
    """Python source of the default value."""


_NAME = r"`?([A-Za-z_]\w*)`?"
_VALUE = (
    r"""("[^"\n]*"|'[^'\n]*'|[-+]?\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?|0[xob][\da-fA-F_]+"""
    r"""|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\(\))?|\[\]|\{\}|\(\))"""
)  # a literal, a name (a sentence's final period is not part of it), or an empty container
_DEFAULT = rf"with\s+(?:a\s+)?default(?:\s+value)?(?:\s+of)?\s+{_VALUE}"
_KIND = r"(?:parameter|argument|arg|keyword(?:\s+argument)?)"
_CALLERS = r"(?:\s*,?\s*and\s+(?:update|fix)\s+(?:its|the|all)\s+(?:callers|calls|call\s+sites))?"
_PATTERNS = [
    # add a timeout parameter with default 10 to fetch / add a parameter timeout with default 10 to fetch
    re.compile(
        rf"^\s*add\s+(?:a\s+|an\s+|the\s+|new\s+)*(?:{_NAME}\s+{_KIND}|{_KIND}\s+{_NAME})\s+{_DEFAULT}\s+"
        rf"(?:to|on)\s+(?:the\s+)?(?:function\s+|method\s+)?{_NAME}(?:\(\))?{_CALLERS}\s*\.?\s*$",
        re.IGNORECASE,
    ),
    # give fetch a timeout parameter with default 10
    re.compile(
        rf"^\s*give\s+(?:the\s+)?(?:function\s+|method\s+)?{_NAME}(?:\(\))?\s+(?:a\s+|an\s+)?(?:new\s+)?"
        rf"(?:{_NAME}\s+{_KIND}|{_KIND}\s+{_NAME})\s+{_DEFAULT}{_CALLERS}\s*\.?\s*$",
        re.IGNORECASE,
    ),
]


def parse_instruction(instruction: str) -> NewParameter | None:
    """The parameter an instruction asks for, when that is all it asks (anything more, say "and use
    it in split", is the model's)."""
    for number, pattern in enumerate(_PATTERNS):
        match = pattern.match(instruction)
        if match is None:
            continue
        groups = match.groups()
        if number == 0:
            name, other, default, function = groups
        else:
            function, name, other, default = groups
        default = default.strip()
        try:
            ast.parse(default, mode="eval")
        except SyntaxError:
            return None
        return NewParameter(function, name or other, default)
    return None


def functions_named(tree: ast.Module, name: str) -> list[_FUNCTION]:
    return [node for node in ast.walk(tree) if isinstance(node, _FUNCTION) and node.name == name]


def add_parameter(text: str, function: _FUNCTION, name: str, default: str) -> str:
    """`text` with `name=default` added to `function`'s parameters (`function` parsed from `text`)."""
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg is not None:
        every.append(args.vararg)
    if name in {a.arg for a in every} or (args.kwarg is not None and args.kwarg.arg == name):
        raise CannotAdd(f"{function.name} already has a parameter {name}")
    if args.kwarg is not None:
        raise CannotAdd(
            f"{function.name} takes **{args.kwarg.arg}: callers that pass {name}= would bind it to the new "
            "parameter instead; change it by hand"
        )
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:  # ast columns count UTF-8 bytes
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8", "replace"))

    keyword_only = args.vararg is not None or bool(args.kwonlyargs)
    before: ast.AST | None
    if keyword_only:
        before = args.kwonlyargs[-1] if args.kwonlyargs else args.vararg
        if args.kwonlyargs and args.kw_defaults[-1] is not None:
            before = args.kw_defaults[-1]
    else:
        positional = [*args.posonlyargs, *args.args]
        before = positional[-1] if positional else None
        if positional and args.defaults:
            before = args.defaults[-1]
    opening = _opening(text, function, offset)
    if before is None:
        at = opening
        separator = ""
    else:
        assert before.end_lineno is not None and before.end_col_offset is not None
        at = offset(before.end_lineno, before.end_col_offset)
        if not keyword_only and args.posonlyargs and not args.args:
            slash = re.match(r"\s*,\s*/", text[at:])  # `def f(a, /)`: after the slash
            if slash:
                at += slash.end()
        separator = ", "
    # Parameters one per line, with a trailing comma: the new one takes a line of its own.
    trailing = re.match(r",[ \t]*(?:#[^\n]*)?\n", text[at:])
    if before is not None and trailing and before.lineno > function.lineno:
        line_start = text.rfind("\n", 0, at) + 1
        indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
        at += trailing.end()
        return f"{text[:at]}{indent}{name}={default},\n{text[at:]}"
    return f"{text[:at]}{separator}{name}={default}{text[at:]}"


def _opening(text: str, function: _FUNCTION, offset: Callable[[int, int], int]) -> int:
    """Just after the `(` that opens the parameter list."""
    start = offset(function.lineno, function.col_offset)
    found = re.compile(rf"def\s+{re.escape(function.name)}\s*(?:\[[^\]]*\]\s*)?\(").search(text, start)
    if found is None:
        raise CannotAdd(f"cannot find the parameter list of {function.name}")
    return found.end()
