"""Suggestion fates from the real server and model into a real telemetry database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hearth.lsp.stdio_client import StdioClient
from hearth_telemetry.store import EventStore

pytestmark = pytest.mark.e2e

URI = "file:///work/example/canary.py"
# A code string that must never reach the database (code capture is off by default).
SOURCE = (
    "def flamingo_canary_9131(quokka_values):\n"
    '    """Sum the quokka values."""\n'
    "    total = 0\n"
    "    for value in quokka_values:\n"
)


def inline(client: StdioClient, line: int, character: int) -> dict:
    params = {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},
    }
    return client.wait(client.request_nowait("textDocument/inlineCompletion", params), timeout=360)


def _edit(version: int, line: int, start: int, end_line: int, end: int, text: str) -> dict:
    span = {"start": {"line": line, "character": start}, "end": {"line": end_line, "character": end}}
    return {
        "textDocument": {"uri": URI, "version": version},
        "contentChanges": [{"range": span, "text": text}],
    }


def test_events_reach_the_database_and_code_does_not(private_data_dir: Path):
    client = StdioClient()
    client.initialize({"debounceMs": 0, "deadlineMs": 120_000})  # a loaded machine's cold prompt is slow
    assert client.wait_model_ready()["state"] == "ready"
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SOURCE}},
    )
    # 1: shown, then accepted in part (the Copilot-style notifications).
    first = inline(client, 3, 31)["result"]["items"][0]
    sid1 = first["command"]["arguments"][0]
    client.notify("textDocument/didShowCompletion", {"item": first})
    client.notify("textDocument/didPartiallyAcceptCompletion", {"item": first, "acceptedLength": 3})
    # 2: shown, then typed over: the user types something the suggestion did not start with.
    second = inline(client, 3, 31)["result"]["items"][0]
    sid2 = second["command"]["arguments"][0]
    client.notify("textDocument/didShowCompletion", {"item": second})
    client.notify("textDocument/didChange", _edit(2, 3, 31, 3, 31, "\u00a7"))
    # 3: the stray character deleted again, the same place asked once more: the document is
    # the one the first suggestion came from, so greedy decoding gives a suggestion again,
    # accepted with the inline item's command.
    client.notify("textDocument/didChange", _edit(3, 3, 31, 3, 32, ""))
    third = inline(client, 3, 31)["result"]["items"][0]
    sid3 = third["command"]["arguments"][0]
    client.request("workspace/executeCommand", {"command": "hearth.accepted", "arguments": [sid3]})
    assert client.close() == 0

    db = private_data_dir / "telemetry.sqlite3"
    store = EventStore(db).open()
    events = list(store.events())
    by_sid: dict[str, list[str]] = {}
    for row in events:
        by_sid.setdefault(row["sid"], []).append(row["kind"])
    assert by_sid[sid1] == ["requested", "generated", "offered", "shown", "accepted"]
    partial = next(e for e in events if e["sid"] == sid1 and e["kind"] == "accepted")
    assert partial["data"] == {"accepted_chars": 3, "kind": "partial", "candidate": 0}
    assert by_sid[sid2][-1] == "rejected"
    assert (
        next(e for e in events if e["sid"] == sid2 and e["kind"] == "rejected")["data"]["reason"]
        == "typed_over"
    )
    assert by_sid[sid3][-1] == "accepted"
    assert len({sid1, sid2, sid3}) == 3
    generated = next(e for e in events if e["kind"] == "generated")
    assert generated["data"]["prompt_tokens"] > 0 and generated["data"]["generated_tokens"] > 0
    assert generated["file"] and "canary" not in generated["file"]
    assert store.integrity() == "ok"
    store.close()
    raw = b"".join(p.read_bytes() for p in private_data_dir.glob("telemetry.sqlite3*"))
    assert b"flamingo_canary" not in raw and b"quokka" not in raw and b"canary.py" not in raw

    stats = subprocess.run(
        [sys.executable, "-m", "hearth", "stats", "--json", "--html", str(private_data_dir / "r.html")],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(stats.stdout)
    assert figures["offered"] == 3 and figures["accepted"] == 2 and figures["partially_accepted"] == 1
    assert "<svg" in (private_data_dir / "r.html").read_text()
