"""hearth/chat and the conversation requests: LSP in and out of `ChatService`.

The answer streams as `hearth/chatChunk` notifications, tagged with the
request's `streamId` (and as `$/progress`
reports when the client passes a workDoneToken); `$/cancelRequest` stops the
generation within one token and the response carries what was said so far.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams

from hearth.agent.chat import ChatRequest
from hearth.agent.context import Focus
from hearth.agent.conversations import ROLES, Message
from hearth.lsp.protocol import param
from hearth.lsp.server import HearthServer
from hearth.model.backend import ModelUnavailable

CHAT_REQUEST = "hearth/chat"
CHUNK_NOTIFICATION = "hearth/chatChunk"
LIST_REQUEST = "hearth/conversations"
GET_REQUEST = "hearth/conversation"
DELETE_REQUEST = "hearth/deleteConversation"


def _messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise JsonRpcInvalidParams("hearth/chat takes {messages: [{role, content}, ...]}")
    messages = []
    for item in raw:
        role, content = param(item, "role"), param(item, "content")
        if role not in ROLES or not isinstance(content, str):
            raise JsonRpcInvalidParams(
                "each message needs role (user, assistant or system) and content (string)"
            )
        messages.append(Message(role, content))
    return tuple(messages)


def focus_of(ls: HearthServer, uri: Any, selection: Any) -> Focus | None:
    """The open document and selected range named by a request, as plain data."""
    if not isinstance(uri, str):
        return None
    doc = ls.documents.get(uri)
    if doc is None:
        return None
    start = end = 0
    if selection is not None:
        start, end = (_offset(ls, doc, param(selection, key)) for key in ("start", "end"))
    return Focus(ls.path_hint(uri), doc.language_id, doc.text, min(start, end), max(start, end))


def _offset(ls: HearthServer, doc: Any, position: Any) -> int:
    line, character = param(position, "line"), param(position, "character")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (line, character)):
        raise JsonRpcInvalidParams("range must be an LSP Range")
    return int(doc.lines.offset_at(doc.text, line, character, ls.documents.encoding))


def _id(params: Any) -> str:
    conversation_id = param(params, "id")
    if not isinstance(conversation_id, str):
        raise JsonRpcInvalidParams("takes {id: conversation id}")
    return conversation_id


def register(server: HearthServer) -> None:
    @server.feature(CHAT_REQUEST)
    async def chat(ls: HearthServer, params: Any) -> dict[str, Any]:
        conversation_id = param(params, "conversationId")
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise JsonRpcInvalidParams("conversationId must be a string")
        document = param(params, "textDocument")
        request = ChatRequest(
            _messages(param(params, "messages")),
            conversation_id,
            focus_of(ls, param(document, "uri"), param(params, "range")),
        )
        token = param(params, "workDoneToken")
        stream_id = param(params, "streamId")
        loop = asyncio.get_running_loop()
        holder: dict[str, str] = {}

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(send, text)

        def send(text: str) -> None:
            chunk = {"conversationId": holder.get("id"), "streamId": stream_id, "token": token, "text": text}
            ls.protocol.notify(CHUNK_NOTIFICATION, chunk)
            if token is not None:
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=text))

        try:
            turn = ls.chat.start(request, on_text)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        except ModelUnavailable as exc:
            raise JsonRpcInternalError(f"the model is not available: {exc}") from exc
        holder["id"] = turn.conversation_id
        if token is not None:
            ls.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title="Hearth chat", cancellable=True)
            )
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
        return {
            "conversationId": turn.conversation_id,
            "text": result.text,
            "stopReason": result.stop_reason,
            "generatedTokens": result.generated_tokens,
            "context": turn.context,
        }

    @server.feature(LIST_REQUEST)
    def conversations(ls: HearthServer, params: Any) -> dict[str, Any]:
        items = ls.chat.store.list(limit=int(param(params, "limit", 50) or 50))
        return {"conversations": [{"id": c.id, "title": c.title, "updated": c.updated} for c in items]}

    @server.feature(GET_REQUEST)
    def conversation(ls: HearthServer, params: Any) -> dict[str, Any]:
        found = ls.chat.store.get(_id(params))
        if found is None:
            raise JsonRpcInvalidParams("no such conversation")
        return {
            "id": found.id,
            "title": found.title,
            "messages": [{"role": m.role, "content": m.content} for m in found.messages],
        }

    @server.feature(DELETE_REQUEST)
    def delete(ls: HearthServer, params: Any) -> dict[str, Any]:
        return {"deleted": ls.chat.store.delete(_id(params))}
