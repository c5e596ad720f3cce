"""The real `hearth serve` over stdio with the real embedded model."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

import hearth
from hearth.bench import position
from hearth.lsp.framing import encode_frame
from hearth.lsp.stdio_client import StdioClient

pytestmark = pytest.mark.e2e

URI = "file:///work/example/primes.py"
# The shipped example: it ends where a user is typing a loop body.
SOURCE = (Path(hearth.__file__).parent / "examples" / "primes.py").read_text("utf-8")
END = {"line": 16, "character": 29}
LOADED_DEADLINE_MS = 120_000
WAIT_S = 3 * LOADED_DEADLINE_MS / 1000
"""How long an answer may take on a loaded machine (an explicit request may make two tries).
Waits only guard against a server that never answers: a correct one is never near them."""


def inline(client: StdioClient, position=END, trigger=1, msg_id=None) -> int:
    params = {
        "textDocument": {"uri": URI},
        "position": position,
        "context": {"triggerKind": trigger},
    }
    return client.request_nowait("textDocument/inlineCompletion", params, msg_id)


def wait_reading_prompt(client: StdioClient, evaluated: int = 0) -> dict:
    """How far the model has read the running generation's prompt, once past `evaluated` tokens.

    Tests cancel after this rather than after a sleep: how far a sleep gets depends on the machine.
    """
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        progress = client.request("hearth/status", {})["result"]["model"].get("evaluating")
        if progress is not None and progress["evaluatedTokens"] > evaluated:
            return progress
        time.sleep(0.01)
    raise AssertionError("the model never started reading the prompt")


@pytest.fixture
def client():
    c = StdioClient(env={"PYTHONUNBUFFERED": "1"})
    # The learned filter may hide an automatic suggestion; these tests are about the protocol.
    # deadlineMs: a loaded machine may take many seconds for the first (cold) prompt; these tests
    # are about the protocol, and the default 4 s limit would decide them by the machine's speed.
    c.initialize({"debounceMs": 0, "filter": False, "deadlineMs": LOADED_DEADLINE_MS})
    assert c.wait_model_ready()["state"] == "ready"
    c.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SOURCE}},
    )
    yield c
    c.close()


def test_inline_completion_from_the_real_model(client):
    response = client.wait(inline(client, trigger=1), timeout=WAIT_S)
    items = response["result"]["items"]
    assert items and items[0]["insertText"].strip()
    assert items[0]["command"]["command"] == "hearth.accepted"
    suggestion_id = items[0]["command"]["arguments"][0]
    accepted = client.request(
        "workspace/executeCommand", {"command": "hearth.accepted", "arguments": [suggestion_id]}
    )
    assert "error" not in accepted
    recent = client.request("hearth/status", {})["result"]["recent"]
    assert {"event": "accepted", "id": suggestion_id, "kind": "full"}.items() <= recent[-1].items()
    shown = next(e for e in recent if e["event"] == "completion" and e["id"] == suggestion_id)
    assert shown["prompt_tokens"] > 0 and shown["generated_tokens"] > 0


def test_an_explicit_request_on_a_blank_line_offers_distinct_candidates_that_start_with_code(client):
    # A blank line in a function after its docstring: where the small model, left alone, ends the
    # function. Every candidate starts with code at the cursor, none is filler, and taking the last
    # one is recorded as that one.
    text = 'def mean(values):\n    """The mean of values, or 0.0 when there are none."""\n    \n'
    uri = "file:///work/example/mean.py"
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                            "version": 1, "text": text}})  # fmt: skip
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": 2, "character": 4},
        "context": {"triggerKind": 1},
    }
    response = client.wait(client.request_nowait("textDocument/inlineCompletion", params), timeout=WAIT_S)
    items = response["result"]["items"]
    texts = [item["insertText"] for item in items]
    assert 1 <= len(texts) <= 3 and len({" ".join(t.split()) for t in texts}) == len(texts)
    for suggestion in texts:
        assert suggestion[:1].strip() and suggestion.strip() not in ("pass", "...", "return")
    sid = items[0]["command"]["arguments"][0]
    assert [item["command"]["arguments"] for item in items] == [[sid, n] for n in range(len(items))]
    client.request("workspace/executeCommand", items[-1]["command"])
    recent = client.request("hearth/status", {})["result"]["recent"]
    completion = next(e for e in reversed(recent) if e.get("event") == "completion" and e["id"] == sid)
    assert completion["candidates"] == len(items)
    assert {"event": "accepted", "id": sid, "candidate": len(items) - 1}.items() <= recent[-1].items()


def test_completion_item_fallback(client):
    response = client.request(
        "textDocument/completion", {"textDocument": {"uri": URI}, "position": END}, timeout=WAIT_S
    )
    items = response["result"]["items"]
    assert items and items[0]["textEdit"]["newText"].strip()


def test_cancel_answers_32800_and_stops_the_generation(client):
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"maxTokens": 400, "deadlineMs": 60000, "maxLines": 200, "multiline": "always"}},
    )
    msg_id = inline(client, position={"line": 17, "character": 0})
    wait_reading_prompt(client, evaluated=-1)
    client.notify("$/cancelRequest", {"id": msg_id})
    response = client.wait(msg_id, timeout=WAIT_S)
    assert response["error"]["code"] == -32800
    # The model stops reading or writing for it: nothing runs until the next request.
    deadline = time.monotonic() + WAIT_S
    while client.request("hearth/status", {})["result"]["model"].get("evaluating") is not None:
        assert time.monotonic() < deadline, "the cancelled generation never ended"
        time.sleep(0.05)
    assert "result" in client.wait(inline(client), timeout=WAIT_S)
    events = [
        e for e in client.request("hearth/status", {})["result"]["recent"] if e["event"] == "completion"
    ]
    cancelled = [e for e in events if e["outcome"] == "cancelled"]
    assert cancelled


def test_cancel_interrupts_a_cold_prompt_and_keeps_what_was_evaluated(client):
    # Without repository context the retry's prompt is the same text: the context block can
    # change between the two (jedi answers in the background), and that is not this test's matter.
    client.notify("workspace/didChangeConfiguration", {"settings": {"context": False}})
    # A long document: its cold prompt takes seconds to evaluate on a laptop CPU.
    body = "".join(f"    total_{i} = compute(values[{i}], scale={i})\n" for i in range(200))
    text = "def long_function(values):\n" + body + "    return "
    uri = "file:///work/example/long.py"
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )
    position = {"line": 201, "character": 11}
    params = {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}}
    msg_id = client.request_nowait("textDocument/inlineCompletion", params)
    progress = wait_reading_prompt(client)  # a first chunk of the prompt is in the KV cache
    assert progress["evaluatedTokens"] < progress["promptTokens"]
    client.notify("$/cancelRequest", {"id": msg_id})
    assert client.wait(msg_id, timeout=WAIT_S)["error"]["code"] == -32800
    client.wait(client.request_nowait("textDocument/inlineCompletion", params), timeout=WAIT_S)
    events = [
        e for e in client.request("hearth/status", {})["result"]["recent"] if e["event"] == "completion"
    ]
    # The retry started from the chunks the cancelled request had evaluated.
    assert 0 < events[-1]["reused_tokens"] < events[-1]["prompt_tokens"]


def test_newer_request_for_the_document_supersedes_the_older(client):
    first = inline(client, position={"line": 17, "character": 0})
    second = inline(client)
    assert client.wait(first, timeout=WAIT_S)["error"]["code"] == -32800
    assert "result" in client.wait(second, timeout=WAIT_S)


def test_typing_the_suggestion_along_gets_the_rest_of_it_at_once(client):
    response = client.wait(inline(client, trigger=1), timeout=WAIT_S)
    item = response["result"]["items"][0]
    suggestion, sid = item["insertText"], item["command"]["arguments"][0]
    # Type through its first character of code (an editor's Enter brings the indentation).
    typed = suggestion[: len(suggestion) - len(suggestion.lstrip()) + 1]
    lines = SOURCE.split("\n")
    offset = sum(len(line) + 1 for line in lines[: END["line"]]) + END["character"]
    client.insert(URI, 2, END, typed)
    # A debounce no test waits out: only an answer the server already has comes back.
    client.notify("workspace/didChangeConfiguration", {"settings": {"debounceMs": 600_000}})
    text = SOURCE[:offset] + typed + SOURCE[offset:]
    recent = client.request("hearth/status", {})["result"]["recent"]
    before = len([e for e in recent if e["event"] == "completion"])
    response = client.wait(inline(client, position(text, offset + len(typed)), trigger=2), timeout=WAIT_S)
    item = response["result"]["items"][0]
    assert item["insertText"] == suggestion[len(typed) :]
    assert item["command"]["arguments"] == [sid, 0]  # the same suggestion, continued
    recent = client.request("hearth/status", {})["result"]["recent"]
    assert len([e for e in recent if e["event"] == "completion"]) == before  # no new request
    assert {"event": "continued", "id": sid, "typed_chars": len(typed)} in recent


def test_after_an_accepted_suggestion_the_next_one_is_made_ahead(client):
    response = client.wait(inline(client, trigger=1), timeout=WAIT_S)
    item = response["result"]["items"][0]
    suggestion, sid = item["insertText"], item["command"]["arguments"][0]
    client.insert(URI, 2, END, suggestion)  # the editor inserts it, then runs its command
    client.request("workspace/executeCommand", {"command": "hearth.accepted", "arguments": [sid]})
    deadline = time.monotonic() + WAIT_S
    prefetched = []
    while not prefetched and time.monotonic() < deadline:
        recent = client.request("hearth/status", {})["result"]["recent"]
        prefetched = [e for e in recent if e["event"] == "completion" and e["trigger"] == "prefetch"]
        time.sleep(0.2)
    # It was made (or found nothing worth showing) for where the user goes next.
    assert prefetched and prefetched[0]["outcome"] in ("prefetched", "empty", "invalid_syntax")
    generated = client.request("hearth/status", {})["result"]["totals"].get("generated", 0)
    # The user goes on: at the end of a finished line that is Enter, which the editor indents.
    lines = SOURCE.split("\n")
    offset = sum(len(line) + 1 for line in lines[: END["line"]]) + END["character"]
    text = SOURCE[:offset] + suggestion + SOURCE[offset:]
    cursor = offset + len(suggestion)
    last_line = text[text.rfind("\n", 0, cursor) + 1 : cursor]
    enter = "\n" + last_line[: len(last_line) - len(last_line.lstrip())]
    client.insert(URI, 3, position(text, cursor), enter)
    text, cursor = text[:cursor] + enter + text[cursor:], cursor + len(enter)
    # With a debounce no test waits out, only the answer made ahead comes back, and the
    # model is not asked again.
    client.notify("workspace/didChangeConfiguration", {"settings": {"debounceMs": 600_000}})
    response = client.wait(inline(client, position(text, cursor), trigger=2), timeout=WAIT_S)
    assert "result" in response
    assert client.request("hearth/status", {})["result"]["totals"].get("generated", 0) == generated
    recent = client.request("hearth/status", {})["result"]["recent"]
    answered = [e for e in recent if e["event"] == "completion"][-1]  # (a retention check may follow)
    assert answered["trigger"] == "automatic" and answered["source"] in ("cache", "typed_along")


def test_invalid_params_and_unknown_method_get_errors(client):
    assert (
        client.request("textDocument/inlineCompletion", {"textDocument": {"uri": URI}})["error"]["code"]
        == -32602
    )
    assert client.request("textDocument/inlineCompletion", [1, 2])["error"]["code"] == -32602
    assert client.request("no/such/method", {})["error"]["code"] == -32601
    bad = client.request("workspace/executeCommand", {"command": "hearth.accepted", "arguments": [5]})
    assert bad["error"]["code"] == -32602


@pytest.mark.parametrize(
    "garbage",
    [
        b"Content-Length: 9999\r\n\r\n{",
        b'Content-Length: 3\r\n\r\n{"jsonrpc": "2.0"}',
        b"Content-Length: abc\r\n\r\n{}",
        b"\x00\xff random junk without newline",
        b"content-length: 0\r\n\r\n",
    ],
)
def test_garbled_frame_then_a_valid_request_is_answered(client, garbage):
    client.send_raw(garbage)
    assert client.request("hearth/status", {}, timeout=WAIT_S)["result"]["model"]["state"] == "ready"


def test_off_by_one_length_gets_a_parse_error_and_the_server_stays_live(client):
    body = encode_frame({"jsonrpc": "2.0", "id": 777, "method": "hearth/status", "params": {}})
    _header, payload = body.split(b"\r\n\r\n")
    client.send_raw(b"Content-Length: %d\r\n\r\n%s" % (len(payload) - 1, payload))
    assert client.wait(777, timeout=WAIT_S)["error"]["code"] == -32700
    assert "result" in client.request("hearth/status", {}, timeout=WAIT_S)


def test_model_worker_killed_recovers(client):
    pid = client.request("hearth/status", {})["result"]["model"]["workerPid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.request("hearth/status", {})["result"]["model"]
        if status["state"] == "ready" and status["workerPid"] != pid:
            break
        # Requests meanwhile are answered (empty), never left hanging.
        assert "result" in client.wait(inline(client), timeout=WAIT_S)
        time.sleep(0.2)
    assert status["restarts"] >= 1 and status["state"] == "ready"
    assert client.wait(inline(client), timeout=WAIT_S)["result"]["items"]


def test_lifecycle_errors_and_exit_code():
    c = StdioClient()
    assert c.request("textDocument/completion", {})["error"]["code"] == -32002
    c.initialize()
    assert c.request("shutdown", None)["result"] is None
    assert c.request("hearth/status", {})["error"]["code"] == -32600
    c.notify("exit")
    # Exit ends the process by itself (no kill from the client); how fast is not this test's call.
    assert c.process.wait(60) == 0


def test_missing_model_file_gives_one_clear_message_and_empty_results(tmp_path):
    # A model file named on the command line is the user's own choice: loaded without asking.
    c = StdioClient([sys.executable, "-m", "hearth", "serve", "--model", str(tmp_path / "missing.gguf")])
    c.initialize({})
    status = c.wait_model_ready()
    assert status["state"] == "failed"
    c.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SOURCE}},
    )
    assert c.wait(inline(c), timeout=WAIT_S)["result"]["items"] == []
    messages = [n for n in c.notifications if n["method"] == "window/showMessage"]
    assert len(messages) == 1 and "missing.gguf" in messages[0]["params"]["message"]
    c.close()


def test_corrupt_model_file_is_reported(tmp_path):
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (5).to_bytes(8, "little") + b"\x00" * 64)
    c = StdioClient([sys.executable, "-m", "hearth", "serve", "--model", str(bad)])
    c.initialize({})
    status = c.wait_model_ready(timeout=120)
    assert status["state"] == "failed" and "corrupt.gguf" in status["message"]
    assert c.request("hearth/status", {})["result"]["model"]["state"] == "failed"
    c.close()


def test_exits_when_the_editor_process_dies():
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    c = StdioClient()
    c.send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": parent.pid, "capabilities": {}},
        }
    )
    c.wait(1)
    parent.kill()
    parent.wait()
    assert c.process.wait(5) == 1


def test_keystroke_storm_cancels_all_but_the_last(client):
    # The debounce is far longer than the gap between keystrokes, however slow a loaded machine
    # makes this loop: otherwise a keystroke's request would outlive its debounce and generate.
    client.notify("workspace/didChangeConfiguration", {"settings": {"debounceMs": 2000}})
    ids = []
    for i in range(50):
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": 10 + i},
            "contentChanges": [{"range": {"start": {"line": 17, "character": 0},
                                          "end": {"line": 17, "character": 0}}, "text": " "}]})  # fmt: skip
        ids.append(inline(client, position={"line": 17, "character": i + 1}, trigger=2))
        time.sleep(0.02)
    responses = [client.wait(msg_id, timeout=WAIT_S) for msg_id in ids]
    cancelled = [r for r in responses if r.get("error", {}).get("code") == -32800]
    assert len(responses) == 50 and len(cancelled) >= 49
    assert "result" in responses[-1]
    totals = client.request("hearth/status", {})["result"]["totals"]
    # Superseded requests never reached the model: at most the last one generated.
    assert totals.get("generated", 0) <= 1


VALID_AND_INVALID = [
    ("textDocument/inlineCompletion",
     {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}, "context": {"triggerKind": 1}},
     {"textDocument": {"uri": URI}, "position": {"line": "x"}}),
    # (another document: a newer request for the same document would cancel the older one)
    ("textDocument/completion", {"textDocument": {"uri": URI + "2"}, "position": {"line": 0, "character": 0}},
     {"position": 3}),
    ("workspace/executeCommand", {"command": "hearth.accepted", "arguments": ["unknown-id"]},
     {"command": "hearth.accepted", "arguments": []}),
    ("hearth/status", {}, None),
    ("hearth/context", {"uri": URI}, {"uri": 5}),
]  # fmt: skip


def test_every_method_answers_valid_and_invalid_params_exactly_once(client):
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": URI + "2", "languageId": "python", "version": 1, "text": SOURCE}})  # fmt: skip
    sent = []
    for method, valid, invalid in VALID_AND_INVALID:
        sent.append((client.request_nowait(method, valid), "result"))
        if invalid is not None:
            sent.append((client.request_nowait(method, invalid), "error"))
    for msg_id, kind in sent:
        assert kind in client.wait(msg_id, timeout=WAIT_S), (msg_id, kind)
    time.sleep(0.5)  # a second answer would arrive by now
    counts = client.response_counts
    assert all(counts[msg_id] == 1 for msg_id, _ in sent), counts


def test_context_is_budgeted_with_the_model_tokenizer(client):
    # The vocabulary loads on a background thread: on a loaded machine that takes a while.
    deadline = time.monotonic() + 300
    while not client.request("hearth/status", {})["result"]["exactTokenCounts"]:
        assert time.monotonic() < deadline, "the tokenizer never loaded"
        time.sleep(0.1)
    # Imports and a helper far above the cursor: outside the code window, so they come as context.
    text = 'import os\n\ndef helper(a, b):\n    """Add a and b."""\n    return a + b\n\n'
    text += (
        "".join(f"value_{i} = {i}\n" for i in range(600)) + "\ndef main():\n    total = helper(1, 2)\n    "
    )
    uri = "file:///work/example/far.py"
    client.open_document(uri, "python", text)
    lines = text.split("\n")
    position = {"line": len(lines) - 1, "character": len(lines[-1])}
    client.wait(client.inline_completion(uri, position, 1), timeout=300)
    parts = client.request("hearth/context", {"uri": uri})["result"]["parts"]
    model_path = client.request("hearth/status", {})["result"]["model"]["path"]
    from hearth.model.tokenizer import model_tokenizer

    count = model_tokenizer(model_path)
    assert parts and all(part["tokens"] == count(part["text"]) for part in parts)
