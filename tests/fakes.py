"""A scripted model backend for unit tests of the pipeline only (never proof a feature works)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

from hearth.model.backend import (
    GenerationRequest,
    GenerationResult,
    ModelState,
    ModelStatus,
    ModelUnavailable,
    TextCallback,
)


class ScriptedHandle:
    def __init__(self, future: Future[GenerationResult], on_text: TextCallback | None = None) -> None:
        self.future = future
        self.on_text = on_text
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        if not self.future.done():
            self.future.set_result(GenerationResult(text="", stop_reason="cancelled"))

    def stream(self, piece: str) -> None:
        """A held generation writes `piece` (what an engine streams before it ends)."""
        if self.on_text is not None:
            self.on_text(piece)

    def finish(self, text: str) -> None:
        self.future.set_result(GenerationResult(text=text, stop_reason="eos", generated_tokens=len(text)))


class ScriptedBackend:
    def __init__(
        self, outputs: list[str | GenerationResult], state: ModelState = ModelState.READY, hold: bool = False
    ):
        """`outputs`: each request's answer, as text or as a whole result (with alternatives)."""
        self.outputs = list(outputs)
        self.state = state
        self.hold = hold
        self.requests: list[GenerationRequest] = []
        self.handles: list[ScriptedHandle] = []
        self.served = ("local", "")
        """The backend kind and model name the status reports."""

    def status(self) -> ModelStatus:
        return ModelStatus(self.state, backend=self.served[0], model_name=self.served[1])

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> ScriptedHandle:
        if self.state is not ModelState.READY:
            raise ModelUnavailable("not ready")
        self.requests.append(request)
        future: Future[GenerationResult] = Future()
        if not self.hold:
            output = self.outputs.pop(0) if self.outputs else ""
            result = output if isinstance(output, GenerationResult) else GenerationResult(output, "eos")
            cut = request.stop.cut(result.text, final=True)
            text = result.text if cut is None else result.text[:cut]
            if on_text is not None:
                for piece in text.splitlines(keepends=True):
                    on_text(piece)
            future.set_result(replace(result, text=text))
        handle = ScriptedHandle(future, on_text)
        self.handles.append(handle)
        return handle

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        return None

    def close(self) -> None:
        return None
