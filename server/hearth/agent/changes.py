"""File changes as plain data, where their text comes from, and writing them all-or-nothing.

Text is read as bytes and decoded as UTF-8 without newline translation, so
a CRLF file keeps its line endings and undo restores exactly the bytes that
were there. `write_all` stages every file before replacing any, and puts
back what it already replaced if one fails: a multi-file edit lands whole
or not at all.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hearth.agent.workspace import WorkspaceGuard
from hearth.context.files import source_files


@dataclass(frozen=True)
class FileChange:
    path: str
    """Workspace-relative POSIX path."""
    before: str | None
    """The text before the edit; None when the edit creates the file."""
    after: str | None
    """The text after; None when the edit deletes the file (undo of a creation)."""


def read_text(path: Path) -> str | None:
    """A file's text exactly as stored, or None if missing, unreadable or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


class Sources:
    """The workspace's text as the user sees it: open editor buffers over the files on disk."""

    def __init__(self, guard: WorkspaceGuard, overlay: dict[str, str] | None = None) -> None:
        self.guard = guard
        self.overlay = dict(overlay or {})
        self._files: list[str] | None = None

    @property
    def root(self) -> Path:
        return self.guard.root

    def read(self, relative: str) -> str | None:
        if relative in self.overlay:
            return self.overlay[relative]
        return read_text(self.root / relative)

    def files(self) -> list[str]:
        """The workspace's source files, listed once: one agent run asks many times (git ls-files each)."""
        if self._files is None:
            found = {path.relative_to(self.root).as_posix() for path in source_files(self.root)}
            self._files = sorted(found | set(self.overlay))
        return self._files


def unified_diff(changes: Iterable[FileChange]) -> str:
    out: list[str] = []
    for change in changes:
        before = (change.before or "").splitlines(keepends=True)
        after = (change.after or "").splitlines(keepends=True)
        old = f"a/{change.path}" if change.before is not None else "/dev/null"
        new = f"b/{change.path}" if change.after is not None else "/dev/null"
        for line in difflib.unified_diff(before, after, old, new):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


class WriteFailed(Exception):
    pass


def write_all(guard: WorkspaceGuard, changes: list[FileChange]) -> None:
    """Apply every change or none; each path is checked by the guard first."""
    targets = [(guard.resolve(change.path).path, change) for change in changes]
    staged: list[tuple[Path, Path | None, FileChange]] = []
    try:
        for path, change in targets:
            if change.after is None:
                staged.append((path, None, change))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".hearth", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(change.after.encode("utf-8"))
            if path.exists():
                shutil.copymode(path, name)
            staged.append((path, Path(name), change))
    except OSError as exc:
        for _path, temp, _change in staged:
            if temp is not None:
                temp.unlink(missing_ok=True)
        raise WriteFailed(f"could not stage the edit: {exc}") from exc
    done: list[tuple[Path, FileChange]] = []
    try:
        for path, temp, change in staged:
            if temp is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(temp, path)
            done.append((path, change))
    except OSError as exc:
        for path, change in reversed(done):
            with contextlib.suppress(OSError):
                if change.before is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(change.before.encode("utf-8"))
        for _path, temp, _change in staged:
            if temp is not None:
                temp.unlink(missing_ok=True)
        raise WriteFailed(f"could not write the edit; nothing was changed: {exc}") from exc
