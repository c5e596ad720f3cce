"""Where Hearth keeps its files: the user data directory, never the workspace."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """$HEARTH_DATA_DIR, else $XDG_DATA_HOME/hearth, else ~/.local/share/hearth."""
    explicit = os.environ.get("HEARTH_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hearth"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def cache_dir() -> Path:
    """$HEARTH_CACHE_DIR, else $XDG_CACHE_HOME/hearth, else ~/.cache/hearth (the repository index)."""
    explicit = os.environ.get("HEARTH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth"
