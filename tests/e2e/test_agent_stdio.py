"""Chat and edits through the real `hearth serve` with the real embedded model."""

from __future__ import annotations

import time

import pytest

from hearth.lsp.stdio_client import StdioClient
from tests.e2e.editor import CAPABILITIES, DiskEditor

pytestmark = pytest.mark.e2e


@pytest.fixture
def workspace(edit_project):
    return edit_project


@pytest.fixture
def client(workspace):
    c = StdioClient(env={"PYTHONUNBUFFERED": "1"})
    c.initialize({"filter": False, "chatMaxTokens": 96}, CAPABILITIES, root_uri=workspace.as_uri())
    assert c.wait_model_ready()["state"] == "ready"
    yield c
    c.close()


def chunks(client: StdioClient, conversation_id: str | None = None) -> list[str]:
    return [n["params"]["text"] for n in client.notifications if n["method"] == "hearth/chatChunk"
            and (conversation_id is None or n["params"]["conversationId"] == conversation_id)]  # fmt: skip


def test_chat_streams_persists_and_resumes(client, workspace):
    uri = (workspace / "shelf" / "pricing.py").as_uri()
    client.open_document(uri, "python", (workspace / "shelf" / "pricing.py").read_text())
    response = client.request("hearth/chat", {
        "messages": [{"role": "user", "content": "What does tax return?"}],
        "textDocument": {"uri": uri}, "range": {"start": {"line": 7, "character": 0}, "end": {"line": 9, "character": 0}},
    }, timeout=120)["result"]  # fmt: skip
    assert response["text"].strip() and response["generatedTokens"] > 0
    assert "def tax(price):" in response["context"]
    streamed = chunks(client, response["conversationId"])
    assert len(streamed) > 1 and "".join(streamed).strip() == response["text"].strip()
    listed = client.request("hearth/conversations", {})["result"]["conversations"]
    assert [c["id"] for c in listed] == [response["conversationId"]]
    follow = client.request("hearth/chat", {"conversationId": response["conversationId"],
                                            "messages": [{"role": "user", "content": "Thanks."}]}, timeout=120)  # fmt: skip
    assert follow["result"]["conversationId"] == response["conversationId"]
    stored = client.request("hearth/conversation", {"id": response["conversationId"]})["result"]["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]


def test_chat_cancel_stops_generation_and_the_server_keeps_serving(client):
    client.notify("workspace/didChangeConfiguration", {"settings": {"chatMaxTokens": 1500}})
    msg_id = client.request_nowait(
        "hearth/chat",
        {
            "messages": [
                {"role": "user", "content": "Write a very long essay about every sorting algorithm you know."}
            ]
        },
    )
    deadline = time.monotonic() + 60
    while not chunks(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chunks(client), "no streamed text before the cancel"
    client.notify("$/cancelRequest", {"id": msg_id})
    response = client.wait(msg_id, timeout=360)
    assert response["error"]["code"] == -32800
    # The model stops writing the essay (1500 tokens would keep it busy for minutes here).
    while client.request("hearth/status", {})["result"]["model"].get("evaluating") is not None:
        assert time.monotonic() < deadline + 60, "the cancelled answer went on"
        time.sleep(0.05)
    client.notify("workspace/didChangeConfiguration", {"settings": {"chatMaxTokens": 32}})
    again = client.request("hearth/chat", {"messages": [{"role": "user", "content": "Say hi."}]}, timeout=360)
    assert again["result"]["text"].strip()


def test_model_drafted_edit_round_trip_and_undo_restores_the_bytes(client, workspace):
    editor = DiskEditor(client)
    uri = (workspace / "shelf" / "pricing.py").as_uri()
    original = (workspace / "shelf" / "pricing.py").read_bytes()
    editor.open(uri)
    result = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "make apply_discount raise ValueError when percent is negative", "textDocument": {"uri": uri}}]},
        timeout=240)["result"]  # fmt: skip
    assert result["applied"] is True and result["via"] == "model", result
    edit = editor.edits[-1]
    document_edit = edit["documentChanges"][0]
    assert document_edit["textDocument"] == {"uri": uri, "version": 1}
    annotation = document_edit["edits"][0]["annotationId"]
    assert edit["changeAnnotations"][annotation]["needsConfirmation"] is True
    assert (workspace / "shelf" / "pricing.py").read_bytes() != original
    assert result["diff"].startswith("--- a/shelf/pricing.py")

    undone = client.request("workspace/executeCommand", {"command": "hearth.undoEdit",
                                                         "arguments": [result["checkpoint"]]}, timeout=120)  # fmt: skip
    assert undone["result"]["undone"] is True
    assert editor.edits[-1]["documentChanges"][0]["textDocument"]["version"] == 2  # the buffer after the edit
    assert (workspace / "shelf" / "pricing.py").read_bytes() == original


def test_rename_across_files_and_a_refused_preview_writes_nothing(client, workspace):
    editor = DiskEditor(client)
    before = {p: p.read_bytes() for p in workspace.rglob("*.py")}
    editor.accept = False
    refused = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "rename total_value to inventory_value"}]}, timeout=360)["result"]  # fmt: skip
    assert refused == {"applied": False, "message": "the user cancelled the preview"}
    assert {p: p.read_bytes() for p in workspace.rglob("*.py")} == before
    editor.accept = True
    result = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "rename total_value to inventory_value"}]}, timeout=360)["result"]  # fmt: skip
    assert result["applied"] and result["via"] == "rename"
    changed = sorted(c["textDocument"]["uri"].rsplit("/", 2)[-1] for c in editor.edits[-1]["documentChanges"])
    assert changed == ["models.py", "report.py", "test_shelf.py"]
    assert all(c["textDocument"]["version"] is None for c in editor.edits[-1]["documentChanges"])
    assert "total_value" not in "".join(p.read_text() for p in workspace.rglob("*.py"))


def test_edit_outside_the_workspace_is_refused(client, tmp_path):
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x = 1\n")
    response = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "add a docstring", "uris": [outside.as_uri()]}]}, timeout=120)  # fmt: skip
    assert response["error"]["code"] == -32602 and "not inside the workspace" in response["error"]["message"]
    assert outside.read_text() == "x = 1\n"


def test_typing_while_the_agent_plans_means_plan_again_never_clobber(client, workspace):
    editor = DiskEditor(client)
    uri = (workspace / "shelf" / "pricing.py").as_uri()
    editor.open(uri)
    msg_id = client.request_nowait("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "make apply_discount raise ValueError when percent is negative", "textDocument": {"uri": uri}}]})  # fmt: skip
    # Once the model writes the plan (waiting for that, not a fixed time, keeps it in flight).
    deadline = time.monotonic() + 120
    while client.request("hearth/status", {})["result"]["model"].get("evaluating") is None:
        assert time.monotonic() < deadline, "the agent never asked the model"
        time.sleep(0.01)
    editor.type(uri, "# typed while Hearth was planning\n")  # version 2
    result = client.wait(msg_id, timeout=240)["result"]
    assert result["applied"] is True, result
    assert len(editor.edits) == 1  # the plan made on version 1 was never sent
    assert editor.edits[0]["documentChanges"][0]["textDocument"]["version"] == 2
    text = (workspace / "shelf" / "pricing.py").read_text()
    assert text.startswith("# typed while Hearth was planning\n")
    added = [
        line[1:]
        for line in result["diff"].splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert added and all(line in text for line in added)  # the edit, made on the typed version
