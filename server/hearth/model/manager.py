"""Which model serves, built from settings, swapped when they change.

`ModelManager` is itself a `ModelBackend`: it forwards to the backend built
for the current settings. A model that cannot be found becomes a FAILED
status with the fix in its message, never an exception out of a request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from hearth.config import Settings
from hearth.model.backend import (
    GenerationHandle,
    GenerationRequest,
    ModelBackend,
    ModelState,
    ModelStatus,
    ModelUnavailable,
    TextCallback,
)
from hearth.model.catalog import (
    ModelNotFound,
    PromptFormat,
    ResolvedModel,
    format_for_name,
    resolve_model,
)
from hearth.paths import data_dir

log = logging.getLogger(__name__)

BackendFactory = Callable[[ResolvedModel, Settings], Any]
"""Builds and starts a backend for a resolved model (the worker, or a fake in tests)."""


def worker_backend(model: ResolvedModel, settings: Settings) -> Any:
    """The backend the settings name: the in-process worker, or a shared engine."""
    if settings.backend != "local":
        from hearth.model.remote import (
            EngineConfig,
            LlamaServerBackend,
            OllamaBackend,
            OpenAIBackend,
            read_api_key,
        )

        config = EngineConfig(
            endpoint=settings.endpoint,
            model=settings.remote_model,
            api_key=read_api_key(settings.api_key_env, settings.api_key_file),
            tls_verify=settings.tls_verify,
            connect_timeout_s=settings.connect_timeout_ms / 1000,
        )
        kinds = {"llamacpp": LlamaServerBackend, "openai": OpenAIBackend, "ollama": OllamaBackend}
        kind = kinds[settings.backend]
        engine = (
            LlamaServerBackend(config, model.format)
            if kind is LlamaServerBackend
            else kind(config, model.format, n_ctx=settings.context_size)
        )
        served: Any = engine
        if settings.remote_fallback:
            from hearth.model.fallback import FallbackBackend

            local = resolve_model(settings.model, data_dir())
            served = FallbackBackend(engine, lambda: _local_worker(local, settings), local.format)
        engine.start()
        return served
    return _local_worker(model, settings)


def _local_worker(model: ResolvedModel, settings: Settings) -> Any:
    from hearth.model.supervisor import LlamaWorkerBackend

    backend = LlamaWorkerBackend(
        model,
        n_ctx=settings.context_size,
        n_threads=settings.threads,
        saved_states_mb=settings.saved_states_mb,
    )
    backend.start()
    return backend


class _Missing:
    """Stands in for a backend when no model file could be resolved."""

    def __init__(self, message: str) -> None:
        self._status = ModelStatus(ModelState.FAILED, message)

    def status(self) -> ModelStatus:
        return self._status

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> GenerationHandle:
        raise ModelUnavailable(self._status.message)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        return None

    def close(self) -> None:
        return None


MODEL_SETTINGS = (
    "model",
    "context_size",
    "threads",
    "saved_states_mb",
    "backend",
    "endpoint",
    "remote_model",
    "api_key_env",
    "api_key_file",
    "tls_verify",
    "connect_timeout_ms",
    "remote_fallback",
    "chat_backend",
    "chat_endpoint",
    "chat_model",
)
"""The settings a change of which builds a new backend."""


class ModelManager:
    def __init__(self, data_dir: Path, factory: BackendFactory = worker_backend) -> None:
        self._data_dir = data_dir
        self._factory = factory
        self._backend: ModelBackend | None = None
        self._model: ResolvedModel | None = None
        self._key: tuple[Any, ...] | None = None
        self._listeners: list[Callable[[ModelStatus], None]] = []

    @property
    def model(self) -> ResolvedModel | None:
        return self._model

    @property
    def backend(self) -> ModelBackend | None:
        return self._backend

    @property
    def worker_pid(self) -> int | None:
        """The process running the model, when it runs in one of its own."""
        pid = getattr(self._backend, "pid", None)
        return pid if isinstance(pid, int) else None

    def configure(self, settings: Settings) -> None:
        """Build the backend for these settings, unless the current one already fits."""
        key = tuple(getattr(settings, name) for name in MODEL_SETTINGS)
        if key == self._key and self._backend is not None:
            return
        self._key = key
        if self._backend is not None:
            self._backend.close()
        try:
            self._model = _resolve(settings, self._data_dir)
            backend: Any = self._factory(self._model, settings)
        except (ModelNotFound, ModelUnavailable) as exc:
            log.error("%s", exc)
            self._model = None
            backend = _Missing(str(exc))
        self._backend = backend
        # Only the current backend speaks: a closed one may still report STOPPED.
        backend.add_listener(lambda status, source=backend: self._forward(source, status))
        self._notify(backend.status())

    def restart(self) -> None:
        backend = self._backend
        if backend is not None and hasattr(backend, "restart"):
            backend.restart()

    def prompt_format(self) -> PromptFormat:
        engine_format = getattr(self._backend, "prompt_format", None)
        if isinstance(engine_format, PromptFormat):  # a shared engine's, read from what it serves
            return engine_format
        return self._model.format if self._model is not None else PromptFormat()

    def status(self) -> ModelStatus:
        if self._backend is None:
            return ModelStatus(ModelState.STARTING)
        return self._backend.status()

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> GenerationHandle:
        if self._backend is None:
            raise ModelUnavailable("no model configured yet")
        return self._backend.submit(request, on_text)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._listeners.append(listener)

    def _forward(self, source: Any, status: ModelStatus) -> None:
        if source is self._backend:
            self._notify(status)

    def _notify(self, status: ModelStatus) -> None:
        for listener in self._listeners:
            listener(status)

    def wait_ready(self, timeout: float) -> ModelStatus:
        """Block until the model is READY or FAILED, or the timeout passes (CLI use)."""
        done = threading.Event()
        self.add_listener(lambda status: done.set() if _settled(status) else None)
        if not _settled(self.status()):
            done.wait(timeout)
        return self.status()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def release(self) -> None:
        """Close the backend and forget it: the next `configure` builds one again."""
        self.close()
        self._backend, self._model, self._key = None, None, None

    def sibling(self) -> ModelManager:
        """Another manager like this one (data directory, backend factory), for a second role."""
        return ModelManager(self._data_dir, self._factory)


def chat_settings(settings: Settings) -> Settings | None:
    """What the chat and edit model is built from; None when it is the completion model."""
    if not (settings.chat_backend or settings.chat_endpoint or settings.chat_model):
        return None
    backend = settings.chat_backend or settings.backend
    if backend == "local":
        return replace(settings, backend="local", model=settings.chat_model or settings.model)
    return replace(
        settings,
        backend=backend,
        endpoint=settings.chat_endpoint or settings.endpoint,
        remote_model=settings.chat_model or settings.remote_model,
        remote_fallback=False,
    )


class ChatModels:
    """The model chat and edits use: the completion model, unless the settings name another.

    Then it has its own manager (its own worker or engine), so a chat turn
    never holds completions up, and nothing is loaded twice when they agree.
    """

    def __init__(self, completion: ModelManager) -> None:
        self._completion = completion
        self._own = completion.sibling()
        self._active = completion

    @property
    def separate(self) -> ModelManager | None:
        """Its own manager, when chat has a model of its own."""
        return self._own if self._active is self._own else None

    def configure(self, settings: Settings) -> None:
        role = chat_settings(settings)
        if role is None:
            self._active = self._completion
            self._own.release()
        else:
            self._own.configure(role)
            self._active = self._own

    def status(self) -> ModelStatus:
        return self._active.status()

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> GenerationHandle:
        return self._active.submit(request, on_text)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._completion.add_listener(listener)
        self._own.add_listener(listener)

    def close(self) -> None:
        self._own.close()


def _resolve(settings: Settings, data_dir: Path) -> ResolvedModel:
    """The model that serves: a local file, or what a shared engine serves (its prompt format)."""
    if settings.backend == "local":
        return resolve_model(settings.model, data_dir)
    if not settings.endpoint:
        raise ModelNotFound(
            f"backend {settings.backend} needs an endpoint: set hearth.endpoint (http://host:8080)"
        )
    name = settings.remote_model or settings.endpoint
    # Without a name, the engine's own (read once it answers) decides the format.
    fmt = format_for_name(settings.remote_model) if settings.remote_model else None
    return ResolvedModel(
        name=name, path=Path(), source=f"engine at {settings.endpoint}", format=fmt or PromptFormat()
    )


def _settled(status: ModelStatus) -> bool:
    return status.state in (ModelState.READY, ModelState.FAILED)


@contextlib.contextmanager
def ready_model(settings: Settings, data_dir: Path, timeout: float = 120.0) -> Iterator[ModelManager]:
    """A loaded model for a command-line run; ModelUnavailable says why there is none."""
    manager = ModelManager(data_dir)
    try:
        manager.configure(settings)
        status = manager.wait_ready(timeout)
        if status.state is not ModelState.READY:
            raise ModelUnavailable(status.message or status.state.value)
        yield manager
    finally:
        manager.close()
