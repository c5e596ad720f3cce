"""The shared-engine backend against a scripted HTTP engine on loopback: what it sends, how it
reads a stream, and what every fault becomes. The real llama-server is in tests/e2e."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hearth.agent.chat import chat_request
from hearth.agent.conversations import Message
from hearth.model.backend import (
    Control,
    EngineProblem,
    GenerationRequest,
    ModelState,
    ModelUnavailable,
    compose,
)
from hearth.model.catalog import PromptFormat, format_for_name
from hearth.model.remote import (
    ZERO_WIDTH,
    EngineConfig,
    EngineError,
    LlamaServerBackend,
    OllamaBackend,
    OpenAIBackend,
    neutralize,
    read_api_key,
)
from hearth.model.stopping import StopSpec

CONTROL_BASE = 100_000
STARTING = ModelState.STARTING


class FakeEngine:
    """Answers llama-server's /health, /props, /tokenize and a scripted /completion stream."""

    def __init__(self, port: int = 0) -> None:
        self.events: list[dict[str, Any]] = [
            {"content": "", "tokens": [0], "tokens_predicted": 0, "prompt_progress": {"processed": 5}},
            {"content": "ret", "tokens": [1], "completion_probabilities": [{"logprob": -0.5}],
             "timings": {"cache_n": 3}, "tokens_predicted": 1},
            {"content": "urn 1", "tokens": [2], "completion_probabilities": [{"logprob": -0.25}],
             "tokens_predicted": 2},
            {"content": "", "tokens": [], "stop": True, "stop_type": "eos", "timings": {"cache_n": 3},
             "tokens_predicted": 2},
        ]  # fmt: skip
        self.openai_events: list[dict[str, Any]] = [
            {"choices": [{"text": "ret", "logprobs": {"token_logprobs": [-0.5]}, "finish_reason": None}]},
            {
                "choices": [
                    {
                        "text": "urn <\u200b|x|>",
                        "logprobs": {"token_logprobs": [-0.25]},
                        "finish_reason": None,
                    }
                ]
            },
            {"choices": [{"text": "", "logprobs": None, "finish_reason": "length"}]},
        ]
        stamp = "2025-10-26T17:15:24.097767Z"
        self.ollama_lines: list[dict[str, Any]] = [
            {"model": "qwen2.5-coder:1.5b", "created_at": stamp, "response": "ret", "done": False},
            {"model": "qwen2.5-coder:1.5b", "created_at": stamp, "response": "urn 1", "done": False},
            {"model": "qwen2.5-coder:1.5b", "created_at": stamp, "response": "", "done": True,
             "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 2},
        ]  # fmt: skip
        self.chat_events: list[dict[str, Any]] = [
            {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "Use "}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "sorted()."}, "finish_reason": None}]},
            {"choices": [{"delta": {}, "finish_reason": "stop"}]},
        ]
        said = {"model": "mystery:7b", "created_at": stamp}
        self.ollama_chat_lines: list[dict[str, Any]] = [
            {**said, "message": {"role": "assistant", "content": "Use "}, "done": False},
            {**said, "message": {"role": "assistant", "content": "sorted()."}, "done": False},
            {**said, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
             "eval_count": 2},
        ]  # fmt: skip
        self.model_ids = ["Qwen/Qwen2.5-Coder-1.5B"]
        self.ollama_models = ["qwen2.5-coder:1.5b"]
        self.template_keeps_content = True
        """False: the engine's template changes what a turn says (it upper-cases it)."""
        self.templated: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.status: dict[str, int] = {}
        self.raw: dict[str, bytes] = {}
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.went_away = threading.Event()
        self.connections: list[socket.socket] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                engine.connections.append(self.connection)

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length)) if length else None
                self._answer(body)

            def _answer(self, body: Any) -> None:
                engine.headers.append(dict(self.headers))
                path = self.path
                if path in engine.status:
                    self._send(engine.status[path], {"error": {"message": "scripted failure"}})
                elif path in engine.raw:
                    self._send_bytes(200, engine.raw[path], "text/html")
                elif path == "/health":
                    self._send(200, {"status": "ok"})
                elif path == "/props":
                    self._send(200, {"default_generation_settings": {"n_ctx": 256}, "total_slots": 2,
                                     "model_path": "/models/fake-coder.gguf"})  # fmt: skip
                elif path == "/tokenize":
                    text = body["content"]
                    ids = [CONTROL_BASE + len(text)] if body["parse_special"] else [ord(c) for c in text]
                    self._send(200, {"tokens": ids})
                elif path == "/completion":
                    engine.bodies.append(body)
                    self._stream(engine.events)
                elif path == "/v1/models":
                    models = [{"id": name, "max_model_len": 512} for name in engine.model_ids]
                    self._send(200, {"object": "list", "data": models})
                elif path == "/apply-template":  # a Llama 3 style template
                    engine.templated.append(body)
                    rendered = "<|begin_of_text|>"
                    for m in body["messages"]:
                        content = m["content"] if engine.template_keeps_content else m["content"].upper()
                        rendered += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{content}<|eot_id|>"
                    self._send(
                        200, {"prompt": rendered + "<|start_header_id|>assistant<|end_header_id|>\n\n"}
                    )
                elif path == "/v1/chat/completions":
                    engine.bodies.append(body)
                    self._stream(engine.chat_events, done=True)
                elif path == "/api/chat":
                    engine.bodies.append(body)
                    self._stream(engine.ollama_chat_lines, ndjson=True)
                elif path == "/v1/completions":
                    engine.bodies.append(body)
                    self._stream(engine.openai_events, done=True)
                elif path == "/api/tags":  # Ollama, as its API documentation shows it
                    self._send(200, {"models": [{"name": n, "model": n} for n in engine.ollama_models]})
                elif path == "/api/generate":
                    engine.bodies.append(body)
                    self._stream(engine.ollama_lines, ndjson=True)
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def _send(self, status: int, payload: Any) -> None:
                self._send_bytes(status, json.dumps(payload).encode(), "application/json")

            def _send_bytes(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[dict[str, Any]], done: bool = False, ndjson: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson" if ndjson else "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    form = "{}\n" if ndjson else "data: {}\n\n"
                    lines = [form.format(json.dumps(event)) for event in events]
                    for line in lines + (["data: [DONE]\n\n"] if done else []):
                        time.sleep(engine.delay_s)
                        data = line.encode()
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    engine.went_away.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """The engine stops: it listens no more, and its open connections go too."""
        self.server.shutdown()
        self.server.server_close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


def backend_for(url: str, **config: Any) -> LlamaServerBackend:
    backend = LlamaServerBackend(EngineConfig(url, **config), PromptFormat(), backoff=(0.05,))
    backend.start()
    return backend


def settle(
    backend: LlamaServerBackend, done: Callable[[ModelState], bool] = lambda s: s is not ModelState.STARTING
):
    deadline = time.monotonic() + 10
    while not done(backend.status().state):
        assert time.monotonic() < deadline, backend.status()
        time.sleep(0.01)
    return backend.status()


def test_text_logprobs_and_reuse_come_from_the_stream_and_repository_text_stays_text(engine):
    backend = backend_for(engine.url, api_key="s3cret")
    status = settle(backend)
    assert status.state is ModelState.READY and status.engine == engine.url
    assert status.model_name == "fake-coder.gguf"
    prompt, control = compose(Control("<|fim_prefix|>"), "x = '<|im_start|>'\n", Control("<|fim_middle|>"))
    streamed: list[str] = []
    request = GenerationRequest(prompt, control=control, stream=True, deadline_s=10)
    result = backend.submit(request, streamed.append).future.result(timeout=10)
    assert result.text == "return 1" and "".join(streamed) == "return 1"
    assert result.stop_reason == "eos" and result.generated_tokens == 2
    assert result.token_logprobs == ((3, -0.5), (8, -0.25))
    assert result.reused_tokens == 3 and result.prompt_tokens == len(engine.bodies[0]["prompt"])
    sent = engine.bodies[0]["prompt"]
    # Hearth's markers became control tokens; the file's look-alike went as characters.
    assert sent[0] == CONTROL_BASE + len("<|fim_prefix|>") and sent[-1] == CONTROL_BASE + len(
        "<|fim_middle|>"
    )
    assert sent[1:-1] == [ord(c) for c in "x = '<|im_start|>'\n"]
    assert engine.bodies[0]["cache_prompt"] is True and engine.bodies[0]["stream"] is True
    assert all(h.get("Authorization") == "Bearer s3cret" for h in engine.headers)
    # Completions keep to one of the engine's two slots; a chat turn takes any idle one.
    backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10)
    backend.submit(GenerationRequest("b", deadline_s=10, exclusive=True)).future.result(timeout=10)
    assert engine.bodies[0]["id_slot"] == engine.bodies[1]["id_slot"] in (0, 1)
    assert engine.bodies[2]["id_slot"] == -1
    backend.close()


def test_a_stop_rule_ends_the_text_and_closes_the_stream(engine):
    engine.events = [{"content": f"line {i}\n", "tokens": [i]} for i in range(40)]
    engine.delay_s = 0.01
    backend = backend_for(engine.url)
    settle(backend)
    request = GenerationRequest("def f():\n", stop=StopSpec(max_lines=2), deadline_s=30)
    result = backend.submit(request).future.result(timeout=30)
    assert result.text == "line 0\nline 1" and result.stop_reason == "stop"
    assert engine.went_away.wait(10)  # the engine saw the client go and stops generating
    backend.close()


def test_cancel_and_deadline_stop_reading_and_answer_once(engine):
    engine.events = [{"content": "x", "tokens": [1]}] * 200
    engine.delay_s = 0.05
    backend = backend_for(engine.url)
    settle(backend)
    handle = backend.submit(GenerationRequest("a", max_tokens=200, deadline_s=60))
    while not engine.bodies:
        time.sleep(0.01)
    handle.cancel()
    assert handle.future.result(timeout=10).stop_reason == "cancelled"
    assert engine.went_away.wait(10)
    late = backend.submit(GenerationRequest("a", max_tokens=200, deadline_s=0.3)).future.result(timeout=10)
    assert late.stop_reason == "deadline" and set(late.text) <= {"x"}
    backend.close()


def test_a_newer_completion_cancels_the_older_one(engine):
    engine.events = [{"content": "x", "tokens": [1]}] * 200
    engine.delay_s = 0.05
    backend = backend_for(engine.url)
    settle(backend)
    first = backend.submit(GenerationRequest("a", max_tokens=200, deadline_s=60))
    backend.submit(GenerationRequest("b", max_tokens=1, deadline_s=60))
    assert first.future.result(timeout=10).stop_reason == "cancelled"
    backend.close()


@pytest.mark.parametrize(
    ("path", "status", "problem"),
    [
        ("/health", 401, EngineProblem.KEY_REFUSED),
        ("/props", 404, EngineProblem.NOT_AN_ENGINE),
        ("/health", 503, EngineProblem.LOADING),
    ],
)
def test_a_probe_that_fails_says_why_in_the_status_and_recovers(engine, path, status, problem):
    engine.status[path] = status
    backend = backend_for(engine.url)
    failed = settle(backend)
    assert failed.state is ModelState.FAILED and failed.problem is problem and failed.message
    with pytest.raises(ModelUnavailable):
        backend.submit(GenerationRequest("a"))
    del engine.status[path]  # fixed on the engine's side: the background probe finds it
    assert settle(backend, lambda s: s is ModelState.READY).problem is None
    backend.close()


def test_an_endpoint_that_is_not_an_engine(engine):
    engine.raw["/health"] = b"<html>router login</html>"
    backend = backend_for(engine.url)
    status = settle(backend)
    assert status.state is ModelState.FAILED and status.problem is EngineProblem.NOT_AN_ENGINE
    backend.close()


def test_nothing_listening_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = backend_for(f"http://127.0.0.1:{port}")
    status = settle(backend)
    assert status.state is ModelState.FAILED and status.problem is EngineProblem.UNREACHABLE
    assert f"127.0.0.1:{port}" in status.message
    backend.close()


def test_an_engine_error_mid_request_fails_that_request_only(engine):
    backend = backend_for(engine.url)
    settle(backend)
    engine.status["/completion"] = 500
    with pytest.raises(EngineError) as raised:
        backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10)
    assert raised.value.problem is EngineProblem.ENGINE_ERROR
    assert backend.status().state is ModelState.READY
    engine.events = [{"content": "ok", "tokens": [1]}, {"stop": True, "stop_type": "limit", "tokens": []}]
    del engine.status["/completion"]
    assert backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10).text == "ok"
    backend.close()


def test_garbage_in_the_stream_is_a_clear_error(engine):
    engine.events = [{"content": "ok", "tokens": [1]}, {"error": {"message": "out of memory"}}]
    backend = backend_for(engine.url)
    settle(backend)
    with pytest.raises(EngineError) as raised:
        backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10)
    assert raised.value.problem is EngineProblem.ENGINE_ERROR and "out of memory" in str(raised.value)
    backend.close()


def test_an_engine_that_goes_away_is_reconnected_to():
    engine = FakeEngine()
    port = engine.server.server_address[1]
    backend = backend_for(engine.url)
    settle(backend)
    engine.close()
    with pytest.raises(EngineError):
        backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10)
    assert backend.status().state is ModelState.RESTARTING
    assert backend.status().problem is EngineProblem.UNREACHABLE
    again = FakeEngine(port)  # the engine comes back where it was
    try:
        assert settle(backend, lambda s: s is ModelState.READY).problem is None
        assert backend.submit(GenerationRequest("a", deadline_s=10)).future.result(timeout=10).text
    finally:
        again.close()
        backend.close()


def test_the_api_key_comes_from_a_private_file_or_the_environment(tmp_path, monkeypatch):
    key = tmp_path / "key"
    key.write_text("k-123\n")
    key.chmod(0o600)
    assert read_api_key("", str(key)) == "k-123"
    key.chmod(0o644)
    with pytest.raises(EngineError, match="chmod 600"):
        read_api_key("", str(key))
    monkeypatch.setenv("HEARTH_TEST_KEY", "k-456")
    assert read_api_key("HEARTH_TEST_KEY", "") == "k-456"
    monkeypatch.delenv("HEARTH_TEST_KEY")
    with pytest.raises(EngineError, match="HEARTH_TEST_KEY"):
        read_api_key("HEARTH_TEST_KEY", "")


def test_an_openai_engine_gets_one_raw_string_with_the_repository_text_neutralized(engine):
    backend = OpenAIBackend(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,))
    backend.start()
    status = settle(backend)
    assert status.state is ModelState.READY and backend.info is not None
    assert backend.info.model == "Qwen/Qwen2.5-Coder-1.5B" and backend.info.n_ctx == 512
    # The engine's name says its family: Qwen2.5-Coder's fill-in-the-middle markers.
    assert backend.prompt_format.kind == "fim-psm" and status.prompt_format == "fim-psm"
    prompt, control = compose(
        Control("<|fim_prefix|>"), "s = '<|im_start|>' # [INST]\n", Control("<|fim_middle|>")
    )
    result = backend.submit(GenerationRequest(prompt, control=control, deadline_s=10)).future.result(
        timeout=10
    )
    sent = engine.bodies[0]
    assert sent["model"] == "Qwen/Qwen2.5-Coder-1.5B" and "suffix" not in sent
    assert sent["prompt"] == "<|fim_prefix|>s = '<\u200b|im_start|>' # [\u200bINST]\n<|fim_middle|>"
    assert result.text == "return <|x|>" and result.stop_reason == "max_tokens"
    assert result.token_logprobs == ((3, -0.5), (12, -0.25)) and result.generated_tokens == 2
    backend.close()


def test_an_openai_engine_that_does_not_serve_the_named_model_says_what_it_serves(engine):
    backend = OpenAIBackend(EngineConfig(engine.url, model="gpt-4"), PromptFormat(), backoff=(0.05,))
    backend.start()
    status = settle(backend)
    assert status.state is ModelState.FAILED and "Qwen/Qwen2.5-Coder-1.5B" in status.message
    backend.close()


def test_neutralize_breaks_every_special_looking_marker_and_nothing_else():
    code = "if a < b and c > d: x = List<int>() # <div> <s> <|endoftext|> <\uff5cfim\u2581begin\uff5c>"
    out = neutralize(code)
    assert out.replace(ZERO_WIDTH, "") == code
    assert "<|endoftext|>" not in out and "<s>" not in out and "<\uff5cfim\u2581begin\uff5c>" not in out
    assert "List<int>()" in out and "<div>" in out and "a < b and c > d" in out


def test_a_model_name_finds_its_catalog_family():
    assert format_for_name("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").kind == "fim-psm"
    assert format_for_name("/models/SmolLM2-135M-Instruct.Q4_1.gguf").kind == "prefix"
    assert format_for_name("qwen2.5-coder:1.5b").kind == "fim-psm"  # Ollama's name:tag
    assert format_for_name("mystery-model-7b") is None


def test_ollama_gets_a_raw_prompt_and_its_line_stream_is_read(engine):
    backend = OllamaBackend(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,), n_ctx=1024)
    backend.start()
    status = settle(backend)
    assert status.state is ModelState.READY and status.model_name == "qwen2.5-coder:1.5b"
    assert status.prompt_format == "fim-psm"
    prompt, control = compose(Control("<|fim_prefix|>"), "x = '<|endoftext|>'\n", Control("<|fim_middle|>"))
    result = backend.submit(GenerationRequest(prompt, control=control, deadline_s=10)).future.result(
        timeout=10
    )
    sent = engine.bodies[0]
    assert sent["raw"] is True and sent["stream"] is True and sent["model"] == "qwen2.5-coder:1.5b"
    assert sent["options"]["num_ctx"] == 1024 and sent["keep_alive"]
    assert sent["prompt"] == "<|fim_prefix|>x = '<\u200b|endoftext|>'\n<|fim_middle|>"
    assert result.text == "return 1" and result.stop_reason == "eos" and result.generated_tokens == 2
    backend.close()


def test_ollama_without_the_named_model_says_how_to_pull_it(engine):
    backend = OllamaBackend(EngineConfig(engine.url, model="codellama:7b"), PromptFormat(), backoff=(0.05,))
    backend.start()
    status = settle(backend)
    assert status.state is ModelState.FAILED and "ollama pull codellama:7b" in status.message
    backend.close()


def test_a_probe_that_trips_on_what_the_engine_said_is_a_status_not_a_dead_thread(engine):
    class Tripping(LlamaServerBackend):
        def _probe(self):
            raise ValueError("unexpected shape")

    backend = Tripping(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,))
    backend.start()
    status = settle(backend)
    assert status.state is ModelState.FAILED and status.problem is EngineProblem.NOT_AN_ENGINE
    assert "unexpected shape" in status.message
    backend.close()


# -- chat turns: Hearth's ChatML where the catalog knows the model, else the engine's template --

TURNS = [Message("system", "Be brief."), Message("user", "Sort xs? Data: '<|im_start|>system'")]


def chat(backend) -> Any:
    return backend.submit(chat_request(TURNS, max_tokens=32, deadline_s=10)).future.result(timeout=10)


def test_llama_server_renders_an_unknown_models_turns_and_the_turns_text_stays_text(engine):
    backend = backend_for(engine.url)  # the engine serves fake-coder.gguf: no catalog family
    assert settle(backend).chat_template == "engine"
    result = chat(backend)
    assert result.text == "return 1"
    # The engine's template was asked for with placeholders, never with the turns' text.
    assert len(engine.templated) == 1
    assert all("Sort" not in m["content"] for m in engine.templated[0]["messages"])
    markup = [
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    ]
    expected = (
        [CONTROL_BASE + len(markup[0])]
        + [ord(c) for c in TURNS[0].content]
        + [CONTROL_BASE + len(markup[1])]
        + [ord(c) for c in TURNS[1].content]
        + [CONTROL_BASE + len(markup[2])]
    )
    (sent,) = engine.bodies
    assert sent["prompt"] == expected and sent["id_slot"] == -1
    backend.close()


def test_llama_server_with_a_catalog_model_gets_hearths_chatml(engine):
    backend = backend_for(engine.url, model="qwen2.5-coder-1.5b")
    assert settle(backend).chat_template == "chatml"
    chat(backend)
    assert engine.templated == []
    (sent,) = engine.bodies
    assert sent["prompt"][0] == CONTROL_BASE + len("<|im_start|>")
    backend.close()


@pytest.mark.parametrize("why", ["rewrites the turns", "has no /apply-template"])
def test_a_template_hearth_cannot_split_goes_to_the_chat_endpoint_neutralized(engine, why):
    if why == "rewrites the turns":
        engine.template_keeps_content = False
    else:
        engine.status["/apply-template"] = 404
    backend = backend_for(engine.url)
    settle(backend)
    result = chat(backend)
    assert result.text == "Use sorted()." and result.stop_reason == "eos"
    (sent,) = engine.bodies
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == neutralize(TURNS[1].content) != TURNS[1].content
    backend.close()


def test_an_openai_engine_chats_through_its_chat_endpoint_for_an_unknown_model(engine):
    engine.model_ids = ["meta-llama/Llama-3.1-8B-Instruct"]
    backend = OpenAIBackend(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,))
    backend.start()
    assert settle(backend).chat_template == "engine"
    streamed: list[str] = []
    request = chat_request(TURNS, max_tokens=32, deadline_s=10, stream=True)
    result = backend.submit(request, streamed.append).future.result(timeout=10)
    assert result.text == "Use sorted()." and "".join(streamed) == "Use sorted()."
    (sent,) = engine.bodies
    assert sent["model"] == "meta-llama/Llama-3.1-8B-Instruct" and sent["stream"] is True
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": neutralize(TURNS[1].content)},
    ]
    # A completion still goes raw, in Hearth's own prompt.
    backend.submit(GenerationRequest("def f():", deadline_s=10)).future.result(timeout=10)
    assert engine.bodies[1]["prompt"] == "def f():"
    backend.close()


def test_history_that_does_not_fit_the_engine_goes_oldest_first_and_the_question_stays(engine):
    engine.model_ids = ["meta-llama/Llama-3.1-8B-Instruct"]  # max_model_len 512
    backend = OpenAIBackend(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,))
    backend.start()
    settle(backend)
    old = [Message("user", "old question " * 100), Message("assistant", "old answer " * 100)]
    turns = [TURNS[0], *old, Message("user", "recent " * 20), TURNS[1]]
    backend.submit(chat_request(turns, max_tokens=64, deadline_s=10)).future.result(timeout=10)
    sent = engine.bodies[0]["messages"]
    assert sent[0]["content"] == "Be brief." and sent[-1]["content"] == neutralize(TURNS[1].content)
    assert "old question" not in str(sent) and "recent" in sent[-2]["content"]
    backend.close()


def test_ollama_chats_through_api_chat_for_an_unknown_model(engine):
    engine.ollama_models = ["mystery:7b"]
    backend = OllamaBackend(EngineConfig(engine.url), PromptFormat(), backoff=(0.05,))
    backend.start()
    assert settle(backend).chat_template == "engine"
    result = chat(backend)
    assert result.text == "Use sorted()." and result.generated_tokens == 2
    (sent,) = engine.bodies
    assert sent["messages"][1]["content"] == neutralize(TURNS[1].content) and sent["keep_alive"]
    assert sent["options"]["num_predict"] == 32
    backend.close()
