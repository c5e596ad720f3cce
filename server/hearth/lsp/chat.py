"""hearth/chat and the conversation requests: LSP in and out of `ChatService`.

The answer streams as `hearth/chatChunk` notifications, tagged with the
request's `streamId` (and as `$/progress`
reports when the client passes a workDoneToken); `$/cancelRequest` stops the
generation within one token and the response carries what was said so far.
"""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams

from hearth.agent.chat import ChatRequest
from hearth.agent.context import Focus
from hearth.agent.conversations import Message
from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import (
    CHAT_CHUNK,
    ChatChunk,
    ChatMessage,
    ChatParams,
    ChatResult,
    ConversationParams,
    ConversationResult,
    ConversationsParams,
    ConversationsResult,
    ConversationSummary,
    DeleteConversationResult,
    DocumentRef,
)
from hearth.model.backend import ModelUnavailable


def focus_of(ls: HearthServer, document: DocumentRef | None, selection: types.Range | None) -> Focus | None:
    """The open document and selected range named by a request, as plain data."""
    documents = ls.services.documents
    doc = documents.get(document.uri) if document is not None else None
    if document is None or doc is None:
        return None
    start = end = 0
    if selection is not None:
        start, end = (
            doc.lines.offset_at(doc.text, p.line, p.character, documents.encoding)
            for p in (selection.start, selection.end)
        )
    return Focus(ls.path_hint(document.uri), doc.language_id, doc.text, min(start, end), max(start, end))


async def chat(ls: HearthServer, params: ChatParams) -> ChatResult:
    request = ChatRequest(
        tuple(Message(m.role, m.content) for m in params.messages),
        params.conversation_id,
        focus_of(ls, params.text_document, params.range),
    )
    token = params.work_done_token
    loop = asyncio.get_running_loop()
    conversation: list[str] = []

    def on_text(text: str) -> None:
        loop.call_soon_threadsafe(send, text)

    def send(text: str) -> None:
        chunk = ChatChunk(conversation[0] if conversation else "", text, params.stream_id, token)
        ls.protocol.notify(CHAT_CHUNK, chunk)
        if token is not None:
            ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=text))

    try:
        turn = ls.services.chat.start(request, on_text)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    except ModelUnavailable as exc:
        raise JsonRpcInternalError(f"the model is not available: {exc}") from exc
    conversation.append(turn.conversation_id)
    if token is not None:
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="Hearth chat", cancellable=True))
    try:
        result = await asyncio.wrap_future(turn.future)
    except asyncio.CancelledError:
        turn.cancel()
        raise
    finally:
        if token is not None:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    # Chunks already queued on the loop are sent before this response.
    await asyncio.sleep(0)
    return ChatResult(
        conversation_id=turn.conversation_id,
        text=result.text,
        stop_reason=result.stop_reason,
        generated_tokens=result.generated_tokens,
        context=turn.context,
    )


def conversations(ls: HearthServer, params: ConversationsParams) -> ConversationsResult:
    items = ls.services.chat.store.list(limit=params.limit)
    return ConversationsResult([ConversationSummary(c.id, c.title, c.updated) for c in items])


def conversation(ls: HearthServer, params: ConversationParams) -> ConversationResult:
    found = ls.services.chat.store.get(params.id)
    if found is None:
        raise JsonRpcInvalidParams("no such conversation")
    messages = [ChatMessage(m.role, m.content) for m in found.messages]  # type: ignore[arg-type]
    return ConversationResult(found.id, found.title, messages)


def delete_conversation(ls: HearthServer, params: ConversationParams) -> DeleteConversationResult:
    return DeleteConversationResult(ls.services.chat.store.delete(params.id))
