"""One checkpoint per applied agent turn: the exact text before and after, kept outside the repo.

Undo is the inverse edit, offered only for files still holding exactly what
the edit wrote: a file the user changed since is a conflict to report,
never something to overwrite.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hearth.agent.changes import FileChange
from hearth.agent.private_db import PrivateDatabase

CHECKPOINTS_FILE = "checkpoints.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    id TEXT PRIMARY KEY, root TEXT NOT NULL, instruction TEXT NOT NULL, created REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0, changes TEXT NOT NULL);
"""
KEEP_DAYS = 90
"""Checkpoints older than this are deleted when a new one is saved."""
KEEP_CHECKPOINTS = 200


@dataclass(frozen=True)
class Checkpoint:
    id: str
    root: str
    instruction: str
    created: float
    undone: bool
    changes: tuple[FileChange, ...]


class CheckpointStore:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._db = PrivateDatabase(path, SCHEMA, clock).connect

    def save(self, root: Path, instruction: str, changes: list[FileChange]) -> str:
        checkpoint_id = uuid.uuid4().hex[:12]
        payload = json.dumps([[c.path, c.before, c.after] for c in changes])
        now = self._clock()
        with self._db() as db:
            db.execute(
                "INSERT INTO checkpoints (id, root, instruction, created, changes) VALUES (?, ?, ?, ?, ?)",
                (checkpoint_id, str(root), instruction, now, payload),
            )
            db.execute(
                "DELETE FROM checkpoints WHERE created < ? OR id NOT IN "
                "(SELECT id FROM checkpoints ORDER BY created DESC, rowid DESC LIMIT ?)",
                (now - KEEP_DAYS * 86400, KEEP_CHECKPOINTS),
            )
        return checkpoint_id

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id, root, instruction, created, undone, changes FROM checkpoints WHERE id = ?",
                (checkpoint_id,),
            ).fetchone()
        return _checkpoint(row) if row else None

    def latest(self, root: Path) -> Checkpoint | None:
        """The newest checkpoint of this workspace that has not been undone."""
        with self._db() as db:
            row = db.execute(
                "SELECT id, root, instruction, created, undone, changes FROM checkpoints "
                "WHERE root = ? AND undone = 0 ORDER BY created DESC LIMIT 1",
                (str(root),),
            ).fetchone()
        return _checkpoint(row) if row else None

    def mark_undone(self, checkpoint_id: str) -> None:
        with self._db() as db:
            db.execute("UPDATE checkpoints SET undone = 1 WHERE id = ?", (checkpoint_id,))


def _checkpoint(row: tuple) -> Checkpoint:
    changes = tuple(FileChange(path, before, after) for path, before, after in json.loads(row[5]))
    return Checkpoint(row[0], row[1], row[2], row[3], bool(row[4]), changes)


def inverse(
    checkpoint: Checkpoint, current: Callable[[str], str | None]
) -> tuple[list[FileChange], list[str]]:
    """The changes that undo a checkpoint, and the files that changed since (conflicts)."""
    undo: list[FileChange] = []
    conflicts: list[str] = []
    for change in checkpoint.changes:
        now = current(change.path)
        if now == change.before:
            continue  # never applied (unticked in the editor's preview) or already put back
        if now != change.after:
            conflicts.append(change.path)
            continue
        undo.append(FileChange(change.path, change.after, change.before))
    return undo, conflicts
