"""Chat conversations kept on this machine: one SQLite file, listed, resumed and deleted.

Conversations hold what the user typed and the model answered (code
included: the user asked for it to be discussed); the file is private to
the user (0600) and never leaves the machine. A corrupt file is moved aside
and a new one started, so a damaged history never stops chat.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hearth.agent.private_db import PrivateDatabase

CONVERSATIONS_FILE = "chat.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL REFERENCES conversations(id)
    ON DELETE CASCADE, role TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""
ROLES = ("user", "assistant", "system")
KEEP_DAYS = 180
"""Conversations untouched for longer are deleted when a new one starts."""
KEEP_CONVERSATIONS = 500


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created: float
    updated: float
    messages: tuple[Message, ...] = ()


class ConversationStore:
    def __init__(
        self, path: Path, clock: Callable[[], float] = time.time, busy_timeout_s: float = 5.0
    ) -> None:
        self.path = path
        self._clock = clock
        self._db = PrivateDatabase(path, SCHEMA, clock, busy_timeout_s).connect

    def create(self, title: str) -> str:
        conversation_id = uuid.uuid4().hex[:12]
        now = self._clock()
        with self._db() as db:
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?)", (conversation_id, _title(title), now, now)
            )
            db.execute(
                "DELETE FROM conversations WHERE updated < ? OR id NOT IN "
                "(SELECT id FROM conversations ORDER BY updated DESC, rowid DESC LIMIT ?)",
                (now - KEEP_DAYS * 86400, KEEP_CONVERSATIONS),
            )
        return conversation_id

    def add(self, conversation_id: str, role: str, content: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = self._clock()
        with self._db() as db:
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, ?, ?, ?)",
                (conversation_id, role, content, now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))

    def get(self, conversation_id: str) -> Conversation | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                return None
            messages = tuple(
                Message(role, content)
                for role, content in db.execute(
                    "SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY id",
                    (conversation_id,),
                )
            )
        return Conversation(row[0], row[1], row[2], row[3], messages)

    def list(self, limit: int = 50) -> list[Conversation]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id, title, created, updated FROM conversations ORDER BY updated DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Conversation(*row) for row in rows]

    def delete(self, conversation_id: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line[:60] + ("…" if len(line) > 60 else "") or "New conversation"
