"""A shared engine with the local model standing in while the engine cannot serve.

With `remoteFallback` on, an engine that is down (or refuses the key) does not
leave the user without suggestions: the local model (the `model` setting, by
default the embedded one) is loaded as soon as the engine is lost and answers
until the engine is back, and the status says so. Prompts follow whichever
serves: the local model has its own prompt format.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from hearth.model.backend import (
    GenerationHandle,
    GenerationRequest,
    ModelBackend,
    ModelState,
    ModelStatus,
    ModelUnavailable,
    TextCallback,
)
from hearth.model.catalog import PromptFormat
from hearth.model.remote import EngineBackend

log = logging.getLogger(__name__)


class FallbackBackend:
    def __init__(
        self, engine: EngineBackend, local: Callable[[], ModelBackend], local_format: PromptFormat
    ) -> None:
        self._engine = engine
        self._make_local = local
        self._local_format = local_format
        self._local: ModelBackend | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[ModelStatus], None]] = []
        engine.add_listener(self._engine_changed)
        self._engine_changed(engine.status())

    @property
    def prompt_format(self) -> PromptFormat:
        return self._engine.prompt_format if self._serving() is self._engine else self._local_format

    def _serving(self) -> ModelBackend | None:
        if self._engine.status().state is ModelState.READY:
            return self._engine
        local = self._local
        return local if local is not None and local.status().state is ModelState.READY else None

    def _engine_changed(self, status: ModelStatus) -> None:
        lost = status.state in (ModelState.FAILED, ModelState.RESTARTING)
        retired: ModelBackend | None = None
        with self._lock:
            if lost and self._local is None:
                log.warning("the engine cannot serve (%s); loading the local model meanwhile", status.message)
                self._local = self._make_local()
                self._local.add_listener(lambda _status: self._notify())
            elif status.state is ModelState.READY and self._local is not None:
                retired, self._local = self._local, None  # the engine is back: free the memory
        if retired is not None:
            retired.close()
        self._notify()

    def _notify(self) -> None:
        status = self.status()
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("model status listener failed")

    def status(self) -> ModelStatus:
        engine = self._engine.status()
        local = self._local
        if engine.state is ModelState.READY or local is None:
            return engine
        standing_in = local.status()
        if standing_in.state is not ModelState.READY:
            return engine
        return replace(
            standing_in,
            message=f"{engine.message}; the local model answers meanwhile",
            engine=engine.engine,
            problem=engine.problem,
        )

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> GenerationHandle:
        serving = self._serving()
        if serving is None:
            raise ModelUnavailable(
                self._engine.status().message or "neither the engine nor the local model is ready"
            )
        return serving.submit(request, on_text)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._listeners.append(listener)

    def restart(self) -> None:
        self._engine.restart()

    def close(self) -> None:
        self._engine.close()
        with self._lock:
            local, self._local = self._local, None
        if local is not None:
            local.close()
