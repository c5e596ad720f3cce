"""The event store: one SQLite file in the user data directory, shared by every server process.

Writes take `BEGIN IMMEDIATE` (with WAL, deferred transactions under
several writer processes fail with "database is locked" instead of
waiting). A file that is not a database, or is damaged, is moved aside and
a fresh one started: telemetry is never worth an error in the editor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from hearth_telemetry.schema import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


class EventStore:
    def __init__(
        self, path: Path, clock: Callable[[], float] = time.time, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self.recovered_from: Path | None = None
        """Where a corrupt database was moved, if this store had to start afresh."""

    # -- opening ---------------------------------------------------------

    def open(self) -> EventStore:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self._move_aside(exc)
            self._connect()
        return self

    def _connect(self) -> None:
        # Create the file ourselves so that it is private from the first byte;
        # SQLite gives the -wal and -shm files the same mode.
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_ms / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _move_aside(self, exc: Exception) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{target}{suffix}"))
        self.recovered_from = target
        log.warning("telemetry database was unreadable (%s); moved to %s, starting a new one", exc, target)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self.conn)

    @contextlib.contextmanager
    def immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that takes the write lock at once (waits up to the busy timeout)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing ---------------------------------------------------------

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows in one immediate transaction; raises sqlite3 errors to the caller.

        A damaged database is replaced by a fresh one and the rows go there.
        """
        if not rows:
            return
        try:
            self._insert(rows)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self.close()
            self._move_aside(exc)
            self.open()
            self._insert(rows)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.immediate():
            self.db.table("events").insert_all(rows, columns={"data": str})

    def salt(self) -> bytes:
        """The per-installation salt for path hashes (created on first use)."""
        conn = self.conn
        row = conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        if row:
            return bytes.fromhex(row[0])
        with self.immediate():
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
        return bytes.fromhex(conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0])

    def prune(self, retention_days: float, max_mb: float) -> int:
        """Delete events older than the retention limit, then the oldest until under the size cap."""
        conn = self.conn
        cutoff = self._clock() - retention_days * 86400
        with self.immediate():
            deleted = conn.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
        while self.size_bytes() > max_mb * 1024 * 1024:
            count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            if count == 0:
                break
            with self.immediate():
                deleted += conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)",
                    (max(1, count // 10),),
                ).rowcount
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
        return deleted

    def size_bytes(self) -> int:
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return int(page_count * page_size)

    def wipe(self) -> None:
        """Delete every event (the salt too, so old hashes cannot be linked to new ones)."""
        conn = self.conn
        with self.immediate():
            conn.execute("DELETE FROM events")
            conn.execute("DELETE FROM meta WHERE key = 'salt'")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")

    # -- reading ---------------------------------------------------------

    def events(self, kinds: tuple[str, ...] = (), since: float = 0.0) -> Iterator[dict[str, Any]]:
        where = "ts >= ?"
        params: list[Any] = [since]
        if kinds:
            where += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        for row in self.db.query(f"SELECT * FROM events WHERE {where} ORDER BY id", params):
            row["data"] = json.loads(row["data"] or "{}")
            yield row

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file, as opposed to one that is locked, busy, read-only or on a full disk."""
    if isinstance(exc, sqlite3.OperationalError):
        # locked, busy, read-only, disk full: not corruption, and not ours to delete
        return False
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text
