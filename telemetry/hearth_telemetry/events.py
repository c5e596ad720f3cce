"""The events the server reports, as frozen dataclasses, and what each field may reveal.

Every field declares its privacy class in its metadata (PUBLIC, KEY, PATH or
CODE); the writer, the log and the status request decide what to
keep by that class, never by a field's name. A new field without one is a
test failure, not a silent leak.

The arrow is one-way: the server (`hearth`) builds these and hands them to
an `EventSink`; nothing here imports the server.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hearth_telemetry.outcomes import Acceptance, Outcome, Rejection, Source


class Privacy(enum.Enum):
    PUBLIC = "public"
    """Numbers, flags and categories: stored and shown as they are."""
    KEY = "key"
    """A random id that links an event's rows (the suggestion id)."""
    PATH = "path"
    """A file path: stored only as a salted hash, never shown."""
    CODE = "code"
    """Text from the user's code: stored only when the user opted in, with secrets redacted."""


PUBLIC: Mapping[str, Any] = {"privacy": Privacy.PUBLIC}
KEY: Mapping[str, Any] = {"privacy": Privacy.KEY}
PATH: Mapping[str, Any] = {"privacy": Privacy.PATH}
CODE: Mapping[str, Any] = {"privacy": Privacy.CODE}


def privacy_of(f: dataclasses.Field[Any]) -> Privacy:
    found = f.metadata.get("privacy")
    if not isinstance(found, Privacy):
        raise TypeError(f"field {f.name} declares no privacy class")
    return found


@dataclass(frozen=True)
class Event:
    """Base of every event; `name` names it in the log, the status request and the database."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Generation:
    """What the model did for one suggestion (present only when it was called)."""

    prompt_tokens: int
    reused_tokens: int
    evaluated_tokens: int
    generated_tokens: int
    stop_reason: str
    mean_logprob: float | None
    min_logprob: float | None
    restored_tokens: int = 0
    """Prompt tokens a saved KV cache gave back (a place come back to)."""


@dataclass(frozen=True)
class CompletionEvent(Event):
    name: ClassVar[str] = "completion"
    id: str = field(metadata=KEY)
    language: str = field(metadata=PUBLIC)
    path: str = field(metadata=PATH)
    trigger: str = field(metadata=PUBLIC)
    """automatic (typing), invoked (the user asked) or prefetch (after an accepted suggestion)."""
    outcome: Outcome = field(metadata=PUBLIC)
    shown: bool = field(metadata=PUBLIC)
    decision: str = field(metadata=PUBLIC, default="")
    score: float | None = field(metadata=PUBLIC, default=None)
    chars: int = field(metadata=PUBLIC, default=0)
    lines: int = field(metadata=PUBLIC, default=0)
    candidates: int = field(metadata=PUBLIC, default=0)
    """Suggestions offered to cycle through (the first is the one `chars`, `post` and the rest describe)."""
    features: Mapping[str, float] = field(metadata=PUBLIC, default_factory=dict)
    post: Mapping[str, float] = field(metadata=PUBLIC, default_factory=dict)
    timings_ms: Mapping[str, float] = field(metadata=PUBLIC, default_factory=dict)
    generation: Generation | None = field(metadata=PUBLIC, default=None)
    source: Source = field(metadata=PUBLIC, default=Source.MODEL)
    """Where the answer came from: the model, or one the server already had."""
    backend: str = field(metadata=PUBLIC, default="")
    """What generated it (local, llamacpp, openai, ollama) and which model: figures differ by both."""
    model: str = field(metadata=PUBLIC, default="")
    text: str | None = field(metadata=CODE, default=None)


@dataclass(frozen=True)
class Shown(Event):
    name: ClassVar[str] = "shown"
    id: str = field(metadata=KEY)


@dataclass(frozen=True)
class Accepted(Event):
    name: ClassVar[str] = "accepted"
    id: str = field(metadata=KEY)
    kind: Acceptance = field(metadata=PUBLIC)
    accepted_chars: int = field(metadata=PUBLIC)
    candidate: int = field(metadata=PUBLIC, default=0)
    """Which of the suggestions offered together was taken (0: the first)."""


@dataclass(frozen=True)
class Rejected(Event):
    name: ClassVar[str] = "rejected"
    id: str = field(metadata=KEY)
    reason: Rejection = field(metadata=PUBLIC)


@dataclass(frozen=True)
class Continued(Event):
    """A shown suggestion offered again, less what the user typed of it: the same suggestion."""

    name: ClassVar[str] = "continued"
    id: str = field(metadata=KEY)
    typed_chars: int = field(metadata=PUBLIC)


@dataclass(frozen=True)
class Typed(Event):
    """Characters the user typed (a batch), the denominator of "share written by Hearth"."""

    name: ClassVar[str] = "typed"
    chars: int = field(metadata=PUBLIC)


@dataclass(frozen=True)
class Retained(Event):
    name: ClassVar[str] = "retained"
    id: str = field(metadata=KEY)
    after_s: float = field(metadata=PUBLIC)
    similarity: float = field(metadata=PUBLIC)
    retained: bool = field(metadata=PUBLIC)


EVENT_TYPES: tuple[type[Event], ...] = (
    CompletionEvent, Shown, Accepted, Rejected, Continued, Typed, Retained,
)  # fmt: skip


def fields_of(event: Event, *, keep: frozenset[Privacy]) -> dict[str, Any]:
    """The event as plain JSON values, with only the fields whose privacy class is in `keep`.

    Nested dataclasses are flattened into their parent (a completion's
    generation figures sit beside its other figures); enums become their values.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        if privacy_of(f) not in keep:
            continue
        value = getattr(event, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_plain(dataclasses.asdict(value)))
        elif value is not None:
            out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


SHAREABLE = frozenset({Privacy.PUBLIC, Privacy.KEY})
"""What may leave the telemetry store for the log and the editor's status view."""
