"""The event store's schema and its migrations.

`PRAGMA user_version` holds the schema version. Each migration runs in one
`BEGIN IMMEDIATE` transaction together with the version bump, so a crash
or a second process never sees a half-migrated database.
"""

from __future__ import annotations

import sqlite3

# Version 1 was the first release's table; version 2 added the session and
# the salted file hash, and the indexes the reports and the trainer need.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        sid TEXT,
        kind TEXT NOT NULL,
        language TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    ALTER TABLE events ADD COLUMN session TEXT;
    ALTER TABLE events ADD COLUMN file TEXT;
    CREATE INDEX IF NOT EXISTS events_sid ON events(sid);
    CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
    CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was written by a newer Hearth; it is left untouched."""


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to `target`; returns the version it was at."""
    start = conn.execute("PRAGMA user_version").fetchone()[0]
    if start > SCHEMA_VERSION:
        raise SchemaTooNew(f"telemetry schema {start} is newer than this Hearth ({SCHEMA_VERSION})")
    for version in range(start, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] > version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return int(start)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT first; run the statements one by one inside our transaction.
    return [s.strip() for s in script.split(";") if s.strip()]
