"""Hearth on llama.cpp's own `llama-server`, on loopback, with the embedded GGUF.

The server is real (built from llama-cpp-python's sdist, see engines.py) and
so is `hearth serve`: completions, KV reuse while typing, cancellation, GBNF
and chat go through the engine, which checks Hearth's API key; an engine that
dies mid-request and comes back is found again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hearth
from hearth.agent.chat import chat_request
from hearth.agent.conversations import Message
from hearth.bench import position
from hearth.lsp.stdio_client import StdioClient
from hearth.model.backend import Control, EngineProblem, GenerationRequest, ModelState, compose
from hearth.model.catalog import PromptFormat, resolve_model
from hearth.model.remote import EngineConfig, LlamaServerBackend, OpenAIBackend
from tests.e2e.engines import free_port, llama_server, running_llama_server, running_openai_server

pytestmark = pytest.mark.e2e

KEY = "hearth-e2e-key"
URI = "file:///work/example/primes.py"
SOURCE = (Path(hearth.__file__).parent / "examples" / "primes.py").read_text("utf-8")
END = {"line": 16, "character": 29}
LOADED_DEADLINE_MS = 120_000
WAIT_S = 3 * LOADED_DEADLINE_MS / 1000
"""An explicit request may make two tries, each within the deadline."""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return resolve_model(None, tmp_path_factory.mktemp("data")).path


@pytest.fixture(scope="module")
def binary() -> Path:
    try:
        return llama_server()
    except Exception as exc:  # no compiler, no network for the sdist: CI must have it, others may not
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no llama-server here: {exc}")


@pytest.fixture(scope="module")
def engine(binary, model_path) -> Iterator[str]:
    with running_llama_server(model_path, "-c", "4096", "-np", "2", "--api-key", KEY) as url:
        yield url


def serve(url: str, backend: str = "llamacpp", *flags: str) -> StdioClient:
    command = [sys.executable, "-m", "hearth", "serve", "--backend", backend, "--endpoint", url,
               "--api-key-env", "HEARTH_E2E_ENGINE_KEY", *flags]  # fmt: skip
    client = StdioClient(command, env={"PYTHONUNBUFFERED": "1", "HEARTH_E2E_ENGINE_KEY": KEY})
    client.initialize({"debounceMs": 0, "filter": False, "deadlineMs": LOADED_DEADLINE_MS})
    return client


def inline(client: StdioClient, pos=END, trigger=1) -> int | str:
    params = {"textDocument": {"uri": URI}, "position": pos, "context": {"triggerKind": trigger}}
    return client.request_nowait("textDocument/inlineCompletion", params)


def completions(client: StdioClient) -> list[dict]:
    recent = client.request("hearth/status", {})["result"]["recent"]
    return [e for e in recent if e["event"] == "completion"]


@pytest.fixture
def client(engine) -> Iterator[StdioClient]:
    c = serve(engine)
    assert c.wait_model_ready()["state"] == "ready"
    c.open_document(URI, "python", SOURCE)
    yield c
    c.close()


def test_completions_come_from_the_engine_and_reuse_its_cache_while_typing(client, engine):
    model = client.request("hearth/status", {})["result"]["model"]
    assert model["engine"] == engine and model["state"] == "ready" and "problem" not in model
    # Every request a new generation, and no context block (it can change between the two as jedi
    # answers in the background): what is measured here is the engine's cache, not Hearth's.
    client.notify("workspace/didChangeConfiguration", {"settings": {"reuse": False, "context": False}})
    first = client.wait(inline(client), timeout=WAIT_S)["result"]["items"]
    assert first and first[0]["insertText"].strip()
    # Enter, which the editor indents: a new prompt that shares all but its end with the last.
    lines = SOURCE.split("\n")
    offset = sum(len(line) + 1 for line in lines[: END["line"]]) + END["character"]
    typed = "\n        "
    client.insert(URI, 2, END, typed)
    text = SOURCE[:offset] + typed + SOURCE[offset:]
    client.wait(inline(client, position(text, offset + len(typed))), timeout=WAIT_S)
    events = completions(client)
    assert len(events) == 2
    cold, warm = events
    assert cold["prompt_tokens"] > 100 and cold["generated_tokens"] > 0
    assert cold["backend"] == "llamacpp" and cold["model"].endswith(".gguf")  # for hearth stats
    # The engine's own count: most of the second prompt came from its KV cache.
    assert warm["reused_tokens"] > warm["prompt_tokens"] // 2
    assert warm["mean_logprob"] is not None and warm["mean_logprob"] <= 0


def test_cancel_stops_the_engine_and_the_next_request_is_served(client):
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"maxTokens": 400, "maxLines": 200, "multiline": "always"}},
    )
    msg_id = inline(client, {"line": 17, "character": 0})
    deadline = time.monotonic() + WAIT_S
    while client.request("hearth/status", {})["result"]["model"].get("evaluating") is None:
        assert time.monotonic() < deadline, "the engine never started"
        time.sleep(0.01)
    client.notify("$/cancelRequest", {"id": msg_id})
    assert client.wait(msg_id, timeout=30)["error"]["code"] == -32800
    assert "result" in client.wait(inline(client), timeout=WAIT_S)
    assert completions(client)[0]["outcome"] == "cancelled"


def test_chat_streams_through_the_engine(client):
    client.notify("workspace/didChangeConfiguration", {"settings": {"chatMaxTokens": 48}})
    response = client.request(
        "hearth/chat", {"messages": [{"role": "user", "content": "What is a prime number?"}]}, timeout=240
    )["result"]
    chunks = [n["params"]["text"] for n in client.notifications if n["method"] == "hearth/chatChunk"]
    assert response["text"].strip() and response["generatedTokens"] > 0
    assert "".join(chunks).strip() == response["text"].strip()


UNKNOWN_MODEL = "team-chat-model"
"""A name no catalog family matches: only the engine knows its chat template."""


def chat_once(client: StdioClient, question: str) -> tuple[dict, list[str]]:
    client.notify("workspace/didChangeConfiguration", {"settings": {"chatMaxTokens": 32}})
    answer = client.request(
        "hearth/chat", {"messages": [{"role": "user", "content": question}]}, timeout=240
    )["result"]
    return answer, [n["params"]["text"] for n in client.notifications if n["method"] == "hearth/chatChunk"]


def test_chat_for_a_model_only_the_engine_knows_uses_the_engines_template(engine):
    client = serve(engine, "llamacpp", "--remote-model", UNKNOWN_MODEL)
    try:
        status = client.wait_model_ready()
        assert status["state"] == "ready" and status["chatTemplate"] == "engine"
        answer, chunks = chat_once(client, "What is a prime number?")
        assert answer["text"].strip() and "".join(chunks).strip() == answer["text"].strip()
    finally:
        client.close()
    # What the engine's template made of the turns: its markup (SmolLM2's GGUF carries ChatML)
    # as control tokens, a turn's own look-alike of that markup as text.
    backend = backend_on(engine, model=UNKNOWN_MODEL)
    try:
        turns = [Message("system", "Be brief."), Message("user", "Explain '<|im_start|>system'")]
        templated = backend._templated(chat_request(turns))
        assert templated is not None
        markup = [templated.prompt[start:end] for start, end in templated.control]
        assert markup[0].startswith("<|im_start|>") and markup[-1].rstrip().endswith("assistant")
        assert "Explain '<|im_start|>system'" in templated.prompt
        assert all("Explain" not in part for part in markup)
        ids = backend._ids(templated.prompt, templated.control)
        (im_start,) = backend._ids("<|im_start|>", ((0, len("<|im_start|>")),))
        assert ids.count(im_start) == 3  # system, user, assistant: not the one the question quotes
    finally:
        backend.close()


def test_an_openai_engine_renders_chat_for_a_model_it_alone_knows(model_path):
    with running_openai_server(model_path, KEY, alias=UNKNOWN_MODEL) as url:
        client = serve(url, "openai")
        try:
            status = client.wait_model_ready()
            assert status["name"] == UNKNOWN_MODEL and status["chatTemplate"] == "engine"
            answer, chunks = chat_once(client, "What is a prime?")
            assert answer["text"].strip() and "".join(chunks).strip() == answer["text"].strip()
        finally:
            client.close()


def backend_on(url: str, key: str = KEY, model: str = "") -> LlamaServerBackend:
    backend = LlamaServerBackend(EngineConfig(url, api_key=key, model=model), PromptFormat(), backoff=(0.2,))
    backend.start()
    deadline = time.monotonic() + 60
    while backend.status().state is ModelState.STARTING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return backend


def test_grammar_and_control_tokens_on_the_real_engine(engine):
    backend = backend_on(engine)
    try:
        assert backend.status().state is ModelState.READY
        grammar = 'root ::= "total = " [0-9]+ "\\n"'
        request = GenerationRequest("def f():\n    ", grammar=grammar, max_tokens=12, deadline_s=120)
        text = backend.submit(request).future.result(timeout=180).text
        assert re.fullmatch(r"total = [0-9]+\n?", text), text
        # A file's look-alike of a chat marker stays text on the engine; Hearth's own is one token.
        assert len(backend._ids("<|im_start|>", ())) > 1
        prompt, control = compose(Control("<|im_start|>"))
        assert len(backend._ids(prompt, control)) == 1
    finally:
        backend.close()


def test_a_wrong_key_is_one_clear_status(engine):
    backend = backend_on(engine, key="not-the-key")
    try:
        status = backend.status()
        assert status.state is ModelState.FAILED and status.problem is EngineProblem.KEY_REFUSED
        assert "apiKeyEnv" in status.message
    finally:
        backend.close()


def test_an_engine_killed_mid_request_is_found_again(binary, model_path):
    port = free_port()
    with running_llama_server(model_path, "-c", "2048", "--api-key", KEY, port=port) as url:
        client = serve(url)
        try:
            assert client.wait_model_ready()["state"] == "ready"
            client.open_document(URI, "python", SOURCE)
            long = {"maxTokens": 400, "multiline": "always", "maxLines": 200}
            client.notify("workspace/didChangeConfiguration", {"settings": long})
            msg_id = inline(client, {"line": 17, "character": 0})
            deadline = time.monotonic() + WAIT_S
            while client.request("hearth/status", {})["result"]["model"].get("evaluating") is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        except BaseException:
            client.close()
            raise
    # The engine is gone: the request is answered once, and the status says why.
    try:
        assert client.wait(msg_id, timeout=60)["result"]["items"] == []
        model = client.request("hearth/status", {})["result"]["model"]
        assert model["state"] == "restarting" and model["problem"] == "unreachable"
        with running_llama_server(model_path, "-c", "2048", "--api-key", KEY, port=port):
            deadline = time.monotonic() + 60
            while client.request("hearth/status", {})["result"]["model"]["state"] != "ready":
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.1)
            assert "result" in client.wait(inline(client), timeout=WAIT_S)
        assert client.alive()
    finally:
        client.close()


@pytest.fixture(scope="module")
def openai_engine(model_path) -> Iterator[str]:
    with running_openai_server(model_path, KEY) as url:
        yield url


def test_an_openai_compatible_engine_serves_completions_and_chat(openai_engine):
    client = serve(openai_engine, "openai")
    try:
        status = client.wait_model_ready()
        assert status["state"] == "ready" and status["engine"] == openai_engine
        # The name llama-cpp-python's server reports is the GGUF's: SmolLM2's catalog entry.
        assert (
            status["name"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and status["promptFormat"] == "prefix"
        )
        client.open_document(URI, "python", SOURCE)
        items = client.wait(inline(client), timeout=WAIT_S)["result"]["items"]
        assert items and items[0]["insertText"].strip()
        event = completions(client)[-1]
        assert event["generated_tokens"] > 0 and event["mean_logprob"] is not None
        client.notify("workspace/didChangeConfiguration", {"settings": {"chatMaxTokens": 32}})
        answer = client.request(
            "hearth/chat", {"messages": [{"role": "user", "content": "What is a prime?"}]}, timeout=240
        )["result"]
        chunks = [n["params"]["text"] for n in client.notifications if n["method"] == "hearth/chatChunk"]
        assert answer["text"].strip() and "".join(chunks).strip() == answer["text"].strip()
    finally:
        client.close()


def test_an_openai_engine_checks_the_key_and_takes_the_grammar(openai_engine):
    refused = OpenAIBackend(EngineConfig(openai_engine, api_key="wrong"), PromptFormat(), backoff=(0.2,))
    refused.start()
    backend = OpenAIBackend(EngineConfig(openai_engine, api_key=KEY), PromptFormat(), backoff=(0.2,))
    backend.start()
    try:
        deadline = time.monotonic() + 60
        while ModelState.STARTING in (refused.status().state, backend.status().state):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert refused.status().problem is EngineProblem.KEY_REFUSED
        grammar = 'root ::= "total = " [0-9]+ "\\n"'
        request = GenerationRequest("def f():\n    ", grammar=grammar, max_tokens=12, deadline_s=120)
        text = backend.submit(request).future.result(timeout=180).text
        assert re.fullmatch(r"total = [0-9]+\n?", text), text
    finally:
        refused.close()
        backend.close()


def test_with_fallback_the_local_model_answers_while_the_engine_is_down(binary, model_path):
    port = free_port()
    with running_llama_server(model_path, "-c", "2048", "--api-key", KEY, port=port) as url:
        client = serve(url)
    try:
        client.notify("workspace/didChangeConfiguration", {"settings": {"remoteFallback": True}})
        deadline = time.monotonic() + WAIT_S
        model = client.request("hearth/status", {})["result"]["model"]
        while not (model["state"] == "ready" and model.get("backend", "local") == "local"):
            assert time.monotonic() < deadline, model
            time.sleep(0.1)
            model = client.request("hearth/status", {})["result"]["model"]
        assert model["problem"] == "unreachable" and "local model answers" in model["message"]
        client.open_document(URI, "python", SOURCE)
        assert client.wait(inline(client), timeout=WAIT_S)["result"]["items"]
        assert completions(client)[-1]["backend"] == "local"
        with running_llama_server(model_path, "-c", "2048", "--api-key", KEY, port=port):
            while client.request("hearth/status", {})["result"]["model"].get("backend") != "llamacpp":
                assert time.monotonic() < deadline, "the engine was not taken back"
                time.sleep(0.1)
            client.wait(inline(client, {"line": 17, "character": 0}), timeout=WAIT_S)
            assert completions(client)[-1]["backend"] == "llamacpp"
    finally:
        client.close()


def test_completions_stay_local_while_chat_goes_to_the_engine(engine):
    command = [sys.executable, "-m", "hearth", "serve", "--chat-backend", "llamacpp",
               "--chat-endpoint", engine, "--api-key-env", "HEARTH_E2E_ENGINE_KEY"]  # fmt: skip
    client = StdioClient(command, env={"PYTHONUNBUFFERED": "1", "HEARTH_E2E_ENGINE_KEY": KEY})
    try:
        client.initialize(
            {"debounceMs": 0, "filter": False, "deadlineMs": LOADED_DEADLINE_MS, "chatMaxTokens": 32}
        )
        assert client.wait_model_ready()["state"] == "ready"
        status = client.request("hearth/status", {})["result"]
        assert "engine" not in status["model"] and status["chatModel"]["engine"] == engine
        client.open_document(URI, "python", SOURCE)
        client.wait(inline(client), timeout=WAIT_S)
        assert completions(client)[-1]["backend"] == "local"
        answer = client.request(
            "hearth/chat", {"messages": [{"role": "user", "content": "What is a prime?"}]}, timeout=WAIT_S
        )["result"]
        assert answer["text"].strip() and answer["generatedTokens"] > 0
    finally:
        client.close()


@pytest.mark.slow
def test_the_shared_engine_bench_runs_developers_at_once_on_the_engine_and_locally(engine, tmp_path):
    from tests.unit.test_developer import SOURCE as SHAPES

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shapes.py").write_text(SHAPES)
    run = subprocess.run(
        [sys.executable, "-m", "hearth", "bench", "shared-engine", str(repo), "--developers", "2",
         "--tasks-each", "1", "--cps", "15", "--endpoint", engine, "--api-key-env", "HEARTH_E2E_ENGINE_KEY",
         "--json"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "HEARTH_E2E_ENGINE_KEY": KEY},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    for name in ("engine", "local"):
        assert report[name]["failures"] == []
        assert len(report[name]["developers"]) == 2
        # Each typed and asked; how many answers beat the next keystroke is the machine's business.
        for dev in report[name]["developers"]:
            assert dev["requests"] > 0 and dev["answered"] + dev["cancelled"] == dev["requests"]
