"""Keeps the repository index current from one background thread.

`initialize` starts a build (incremental against the persisted index);
edits and saves queue single-file updates, coalesced per file so a burst
of keystrokes costs one re-index; watched-file events re-read or forget
files from disk. Nothing here ever runs on the request path.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from pathlib import Path

from hearth.context.files import readable_source
from hearth.context.index import RepoIndex, index_path

log = logging.getLogger(__name__)

UPDATE_DELAY_S = 1.0
"""Edits to one file within this time are indexed once."""


class WorkspaceIndexer:
    def __init__(self, root: Path, cache_dir: Path) -> None:
        self.root = root
        self.index = RepoIndex(root, index_path(cache_dir, root))
        self._resolved_root = root.resolve()
        self._jobs: queue.Queue[tuple[str, str, str | None] | None] = queue.Queue()
        self._pending: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hearth-index", daemon=True)

    def start(self) -> WorkspaceIndexer:
        self._jobs.put(("build", "", None))
        self._thread.start()
        return self

    def relative(self, path: str) -> str | None:
        return _relative(self._resolved_root, path)

    def edited(self, path: str, text: str) -> None:
        """The editor's text changed (or was saved): index it soon, once."""
        relative = self.relative(path)
        if relative is None:
            return
        with self._lock:
            self._pending[relative] = (time.monotonic() + UPDATE_DELAY_S, text)

    def file_changed_on_disk(self, path: str, deleted: bool = False) -> None:
        relative = self.relative(path)
        if relative is not None:
            self._jobs.put(("remove" if deleted else "disk", relative, None))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.25)
            except queue.Empty:
                job = ("", "", None)
            if job is None:
                break
            try:
                self._do(*job)
                self._flush_due()
            except Exception:  # a bad file must not stop the indexer
                log.exception("index update failed")
        self.index.close()

    def _do(self, kind: str, relative: str, text: str | None) -> None:
        if kind == "build":
            stats = self.index.build(should_stop=self._stop.is_set)
            log.info("index: %d files (%d re-read, %d lines) in %.1fs",
                     stats.files_seen, stats.files_indexed, stats.lines, stats.seconds)  # fmt: skip
        elif kind == "remove":
            self.index.remove(relative)
        elif kind == "disk":
            path = self.root / relative
            if not readable_source(path):
                self.index.remove(relative)
                return
            try:
                self.index.update(relative, path.read_text("utf-8"))
            except (OSError, UnicodeDecodeError):
                self.index.remove(relative)

    def _flush_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [(r, t) for r, (at, t) in self._pending.items() if at <= now]
            for relative, _ in due:
                del self._pending[relative]
        for relative, text in due:
            if text is not None and len(text) <= 1_000_000:
                self.index.update(relative, text)

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(5)


@functools.lru_cache(maxsize=4096)
def _relative(root: Path, path: str) -> str | None:
    # Called on every keystroke: resolving a path is a system call per component,
    # and a file's place in the workspace does not change while it is edited.
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return None
