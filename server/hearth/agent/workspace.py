"""Where the agent may write: inside the workspace folders, never `.git/`, never out by a link.

Every path the agent touches goes through `WorkspaceGuard.resolve`, which
takes a workspace-relative path (what the model and the user see) and
returns an absolute one or raises `PathRefused`. Protected files (secrets,
editor and CI configuration, agent rules) resolve, but are flagged so the
caller asks the user about each one before writing it.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PROTECTED_PATTERNS = (
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_ed25519*", "*.keystore",
    ".npmrc", ".pypirc", ".netrc", ".vscode/*", ".idea/*", ".github/*", ".gitlab-ci.yml",
    ".circleci/*", ".cursorrules", ".cursor/*", ".windsurfrules", "AGENTS.md", "CLAUDE.md",
    ".hearthignore", ".gitignore", ".gitattributes", ".git*", "*.code-workspace", ".devcontainer/*",
    ".devcontainer.json", ".jedi/*", ".envrc", ".direnv/*", ".pre-commit-config.yaml", ".husky/*",
    ".nvim.lua", ".nvimrc", ".exrc", ".helix/*", ".zed/*", ".claude/*", ".continue/*", ".aider*",
    ".hearth/*", ".python-version", ".tool-versions",
)  # fmt: skip
"""Workspace-relative patterns that need the user's explicit, per-file confirmation."""


class PathRefused(Exception):
    """The path leads outside the workspace, into `.git`, or through a link."""


@dataclass(frozen=True)
class Target:
    relative: str
    """Workspace-relative POSIX path."""
    path: Path
    protected: bool


class WorkspaceGuard:
    def __init__(self, roots: list[Path]) -> None:
        if not roots:
            raise ValueError("the agent needs a workspace folder to write in")
        self.roots = [Path(os.path.realpath(root)) for root in roots]

    @property
    def root(self) -> Path:
        return self.roots[0]

    def resolve(self, relative: str) -> Target:
        """Check a workspace-relative path for writing; PathRefused says why not."""
        if not relative or "\x00" in relative or relative.strip() != relative:
            raise PathRefused(f"not a usable path: {relative!r}")
        if "\\" in relative:
            raise PathRefused(f"{relative}: backslashes are not allowed in paths")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or (len(relative) > 1 and relative[1] == ":"):
            raise PathRefused(f"{relative}: absolute paths are not allowed; give a path inside the workspace")
        parts = pure.parts
        if any(part in ("..", ".") for part in parts) or not parts:
            raise PathRefused(f"{relative}: '..' and '.' are not allowed in paths")
        if any(":" in part for part in parts):
            raise PathRefused(f"{relative}: ':' is not allowed in paths (Windows streams and drives)")
        # Case-insensitive file systems treat .GIT as .git, Windows `.git.`, `.git ` and the
        # short name GIT~1 too.
        if any(_windows_name(part) == ".git" or _SHORT_GIT.match(part) for part in parts):
            raise PathRefused(f"{relative}: the agent never writes inside .git")
        root = self.root
        path = root.joinpath(*parts)
        current = root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise PathRefused(f"{relative}: {current.relative_to(root)} is a symbolic link")
        real = Path(os.path.realpath(path))
        if not _inside(real, root):
            raise PathRefused(f"{relative}: leads outside the workspace")
        if path.exists():
            if not path.is_file():
                raise PathRefused(f"{relative}: not a regular file")
            if path.stat().st_nlink > 1:
                raise PathRefused(f"{relative}: has other hard links, which may lie outside the workspace")
        posix = pure.as_posix()
        return Target(posix, path, is_protected(posix))

    def relative(self, path: Path) -> str | None:
        """The workspace-relative form of an absolute path, or None when it lies outside."""
        real = Path(os.path.realpath(path))
        for root in self.roots:
            if _inside(real, root):
                return real.relative_to(root).as_posix()
        return None


_SHORT_GIT = re.compile(r"^git~\d+$", re.IGNORECASE)


def _windows_name(part: str) -> str:
    """The name Windows opens for `part`: case-folded, trailing dots and spaces dropped."""
    return part.rstrip(". ").lower()


def is_protected(relative: str) -> bool:
    lowered = "/".join(_windows_name(part) for part in relative.split("/"))
    name = PurePosixPath(lowered).name
    for pattern in PROTECTED_PATTERNS:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(lowered, pattern) or (
            "/" not in pattern and fnmatch.fnmatchcase(name, pattern)
        ):
            return True
    return False


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
