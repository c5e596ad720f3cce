"""The suggestion after an accepted one, made while the user looks at what they took.

Once a suggestion is accepted in full, the next one at the new cursor is
generated at once, without the debounce, when no other completion is
running (it never takes the model from a request the user is waiting for).
It runs as the document's current request, so the next request there
supersedes it like any other: one at the same place, or one typed along
what it is writing, waits for its answer through the pipeline's memory;
anything else cancels it. It is never shown by itself. At the end of a
finished statement it is made for the line an Enter opens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot
from hearth.completion.policy import Cursor, decide
from hearth.config import Settings

log = logging.getLogger(__name__)


class Prefetcher:
    def __init__(
        self,
        pipeline: CompletionPipeline,
        snapshot: Callable[[str, int], DocumentSnapshot | None],
        running: dict[str, asyncio.Task[Any]],
        settings: Callable[[], Settings],
    ) -> None:
        """`snapshot(uri, offset)`: the document now, with the cursor at `offset` (None if closed).

        `running`: the completion request running per document, shared with the LSP layer.
        """
        self._pipeline = pipeline
        self._snapshot = snapshot
        self._running = running
        self._settings = settings

    def accepted(self, uri: str, offset: int) -> asyncio.Task[Any] | None:
        """A suggestion was accepted and the cursor is at `offset`: start on the next one."""
        if not self._settings().prefetch or any(not task.done() for task in self._running.values()):
            return None
        now = self._snapshot(uri, offset)
        if now is None or not 0 <= now.offset <= len(now.text):
            return None
        snap = where_next(now)

        def is_current() -> bool:
            current = self._snapshot(uri, offset)
            return current is not None and current.version == snap.version and self._running.get(uri) is task

        task = asyncio.get_running_loop().create_task(
            self._pipeline.complete(snap, automatic=True, is_current=is_current, prefetch=True)
        )
        self._running[uri] = task
        task.add_done_callback(lambda done: self._finished(uri, done))
        return task

    def _finished(self, uri: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(uri) is task:
            del self._running[uri]
        if not task.cancelled() and task.exception() is not None:
            log.error("prefetch failed", exc_info=task.exception())


def where_next(doc: DocumentSnapshot) -> DocumentSnapshot:
    """Where the next suggestion is wanted after one was accepted at the snapshot's cursor.

    At the end of a finished statement nothing is suggested; the user's next
    step is a new line, so the suggestion is made for the line an Enter would
    open there (at the same indentation, as editors indent after a statement).
    The request after that Enter then finds it.
    """
    cursor = Cursor(doc.text[: doc.offset], doc.text[doc.offset :])
    if cursor.line_after.strip() or decide(cursor, doc.language_id).mode == "block":
        return doc
    line = cursor.line_before
    opened = "\n" + line[: len(line) - len(line.lstrip())]
    return replace(doc, text=cursor.prefix + opened + cursor.suffix, offset=doc.offset + len(opened))
