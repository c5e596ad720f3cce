"""Deterministic Python refactorings through jedi: rename, references, extract variable/function;
and which instructions ask for one of them, for removing unused imports (unused_imports) or for
a new parameter with a default (add_parameter).

Where one of these fits the instruction it beats any model: it is exact and
instant. Each returns plain `FileChange`s for the agent's usual checks, or
raises `ToolFailed` with a sentence for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hearth.agent.add_parameter import parse_instruction
from hearth.agent.changes import FileChange, Sources
from hearth.agent.context import Focus
from hearth.context.index import RepoIndex
from hearth.context.jedi_names import jedi_project, locked


class ToolFailed(Exception):
    pass


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    """0-based."""
    column: int


_RENAME = re.compile(
    r"\brename\s+(?:the\s+)?(?:function|method|class|variable|constant|parameter|attribute)?\s*"
    r"`?([A-Za-z_]\w*)`?(?:\(\))?\s+(?:to|as|into)\s+`?([A-Za-z_]\w*)`?",
    re.IGNORECASE,
)
_EXTRACT = re.compile(
    r"\bextract\b.*?\b(variable|function|method)\b.*?\b(?:named|called|as)\s+`?([A-Za-z_]\w*)`?",
    re.IGNORECASE,
)

_UNUSED_IMPORTS = re.compile(
    r"\b(?:remove|delete|drop|clean\s+up)\s+(?:the\s+|all\s+|any\s+)?unused\s+imports?\b(?:\s+`?([\w./-]+)`?)?",
    re.IGNORECASE,
)
_NOT_NAMES = {"from", "in", "of", "and"}
_PY_FILE = re.compile(r"[\w./-]+\.pyi?\b")


def route(instruction: str) -> tuple[str, tuple[str, ...]] | None:
    """The deterministic tool an instruction asks for, with its arguments, if any."""
    if match := _RENAME.search(instruction):
        return "rename", (match.group(1), match.group(2))
    if match := _EXTRACT.search(instruction):
        kind = "function" if match.group(1).lower() in ("function", "method") else "variable"
        return f"extract_{kind}", (match.group(2),)
    if match := _UNUSED_IMPORTS.search(instruction):
        name = match.group(1) or ""
        file = _PY_FILE.search(instruction, match.start(1) if name else match.end())
        if name.lower() in _NOT_NAMES or _PY_FILE.fullmatch(name):
            name = ""
        return "remove_unused_imports", (name, file.group(0) if file else "")
    if (new := parse_instruction(instruction)) is not None:
        return "add_parameter", (new.function, new.name, new.default)
    return None


class PythonTools:
    def __init__(self, sources: Sources, index: RepoIndex | None = None) -> None:
        self._sources = sources
        self._index = index
        self._project = jedi_project(sources.root)

    def _script(self, relative: str):  # type: ignore[no-untyped-def]
        import jedi

        text = self._sources.read(relative)
        if text is None:
            raise ToolFailed(f"cannot read {relative}")
        return jedi.Script(text, path=str(self._sources.root / relative), project=self._project)

    @locked
    def find_definition(self, name: str) -> Location:
        """Where `name` is defined in the workspace (index first, then a scan of Python files)."""
        candidates: list[tuple[str, int]] = []
        if self._index is not None:
            candidates = [(s.path, s.line) for s in self._index.definitions([name]) if s.path.endswith(".py")]
        if not candidates:
            pattern = re.compile(
                rf"^[ \t]*(?:async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", re.M
            )
            for relative in self._sources.files():
                text = self._sources.read(relative) if relative.endswith(".py") else None
                if text and (match := pattern.search(text)):
                    candidates.append((relative, text.count("\n", 0, match.start())))
        for path, line in candidates:
            text = self._sources.read(path) or ""
            lines = text.splitlines()
            if line < len(lines) and (match := re.search(rf"\b{re.escape(name)}\b", lines[line])):
                return Location(path, line, match.start())
        raise ToolFailed(f"no definition of {name} found in the workspace")

    @locked
    def references(self, location: Location) -> list[Location]:
        found = []
        for ref in self._script(location.path).get_references(location.line + 1, location.column):
            if ref.module_path is None or ref.line is None:
                continue
            try:
                relative = Path(ref.module_path).resolve().relative_to(self._sources.root).as_posix()
            except ValueError:
                continue
            found.append(Location(relative, ref.line - 1, ref.column))
        return found

    @locked
    def rename(self, old: str, new: str) -> list[FileChange]:
        if not new.isidentifier():
            raise ToolFailed(f"{new!r} is not a valid Python name")
        at = self.find_definition(old)
        try:
            refactoring = self._script(at.path).rename(at.line + 1, at.column, new_name=new)
        except Exception as exc:  # jedi raises RefactoringError and others
            raise ToolFailed(f"jedi could not rename {old}: {exc}") from exc
        return self._changes(refactoring)

    @locked
    def extract(self, kind: str, new_name: str, focus: Focus) -> list[FileChange]:
        if not focus.selection.strip():
            raise ToolFailed("select the code to extract first")
        start_line, start_col = _line_col(focus.text, focus.start)
        end_line, end_col = _line_col(focus.text, focus.end)
        script = self._script(focus.path)
        method = script.extract_function if kind == "function" else script.extract_variable
        try:
            refactoring = method(
                start_line + 1, start_col, new_name=new_name, until_line=end_line + 1, until_column=end_col
            )
        except Exception as exc:
            raise ToolFailed(f"jedi could not extract a {kind}: {exc}") from exc
        return self._changes(refactoring)

    def _changes(self, refactoring) -> list[FileChange]:  # type: ignore[no-untyped-def]
        changes = []
        for path, changed in refactoring.get_changed_files().items():
            try:
                relative = Path(path).resolve().relative_to(self._sources.root).as_posix()
            except ValueError:
                continue  # jedi may touch files outside the workspace; the agent never does
            before = self._sources.read(relative)
            after = changed.get_new_code()
            if after != before:
                changes.append(FileChange(relative, before, after))
        if not changes:
            raise ToolFailed("the refactoring changed nothing")
        return changes


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start
