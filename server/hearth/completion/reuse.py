"""Answers the server already has, so that no suggestion is computed twice.

Per document, the answers of the last few requests are kept by the text
around their cursor (digests of the text before and after it), finished or
still being generated. A request whose text is the same as an answer's is a
revisit (the editor asking again after a focus change, an undo); one whose
text before the cursor extends an answer's by characters that answer starts
with is typing along. Both are answered from here, without the model and
without the debounce; an answer still being generated is waited for
instead of being thrown away and started again.

Entries of every document share one bound on their number and size, oldest
out first, and all are dropped when what decides an answer changes (the
settings or the model).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PER_DOCUMENT = 8
"""Answers kept per document: the last few places, enough to type along and to come back."""
MAX_ENTRIES = 256
MAX_BYTES = 4 << 20
MAX_TYPED_AHEAD = 256
"""Characters typed past an answer still in flight that may wait for it; more is a new place."""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(eq=False)
class Entry(Generic[T]):
    uri: str
    prefix_len: int
    prefix_digest: bytes
    suffix_digest: bytes
    sid: str
    """The suggestion id of the request that made the answer."""
    automatic: bool
    task: asyncio.Future[Any] | None = None
    """The generation, while it runs (the pipeline's, whatever it resolves to)."""
    value: T | None = None
    texts: tuple[str, ...] = ()
    """The suggestions `value` makes at the entry's own cursor (the first is shown first)."""
    partial: list[str] = field(default_factory=list)
    """The model's raw output so far, as it streams (appended from the worker's reader thread)."""
    held_back: str = ""
    """Whitespace before the cursor the prompt left out: the raw output starts with it."""
    waiters: int = 0
    """Requests waiting for `task`; the last one to give up cancels it."""
    abandoned: bool = False
    """Its generation was cancelled (nobody waited for it any more): nothing to wait for."""

    @property
    def pending(self) -> bool:
        return self.task is not None and not self.task.done()

    def agrees_so_far(self, typed: str) -> bool:
        """Whether what the model has written so far can still start with `typed`."""
        written = "".join(self.partial)
        if self.held_back.startswith(written):
            return True
        # The model may or may not write the whitespace the prompt held back (alignment copes).
        written = written.removeprefix(self.held_back)
        return written.startswith(typed) if len(written) >= len(typed) else typed.startswith(written)

    @property
    def size(self) -> int:
        return sum(map(len, self.texts)) + 200  # the texts, and the entry around them


@dataclass(frozen=True)
class Found(Generic[T]):
    entry: Entry[T]
    typed: str
    """What the user typed since the entry's cursor: empty for a revisit."""


class AnswerMemory(Generic[T]):
    def __init__(
        self, per_document: int = PER_DOCUMENT, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES
    ) -> None:
        self._per_document = per_document
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[int, Entry[T]] = OrderedDict()
        """Every entry, oldest first (keyed by identity)."""
        self._by_uri: dict[str, list[Entry[T]]] = {}
        self._bytes = 0
        self._fingerprint: object = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def fit(self, fingerprint: object) -> None:
        """Drop every answer when what decides answers (settings, model) is not what it was."""
        if fingerprint != self._fingerprint:
            self.clear()
            self._fingerprint = fingerprint

    def clear(self) -> None:
        for entry in list(self._entries.values()):
            self._drop(entry)

    def forget(self, uri: str) -> None:
        for entry in list(self._by_uri.get(uri, ())):
            self._drop(entry)

    def find(self, uri: str, prefix: str, suffix: str) -> Found[T] | None:
        """The newest answer this cursor can reuse: the same text, or typed along from it."""
        entries = self._by_uri.get(uri)
        if not entries:
            return None
        suffix_digest = _digest(suffix)
        prefix_digests: dict[int, bytes] = {}
        for entry in reversed(entries):
            typed_len = len(prefix) - entry.prefix_len
            if entry.suffix_digest != suffix_digest or typed_len < 0 or entry.abandoned:
                continue
            if typed_len > (MAX_TYPED_AHEAD if entry.pending else max(map(len, entry.texts), default=0)):
                continue
            digest = prefix_digests.get(entry.prefix_len)
            if digest is None:
                digest = prefix_digests[entry.prefix_len] = _digest(prefix[: entry.prefix_len])
            if digest != entry.prefix_digest:
                continue
            typed = prefix[entry.prefix_len :]
            if entry.pending or not typed or any(continues(text, typed) for text in entry.texts):
                self._touch(entry)
                return Found(entry, typed)
        return None

    def add(self, uri: str, prefix: str, suffix: str, sid: str, automatic: bool) -> Entry[T]:
        entry: Entry[T] = Entry(uri, len(prefix), _digest(prefix), _digest(suffix), sid, automatic)
        same = [e for e in self._by_uri.get(uri, ()) if e.prefix_digest == entry.prefix_digest]
        for old in same:
            if old.suffix_digest == entry.suffix_digest and not old.pending:
                self._drop(old)
        self._entries[id(entry)] = entry
        self._by_uri.setdefault(uri, []).append(entry)
        self._bytes += entry.size
        self._bound(uri)
        return entry

    def settle(self, entry: Entry[T], value: T | None, texts: tuple[str, ...] = ()) -> None:
        """The entry's answer is known: `value`, or None when there was none to keep."""
        if id(entry) not in self._entries:
            return
        if value is None:
            self._drop(entry)
            return
        self._bytes -= entry.size
        entry.value, entry.texts, entry.task, entry.partial = value, texts, None, []
        self._bytes += entry.size
        self._bound(entry.uri)

    def _touch(self, entry: Entry[T]) -> None:
        self._entries.move_to_end(id(entry))

    def _bound(self, uri: str) -> None:
        entries = self._by_uri.get(uri, [])
        while len(entries) > self._per_document:
            self._drop(entries[0])
        while self._entries and (len(self._entries) > self._max_entries or self._bytes > self._max_bytes):
            self._drop(next(iter(self._entries.values())))

    def _drop(self, entry: Entry[T]) -> None:
        if self._entries.pop(id(entry), None) is None:
            return
        self._bytes -= entry.size
        entries = self._by_uri.get(entry.uri, [])
        if entry in entries:
            entries.remove(entry)
        if not entries:
            self._by_uri.pop(entry.uri, None)


def continues(text: str, typed: str) -> bool:
    """Whether `typed` is a start of `text` that leaves code to show."""
    return text.startswith(typed) and bool(text[len(typed) :].strip())
