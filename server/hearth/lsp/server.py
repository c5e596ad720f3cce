"""Assembles the language server: one place that wires services to LSP methods.

Each feature module exposes `register(server)`; handlers stay a few lines and
call plain-data services held by `HearthServer`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pygls.lsp.server import LanguageServer

from hearth import __version__
from hearth.completion.pipeline import CompletionPipeline
from hearth.config import Settings
from hearth.events import EventSink, FanoutSink, LogSink, RecentSink
from hearth.lsp.documents import DocumentStore
from hearth.lsp.protocol import HearthProtocol
from hearth.model.manager import ModelManager

log = logging.getLogger(__name__)


class HearthServer(LanguageServer):
    """pygls server plus Hearth's services; built by `build_server`."""

    def __init__(
        self,
        models: ModelManager,
        sink: EventSink | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__("hearth", __version__, protocol_cls=HearthProtocol)
        self.settings = settings or Settings()
        self.settings_problems: list[str] = []
        self.models = models
        self.recent = RecentSink()
        self.sink: EventSink = FanoutSink(self.recent, sink or LogSink())
        self.documents = DocumentStore()
        self.workspace_root: Path | None = None
        self.parent_pid: int | None = None
        self.model_progress: Any = None
        self.running_completions: dict[str, asyncio.Task[Any]] = {}
        """The completion request running per document (newest wins)."""
        self.pipeline = CompletionPipeline(
            backend=models,
            sink=self.sink,
            settings=lambda: self.settings,
            prompt_format=models.prompt_format,
        )

    @property
    def hearth_protocol(self) -> HearthProtocol:
        assert isinstance(self.protocol, HearthProtocol)
        return self.protocol

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls's default shows a popup for every internal error; a log line is enough.
        log.error("internal error (%s): %s", getattr(source, "__name__", source), error)


def build_server(models: ModelManager, sink: EventSink | None = None) -> HearthServer:
    from hearth.lsp import commands, completion, configuration, inline_completion, status, sync

    server = HearthServer(models, sink)
    for feature in (configuration, sync, inline_completion, completion, commands, status):
        feature.register(server)
    return server
