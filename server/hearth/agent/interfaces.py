"""What an edit to a Python module breaks in the code that uses it: names other modules import
from it that it no longer defines, calls that no longer fit a function's new signature or a
class's new constructor (its `__init__`, or the fields of a dataclass or NamedTuple), and
code that changed where the instruction asked only for docstrings, comments or type hints.

pyflakes sees one file at a time; these checks read the workspace's other Python files
with `ast` (nothing runs). Each finding is new with the edit: an import that already
failed, or a call that did not fit the old signature either (another function of the
same name, a call through `*args`), is not the edit's doing and is not reported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hearth.agent.changes import FileChange


def module_name(path: str) -> str:
    """`shelf/pricing.py` -> `shelf.pricing`; a package's `__init__.py` is the package."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _tree(text: str | None) -> ast.Module | None:
    if text is None:
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """The names a module binds at its top level (what `from module import name` can find);
    None when it defines `__getattr__`, which may answer any name."""
    names: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif not isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            stack.extend(ast.iter_child_nodes(node))  # if/try/with/for blocks bind at the top too
    return None if "__getattr__" in names else names


def _imported_from(tree: ast.Module, path: str, module: str) -> list[tuple[str, int]]:
    """(name, line) for each `from <module> import name` in the file at `path`."""
    package = module_name(path).rsplit(".", 1)[0] if "/" in path else ""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = node.module or ""
        if node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            source = ".".join([*base, *([source] if source else [])])
        if source == module:
            found += [(alias.name, node.lineno) for alias in node.names if alias.name != "*"]
    return found


@dataclass(frozen=True)
class _Signature:
    positional: tuple[str, ...]
    """Names that may be given by position, in order (self and cls left out for methods)."""
    required: frozenset[str]
    keywords: frozenset[str]
    star_args: bool
    star_kwargs: bool

    def rejects(self, call: ast.Call, bound: bool) -> str | None:
        """Why `call` no longer fits, or None. `bound`: called as a method (`x.name(...)`)."""
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None  # *args or **kwargs at the call: cannot tell
        positional = (
            self.positional[1:] if bound and self.positional[:1] in (("self",), ("cls",)) else self.positional
        )
        given = positional[: len(call.args)]
        if len(call.args) > len(positional) and not self.star_args:
            return f"takes {len(positional)} positional argument(s) but the call gives {len(call.args)}"
        named = {k.arg for k in call.keywords if k.arg is not None}
        unknown = sorted(named - self.keywords) if not self.star_kwargs else []
        if unknown:
            return f"has no parameter {', '.join(unknown)}"
        missing = sorted(self.required - set(given) - named - ({"self", "cls"} if bound else set()))
        if missing:
            return f"needs {', '.join(missing)}, which the call does not give"
        return None


def _signature(args: ast.arguments, drop_first: bool = False) -> _Signature:
    ordered = [*args.posonlyargs, *args.args]
    defaults = len(args.defaults)
    required = {a.arg for a in ordered[: len(ordered) - defaults]}
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
    named = [*args.args, *args.kwonlyargs]
    if drop_first and ordered:
        required.discard(ordered[0].arg)
        named = [a for a in named if a is not ordered[0]]
        ordered = ordered[1:]
    return _Signature(
        tuple(a.arg for a in ordered),
        frozenset(required),
        frozenset(a.arg for a in named),
        args.vararg is not None,
        args.kwarg is not None,
    )


def _dotted(node: ast.expr) -> str:
    """The last name of a decorator, base or annotation: `dataclasses.dataclass`,
    `dataclass(frozen=True)` -> `dataclass`; `typing.ClassVar[int]` -> `ClassVar`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _keyword(call: ast.expr, name: str) -> ast.expr | None:
    if isinstance(call, ast.Call):
        return next((k.value for k in call.keywords if k.arg == name), None)
    return None


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _generated_init(node: ast.ClassDef) -> _Signature | None:
    """The `__init__` a dataclass or NamedTuple gets from its fields; None where that cannot be
    told from this class alone (other bases, init=False, a field whose default is unclear)."""
    decorator = next((d for d in node.decorator_list if _dotted(d) == "dataclass"), None)
    bases = [_dotted(b) for b in node.bases]
    if decorator is None and bases != ["NamedTuple"]:
        return None
    if decorator is not None and (bases or isinstance(_keyword(decorator, "init"), ast.Constant)):
        return None  # inherited fields come first, and init=False gives none
    keyword_only = decorator is not None and _is_true(_keyword(decorator, "kw_only"))
    positional: list[str] = []
    keywords: list[str] = []
    required: set[str] = set()
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        name, value = statement.target.id, statement.value
        if _dotted(statement.annotation) == "ClassVar":
            continue
        if _dotted(statement.annotation) == "KW_ONLY":
            keyword_only = True
            continue
        only_by_name = keyword_only
        if isinstance(value, ast.Call) and _dotted(value) == "field":
            if (init := _keyword(value, "init")) is not None and not _is_true(init):
                continue
            only_by_name = only_by_name or _is_true(_keyword(value, "kw_only"))
            has_default = any(k.arg in ("default", "default_factory") for k in value.keywords)
        else:
            has_default = value is not None
        keywords.append(name)
        if not only_by_name:
            positional.append(name)
        if not has_default:
            required.add(name)
    return _Signature(tuple(positional), frozenset(required), frozenset(keywords), False, False)


def _constructor(node: ast.ClassDef) -> _Signature | None:
    """What calling the class takes: its own `__init__` (a dataclass keeps one it defines), or
    the one its fields generate; None where it inherits one this module does not show."""
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            return _signature(statement.args, drop_first=True)
    if any(isinstance(s, ast.FunctionDef) and s.name == "__new__" for s in node.body):
        return None
    return _generated_init(node)


def _signatures(tree: ast.Module) -> dict[str, _Signature | None]:
    """Each function's, method's and class's signature by name; None for a name defined twice
    or a class whose constructor cannot be told."""
    found: dict[str, _Signature | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            signature: _Signature | None = _signature(node.args)
        elif isinstance(node, ast.ClassDef):
            signature = _constructor(node)
        else:
            continue
        found[node.name] = None if node.name in found else signature
    return found


def _calls(tree: ast.Module, names: set[str]) -> Iterable[tuple[str, ast.Call, bool]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in names:
                yield node.func.id, node, False
            elif isinstance(node.func, ast.Attribute) and node.func.attr in names:
                yield node.func.attr, node, True


def interface_problems(changes: list[FileChange], others: Iterable[tuple[str, str]]) -> list[str]:
    """Imports of names the edit removed, and calls that fit a function before the edit but not
    after it, anywhere in the workspace's Python files (the changed ones as edited)."""
    python = [c for c in changes if c.path.endswith(".py")]
    if not python:
        return []
    changed = {c.path: c.after for c in python}
    texts = [(path, text) for path, text in changed.items() if text is not None]
    texts += [(path, text) for path, text in others if path.endswith(".py") and path not in changed]
    trees = [(path, tree) for path, text in texts if (tree := _tree(text)) is not None]
    problems: list[str] = []
    for change in python:
        before, after = _tree(change.before), _tree(change.after)
        if before is None:
            continue
        module = module_name(change.path)
        had, has = _top_level_names(before), _top_level_names(after) if after is not None else set()
        lost = had - has if had is not None and has is not None else set()
        for path, tree in trees if lost else ():
            for name, line in _imported_from(tree, path, module):
                if name in lost:
                    problems.append(
                        f"{path}:{line} imports {name} from {module}, which no longer defines it after this "
                        f"edit; keep {name} or update that import"
                    )
        if after is None:
            continue
        old, new = _signatures(before), _signatures(after)
        moved: dict[str, tuple[_Signature, _Signature]] = {}
        for name in old.keys() & new.keys():
            was, now = old[name], new[name]
            if was is not None and now is not None and was != now:
                moved[name] = (was, now)
        for path, tree in trees:
            for name, call, bound in _calls(tree, set(moved)):
                was, now = moved[name]
                why = now.rejects(call, bound)
                if why is not None and was.rejects(call, bound) is None:
                    problems.append(
                        f"{path}:{call.lineno}: {name} {why} after this edit; update the call "
                        f"(or give the new parameter a default)"
                    )
    return list(dict.fromkeys(problems))  # two calls on one line are one finding


_DOCUMENTING = re.compile(
    r"\b(docstrings?|type hints?|type annotations?|annotate|annotations?|comments?|document)\b", re.IGNORECASE
)
_CHANGING = re.compile(
    r"\b(fix|make|raise|return|add (?:a |an )?(?:method|function|parameter|argument|class)|remove|rename|"
    r"replace|change|implement|handle|validate)\b",
    re.IGNORECASE,
)


def documents_only(instruction: str) -> bool:
    """Whether the instruction asks only for docstrings, comments or type hints: then the code's
    behaviour must stay what it was."""
    return bool(_DOCUMENTING.search(instruction)) and not _CHANGING.search(instruction)


def docstring_node(scope: Any) -> ast.Expr | None:
    """The docstring statement of a module, class or function, if it has one."""
    first = scope.body[0] if scope.body else None
    if not isinstance(first, ast.Expr) or not isinstance(first.value, ast.Constant):
        return None
    return first if isinstance(first.value.value, str) else None


class _Strip(ast.NodeTransformer):
    """Docstrings and annotations out: what is left is what runs."""

    def _body(self, node: Any) -> Any:
        self.generic_visit(node)
        if docstring_node(node) is not None:
            node.body = node.body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = _body

    def visit_FunctionDef(self, node: Any) -> Any:
        node.returns = None
        return self._body(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            return None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)


def behaviour_changes(changes: list[FileChange]) -> list[str]:
    """The Python files whose code (docstrings, comments and annotations aside) an edit changed."""
    changed = []
    for change in changes:
        if not change.path.endswith(".py"):
            continue
        before, after = _tree(change.before), _tree(change.after)
        if before is None or after is None:
            if change.before != change.after:
                changed.append(change.path)
            continue
        if ast.dump(_Strip().visit(before)) != ast.dump(_Strip().visit(after)):
            changed.append(change.path)
    return changed
