"""The event sink interface every stage reports to, and the sinks that need no database.

Stages call `sink.emit(name, fields)` and move on; a sink must never block
or raise into a request. The SQLite telemetry store implements the same
interface in `hearth_telemetry`.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from collections import Counter, deque
from typing import Any, Protocol

from hearth_telemetry.outcomes import Outcome


class EventSink(Protocol):
    def emit(self, name: str, fields: dict[str, Any]) -> None: ...


class NullSink:
    def emit(self, name: str, fields: dict[str, Any]) -> None:
        return None


class LogSink:
    """Writes each event as one JSON line to a logger (stderr or the log file)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("hearth.events")

    def emit(self, name: str, fields: dict[str, Any]) -> None:
        if self._log.isEnabledFor(logging.INFO):
            self._log.info("%s %s", name, json.dumps(fields, default=_plain, sort_keys=True))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else str(value)


class RecentSink:
    """Keeps the last events in memory, for `hearth/stats` and benchmarks."""

    def __init__(self, size: int = 512) -> None:
        self._events: deque[tuple[str, dict[str, Any]]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._model_ms = 0.0

    def emit(self, name: str, fields: dict[str, Any]) -> None:
        # Kept as plain JSON values: hearth/status sends them to the editor as they are.
        plain = {key: value.value if isinstance(value, enum.Enum) else value for key, value in fields.items()}
        with self._lock:
            self._events.append((name, plain))
            self._totals[name] += 1
            if name == "completion":
                self._totals[outcome_total(plain.get("outcome"))] += 1
                if "generated_tokens" in fields:
                    self._totals["generated"] += 1
                    self._model_ms += float(fields.get("timings_ms", {}).get("model", 0.0))

    def totals(self) -> dict[str, Any]:
        """Counts since the server started (all events, not just the recent ones)."""
        with self._lock:
            return {**self._totals, "model_ms": round(self._model_ms, 1)}

    def recent(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f, event=n) for n, f in self._events if name is None or n == name]


def outcome_total(outcome: Outcome | str | None) -> str:
    """The key `RecentSink.totals` counts an outcome under."""
    return f"outcome:{outcome.value if isinstance(outcome, Outcome) else outcome}"


class FanoutSink:
    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def emit(self, name: str, fields: dict[str, Any]) -> None:
        for sink in self._sinks:
            try:
                sink.emit(name, fields)
            except Exception:  # a broken sink must not break a request
                logging.getLogger(__name__).exception("event sink failed")
