"""The repository symbol index: definitions and references from tree-sitter, kept in SQLite.

Built in the background from the workspace folders, persisted in the user
cache directory (one database per workspace), so a restart re-reads only
files whose size or modification time changed. Editors' changes update
one file at a time. Each thread uses its own connection; WAL lets lookups
run while the builder writes.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hearth.context.files import source_files
from hearth.context.languages import language_of
from hearth.context.syntax import identifiers, outline

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime REAL, size INTEGER, language TEXT);
CREATE TABLE IF NOT EXISTS symbols (
    path TEXT NOT NULL, name TEXT NOT NULL, kind TEXT, signature TEXT, doc TEXT, line INTEGER
);
CREATE INDEX IF NOT EXISTS symbols_name ON symbols(name);
CREATE INDEX IF NOT EXISTS symbols_path ON symbols(path);
CREATE TABLE IF NOT EXISTS refs (path TEXT NOT NULL, name TEXT NOT NULL, count INTEGER);
CREATE INDEX IF NOT EXISTS refs_path ON refs(path);
CREATE INDEX IF NOT EXISTS refs_name ON refs(name);
"""
MAX_REFS_PER_FILE = 300
"""References kept per file (the most frequent identifiers); enough for ranking."""


@dataclass(frozen=True)
class Symbol:
    path: str
    name: str
    kind: str
    signature: str
    doc: str
    line: int


@dataclass
class BuildStats:
    files_seen: int = 0
    files_indexed: int = 0
    lines: int = 0
    symbols: int = 0
    seconds: float = 0.0


def index_path(cache_dir: Path, root: Path) -> Path:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir / "index" / f"{root.name or 'root'}-{digest}.sqlite3"


class RepoIndex:
    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.db_path = db_path
        self._local = threading.local()
        self.ready = threading.Event()
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=10)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- building ------------------------------------------------------------

    def build(self, should_stop: Callable[[], bool] = lambda: False) -> BuildStats:
        """Index new and changed files, forget deleted ones."""
        started = time.monotonic()
        stats = BuildStats()
        conn = self._connection()
        known = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT path, mtime, size FROM files")}
        seen: set[str] = set()
        for path in source_files(self.root):
            if should_stop():
                break
            relative = path.relative_to(self.root).as_posix()
            seen.add(relative)
            stats.files_seen += 1
            try:
                info = path.stat()
            except OSError:
                continue
            if known.get(relative) == (info.st_mtime, info.st_size):
                continue
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # invalid UTF-8: not source we can use
            stats.files_indexed += 1
            stats.lines += text.count("\n") + 1
            stats.symbols += self._store(relative, text, info.st_mtime, info.st_size)
        if not should_stop():
            for gone in set(known) - seen:
                self.remove(gone)
        stats.seconds = time.monotonic() - started
        self.ready.set()
        return stats

    def update(self, relative: str, text: str) -> int:
        """Re-index one file from the editor's text (unsaved changes included)."""
        if language_of(relative) is None:
            return 0
        return self._store(relative, text, 0.0, -1)

    def remove(self, relative: str) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        for table in ("files", "symbols", "refs"):
            conn.execute(f"DELETE FROM {table} WHERE path = ?", (relative,))
        conn.execute("COMMIT")

    def _store(self, relative: str, text: str, mtime: float, size: int) -> int:
        language = language_of(relative) or ""
        facts = outline(language, text)
        defined = {d.name for d in facts.definitions}
        counts = Counter(n for n in identifiers(text) if n not in defined and len(n) > 2)
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("symbols", "refs"):
                conn.execute(f"DELETE FROM {table} WHERE path = ?", (relative,))
            conn.executemany(
                "INSERT INTO symbols VALUES (?, ?, ?, ?, ?, ?)",
                [(relative, d.name, d.kind, d.signature, d.doc, d.start_line) for d in facts.definitions],
            )
            conn.executemany(
                "INSERT INTO refs VALUES (?, ?, ?)",
                [(relative, name, n) for name, n in counts.most_common(MAX_REFS_PER_FILE)],
            )
            conn.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", (relative, mtime, size, language)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(facts.definitions)

    # -- lookups -------------------------------------------------------------

    def definitions(self, names: Iterable[str], limit_per_name: int = 3) -> list[Symbol]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        conn = self._connection()
        found: list[Symbol] = []
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            rows = conn.execute(
                "SELECT path, name, kind, signature, doc, line FROM symbols "
                f"WHERE name IN ({', '.join('?' for _ in chunk)}) ORDER BY name, length(path)",
                chunk,
            ).fetchall()
            per_name: Counter[str] = Counter()
            for row in rows:
                if per_name[row[1]] < limit_per_name:
                    per_name[row[1]] += 1
                    found.append(Symbol(*row))
        return found

    def referencing_files(self, name: str, limit: int = 20) -> list[str]:
        """Files that use `name`, most uses first (for finding callers to update)."""
        rows = (
            self._connection()
            .execute("SELECT path FROM refs WHERE name = ? ORDER BY count DESC, path LIMIT ?", (name, limit))
            .fetchall()
        )
        return [row[0] for row in rows]

    def counts(self) -> dict[str, int]:
        conn = self._connection()
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("files", "symbols", "refs")
        }

    def graph(self) -> tuple[list[Symbol], list[tuple[str, str, int]]]:
        """All definitions and (referencing file, name, count) edges, for ranking."""
        conn = self._connection()
        symbols = [
            Symbol(*row) for row in conn.execute("SELECT path, name, kind, signature, doc, line FROM symbols")
        ]
        edges = [(row[0], row[1], row[2]) for row in conn.execute(
            "SELECT refs.path, refs.name, refs.count FROM refs JOIN (SELECT DISTINCT name FROM symbols) s "
            "ON refs.name = s.name")]  # fmt: skip
        return symbols, edges
