"""Checks an edit must pass before anyone sees it: it parses, it leaves no name undefined
(pyflakes, scope by scope, for Python; tree-sitter's `locals` scopes for JavaScript and
TypeScript), renamed names are updated elsewhere, and the user's test command (when
configured and allowed) still passes.

Every check returns sentences the model can act on in its next attempt. The static checks
compare the file after the edit with the file before it, so code that was already unclean
does not block an edit; only what the edit introduced counts.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from hearth.agent.changes import FileChange
from hearth.agent.interfaces import module_name
from hearth.agent.sandbox import run_confined
from hearth.agent.scopes import has_locals, lost_definitions
from hearth.completion.validity import error_count
from hearth.context.languages import language_of
from hearth.context.syntax import outline
from hearth.paths import cache_dir, data_dir

_COPY_IGNORE = shutil.ignore_patterns(".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache")


def syntax_problems(changes: Iterable[FileChange]) -> list[str]:
    problems = []
    for change in changes:
        language = language_of(change.path)
        if language is None or change.after is None:
            continue
        after = error_count(language, change.after)
        before = error_count(language, change.before) if change.before is not None else 0
        if after is not None and after > (before or 0):
            problems.append(f"{change.path} no longer parses ({after} syntax error(s)); keep the code valid")
    return problems


_HARMLESS: tuple[type[pyflakes_messages.Message], ...] = (
    pyflakes_messages.UnusedImport,
    pyflakes_messages.UnusedVariable,
    pyflakes_messages.UnusedAnnotation,
    pyflakes_messages.UnusedIndirectAssignment,
    pyflakes_messages.ImportStarUsed,
    pyflakes_messages.ImportStarUsage,
    pyflakes_messages.ImportShadowedByLoopVar,
    pyflakes_messages.FStringMissingPlaceholders,
    pyflakes_messages.TStringMissingPlaceholders,
    pyflakes_messages.DoctestSyntaxError,
    pyflakes_messages.MultiValueRepeatedKeyVariable,
    pyflakes_messages.EagerUseOfLazyImport,
)
"""Findings that do not make code fail (left-over imports, unused variables): never a reason to refuse."""


def _findings(path: str, text: str | None) -> list[pyflakes_messages.Message]:
    if text is None:
        return []
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return []  # the syntax check reports what does not parse
    found = pyflakes_checker.Checker(tree, filename=path).messages
    return [m for m in found if not isinstance(m, _HARMLESS)]


def _key(message: pyflakes_messages.Message) -> tuple[str, str]:
    """A finding by kind and name: line numbers move with every edit, the name does not."""
    args = message.message_args
    name = args[0] if args and isinstance(args[0], str) else ""
    return type(message).__name__, name


def names_cover(path: str) -> bool:
    """Whether the names check can look at this file (Python, or a grammar with `locals`)."""
    language = language_of(path)
    return language == "python" or (language is not None and has_locals(language))


def name_problems(changes: Iterable[FileChange]) -> list[str]:
    """What pyflakes finds in Python files after the edit that it did not find before; in
    languages with a tree-sitter `locals` query, uses no definition reaches any more."""
    problems: list[str] = []
    for change in changes:
        language = language_of(change.path)
        if language is None or change.after is None:
            continue
        if language != "python":
            problems.extend(
                f"{change.path}:{lost.line}: `{lost.name}` is used but no longer defined where it is "
                f"used after this edit; keep its definition, or stop using it"
                for lost in lost_definitions(language, change.before, change.after) or ()
            )
            continue
        before = {_key(m) for m in _findings(change.path, change.before)}
        for message in _findings(change.path, change.after):
            if _key(message) in before:
                continue
            problems.append(_sentence(change.path, message))
    return problems


def _sentence(path: str, message: pyflakes_messages.Message) -> str:
    where = f"{path}:{message.lineno}"
    name = message.message_args[0] if message.message_args else ""
    if isinstance(message, pyflakes_messages.UndefinedName):
        return (
            f"{where}: `{name}` is used but not defined after this edit; "
            f"keep the line that defines {name}, or stop using it"
        )
    if isinstance(message, pyflakes_messages.UndefinedLocal):
        return f"{where}: `{name}` is used before it is assigned in this function; assign it first"
    return f"{where}: {message.message % message.message_args} (new after this edit); fix it"


def _defined(path: str, text: str | None) -> set[str]:
    language = language_of(path)
    if language is None or text is None:
        return set()
    return {d.name for d in outline(language, text).definitions}


def stale_references(changes: list[FileChange], others: Callable[[], Iterable[tuple[str, str]]]) -> list[str]:
    """Names an edit stopped defining that code (changed or not) still uses."""
    removed: set[str] = set()
    still_defined: set[str] = set()
    for change in changes:
        after = _defined(change.path, change.after)
        removed |= _defined(change.path, change.before) - after
        still_defined |= after
    removed -= still_defined
    if not removed:
        return []
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, removed))) + r")\b")
    changed = {change.path: change.after for change in changes}
    users: dict[str, list[str]] = {}
    texts = [(path, text) for path, text in changed.items() if text is not None]
    texts += [(path, text) for path, text in others() if path not in changed]
    for path, text in texts:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            users.setdefault(match.group(1), []).append(f"{path}:{line}")
    return [
        f"{name} is no longer defined but is still used at {', '.join(places[:5])}; update those uses too"
        for name, places in sorted(users.items())
    ]


@dataclass(frozen=True)
class SuiteRun:
    passed: bool
    """The command exited 0."""
    failed: frozenset[str]
    """The tests its output names as failed or in error (pytest's summary lines)."""
    output: str
    """What it printed (capped), with a note when it was stopped."""
    passed_count: int | None = None
    """How many tests passed, where the output says (pytest's last line)."""


def runs_files(command: str, root: Path) -> bool:
    """Whether the test files to run can be added to the command: it runs pytest and names no
    path of its own (a named `tests` folder would run whole alongside them)."""
    argv = shlex.split(command)
    if not any(Path(part).name in ("pytest", "py.test") for part in argv[:3]):
        return False
    return not any((root / part).exists() for part in argv[1:] if not part.startswith("-"))


def covering_tests(changes: Iterable[FileChange], files: Iterable[tuple[str, str]]) -> list[str]:
    """The test files that import a changed Python module (or are named after it): run first,
    they fail soonest where the edit breaks something."""
    modules = {module_name(c.path) for c in changes if c.path.endswith(".py")}
    stems = {Path(c.path).stem for c in changes if c.path.endswith(".py")}
    found = []
    for path, text in files:
        name = Path(path).name
        if not (name.startswith("test_") or name.endswith("_test.py")) or not name.endswith(".py"):
            continue
        if name.removeprefix("test_").removesuffix("_test.py").removesuffix(".py") in stems:
            found.append(path)
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        if imported & modules:
            found.append(path)
    return sorted(found)


def run_tests(
    command: str, root: Path, changes: list[FileChange], timeout_s: float, only: tuple[str, ...] = ()
) -> SuiteRun:
    """Run the user's test command on a temporary copy of the workspace with the edit applied
    (`only`: these test files, given to a pytest command as arguments).

    No shell; `sandbox.run_confined` keeps it off the network and out of the
    home directory, kills everything it started, and caps its output.
    """
    argv = shlex.split(command)
    if not argv:
        return SuiteRun(True, frozenset(), "")
    argv += list(only)
    with tempfile.TemporaryDirectory(prefix="hearth-check-") as temp:
        copy = Path(temp) / "workspace"
        shutil.copytree(root, copy, symlinks=True, ignore=_COPY_IGNORE)
        for change in changes:
            target = copy / change.path
            if change.after is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(change.after.encode("utf-8"))
        result = run_confined(argv, copy, timeout_s, hidden=(data_dir(), cache_dir()))
    note = f"[{result.note}]\n" if result.note else ""
    if result.timed_out:
        return SuiteRun(
            False, frozenset(), f"{note}the test command ran past {timeout_s:.0f}s and was stopped"
        )
    if result.returncode is None:
        return SuiteRun(False, frozenset(), result.note)
    passed = re.search(r"(\d+) passed", result.output.splitlines()[-1] if result.output.strip() else "")
    return SuiteRun(
        result.returncode == 0,
        _failed_tests(result.output),
        note + result.output,
        int(passed.group(1)) if passed else None,
    )


def _failed_tests(output: str) -> frozenset[str]:
    return frozenset(
        parts[1]
        for line in output.splitlines()
        if (parts := line.split()) and len(parts) > 1 and parts[0] in ("FAILED", "ERROR")
    )


def newly_failing(before: SuiteRun, after: SuiteRun) -> str | None:
    """Why the edit breaks the tests, or None when no test that passed before fails now.

    A suite that already failed before the edit blocks nothing by itself: the
    edit is refused only when a test the output names fails that did not, or
    when the failures cannot be named (then any failure counts).
    """
    if after.passed:
        return None
    new = after.failed - before.failed
    if not before.passed and after.failed and not new:
        return None
    named = f" ({', '.join(sorted(new)[:5])})" if new else ""
    return f"the tests fail after this edit{named}:\n{after.output[-1200:]}"
