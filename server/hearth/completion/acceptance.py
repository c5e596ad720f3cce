"""What became of each suggestion: shown, accepted (fully or partly), rejected, retained.

Editors report some of it (the `hearth.accepted` command, didShowCompletion,
didPartiallyAcceptCompletion); the rest is inferred from what the user does
next: a change that is not the suggestion, or a new request, rejects it. An
accepted suggestion is looked for again after 30 s, 2 min and 10 min, and
its retention is the share of its characters still found near where it was
inserted. The tracker also keeps the session signals the filter learns from
(typing rhythm, recent acceptance).
"""

from __future__ import annotations

import difflib
import functools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hearth.events import EventSink
from hearth.text.documents import Edit
from hearth_telemetry.events import Accepted, Rejected, Retained, Shown, Typed
from hearth_telemetry.outcomes import Acceptance, Rejection

RETENTION_CHECKS_S = (30.0, 120.0, 600.0)
RETAINED_SIMILARITY = 0.5
TYPED_BATCH = 100
_WINDOW = 200


@dataclass
class _Offered:
    sid: str
    uri: str
    texts: tuple[str, ...]
    """The suggestions offered together, to cycle through; one suggestion in telemetry."""
    offset: int
    typed: int = 0
    """Characters of the suggestion the user has typed themselves since it was offered."""
    done: bool = False
    shown: bool = False
    candidate: int = 0
    """The one on screen, as far as the editor's reports and the user's typing tell."""

    @property
    def text(self) -> str:
        return self.texts[self.candidate]

    @property
    def rest(self) -> str:
        """What the editor shows of it now: what the user has not typed."""
        return self.text[self.typed :]

    def pick(self, candidate: int | None) -> None:
        if candidate is not None and 0 <= candidate < len(self.texts):
            self.candidate = candidate


def retention_similarity(accepted: str, document: str, offset: int) -> float:
    """Share of the accepted text still present near where it was inserted (0..1)."""
    if not accepted:
        return 0.0
    window = document[max(0, offset - _WINDOW) : offset + len(accepted) + _WINDOW]
    matcher = difflib.SequenceMatcher(None, accepted, window, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return kept / len(accepted)


class AcceptanceTracker:
    def __init__(
        self,
        sink: EventSink,
        clock: Callable[[], float],
        schedule: Callable[[float, Callable[[], None]], Any],
        document_text: Callable[[str], str | None],
        retention_checks_s: tuple[float, ...] = RETENTION_CHECKS_S,
        on_accept: Callable[[str, int], object] = lambda uri, offset: None,
    ) -> None:
        """`on_accept(uri, offset)`: a suggestion was taken whole and the cursor is at `offset`."""
        self._on_accept = on_accept
        self._sink = sink
        self._clock = clock
        self._schedule = schedule
        self._document_text = document_text
        self._checks = retention_checks_s
        self._pending: dict[str, _Offered] = {}
        """The open suggestion per document uri."""
        self._by_id: dict[str, _Offered] = {}
        self._history: deque[int] = deque(maxlen=20)
        self._edits: dict[str, deque[tuple[float, int]]] = {}
        self._last_accept = -math.inf
        self._typed_chars = 0
        """Characters the user typed (not accepted) since the last `typed` event."""

    # -- what the server offered and the editor reported ------------------

    def offered(self, sid: str, uri: str, text: str, offset: int, others: tuple[str, ...] = ()) -> None:
        """`others`: the other suggestions offered with `text` to cycle through (candidates 1...)."""
        previous = self._pending.get(uri)
        if previous is not None and previous.sid == sid and not previous.done:
            return  # the same suggestion offered again, less what was typed of it
        if previous is not None and not previous.done:
            moved = previous.offset + previous.typed != offset
            self._reject(previous, Rejection.CURSOR_MOVED if moved else Rejection.SUPERSEDED)
        item = _Offered(sid, uri, (text, *others), offset)
        self._pending[uri] = item
        self._by_id[sid] = item
        if len(self._by_id) > 1000:  # old ids can no longer be accepted
            for old in list(self._by_id)[:500]:
                del self._by_id[old]

    def open_at(self, uri: str) -> tuple[str, int, str] | None:
        """The suggestion open in a document: its id, the cursor offset typing along it gives,
        and what the user has not typed of it."""
        item = self._pending.get(uri)
        if item is None or item.done:
            return None
        return item.sid, item.offset + item.typed, item.rest

    def forget(self, uri: str) -> None:
        """A closed document keeps no state here (a suggestion still open there was dismissed)."""
        self._pending.pop(uri, None)
        self._edits.pop(uri, None)

    def shown(self, sid: str, candidate: int | None = None) -> None:
        item = self._by_id.get(sid)
        if item is None:
            return
        item.pick(candidate)
        if not item.shown:  # a suggestion continued, or cycled to another candidate, is shown again
            item.shown = True
            self._sink.emit(Shown(sid))

    def accepted(self, sid: str, accepted_chars: int | None = None, candidate: int | None = None) -> bool:
        """Full acceptance (the inline item's command); False for an unknown or settled id.

        Characters count what the editor inserted: the suggestion less what the user typed.
        """
        item = self._by_id.get(sid)
        if item is None or item.done:
            return False
        item.pick(candidate)
        self._accept(item, Acceptance.FULL, len(item.rest) if accepted_chars is None else accepted_chars)
        return True

    def partially_accepted(self, sid: str, accepted_chars: int, candidate: int | None = None) -> bool:
        item = self._by_id.get(sid)
        if item is None or item.done:
            return False
        item.pick(candidate)
        if accepted_chars >= len(item.rest):
            self._accept(item, Acceptance.FULL, len(item.rest))
        else:
            self._accept(item, Acceptance.PARTIAL, accepted_chars)
        return True

    def changed(self, uri: str, edits: list[Edit]) -> None:
        """A document change: typing along keeps the suggestion open, anything else rejects it."""
        now = self._clock()
        log = self._edits.setdefault(uri, deque(maxlen=64))
        for edit in edits:
            log.append((now, len(edit.text) + (edit.end - edit.start)))
        item = self._pending.get(uri)
        if not self._accepted_by(item, edits):
            self._count_typed(edits)

    def _accepted_by(self, item: _Offered | None, edits: list[Edit]) -> bool:
        if item is None or item.done:
            return False
        cursor = item.offset + item.typed
        if len(edits) == 1 and edits[0].end == cursor and edits[0].text:
            edit = edits[0]
            # The one on screen first: where candidates agree, typing does not tell them apart.
            order = [item.candidate, *(i for i in range(len(item.texts)) if i != item.candidate)]
            for candidate in order:
                rest = item.texts[candidate][item.typed :]
                # A completion item replaces the word before the cursor with word + suggestion.
                if edit.text == edit.replaced + rest:
                    # The editor inserted the whole suggestion; its command (if any) follows.
                    item.candidate = candidate
                    self._accept(item, Acceptance.FULL, len(rest))
                    return True
                if edit.start == edit.end and rest.startswith(edit.text):
                    item.candidate = candidate
                    item.typed += len(edit.text)
                    return False
        self._reject(item, Rejection.TYPED_OVER)
        return False

    def _count_typed(self, edits: list[Edit]) -> None:
        # Typed characters are the denominator of "share of code from suggestions";
        # they are reported in batches so that a keystroke is not a database row.
        self._typed_chars += sum(len(edit.text) for edit in edits if len(edit.text) < 200)
        if self._typed_chars >= TYPED_BATCH:
            self.flush_typed()

    def flush_typed(self) -> None:
        if self._typed_chars:
            self._sink.emit(Typed(self._typed_chars))
            self._typed_chars = 0

    # -- signals for the filter --------------------------------------------

    def signals(self, uri: str) -> dict[str, float]:
        now = self._clock()
        edits = self._edits.get(uri, deque())
        last = edits[-1][0] if edits else -math.inf
        recent_chars = sum(size for at, size in edits if now - at <= 5.0)
        history = list(self._history)
        return {
            "since_edit_log": math.log1p(min(3600.0, now - last) * 1000),
            "chars_per_s_5s": recent_chars / 5.0,
            "recent_accept_rate": sum(history) / len(history) if history else 0.25,
            "recent_count": float(len(history)),
            "since_accept_log": math.log1p(min(3600.0, now - self._last_accept)),
        }

    # -- internals ---------------------------------------------------------

    def _accept(self, item: _Offered, kind: Acceptance, chars: int) -> None:
        item.done = True
        self._history.append(1)
        self._last_accept = self._clock()
        self._sink.emit(Accepted(item.sid, kind, chars, item.candidate))
        if kind is Acceptance.FULL:
            self._on_accept(item.uri, item.offset + item.typed + chars)
        # What the user typed of it counts too: it is the suggestion's text in the file.
        accepted_text = item.text[: item.typed + chars]
        for delay in self._checks:
            self._schedule(delay, functools.partial(self._check_retention, item, accepted_text, delay))

    def _reject(self, item: _Offered, reason: Rejection) -> None:
        item.done = True
        self._history.append(0)
        self._sink.emit(Rejected(item.sid, reason))

    def _check_retention(self, item: _Offered, accepted_text: str, after_s: float) -> None:
        document = self._document_text(item.uri)
        if document is None:
            return  # closed: what we cannot see is unknown, not lost
        similarity = retention_similarity(accepted_text, document, item.offset)
        self._sink.emit(Retained(item.sid, after_s, round(similarity, 3), similarity >= RETAINED_SIMILARITY))
