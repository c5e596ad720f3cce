"""The whole editor flow through pytest-lsp's client, with the real model.

An independent LSP client (pygls on the other side) checks what our own
test client cannot: that the server's messages are valid lsprotocol types,
that $/progress uses a token the server created first, and that UTF-8
positions are used when the client prefers them.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = pytest.mark.e2e

URI = "file:///work/example/greet.py"
# Multi-byte text before the cursor on the same line: UTF-8 and UTF-16
# columns differ (é is 2 bytes / 1 unit, the emoji 4 bytes / 2 units).
SOURCE = 'def greet(name):\n    """Say héllo 👋 to name."""\n    message = "héllo 👋 " + '


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "hearth", "serve"]),
)
async def client(lsp_client: LanguageClient):
    capabilities = client_capabilities("visual-studio-code")
    capabilities.general = types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
    )
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities, initialization_options={"debounceMs": 0, "deadlineMs": 120_000}
        )
    )
    lsp_client.initialize_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def _model_ready(client: LanguageClient) -> None:
    for _ in range(600):
        status = await client.protocol.send_request_async("hearth/status", {})
        if status.model.state == "ready":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("model never became ready")


async def test_flow_with_utf8_positions_progress_and_acceptance(client: LanguageClient):
    result = client.initialize_result  # type: ignore[attr-defined]
    assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    assert result.capabilities.inline_completion_provider
    assert result.capabilities.completion_provider is not None
    assert "hearth.accepted" in result.capabilities.execute_command_provider.commands

    await _model_ready(client)
    for _ in range(50):  # the end of progress may trail the status by a moment
        kinds = [type(r).__name__ for r in client.progress_reports.get("hearth/model", [])]
        if "WorkDoneProgressEnd" in kinds:
            break
        await asyncio.sleep(0.1)
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"

    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text=SOURCE)
        )
    )
    last_line = SOURCE.split("\n")[-1]
    column = len(last_line.encode("utf-8"))  # UTF-8 code units, as negotiated
    assert column != len(last_line.encode("utf-16-le")) // 2
    items = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=2, character=column),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    assert isinstance(items, types.InlineCompletionList) and items.items
    item = items.items[0]
    assert isinstance(item.insert_text, str) and item.insert_text.strip()
    # The range, if given, must sit at the cursor in UTF-8 units.
    if item.range is not None:
        assert item.range.start == types.Position(line=2, character=column)
    assert item.command is not None and item.command.command == "hearth.accepted"

    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    status = await client.protocol.send_request_async("hearth/status", {})
    accepted = [e for e in status.recent if e.event == "accepted"]
    assert accepted and accepted[-1].id == item.command.arguments[0]

    completion = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=2, character=column),
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
        )
    )
    completion_items = completion.items if isinstance(completion, types.CompletionList) else completion
    assert completion_items and completion_items[0].text_edit is not None
    assert not client.messages, [m.message for m in client.messages]  # no error popups
