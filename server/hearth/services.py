"""Hearth's services for one editor session, as plain objects with no LSP in them.

`build_services` wires them from injected parts (the model backend, an event
sink, the stores, a clock); `hearth.lsp.server.create_server` puts an LSP
face on the result. Tests build `Services` directly to exercise a feature
without a server or a model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hearth.agent.chat import ChatService
from hearth.agent.checkpoint import CHECKPOINTS_FILE, CheckpointStore
from hearth.agent.conversations import CONVERSATIONS_FILE, ConversationStore
from hearth.completion.acceptance import AcceptanceTracker
from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot, NoFilter, SuggestionFilter
from hearth.completion.prefetch import Prefetcher
from hearth.config import Settings
from hearth.context.engine import ContextEngine
from hearth.context.index import RepoIndex
from hearth.context.indexer import WorkspaceIndexer
from hearth.context.jedi_names import JediResolver
from hearth.context.repomap import repository_map
from hearth.events import EventSink, FanoutSink, LogSink, RecentSink
from hearth.model.backend import ModelState, ModelStatus
from hearth.model.manager import MODEL_SETTINGS, ChatModels, ModelManager
from hearth.model.tokenizer import model_tokenizer
from hearth.text.documents import DocumentStore
from hearth.trust import TRUST_FILE, TrustStore
from hearth_telemetry.filter import FilterFile, served_by
from hearth_telemetry.writer import TELEMETRY_FILE, TelemetryOptions, TelemetrySink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stores:
    """Everything a session keeps on disk, each in the user's data folder (never the workspace)."""

    conversations: ConversationStore
    checkpoints: CheckpointStore
    trust: TrustStore
    index_cache: Path
    filter: FilterFile | None = None
    telemetry: TelemetrySink | None = None

    @classmethod
    def in_folders(cls, data: Path, cache: Path, *, learn: bool = True) -> Stores:
        """The stores `hearth serve` uses; `learn=False` leaves out the filter and telemetry."""
        return cls(
            conversations=ConversationStore(data / CONVERSATIONS_FILE),
            checkpoints=CheckpointStore(data / CHECKPOINTS_FILE),
            trust=TrustStore(data / TRUST_FILE),
            index_cache=cache,
            filter=FilterFile(data) if learn else None,
            telemetry=TelemetrySink(data / TELEMETRY_FILE) if learn else None,
        )


class LiveSettings:
    """The session's current settings; services read them through this on every request."""

    def __init__(self, settings: Settings, pinned: frozenset[str] = frozenset()) -> None:
        self.current = settings
        self.problems: list[str] = []
        self.pinned = pinned
        """Fields given on `hearth serve`'s command line: the user's, and the editor's value does not
        replace them (an editor sends every setting, defaults included)."""

    def __call__(self) -> Settings:
        return self.current


class Workspace:
    """The folder the editor opened: its index and jedi, or neither when there is no folder.

    Always present, so no caller checks for a missing index: without a folder
    every question gets an empty answer.
    """

    def __init__(self, cache: Path) -> None:
        self._cache = cache
        self.root: Path | None = None
        self._indexer: WorkspaceIndexer | None = None
        self.jedi: JediResolver | None = None

    def start(self, root: Path | None) -> None:
        self.root = root
        self.jedi = JediResolver(root)
        if root is not None and root.is_dir():
            self._indexer = WorkspaceIndexer(root, self._cache).start()

    def close(self) -> None:
        if self._indexer is not None:
            self._indexer.close()
        if self.jedi is not None:
            self.jedi.close()

    @property
    def index(self) -> RepoIndex | None:
        return self._indexer.index if self._indexer is not None else None

    def edited(self, path: str, text: str) -> None:
        if self._indexer is not None:
            self._indexer.edited(path, text)

    def changed_on_disk(self, path: str, deleted: bool) -> None:
        if self._indexer is not None:
            self._indexer.file_changed_on_disk(path, deleted=deleted)

    def counts(self) -> dict[str, int] | None:
        index = self.index
        return index.counts() if index is not None else None

    def repository_map(self, budget: int, count: Callable[[str], int]) -> tuple[str, bool]:
        """The ranked map within `budget` tokens, and whether the index is complete."""
        index = self.index
        if index is None:
            return "", False
        return repository_map(index, budget, count), index.ready.is_set()

    def path_hint(self, path: str) -> str:
        """The path shown to the model and in context labels: workspace-relative, else the name."""
        if not path:
            return ""
        if self.root is not None:
            try:
                return Path(path).relative_to(self.root).as_posix()
            except ValueError:
                pass
        return Path(path).name


class TokenCounter:
    """Counts with the model's tokenizer once it is loaded, with an estimate until then."""

    def __init__(self, estimate: Callable[[str], int]) -> None:
        self._estimate = estimate
        self._tokenizer: Callable[[str], int] | None = None
        self._path = ""

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def __call__(self, text: str) -> int:
        tokenizer = self._tokenizer
        return tokenizer(text) if tokenizer is not None else self._estimate(text)

    def on_model_status(self, status: ModelStatus) -> None:
        path = status.model_path
        # A shared engine's model file is on the engine's machine, not this one.
        if status.state is ModelState.READY and path and not status.engine and path != self._path:
            self._path, self._tokenizer = path, None
            threading.Thread(target=self._load, args=(path,), name="hearth-vocab", daemon=True).start()

    def _load(self, path: str) -> None:
        try:
            tokenizer = model_tokenizer(path)
        except Exception as exc:  # counting falls back to the estimate
            log.warning("could not load the tokenizer of %s: %s", path, exc)
            return
        if path == self._path:
            self._tokenizer = tokenizer


@dataclass
class Services:
    settings: LiveSettings
    models: ModelManager
    """The completion model."""
    chat_models: ChatModels
    """The chat and edit model (the completion model unless the settings name another)."""
    stores: Stores
    recent: RecentSink
    documents: DocumentStore
    workspace: Workspace
    tokens: TokenCounter
    context: ContextEngine
    pipeline: CompletionPipeline
    chat: ChatService
    acceptance: AcceptanceTracker
    prefetch: Prefetcher
    running_completions: dict[str, asyncio.Task[Any]]
    """The completion request running per document (newest wins)."""
    path_of: Callable[[str], str]
    """A document URI as a file path ("" when it is not a file)."""

    def snapshot(self, uri: str, offset: int) -> DocumentSnapshot | None:
        """An open document as the pipeline sees it, with the cursor at `offset`."""
        doc = self.documents.get(uri)
        if doc is None:
            return None
        return DocumentSnapshot(
            uri=uri,
            language_id=doc.language_id,
            version=doc.version,
            text=doc.text,
            offset=offset,
            path_hint=self.workspace.path_hint(self.path_of(uri)),
            signals=self.acceptance.signals(uri),
        )

    def apply_settings(self, settings: Settings, problems: list[str]) -> None:
        self.settings.current = settings
        self.settings.problems = problems
        telemetry = self.stores.telemetry
        if telemetry is not None:
            telemetry.options = TelemetryOptions(
                enabled=settings.telemetry,
                capture_code=settings.telemetry_capture_code,
                retention_days=settings.telemetry_retention_days,
                max_mb=settings.telemetry_max_mb,
            )

    def allow(self, name: str, value: Any) -> None:
        """A held setting the user allowed goes live."""
        changes: dict[str, Any] = {name: value}
        self.settings.current = replace(self.settings.current, **changes)
        if name in MODEL_SETTINGS:
            self.configure_models()

    def configure_models(self) -> None:
        """Build the models the current settings name (nothing is rebuilt that did not change)."""
        self.models.configure(self.settings.current)
        self.chat_models.configure(self.settings.current)

    def start_workspace(self, root: Path | None) -> None:
        self.workspace.start(root)
        self.context.set_jedi(self.workspace.jedi)

    def close(self) -> None:
        self.models.close()
        self.chat_models.close()
        self.workspace.close()
        self.acceptance.flush_typed()
        if self.stores.telemetry is not None:
            self.stores.telemetry.close()


def build_services(
    settings: Settings,
    *,
    backend: ModelManager,
    sink: EventSink | None,
    stores: Stores,
    clock: Callable[[], float] = time.monotonic,
    path_of: Callable[[str], str] = lambda uri: uri,
    pinned: frozenset[str] = frozenset(),
) -> Services:
    """Every service of a session, wired once. `path_of` maps a document URI to a file path."""
    live = LiveSettings(settings, pinned)
    recent = RecentSink()
    sinks: list[EventSink] = [recent, sink or LogSink()]
    if stores.telemetry is not None:
        sinks.append(stores.telemetry)
    fanout = FanoutSink(*sinks)
    documents = DocumentStore()
    workspace = Workspace(stores.index_cache)
    # Until the tokenizer loads, the pipeline's estimate (it learns chars per token) counts.
    tokens = TokenCounter(lambda text: pipeline.estimate_tokens(text))
    backend.add_listener(tokens.on_model_status)
    context = ContextEngine(
        index=lambda: workspace.index,
        open_documents=lambda: [
            (d.uri, workspace.path_hint(path_of(d.uri)), d.text) for d in documents.all()
        ],
        count_tokens=tokens,
    )
    filter_file = stores.filter

    def suggestion_filter() -> SuggestionFilter:
        if filter_file is None:
            return NoFilter()
        # The filter trained on the model that is answering now (the engine, or the local model
        # while it stands in), as telemetry names it.
        model = backend.status()
        return filter_file.current(served_by(model.backend, model.model_name))

    pipeline = CompletionPipeline(
        backend=backend,
        sink=fanout,
        settings=live,
        prompt_format=backend.prompt_format,
        clock=clock,
        suggestion_filter=suggestion_filter,
        context=context,
        open_suggestion=lambda uri: acceptance.open_at(uri),
    )
    chat_models = ChatModels(backend)
    chat = ChatService(
        backend=chat_models,
        store=stores.conversations,
        settings=live,
        index=lambda: workspace.index,
        count=tokens,
    )
    acceptance = AcceptanceTracker(
        fanout,
        clock=clock,
        schedule=lambda delay, call: asyncio.get_running_loop().call_later(delay, call),
        document_text=lambda uri: doc.text if (doc := documents.get(uri)) else None,
        on_accept=lambda uri, offset: prefetch.accepted(uri, offset),
    )
    running: dict[str, asyncio.Task[Any]] = {}
    prefetch = Prefetcher(pipeline, lambda uri, offset: services.snapshot(uri, offset), running, live)
    services = Services(
        settings=live,
        models=backend,
        chat_models=chat_models,
        stores=stores,
        recent=recent,
        documents=documents,
        workspace=workspace,
        tokens=tokens,
        context=context,
        pipeline=pipeline,
        chat=chat,
        acceptance=acceptance,
        prefetch=prefetch,
        running_completions=running,
        path_of=path_of,
    )
    services.apply_settings(settings, [])
    return services
