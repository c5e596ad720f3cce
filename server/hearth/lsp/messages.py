"""Hearth's own protocol: every custom method's params and result as attrs classes.

The protocol structures params with lsprotocol's converter (camelCase on the
wire, snake_case here), so a request whose params do not fit its class gets
InvalidParams (-32602) from one place, before any handler runs. The
extension declares the same shapes in `client-vscode/src/protocol.ts`; a
contract test keeps the two in step (`tests/unit/test_protocol_contract.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs
from lsprotocol import types

CHAT = "hearth/chat"
CHAT_CHUNK = "hearth/chatChunk"
CONVERSATIONS = "hearth/conversations"
CONVERSATION = "hearth/conversation"
DELETE_CONVERSATION = "hearth/deleteConversation"
STATUS = "hearth/status"
CONTEXT = "hearth/context"
REPO_MAP = "hearth/repoMap"
DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"

ACCEPTED_COMMAND = "hearth.accepted"
RESTART_COMMAND = "hearth.restartModel"
EDIT_COMMAND = "hearth.edit"
UNDO_COMMAND = "hearth.undoEdit"


def _positive(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive")


def _not_empty(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


# -- chat ----------------------------------------------------------------------


@attrs.define
class ChatMessage:
    role: Literal["user", "assistant", "system"]
    content: str


@attrs.define
class DocumentRef:
    uri: str


@attrs.define
class ChatParams:
    messages: list[ChatMessage] = attrs.field(validator=_not_empty)
    conversation_id: str | None = None
    text_document: DocumentRef | None = None
    range: types.Range | None = None
    work_done_token: int | str | None = None
    stream_id: int | str | None = None


@attrs.define
class ChatResult:
    conversation_id: str
    text: str
    stop_reason: str
    generated_tokens: int
    context: str


@attrs.define
class ChatChunk:
    """Sent as `hearth/chatChunk` while an answer streams."""

    conversation_id: str
    text: str
    stream_id: int | str | None = None
    token: int | str | None = None


@attrs.define
class ConversationsParams:
    limit: int = attrs.field(default=50, validator=_positive)


@attrs.define
class ConversationSummary:
    id: str
    title: str
    updated: float


@attrs.define
class ConversationsResult:
    conversations: list[ConversationSummary]


@attrs.define
class ConversationParams:
    id: str


@attrs.define
class ConversationResult:
    id: str
    title: str
    messages: list[ChatMessage]


@attrs.define
class DeleteConversationResult:
    deleted: bool


# -- status and context ----------------------------------------------------------


@attrs.define
class StatusParams:
    pass


@attrs.define
class PromptProgressInfo:
    evaluated_tokens: int
    prompt_tokens: int


@attrs.define
class ModelInfo:
    state: str
    message: str
    path: str
    name: str
    prompt_format: str
    load_seconds: float | None
    restarts: int
    worker_pid: int | None
    evaluating: PromptProgressInfo | None = None
    """The prompt the model is reading now, while a generation runs."""
    engine: str | None = None
    """The shared engine's URL; absent for the model in Hearth's own process."""
    problem: str | None = None
    """Why the shared engine cannot serve (unreachable, key_refused, not_an_engine, loading, engine_error)."""
    backend: str = "local"
    """What generates now: local, llamacpp, openai or ollama."""
    chat_template: str = "chatml"
    """Who renders chat and edit turns: chatml (Hearth, the catalog's template) or engine (the
    shared engine, with the model's own template, where the catalog does not know it)."""


@attrs.define
class StatusResult:
    model: ModelInfo
    documents: int
    exact_token_counts: bool
    position_encoding: str
    settings_problems: list[str]
    recent: list[dict[str, Any]]
    """The latest events as the telemetry package shares them (no code, no paths)."""
    totals: dict[str, float]
    chat_model: ModelInfo | None = None
    """The chat and edit model, when it is not the completion model."""


@attrs.define
class ContextParams:
    uri: str


@attrs.define
class ContextPart:
    source: str
    label: str
    tokens: int
    text: str


@attrs.define
class IndexCounts:
    files: int
    symbols: int
    refs: int


@attrs.define
class ContextResult:
    uri: str
    tokens: int
    parts: list[ContextPart]
    index: IndexCounts | None = None


@attrs.define
class RepoMapParams:
    budget: int = attrs.field(default=1024, validator=_positive)


@attrs.define
class RepoMapResult:
    map: str
    ready: bool


# -- acceptance reports (the Copilot language server's shapes) ---------------------


@attrs.define
class SuggestionCommand:
    """The inline item's command as it was shown; its first argument is the suggestion id."""

    command: str = ""
    title: str = ""
    arguments: list[Any] | None = None

    @property
    def suggestion_id(self) -> str | None:
        args = self.arguments
        return args[0] if args and isinstance(args[0], str) else None

    @property
    def candidate(self) -> int | None:
        return candidate_argument(self.arguments or [])


def candidate_argument(args: Sequence[Any]) -> int | None:
    """Which of the suggestions offered together an item's command names: [id, candidate]."""
    if len(args) > 1 and type(args[1]) is int and args[1] >= 0:
        return args[1]
    return None


@attrs.define
class ShownItem:
    insert_text: str = ""
    command: SuggestionCommand | None = None


@attrs.define
class DidShowParams:
    item: ShownItem


@attrs.define
class DidPartiallyAcceptParams:
    item: ShownItem
    accepted_length: int = attrs.field(validator=attrs.validators.ge(0))


# -- workspace/executeCommand arguments and results ----------------------------------


@attrs.define
class EditOptions:
    instruction: str = attrs.field(validator=_not_empty)
    uris: list[str] = attrs.field(factory=list)
    text_document: DocumentRef | None = None
    range: types.Range | None = None


@attrs.define
class EditResult:
    applied: bool
    message: str
    checkpoint: str | None = None
    diff: str | None = None
    via: str | None = None
    attempts: int | None = None
    checks: list[str] | None = None
    """The checks the applied edit passed (syntax, names, references, tests)."""


@attrs.define
class UndoResult:
    undone: bool
    message: str = ""
    checkpoint: str | None = None
    diff: str | None = None


@attrs.define
class ClientExtensions:
    """Sent in `capabilities.experimental.hearth` at initialize."""

    shows_model_status: bool = False
    """The client shows the model's state and failures itself; the server sends no message for them."""


REQUESTS: dict[str, tuple[type[Any], type[Any]]] = {
    CHAT: (ChatParams, ChatResult),
    CONVERSATIONS: (ConversationsParams, ConversationsResult),
    CONVERSATION: (ConversationParams, ConversationResult),
    DELETE_CONVERSATION: (ConversationParams, DeleteConversationResult),
    STATUS: (StatusParams, StatusResult),
    CONTEXT: (ContextParams, ContextResult),
    REPO_MAP: (RepoMapParams, RepoMapResult),
}
"""Client-to-server requests: method -> (params, result)."""

NOTIFICATIONS: dict[str, type[Any]] = {
    DID_SHOW: DidShowParams,
    DID_PARTIALLY_ACCEPT: DidPartiallyAcceptParams,
}
"""Client-to-server notifications: method -> params."""

SERVER_NOTIFICATIONS: dict[str, type[Any]] = {CHAT_CHUNK: ChatChunk}

COMMANDS: dict[str, tuple[type[Any] | None, type[Any] | None]] = {
    EDIT_COMMAND: (EditOptions, EditResult),
    UNDO_COMMAND: (None, UndoResult),
    ACCEPTED_COMMAND: (None, None),
    RESTART_COMMAND: (None, None),
}
"""workspace/executeCommand commands: name -> (first argument, result)."""


def _message_class(method: str, params: type[Any], request: bool) -> type[Any]:
    """The JSON-RPC envelope pygls structures a message into (as lsprotocol's own classes are)."""
    fields: dict[str, Any] = {}
    if request:
        fields["id"] = attrs.field(type=int | str)  # type: ignore[arg-type]
    # A method whose params are all optional may be called with none at all.
    optional = all(a.default is not attrs.NOTHING for a in attrs.fields(params))
    fields["params"] = (
        attrs.field(type=params, default=attrs.Factory(params)) if optional else attrs.field(type=params)
    )
    fields["method"] = attrs.field(type=str, default=method)
    fields["jsonrpc"] = attrs.field(type=str, default="2.0")
    name = "".join(part[:1].upper() + part[1:] for part in method.replace("/", "_").split("_"))
    return attrs.make_class(name + ("Request" if request else "Notification"), fields)


MESSAGE_TYPES: dict[str, type[Any]] = {
    **{method: _message_class(method, params, True) for method, (params, _r) in REQUESTS.items()},
    **{method: _message_class(method, params, False) for method, params in NOTIFICATIONS.items()},
}
