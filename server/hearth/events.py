"""The event sink interface every stage reports to, and the sinks that need no database.

Stages call `sink.emit(event)` with a typed event from `hearth_telemetry.events`
and move on; a sink must never block or raise into a request. The SQLite
telemetry store implements the same interface in `hearth_telemetry`. The log
and the in-memory recent list keep only the fields whose privacy class may be
shared (never code or paths).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from typing import Any, Protocol

from hearth_telemetry.events import SHAREABLE, CompletionEvent, Event, fields_of
from hearth_telemetry.outcomes import Outcome


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        return None


class LogSink:
    """Writes each event as one JSON line to a logger (stderr or the log file)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("hearth.events")

    def emit(self, event: Event) -> None:
        if self._log.isEnabledFor(logging.INFO):
            self._log.info("%s %s", event.name, json.dumps(fields_of(event, keep=SHAREABLE), sort_keys=True))


class RecentSink:
    """Keeps the last events in memory, for `hearth/status` and benchmarks."""

    def __init__(self, size: int = 512) -> None:
        self._events: deque[tuple[str, dict[str, Any]]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._model_ms = 0.0

    def emit(self, event: Event) -> None:
        # Kept as plain JSON values: hearth/status sends them to the editor as they are.
        plain = fields_of(event, keep=SHAREABLE)
        with self._lock:
            self._events.append((event.name, plain))
            self._totals[event.name] += 1
            if isinstance(event, CompletionEvent):
                self._totals[outcome_total(event.outcome)] += 1
                if event.generation is not None:
                    self._totals["generated"] += 1
                    self._model_ms += float(event.timings_ms.get("model", 0.0))

    def totals(self) -> dict[str, Any]:
        """Counts since the server started (all events, not just the recent ones)."""
        with self._lock:
            return {**self._totals, "model_ms": round(self._model_ms, 1)}

    def recent(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f, event=n) for n, f in self._events if name is None or n == name]


def outcome_total(outcome: Outcome) -> str:
    """The key `RecentSink.totals` counts an outcome under."""
    return f"outcome:{outcome.value}"


class FanoutSink:
    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self._sinks:
            try:
                sink.emit(event)
            except Exception:  # a broken sink must not break a request
                logging.getLogger(__name__).exception("event sink failed")
