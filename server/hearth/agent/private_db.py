"""A small SQLite file of the user's (chat history, edit checkpoints): created on first use,
private (0600), and moved aside only when it is damaged.

A locked, busy or read-only file is left exactly where it is and the error
goes to the caller: only a file SQLite itself calls corrupt is set aside
(`<name>.corrupt-<time>`) and replaced by an empty one, so a damaged file
never stops chat or edits and a healthy one is never lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hearth_telemetry.store import is_corruption

log = logging.getLogger(__name__)


class PrivateDatabase:
    def __init__(
        self, path: Path, schema: str, clock: Callable[[], float] = time.time, busy_timeout_s: float = 5.0
    ) -> None:
        self.path = path
        self._schema = schema
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._ready = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction; a connection per call, so any thread may use it."""
        if not self._ready:
            self._open()
        with self._connect() as conn:
            yield conn

    def _open(self) -> None:
        # Created on first use: a server that never chats or edits never writes these files.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with self._connect() as conn:
                conn.executescript(self._schema)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
            log.error("%s is unreadable (%s); moved to %s", self.path, exc, aside)
            self.path.replace(aside)
            with self._connect() as conn:
                conn.executescript(self._schema)
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        self._ready = True

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            with conn:
                yield conn
        finally:
            conn.close()
