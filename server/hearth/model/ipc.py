"""The messages between the supervisor and the model worker, as frozen dataclasses.

They cross a `multiprocessing` pipe (pickled), so both ends match on the
class, never on a string field: a job the worker does not know is answered
with `Failed`, and a reply the supervisor does not know is logged and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from hearth.model.backend import GenerationRequest, GenerationResult

# -- supervisor -> worker -------------------------------------------------------


@dataclass(frozen=True)
class Generate:
    id: int
    sent_at: float
    """time.time() when sent: the worker reports how long the job queued."""
    request: GenerationRequest


@dataclass(frozen=True)
class CountTokens:
    id: int
    text: str


@dataclass(frozen=True)
class MeasureSpeed:
    id: int


@dataclass(frozen=True)
class Exit:
    pass


Job = Generate | CountTokens | MeasureSpeed | Exit

# -- worker -> supervisor -------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    load_seconds: float
    n_ctx: int
    n_threads: int
    architecture: str
    model_name: str
    kv_bytes_per_token: int = 0
    saved_states: int = 0
    """KV caches of places left behind that the worker keeps, at most."""
    saved_states_mb: int = 0


@dataclass(frozen=True)
class Fatal:
    """The model could not be loaded; the worker exits after sending this."""

    message: str


@dataclass(frozen=True)
class Text:
    """A streamed piece of a generation's text."""

    id: int
    text: str


@dataclass(frozen=True)
class Evaluated:
    """A generation's prompt is in the KV cache up to `tokens` of `prompt_tokens`."""

    id: int
    tokens: int
    prompt_tokens: int


@dataclass(frozen=True)
class Speed:
    prompt_tokens_per_s: float
    decode_tokens_per_s: float
    kv_bytes_per_token: int = 0
    saved_states: int = 0
    """KV caches of places left behind the worker keeps, at most, and their bound in MB."""
    saved_states_mb: int = 0


@dataclass(frozen=True)
class Done:
    id: int
    result: GenerationResult | int | Speed


@dataclass(frozen=True)
class Failed:
    id: int | None
    message: str


Reply = Loaded | Fatal | Text | Evaluated | Done | Failed
