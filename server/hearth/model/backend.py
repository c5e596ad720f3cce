"""The protocol every model backend implements, and the plain data it trades in.

The completion pipeline and the agent depend on `ModelBackend` only; the
llama.cpp worker, the shared-engine backends and the scripted test fake
implement it.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from hearth.model.stopping import StopSpec

_log = logging.getLogger(__name__)


class ModelState(enum.Enum):
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


class EngineProblem(enum.Enum):
    """Why a shared engine cannot serve, for the status (never matched on a message's wording)."""

    UNREACHABLE = "unreachable"
    KEY_REFUSED = "key_refused"
    NOT_AN_ENGINE = "not_an_engine"
    LOADING = "loading"
    ENGINE_ERROR = "engine_error"


@dataclass(frozen=True)
class PromptProgress:
    """How far the worker has read the prompt of the generation it runs now."""

    evaluated_tokens: int
    """Prompt tokens in the KV cache so far (kept from before, restored or evaluated)."""
    prompt_tokens: int


@dataclass(frozen=True)
class ModelStatus:
    state: ModelState
    message: str = ""
    """What went wrong and how to fix it, when state is FAILED or RESTARTING."""
    model_path: str = ""
    model_name: str = ""
    prompt_format: str = "prefix"
    load_seconds: float | None = None
    restarts: int = 0
    evaluating: PromptProgress | None = None
    """The prompt being read now: a cold one takes seconds on a laptop CPU."""
    engine: str = ""
    """Where generation runs: empty for the in-process model, else the shared engine's URL."""
    backend: str = "local"
    """Which kind of backend serves: local, llamacpp, openai or ollama."""
    problem: EngineProblem | None = None
    chat_template: str = "chatml"
    """Who renders chat and edit turns: "chatml" (Hearth, the catalog's template) or "engine"
    (a shared engine, with the model's own template that only it knows)."""


@dataclass(frozen=True)
class Control:
    """A control token Hearth itself writes (a chat turn or FIM marker)."""

    text: str


Spans = tuple[tuple[int, int], ...]


def compose(*parts: str | Control) -> tuple[str, Spans]:
    """The prompt text and the spans of it that are Hearth's own control tokens.

    Everything else, repository text above all, is tokenized as plain text: a
    file that contains `<|im_start|>system` must not open a real system turn.
    """
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    at = 0
    for part in parts:
        text = part.text if isinstance(part, Control) else part
        if isinstance(part, Control) and text:
            spans.append((at, at + len(text)))
        pieces.append(text)
        at += len(text)
    return "".join(pieces), tuple(spans)


@dataclass(frozen=True)
class Turn:
    """One chat turn a chat or edit prompt was rendered from."""

    role: str
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    control: Spans = ()
    """Spans of `prompt` tokenized as special tokens (see `compose`); the rest is text."""
    keep_head: int = 0
    """Characters at the start that survive when an over-long prompt is cut (a chat's system
    turn): the cut then falls after them, and the end is kept as always."""
    max_tokens: int = 64
    deadline_s: float = 5.0
    """Wall-clock limit from the moment the worker starts on the request."""
    stop: StopSpec = field(default_factory=StopSpec)
    use_prompt_cache: bool = True
    """False evaluates the whole prompt cold (benchmarks of the cache's worth)."""
    grammar: str = ""
    """A GBNF grammar the output must match (llama.cpp constrains every sampled token)."""
    stream: bool = False
    """Report text as it is generated through the submit call's `on_text`."""
    exclusive: bool = False
    """A chat or edit turn: while it runs, completion requests are refused rather than
    cancelling it (a keystroke must not kill an answer the user is reading)."""
    lookup: bool = False
    """Draft tokens from the prompt and check them in one batch (greedy requests): pays where
    the output copies the input, as edits do."""
    repeat_penalty: float = 1.0
    temperature: float = 0.0
    """0 is greedy (completions); retries of an edit sample, or they would repeat the same draft."""
    seed: int = 0
    turns: tuple[Turn, ...] = ()
    """A chat or edit request's turns, which `prompt` renders in ChatML: an engine that knows the
    model's own template better renders these instead."""
    candidates: int = 1
    """Continuations of the one prompt: the first as asked, the others branching off it where the
    model hesitated between tokens (`GenerationResult.alternatives`); an engine may give fewer."""
    lead: str = ""
    """Text the output must start with (the whitespace held back from the prompt at the cursor)."""
    lead_then_code: bool = False
    """After the lead, a character that is not blank: an explicit request at a line start."""
    heal: bool = False
    """Token healing: the prompt's last text token before `heal_at` is taken off and the output
    must write its text again, so the model may choose a longer token that starts with it. The
    output is returned without it, as if the prompt had not been cut."""
    heal_at: int = -1
    """Where the text before the cursor ends in `prompt` (-1: the end; a FIM prompt's cursor
    marker otherwise)."""


@dataclass(frozen=True)
class GenerationResult:
    text: str
    stop_reason: str
    """eos, stop (a StopSpec rule), repetition (a loop, cut after its first copy), max_tokens,
    deadline or cancelled."""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    """Prompt tokens not evaluated: the KV cache held already, or restored, covered them."""
    restored_tokens: int = 0
    """Of those, the ones a saved KV cache restored (a place come back to)."""
    generated_tokens: int = 0
    queue_ms: float = 0.0
    prompt_ms: float = 0.0
    """Prompt evaluation: from start to the first token."""
    decode_ms: float = 0.0
    drafted_tokens: int = 0
    """Lookup decoding: tokens drafted from the text, and those the model agreed with."""
    draft_accepted_tokens: int = 0
    token_logprobs: tuple[tuple[int, float], ...] = ()
    """Per generated token: where it ends in `text` (characters) and its log-probability,
    so that what is finally shown, often a prefix, can be scored on its own."""
    alternatives: tuple[GenerationResult, ...] = ()
    """The other continuations a request for several candidates got (text, stop reason, tokens and
    their log-probabilities; the prompt's figures are the first's)."""
    healed: str = ""
    """The prompt's end that token healing had the model write again."""

    @property
    def mean_logprob(self) -> float | None:
        logprobs = [logprob for _end, logprob in self.token_logprobs]
        return sum(logprobs) / len(logprobs) if logprobs else None

    @property
    def min_logprob(self) -> float | None:
        return min((logprob for _end, logprob in self.token_logprobs), default=None)

    def logprobs_within(self, end: int) -> list[float]:
        """Log-probabilities of the tokens that begin before character `end` of `text`."""
        out, start = [], 0
        for token_end, logprob in self.token_logprobs:
            if start >= end:
                break
            out.append(logprob)
            start = token_end
        return out

    @property
    def cancelled(self) -> bool:
        return self.stop_reason == "cancelled"

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


class ModelUnavailable(Exception):
    """No model can serve right now (loading, restarting or failed)."""


class ModelBusy(ModelUnavailable):
    """A chat or edit turn holds the model; completions stand aside until it ends."""


TextCallback = Callable[[str], None]
"""Receives each new piece of a streamed generation, on a background thread."""


class WorkerCrashed(Exception):
    """The worker process died while serving a request."""


class GenerationHandle(Protocol):
    @property
    def future(self) -> Future[GenerationResult]: ...

    def cancel(self) -> None:
        """Stop the generation within one token; the future resolves as cancelled."""


class ModelBackend(Protocol):
    def status(self) -> ModelStatus: ...

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> GenerationHandle:
        """Start a generation; a newer submit cancels older ones (newest wins).

        Raises ModelUnavailable when no model is ready, ModelBusy when an
        exclusive request runs and this one is not exclusive.
        """

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None: ...

    def close(self) -> None: ...


class StatusBoard:
    """A backend's status, and the listeners told of each change (outside the lock, each on its own:
    one that fails does not keep the others from hearing)."""

    def __init__(self, initial: ModelStatus) -> None:
        self._lock = threading.Lock()
        self._current = initial
        self._listeners: list[Callable[[ModelStatus], None]] = []
        self.closed = False
        """Once the backend is closed, only STOPPED is still announced."""

    @property
    def current(self) -> ModelStatus:
        return self._current

    def with_progress(self, reading: list[PromptProgress | None]) -> ModelStatus:
        """The status, with the prompt the running generation is reading (the one that reported)."""
        running = [progress for progress in reading if progress is not None]
        return replace(self._current, evaluating=running[-1]) if running else self._current

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._listeners.append(listener)

    def set(self, state: ModelState, message: str = "", **changes: Any) -> None:
        with self._lock:
            if self.closed and state is not ModelState.STOPPED:
                return
            self._current = replace(self._current, state=state, message=message, **changes)
            status = self._current
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                _log.exception("model status listener failed")
