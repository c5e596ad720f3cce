"""The telemetry event sink: turns server events into stored rows on a background thread.

`emit` never blocks and never raises: a full queue drops the event and
counts it. The writer thread batches rows into one transaction, retries a
locked database a few times, and drops (and counts) what it cannot store.
Only features and numbers are kept; code text only when the user opted in,
and then with secrets redacted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth_telemetry.events import CompletionEvent, Event, Generation, Privacy, fields_of
from hearth_telemetry.privacy import hash_path, redact_secrets
from hearth_telemetry.store import BUSY_TIMEOUT_MS, EventStore

log = logging.getLogger(__name__)

TELEMETRY_FILE = "telemetry.sqlite3"
QUEUE_SIZE = 10_000
BATCH = 500
LOCKED_RETRIES = 3
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class TelemetryOptions:
    enabled: bool = True
    capture_code: bool = False
    retention_days: float = 90.0
    max_mb: float = 200.0


def tracking_refused(environ: dict[str, str] | None = None) -> bool:
    """DO_NOT_TRACK=1 (consoledonottrack.com) turns telemetry off, whatever the settings say."""
    value = (environ if environ is not None else os.environ).get("DO_NOT_TRACK", "")
    return value.strip().lower() not in ("", "0", "false", "no")


class TelemetrySink:
    def __init__(
        self,
        path: Path,
        options: TelemetryOptions | None = None,
        clock: Callable[[], float] = time.time,
        session: str | None = None,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self._path = Path(path)
        self._busy_ms = busy_timeout_ms
        self.options = options or TelemetryOptions()
        self._clock = clock
        self._session = session or uuid.uuid4().hex[:12]
        self._queue: queue.Queue[_Queued | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._store: EventStore | None = None
        self._salt: bytes | None = None
        self.dropped = 0
        self.written = 0
        self.last_error = ""

    # -- the request path --------------------------------------------------

    def emit(self, event: Event) -> None:
        if not self.options.enabled or tracking_refused():
            return
        try:
            self._queue.put_nowait(_Queued(event, self._clock()))
        except queue.Full:
            self.dropped += 1
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hearth-telemetry", daemon=True)
                self._thread.start()

    # -- the writer thread -------------------------------------------------

    def _run(self) -> None:
        last_prune = 0.0
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [item for item in batch if item is not None]
            if items:
                self._write(items)
            if batch[-1] is None and self._store is not None:
                self._store.close()  # SQLite connections belong to the thread that made them
                self._store = None
            for _ in batch:
                self._queue.task_done()
            if batch[-1] is None:
                return
            if time.monotonic() - last_prune > PRUNE_EVERY_S:
                last_prune = time.monotonic()
                self._prune()

    def _open(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self._path, self._clock, self._busy_ms).open()
            self._salt = self._store.salt()
        return self._store

    def _write(self, batch: list[_Queued]) -> None:
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                store = self._open()
                rows = [row for item in batch for row in self.rows(item.event, item.ts)]
                store.write(rows)
                self.written += len(batch)
                return
            except sqlite3.OperationalError as exc:
                self.last_error = str(exc)
                time.sleep(0.05 * (attempt + 1))
            except Exception as exc:  # never let telemetry kill its thread
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("telemetry write failed: %s", self.last_error)
                if self._store is not None:
                    self._store.close()
                self._store = None
                break
        self.dropped += len(batch)

    def _prune(self) -> None:
        try:
            self._open().prune(self.options.retention_days, self.options.max_mb)
        except Exception as exc:
            log.info("telemetry prune skipped: %s", exc)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event is written or dropped (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            thread.join(timeout)
            self._thread = None

    # -- what is stored ----------------------------------------------------

    def rows(self, event: Event, ts: float) -> list[dict[str, Any]]:
        """The rows one event becomes, each field kept or dropped by its privacy class."""
        data = fields_of(event, keep=_STORED)
        if self.options.capture_code:
            for name, text in fields_of(event, keep=_CODE).items():
                data[name] = redact_secrets(text)
        paths = fields_of(event, keep=_PATH)
        path = next(iter(paths.values()), None)
        base = {
            "ts": ts,
            "session": self._session,
            "sid": next(iter(fields_of(event, keep=_KEY).values()), None),
            "language": data.pop("language", None),
            "file": hash_path(path, self._salt or b"") if isinstance(path, str) and path else None,
        }
        if not isinstance(event, CompletionEvent):
            return [{**base, "kind": event.name, "data": _json(data)}]
        # Features matter only where there can be a label (a generation); most
        # keystrokes are superseded before that, and a compact row keeps the file small.
        generated = event.generation is not None
        keys = ("decision", "trigger", "features") if generated else ("decision", "trigger")
        rows = [{**base, "kind": "requested", "data": _json(_pick(data, *keys))}]
        if generated:
            figures = [f.name for f in dataclasses.fields(Generation)]
            picked = _pick(data, "timings_ms", *figures, "chars", "lines", "post", "backend", "model")
            rows.append({**base, "kind": "generated", "data": _json(picked)})
        kind = "offered" if event.shown else event.outcome.row_kind
        picked = _pick(data, "outcome", "score", "chars", "lines", "candidates", "decision", "source", "text")
        rows.append({**base, "kind": kind, "data": _json(picked)})
        return rows


@dataclass(frozen=True)
class _Queued:
    event: Event
    ts: float


_STORED = frozenset({Privacy.PUBLIC})
_KEY = frozenset({Privacy.KEY})
_PATH = frozenset({Privacy.PATH})
_CODE = frozenset({Privacy.CODE})


def _pick(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data[k] for k in keys if k in data}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
