"""Assembles the language server: one place that wires services to LSP methods.

Each feature module exposes `register(server)`; handlers stay a few lines and
call plain-data services held by `HearthServer`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from hearth import __version__
from hearth.agent.chat import ChatService
from hearth.agent.conversations import CONVERSATIONS_FILE, ConversationStore
from hearth.completion.acceptance import AcceptanceTracker
from hearth.completion.pipeline import CompletionPipeline, NoFilter, SuggestionFilter
from hearth.config import Settings
from hearth.context.engine import ContextEngine
from hearth.context.indexer import WorkspaceIndexer
from hearth.context.jedi_names import JediResolver
from hearth.events import EventSink, FanoutSink, LogSink, RecentSink
from hearth.lsp.protocol import HearthProtocol
from hearth.model.backend import ModelState, ModelStatus
from hearth.model.manager import ModelManager
from hearth.model.tokenizer import model_tokenizer
from hearth.paths import cache_dir, data_dir
from hearth.text.documents import DocumentStore
from hearth.trust import TRUST_FILE, TrustStore
from hearth_telemetry.filter import FilterFile
from hearth_telemetry.writer import TelemetryOptions, TelemetrySink

log = logging.getLogger(__name__)


class HearthServer(LanguageServer):
    """pygls server plus Hearth's services; built by `build_server`."""

    def __init__(
        self,
        models: ModelManager,
        sink: EventSink | None = None,
        settings: Settings | None = None,
        telemetry: TelemetrySink | None = None,
        filter_file: FilterFile | None = None,
    ) -> None:
        super().__init__("hearth", __version__, protocol_cls=HearthProtocol)
        self.settings = settings or Settings()
        self.settings_problems: list[str] = []
        self.models = models
        self.recent = RecentSink()
        self.telemetry = telemetry
        sinks: list[EventSink] = [self.recent, sink or LogSink()]
        if telemetry is not None:
            sinks.append(telemetry)
        self.sink: EventSink = FanoutSink(*sinks)
        self.filter_file = filter_file
        self.documents = DocumentStore()
        self.workspace_root: Path | None = None
        self.parent_pid: int | None = None
        self.model_progress: Any = None
        self.trust = TrustStore(data_dir() / TRUST_FILE)
        self.background_tasks: set[asyncio.Task[Any]] = set()
        """Tasks nobody awaits (questions to the user), held so they are not collected."""
        self.running_completions: dict[str, asyncio.Task[Any]] = {}
        """The completion request running per document (newest wins)."""
        self.indexer: WorkspaceIndexer | None = None
        self.jedi: JediResolver | None = None
        self.context = ContextEngine(
            index=lambda: self.indexer.index if self.indexer is not None else None,
            open_documents=self._open_documents,
            count_tokens=self.count_tokens,
        )
        self.pipeline = CompletionPipeline(
            backend=models,
            sink=self.sink,
            settings=lambda: self.settings,
            prompt_format=models.prompt_format,
            suggestion_filter=self._filter,
            context=self.context,
        )
        self.chat = ChatService(
            backend=models,
            store=ConversationStore(data_dir() / CONVERSATIONS_FILE),
            settings=lambda: self.settings,
            index=lambda: self.indexer.index if self.indexer is not None else None,
            count=self.count_tokens,
        )
        self.acceptance = AcceptanceTracker(
            self.sink,
            clock=time.monotonic,
            schedule=lambda delay, call: asyncio.get_running_loop().call_later(delay, call),
            document_text=lambda uri: doc.text if (doc := self.documents.get(uri)) else None,
        )

        self._tokenizer: Callable[[str], int] | None = None
        self._tokenizer_path = ""
        models.add_listener(self._on_model_status)

    @property
    def exact_token_counts(self) -> bool:
        return self._tokenizer is not None

    def count_tokens(self, text: str) -> int:
        """With the model's tokenizer once it is loaded; an estimate until then."""
        tokenizer = self._tokenizer
        return tokenizer(text) if tokenizer is not None else self.pipeline.estimate_tokens(text)

    def _on_model_status(self, status: ModelStatus) -> None:
        path = status.model_path
        if status.state is ModelState.READY and path and path != self._tokenizer_path:
            self._tokenizer_path, self._tokenizer = path, None
            threading.Thread(
                target=self._load_tokenizer, args=(path,), name="hearth-vocab", daemon=True
            ).start()

    def _load_tokenizer(self, path: str) -> None:
        try:
            tokenizer = model_tokenizer(path)
        except Exception as exc:  # counting falls back to the estimate
            log.warning("could not load the tokenizer of %s: %s", path, exc)
            return
        if path == self._tokenizer_path:
            self._tokenizer = tokenizer

    def _open_documents(self) -> list[tuple[str, str, str]]:
        return [(d.uri, self.path_hint(d.uri), d.text) for d in self.documents.all()]

    def path_hint(self, uri: str) -> str:
        """The path shown to the model and in context labels: workspace-relative, else the name."""
        path = to_fs_path(uri)
        if not path:
            return ""
        if self.workspace_root is not None:
            try:
                return Path(path).relative_to(self.workspace_root).as_posix()
            except ValueError:
                pass
        return Path(path).name

    def start_workspace(self, root: Path | None) -> None:
        """Index the workspace in the background and resolve Python names with jedi."""
        self.workspace_root = root
        self.jedi = JediResolver(root)
        self.context.set_jedi(self.jedi)
        if root is not None and root.is_dir():
            self.indexer = WorkspaceIndexer(root, cache_dir()).start()

    def stop_workspace(self) -> None:
        if self.indexer is not None:
            self.indexer.close()
        if self.jedi is not None:
            self.jedi.close()

    def _filter(self) -> SuggestionFilter:
        return self.filter_file.current() if self.filter_file is not None else NoFilter()

    def apply_telemetry_settings(self) -> None:
        if self.telemetry is not None:
            s = self.settings
            self.telemetry.options = TelemetryOptions(
                enabled=s.telemetry,
                capture_code=s.telemetry_capture_code,
                retention_days=s.telemetry_retention_days,
                max_mb=s.telemetry_max_mb,
            )

    @property
    def hearth_protocol(self) -> HearthProtocol:
        assert isinstance(self.protocol, HearthProtocol)
        return self.protocol

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls's default shows a popup for every internal error; a log line is enough.
        log.error("internal error (%s): %s", getattr(source, "__name__", source), error)


def build_server(
    models: ModelManager,
    sink: EventSink | None = None,
    telemetry: TelemetrySink | None = None,
    filter_file: FilterFile | None = None,
) -> HearthServer:
    from hearth.lsp import (
        acceptance,
        chat,
        commands,
        completion,
        configuration,
        edit,
        inline_completion,
        status,
        sync,
    )

    server = HearthServer(models, sink, telemetry=telemetry, filter_file=filter_file)
    for feature in (
        configuration,
        sync,
        inline_completion,
        completion,
        commands,
        acceptance,
        status,
        chat,
        edit,
    ):
        feature.register(server)
    return server
