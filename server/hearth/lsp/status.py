"""Model status for the editor: $/progress while the model loads, one message on failure,
and the `hearth/status` request (state, recent requests) for status bars and benchmarks.

Status changes arrive on the supervisor's thread; they are handed to the
event loop before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import (
    ContextParams,
    ContextPart,
    ContextResult,
    IndexCounts,
    ModelInfo,
    PromptProgressInfo,
    RepoMapParams,
    RepoMapResult,
    StatusParams,
    StatusResult,
)
from hearth.model.backend import ModelState, ModelStatus
from hearth.model.manager import ModelManager

log = logging.getLogger(__name__)

PROGRESS_TOKEN = "hearth/model"


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
            if ls.client_extensions.shows_model_status:
                return  # the client's own status view says it, with its fixes
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"Hearth: {status.message}")
            )
        elif status.state is ModelState.READY:
            self._last_error = ""

    def _begin(self, status: ModelStatus) -> None:
        if self._progress_open or not _client_shows_progress(self._ls):
            return
        self._progress_open = True
        if status.engine:
            title = "Hearth: reconnecting to the engine"
        elif status.state is ModelState.LOADING:
            title = "Hearth: loading model"
        else:
            title = "Hearth: restarting model"
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


def context(ls: HearthServer, params: ContextParams) -> ContextResult:
    """The context put before the code in the last prompt for a document, part by part."""
    block = ls.services.context.last(params.uri)
    if block is None:
        return ContextResult(uri=params.uri, tokens=0, parts=[])
    counts = ls.services.workspace.counts()
    return ContextResult(
        uri=params.uri,
        tokens=block.tokens,
        parts=[ContextPart(p.source, p.label, p.tokens, p.text) for p in block.parts],
        index=IndexCounts(**counts) if counts is not None else None,
    )


def repo_map(ls: HearthServer, params: RepoMapParams) -> RepoMapResult:
    """The ranked repository map (for chat and edits, and to see what Hearth knows)."""
    text, ready = ls.services.workspace.repository_map(params.budget, ls.services.tokens)
    return RepoMapResult(map=text, ready=ready)


def _model_info(manager: ModelManager) -> ModelInfo:
    model = manager.status()
    return ModelInfo(
        state=model.state.value,
        message=model.message,
        path=model.model_path,
        name=model.model_name,
        prompt_format=model.prompt_format,
        load_seconds=model.load_seconds,
        restarts=model.restarts,
        worker_pid=manager.worker_pid,
        evaluating=None
        if model.evaluating is None
        else PromptProgressInfo(model.evaluating.evaluated_tokens, model.evaluating.prompt_tokens),
        engine=model.engine or None,
        problem=None if model.problem is None else model.problem.value,
        backend=model.backend,
        chat_template=model.chat_template,
    )


def status(ls: HearthServer, params: StatusParams) -> StatusResult:
    services = ls.services
    chat = services.chat_models.separate
    return StatusResult(
        model=_model_info(services.models),
        chat_model=None if chat is None else _model_info(chat),
        documents=len(services.documents),
        exact_token_counts=services.tokens.exact,
        position_encoding=services.documents.encoding,
        settings_problems=services.settings.problems,
        recent=services.recent.recent()[-64:],
        totals=services.recent.totals(),
    )
