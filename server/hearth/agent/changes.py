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
import uuid
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


@dataclass
class _Staged:
    change: FileChange
    dir_fd: int
    name: str
    temp: str | None


def _open_dir(root: Path, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor of root/parts..., opened one level at a time without following any link.

    The guard checked the path, but a symbolic link swapped in afterwards would
    still redirect a write by name; through descriptors opened with O_NOFOLLOW
    it cannot.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise
    return fd


def _read_at(dir_fd: int, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd"  # never equal to a planned text: not UTF-8 is never overwritten


def _mode_at(dir_fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def _stage(root: Path, relative: str, change: FileChange) -> _Staged:
    parts = tuple(relative.split("/"))
    dir_fd = _open_dir(root, parts[:-1], create=change.after is not None)
    try:
        name = parts[-1]
        if _read_at(dir_fd, name) != change.before:
            raise WriteFailed(f"{change.path} changed since the edit was planned; nothing was written")
        if change.after is None:
            return _Staged(change, dir_fd, name, None)
        temp = f".{name}.{uuid.uuid4().hex[:8]}.hearth"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as handle:
            handle.write(change.after.encode("utf-8"))
            os.fchmod(handle.fileno(), _mode_at(dir_fd, name))
            handle.flush()
            os.fsync(handle.fileno())
        return _Staged(change, dir_fd, name, temp)
    except BaseException:
        os.close(dir_fd)
        raise


def write_all(guard: WorkspaceGuard, changes: list[FileChange]) -> None:
    """Apply every change or none.

    Each path is checked by the guard, reached through descriptors that follow
    no link, and compared with the text the edit was planned on: a file that
    changed since is never overwritten. Each file is written to a temporary
    file beside it and renamed into place, so no file is ever half written.
    """
    targets = [(guard.resolve(change.path).relative, change) for change in changes]
    staged: list[_Staged] = []
    try:
        try:
            for relative, change in targets:
                staged.append(_stage(guard.root, relative, change))
        except OSError as exc:
            _discard(staged)
            raise WriteFailed(f"could not stage the edit: {exc}") from exc
        except WriteFailed:
            _discard(staged)
            raise
        done: list[_Staged] = []
        try:
            for item in staged:
                if item.temp is None:
                    os.unlink(item.name, dir_fd=item.dir_fd)
                else:
                    os.replace(item.temp, item.name, src_dir_fd=item.dir_fd, dst_dir_fd=item.dir_fd)
                    item.temp = None
                done.append(item)
        except OSError as exc:
            _roll_back(done)
            _discard(staged)
            raise WriteFailed(f"could not write the edit; nothing was changed: {exc}") from exc
    finally:
        for item in staged:
            os.close(item.dir_fd)


def _roll_back(done: list[_Staged]) -> None:
    for item in reversed(done):
        with contextlib.suppress(OSError):
            if item.change.before is None:
                os.unlink(item.name, dir_fd=item.dir_fd)
                continue
            fd = os.open(item.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644,
                         dir_fd=item.dir_fd)  # fmt: skip
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.change.before.encode("utf-8"))


def _discard(staged: list[_Staged]) -> None:
    for item in staged:
        if item.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(item.temp, dir_fd=item.dir_fd)
            item.temp = None
