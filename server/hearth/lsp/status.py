"""Model status for the editor: $/progress while the model loads, one message on failure,
and the `hearth/status` request (state, recent requests) for status bars and benchmarks.

Status changes arrive on the supervisor's thread; they are handed to the
event loop before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from hearth.context.repomap import repository_map
from hearth.lsp.protocol import param
from hearth.lsp.server import HearthServer
from hearth.model.backend import ModelState, ModelStatus

log = logging.getLogger(__name__)

STATUS_REQUEST = "hearth/status"
PROGRESS_TOKEN = "hearth/model"
CONTEXT_REQUEST = "hearth/context"
REPO_MAP_REQUEST = "hearth/repoMap"


class ModelProgress:
    """Turns model status changes into progress and messages, each shown once."""

    def __init__(self, ls: HearthServer) -> None:
        self._ls = ls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._progress_open = False
        self._last_error = ""
        self._task: asyncio.Future[None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_status(self, status: ModelStatus) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._show, status)

    def _show(self, status: ModelStatus) -> None:
        ls = self._ls
        if not ls.hearth_protocol.initialized:
            return
        if status.state in (ModelState.LOADING, ModelState.RESTARTING):
            self._begin(status)
            return
        self._end(status)
        if status.state is ModelState.FAILED and status.message != self._last_error:
            self._last_error = status.message
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"Hearth: {status.message}")
            )
        elif status.state is ModelState.READY:
            self._last_error = ""

    def _begin(self, status: ModelStatus) -> None:
        if self._progress_open or not _client_shows_progress(self._ls):
            return
        self._progress_open = True
        title = "Hearth: loading model" if status.state is ModelState.LOADING else "Hearth: restarting model"
        self._task = asyncio.ensure_future(self._create_and_begin(title, status.message))

    async def _create_and_begin(self, title: str, message: str) -> None:
        try:
            await self._ls.work_done_progress.create_async(PROGRESS_TOKEN)
            self._ls.work_done_progress.begin(
                PROGRESS_TOKEN, types.WorkDoneProgressBegin(title=title, message=message or None)
            )
        except Exception as exc:
            log.info("client refused progress: %s", exc)
            self._progress_open = False

    def _end(self, status: ModelStatus) -> None:
        if not self._progress_open:
            return
        self._progress_open = False
        try:
            self._ls.work_done_progress.end(
                PROGRESS_TOKEN, types.WorkDoneProgressEnd(message=status.state.value)
            )
        except Exception as exc:
            log.info("could not end progress: %s", exc)


def _client_shows_progress(ls: HearthServer) -> bool:
    caps = ls.hearth_protocol.client_capabilities
    window = getattr(caps, "window", None)
    return bool(window is not None and window.work_done_progress)


def register(server: HearthServer) -> None:
    progress = ModelProgress(server)
    server.model_progress = progress
    server.models.add_listener(progress.on_status)

    @server.feature(CONTEXT_REQUEST)
    def context(ls: HearthServer, params: Any) -> dict[str, Any]:
        """The context put before the code in the last prompt for a document, part by part."""
        uri = param(params, "uri")
        if not isinstance(uri, str):
            raise JsonRpcInvalidParams("hearth/context takes {uri}")
        block = ls.context.last(uri)
        if block is None:
            return {"uri": uri, "tokens": 0, "parts": []}
        parts = [
            {"source": p.source, "label": p.label, "tokens": p.tokens, "text": p.text} for p in block.parts
        ]
        index = ls.indexer.index.counts() if ls.indexer is not None else None
        return {"uri": uri, "tokens": block.tokens, "parts": parts, "index": index}

    @server.feature(REPO_MAP_REQUEST)
    def repo_map(ls: HearthServer, params: Any) -> dict[str, Any]:
        """The ranked repository map (for chat and edits, and to see what Hearth knows)."""
        budget = param(params, "budget", 1024)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise JsonRpcInvalidParams("hearth/repoMap takes {budget: positive integer}")
        if ls.indexer is None:
            return {"map": "", "ready": False}
        text = repository_map(ls.indexer.index, budget, ls.count_tokens)
        return {"map": text, "ready": ls.indexer.index.ready.is_set()}

    @server.feature(STATUS_REQUEST)
    def status(ls: HearthServer, params: Any) -> dict[str, Any]:
        model = ls.models.status()
        backend = ls.models.backend
        return {
            "model": {
                "state": model.state.value,
                "message": model.message,
                "path": model.model_path,
                "name": model.model_name,
                "promptFormat": model.prompt_format,
                "loadSeconds": model.load_seconds,
                "restarts": model.restarts,
                "workerPid": getattr(backend, "pid", None),
            },
            "documents": len(ls.documents),
            "exactTokenCounts": ls.exact_token_counts,
            "positionEncoding": ls.documents.encoding,
            "settingsProblems": ls.settings_problems,
            "recent": ls.recent.recent()[-64:],
            "totals": ls.recent.totals(),
        }
