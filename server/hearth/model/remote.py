"""Generation on a shared engine over HTTP, behind `ModelBackend`: llama.cpp's `llama-server`,
any OpenAI-compatible `/v1/completions` (vLLM, llama-cpp-python's server), and Ollama.

Hearth still builds every prompt (format, context block, window) and sends it
raw, so every engine evaluates what the embedded model would, and its KV cache
is reused while typing. Chat and edit turns for a model the catalog does not
know are rendered by the engine's own template instead: llama-server's
`/apply-template` (its markup as control tokens, the turns' text as text), or
the chat endpoint of engines that take only strings. Repository text never
becomes a control token there: llama-server gets token ids (its tokenizer reads the text parts with special
tokens off, only Hearth's own markers with them on); engines that take only a
string get the text with anything that looks like a special token broken
(`neutralize`).

The engine is a separate machine's business: every call runs on a background
thread, a request is stopped by closing its connection (the engines stop
generating when the client goes), and an engine that is down, refuses the key
or answers something that is not an engine becomes one typed status problem
with a fix, while a background probe waits for it to come back.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import random
import re
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hearth.model.backend import (
    Control,
    EngineProblem,
    GenerationRequest,
    GenerationResult,
    ModelBusy,
    ModelState,
    ModelStatus,
    ModelUnavailable,
    PromptProgress,
    Spans,
    StatusBoard,
    TextCallback,
    compose,
)
from hearth.model.catalog import PromptFormat, format_for_name
from hearth.model.lead import start_grammar
from hearth.model.stopping import Unfolding
from hearth.model.tokenizer import fit_context

log = logging.getLogger(__name__)

IDLE_CONNECTIONS = 4
"""Keep-alive connections kept open to the engine (one per request in flight, typically two)."""


class EngineError(ModelUnavailable):
    def __init__(self, problem: EngineProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class EngineConfig:
    endpoint: str
    """Base URL, e.g. http://127.0.0.1:8080."""
    model: str = ""
    """What the engine serves, for the status (and engines that serve several)."""
    api_key: str = ""
    tls_verify: bool = True
    connect_timeout_s: float = 3.0


def read_api_key(env_name: str, file_name: str) -> str:
    """The key from the environment variable or the file the settings name ("" for none).

    A key file others can read is refused: it would be a secret in the open.
    """
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            raise EngineError(EngineProblem.KEY_REFUSED, f"the API key variable {env_name} is not set")
        return value.strip()
    if not file_name:
        return ""
    path = Path(file_name).expanduser()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise EngineError(
                EngineProblem.KEY_REFUSED,
                f"the API key file {path} can be read by others; make it private: chmod 600 {path}",
            )
        return path.read_text("utf-8").strip()
    except OSError as exc:
        raise EngineError(EngineProblem.KEY_REFUSED, f"cannot read the API key file {path}: {exc}") from exc


class _Http:
    """JSON and server-sent events over one keep-alive pool; every call can be cut from outside."""

    def __init__(self, config: EngineConfig) -> None:
        parts = urlsplit(config.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(EngineProblem.NOT_AN_ENGINE, f"the endpoint {config.endpoint!r} is not a URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._config = config
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context()
        if not config.tls_verify:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        timeout = self._config.connect_timeout_s
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._tls)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        return headers

    def _send(
        self, method: str, path: str, body: Any, timeout: float, opened: Callable[[Any], None] | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        payload = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(2):
            conn = self._connection()
            fresh = conn.sock is None
            try:
                if fresh:
                    conn.connect()  # within the connect timeout the connection was made with
                assert conn.sock is not None
                conn.sock.settimeout(timeout)
                conn.request(method, self._base + path, body=payload, headers=self._headers())
                if opened is not None:
                    opened(conn)
                return conn, conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the engine closed meanwhile: once more on a new one.
                if fresh or attempt:
                    raise EngineError(EngineProblem.UNREACHABLE, _unreachable(self.endpoint, exc)) from exc
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        conn, response = self._send(method, path, body, timeout)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise EngineError(EngineProblem.UNREACHABLE, _unreachable(self.endpoint, exc)) from exc
        _check_status(response.status, data, self.endpoint, path)
        self._give_back(conn)
        return _parse(data, self.endpoint, path)

    def events(
        self, path: str, body: Any, timeout: float, opened: Callable[[Any], None], ndjson: bool = False
    ) -> Generator[dict[str, Any], None, None]:
        """The JSON objects of a server-sent event stream (or one per line: `ndjson`), until it ends
        (`stop` or `done` true, or `[DONE]`) or is cut."""
        conn, response = self._send("POST", path, body, timeout, opened)
        if response.status != 200:
            data = response.read()
            conn.close()
            _check_status(response.status, data, self.endpoint, path)
        finished = False
        kept = False
        try:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if ndjson and line:
                    line = "data:" + line
                if not line.startswith("data:"):
                    continue  # comments (pings), event names, blank separators
                payload = line[5:].strip()
                if payload == "[DONE]":  # the OpenAI API's end of stream
                    finished = True
                    break
                event = _parse(payload.encode("utf-8"), self.endpoint, path)
                if not isinstance(event, dict):
                    why = f"{self.endpoint}{path} streamed {payload[:80]!r}"
                    raise EngineError(EngineProblem.NOT_AN_ENGINE, why)
                if "error" in event:
                    raise EngineError(EngineProblem.ENGINE_ERROR, f"the engine failed: {_error_text(event)}")
                yield event
                if event.get("stop") is True or event.get("done") is True:
                    finished = True
                    break
            # The engine sends nothing after its last event: the connection can serve again.
            if finished and not response.read():
                self._give_back(conn)
                kept = True
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(EngineProblem.UNREACHABLE, _unreachable(self.endpoint, exc)) from exc
        finally:
            if not kept:  # left early (a stop rule, a cancel, an error): the engine stops with it
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _unreachable(endpoint: str, exc: BaseException) -> str:
    why = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else str(exc) or type(exc).__name__
    return f"the engine at {endpoint} is unreachable ({why})"


def _parse(data: bytes, endpoint: str, path: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        shown = data[:60].decode("utf-8", errors="replace")
        why = f"{endpoint}{path} answered {shown!r}, not JSON: is this a llama.cpp server?"
        raise EngineError(EngineProblem.NOT_AN_ENGINE, why) from exc


def _error_text(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error if error is not None else body)[:200]


def _check_status(status: int, data: bytes, endpoint: str, path: str) -> None:
    if status < 300:
        return
    try:
        why = _error_text(json.loads(data))
    except ValueError:
        why = data[:120].decode("utf-8", errors="replace")
    if status in (401, 403):
        raise EngineError(
            EngineProblem.KEY_REFUSED,
            f"the engine at {endpoint} refused the API key ({status}: {why}); set apiKeyEnv or apiKeyFile "
            "to the key the engine was started with",
        )
    if status == 503:
        raise EngineError(EngineProblem.LOADING, f"the engine at {endpoint} is not ready yet ({why})")
    if status == 404:
        raise EngineError(
            EngineProblem.NOT_AN_ENGINE,
            f"{endpoint}{path} does not exist (404): is this a llama.cpp server (backend llamacpp)?",
        )
    raise EngineError(EngineProblem.ENGINE_ERROR, f"the engine at {endpoint} answered {status}: {why}")


@dataclass(frozen=True)
class EngineInfo:
    """What the probe learned: shown by `hearth doctor` and used to fit prompts."""

    model: str
    n_ctx: int
    slots: int
    round_trip_ms: float


class _Job:
    def __init__(self, job_id: int, request: GenerationRequest, on_text: TextCallback | None) -> None:
        self.id = job_id
        self.request = request
        self.on_text = on_text
        self.future: Future[GenerationResult] = Future()
        self.stopped: str | None = None
        """Why the client cut the stream: cancelled or deadline."""
        self.evaluating: PromptProgress | None = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def opened(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            stopped = self.stopped
        if stopped is not None:
            self._cut()

    def stop(self, why: str) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = why
        self._cut()

    def _cut(self) -> None:
        # Shutting the socket down wakes the thread blocked reading it; the engine sees the
        # connection go and stops generating.
        conn = self._conn
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handle:
    def __init__(self, job: _Job) -> None:
        self._job = job

    @property
    def future(self) -> Future[GenerationResult]:
        return self._job.future

    def cancel(self) -> None:
        self._job.stop("cancelled")


@dataclass(frozen=True)
class Piece:
    """What one streamed event says, in an engine's own fields read into common ones."""

    text: str = ""
    logprobs: tuple[float, ...] = ()
    """One per token the event carries."""
    predicted: int | None = None
    """Tokens generated so far, where the engine counts them."""
    reused: int | None = None
    """Prompt tokens the engine's KV cache held."""
    evaluated: int | None = None
    """Prompt tokens read so far."""
    stop_reason: str | None = None
    """eos, max_tokens or stop, on the event that ends the stream."""


@dataclass(frozen=True)
class Outgoing:
    path: str
    body: dict[str, Any]
    prompt_tokens: int
    """Exact where the engine tokenized it, else an estimate."""
    chat: bool = False
    """Sent to the engine's chat endpoint: its stream is read by `_chat_piece`."""


class EngineBackend:
    """A `ModelBackend` on a shared engine over HTTP; subclasses speak each engine's API."""

    kind = ""
    NDJSON = False
    """The engine streams one JSON object per line, not server-sent events."""

    def __init__(
        self,
        config: EngineConfig,
        prompt_format: PromptFormat,
        backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self.prompt_format = prompt_format
        """How prompts are built for the engine's model: from `remoteModel`, else from the name the
        engine reports (see `catalog.format_for_name`)."""
        self._backoff = backoff
        self._clock = clock
        self._http = _Http(config)
        self._lock = threading.RLock()
        self._jobs: dict[int, _Job] = {}
        self._next_id = 1
        self._closed = threading.Event()
        self._probing = False
        self._ever_ready = False
        self.info: EngineInfo | None = None
        self._engine_chat = False
        """The model's chat template is the engine's to render (the catalog does not know it)."""
        self._board = StatusBoard(
            ModelStatus(
                ModelState.STARTING,
                model_name=config.model,
                prompt_format=prompt_format.kind,
                engine=config.endpoint,
                backend=self.kind,
            )
        )

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._probe_in_background()

    def restart(self) -> None:
        self._probe_in_background()

    def close(self) -> None:
        self._closed.set()
        self._board.closed = True
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop("cancelled")
        self._http.close()
        self._set_status(ModelState.STOPPED, "")

    def _probe_in_background(self) -> None:
        with self._lock:
            if self._probing or self._closed.is_set():
                return
            self._probing = True
        threading.Thread(target=self._probe_until_ready, name="hearth-engine-probe", daemon=True).start()

    def _probe_until_ready(self) -> None:
        attempt = 0
        try:
            while not self._closed.is_set():
                try:
                    self.info = self.probe()
                except Exception as raised:  # whatever the engine answered, the probe goes on
                    exc = (
                        raised
                        if isinstance(raised, EngineError)
                        else EngineError(
                            EngineProblem.NOT_AN_ENGINE,
                            f"{self._config.endpoint} answered what Hearth cannot read ({raised!r:.120})",
                        )
                    )
                    delay = self._backoff[min(attempt, len(self._backoff) - 1)]
                    attempt += 1
                    # Never served yet: a settled failure the user can act on (a CLI run ends
                    # with it); lost after serving: coming back is expected.
                    state = ModelState.RESTARTING if self._ever_ready else ModelState.FAILED
                    # One message per problem (the editor shows a failure once per message).
                    self._set_status(state, f"{exc}; Hearth keeps trying", problem=exc.problem)
                    if self._closed.wait(delay):
                        return
                    continue
                self._ever_ready = True
                name = self.info.model or self._config.model
                if not self._config.model:
                    self.prompt_format = format_for_name(name) or self.prompt_format
                known = format_for_name(self._config.model or name)
                self._engine_chat = known is None or not known.chat
                self._set_status(
                    ModelState.READY,
                    "",
                    model_name=name,
                    model_path=name,
                    prompt_format=self.prompt_format.kind,
                    chat_template="engine" if self._engine_chat else "chatml",
                )
                log.info("engine ready: %s (%s, n_ctx %d)", self._config.endpoint, name, self.info.n_ctx)
                return
        finally:
            with self._lock:
                self._probing = False

    def probe(self) -> EngineInfo:
        """Ask the engine what it serves; EngineError says what is wrong and how to fix it."""
        raise NotImplementedError

    # -- status --------------------------------------------------------------

    def status(self) -> ModelStatus:
        with self._lock:
            reading = [job.evaluating for job in self._jobs.values()]
        return self._board.with_progress(reading)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._board.add_listener(listener)

    def _set_status(self, state: ModelState, message: str, **changes: Any) -> None:
        changes.setdefault("problem", None)  # a new state clears the last problem unless it names one
        self._board.set(state, message, **changes)

    def _lost(self, error: EngineError) -> None:
        """A request found the engine gone or the key refused: say so, and probe in the background."""
        lost = error.problem in (EngineProblem.UNREACHABLE, EngineProblem.KEY_REFUSED)
        if lost and self._board.current.state is ModelState.READY:
            self._set_status(ModelState.RESTARTING, f"{error}; reconnecting", problem=error.problem)
            self._probe_in_background()

    # -- requests ------------------------------------------------------------

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> _Handle:
        with self._lock:
            current = self._board.current
            if current.state is not ModelState.READY or self.info is None:
                raise ModelUnavailable(current.message or f"the engine is {current.state.value}")
            running = [job for job in self._jobs.values() if not job.future.done()]
            # With one slot a chat turn holds the engine, as it holds the local model; with more,
            # completions go on beside it.
            if self.info.slots == 1 and not request.exclusive and any(j.request.exclusive for j in running):
                raise ModelBusy("the engine is answering a chat or edit request")
            job = _Job(self._next_id, request, on_text)
            self._next_id += 1
            self._jobs[job.id] = job
        if not request.exclusive:
            # Newest wins among completions, as on the local model.
            for older in running:
                if not older.request.exclusive:
                    older.stop("cancelled")
        threading.Thread(target=self._run, args=(job,), name="hearth-engine-request", daemon=True).start()
        return _Handle(job)

    def _run(self, job: _Job) -> None:
        try:
            result = self._generate(job)
        except EngineError as exc:
            if job.stopped is not None:
                result = GenerationResult(text="", stop_reason=job.stopped)
            else:
                self._lost(exc)
                job.future.set_exception(exc)
                return
        except Exception as exc:  # a bug here must not leave the caller waiting forever
            log.exception("engine request failed")
            job.future.set_exception(ModelUnavailable(f"engine request failed: {exc}"))
            return
        finally:
            with self._lock:
                self._jobs.pop(job.id, None)
        job.future.set_result(result)

    def _outgoing(self, request: GenerationRequest) -> Outgoing:
        """The request in the engine's API."""
        raise NotImplementedError

    def _piece(self, event: dict[str, Any]) -> Piece:
        raise NotImplementedError

    def _by_engine_template(self, request: GenerationRequest) -> bool:
        """A chat or edit turn for a model whose template only the engine knows."""
        return self._engine_chat and bool(request.turns)

    CHARS_PER_TOKEN = 3.0
    """For fitting text without the engine's tokenizer: code runs 3-4 characters a token."""

    def _estimated_tokens(self, chars: int) -> int:
        """A prompt's tokens, where the engine does not count them for Hearth."""
        return max(1, round(chars / self.CHARS_PER_TOKEN))

    def _fitted_turns(self, request: GenerationRequest) -> list[dict[str, str]]:
        """The turns for a chat endpoint, repository text neutralized (the engine tokenizes its
        rendered template with special tokens on), cut by an estimate to leave room for the
        answer: the oldest history goes first, then the middle of the question."""
        assert self.info is not None
        room = int(max(16, self.info.n_ctx - request.max_tokens - 64) * self.CHARS_PER_TOKEN)
        turns = [{"role": t.role, "content": neutralize(t.content)} for t in request.turns]
        while len(turns) > 2 and sum(len(t["content"]) for t in turns) > room:
            del turns[1]
        over = sum(len(t["content"]) for t in turns) - room
        if over > 0:
            content = turns[-1]["content"]
            keep = max(0, len(content) - over)
            turns[-1]["content"] = content[: keep // 2] + "\n...\n" + content[len(content) - keep // 2 :]
        return turns

    def _openai_body(self, request: GenerationRequest) -> dict[str, Any]:
        """Sampling in the OpenAI APIs' terms, for a completion or a chat turn."""
        assert self.info is not None
        body: dict[str, Any] = {
            "model": self.info.model,
            "max_tokens": request.max_tokens,
            "temperature": max(0.0, request.temperature),
            "top_p": 1.0 if request.temperature <= 0 else 0.95,
            "stream": True,
            "seed": request.seed,
            # Both spellings: llama.cpp's servers read the first, vLLM the second.
            "repeat_penalty": request.repeat_penalty,
            "repetition_penalty": request.repeat_penalty,
        }
        grammar = engine_grammar(request)
        if grammar:
            body["grammar"] = grammar
            body["structured_outputs"] = {"grammar": grammar}
        return body

    def _chat_outgoing(self, request: GenerationRequest) -> Outgoing:
        """The OpenAI chat API, which llama.cpp's server and vLLM both serve."""
        turns = self._fitted_turns(request)
        body = {**self._openai_body(request), "messages": turns}
        chars = sum(len(t["content"]) for t in turns)
        return Outgoing("/v1/chat/completions", body, self._estimated_tokens(chars), chat=True)

    def _chat_piece(self, event: dict[str, Any]) -> Piece:
        choice = _first_choice(event)
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        return Piece(text=_plain(text), stop_reason=_finish(choice.get("finish_reason")))

    def _generate(self, job: _Job) -> GenerationResult:
        started = self._clock()
        deadline = threading.Timer(job.request.deadline_s, job.stop, args=("deadline",))
        deadline.daemon = True
        deadline.start()
        try:
            return self._read(job, self._outgoing(job.request), started)
        finally:
            deadline.cancel()

    def _read(self, job: _Job, outgoing: Outgoing, started: float) -> GenerationResult:
        request = job.request
        stream = job.on_text if request.stream else None
        unfolding = Unfolding(request.stop, stream)
        text = ""
        ends: list[int] = []
        logprobs: list[float] = []
        stop_reason = "max_tokens"
        reused = generated = 0
        first_token_at: float | None = None
        timeout = request.deadline_s + self._config.connect_timeout_s
        prompt_tokens = outgoing.prompt_tokens
        job.evaluating = PromptProgress(0, prompt_tokens)
        events = self._http.events(outgoing.path, outgoing.body, timeout, job.opened, self.NDJSON)
        read = self._chat_piece if outgoing.chat else self._piece
        try:
            for event in events:
                piece = read(event)
                if piece.evaluated is not None:
                    job.evaluating = PromptProgress(piece.evaluated, prompt_tokens)
                reused = piece.reused if piece.reused is not None else reused
                generated = (
                    piece.predicted if piece.predicted is not None else generated + len(piece.logprobs)
                )
                if piece.text:
                    if first_token_at is None:
                        first_token_at = self._clock()
                    text += piece.text
                    for logprob in piece.logprobs:
                        logprobs.append(logprob)
                        ends.append(len(text))
                    ended_by = unfolding.grow(text)
                    if ended_by is not None:
                        stop_reason = ended_by
                        break
                if piece.stop_reason is not None:
                    stop_reason = piece.stop_reason
        except EngineError:
            if job.stopped is None:
                raise
        finally:
            events.close()
            job.evaluating = None
        if job.stopped is not None and stop_reason not in ("stop", "repetition"):
            stop_reason = job.stopped
        final = unfolding.end(stop_reason)
        ended = self._clock()
        first = first_token_at or ended
        return GenerationResult(
            text=final,
            stop_reason=stop_reason,
            prompt_tokens=prompt_tokens,
            reused_tokens=min(reused, prompt_tokens),
            generated_tokens=generated,
            prompt_ms=(first - started) * 1000,
            decode_ms=(ended - first) * 1000,
            token_logprobs=tuple(zip(ends, logprobs, strict=True)),
        )


class LlamaServerBackend(EngineBackend):
    """llama.cpp's HTTP server: `/completion` with token ids, `/tokenize`, `/props`."""

    kind = "llamacpp"
    _slot = 0
    """The slot this editor's completions use (see `_outgoing`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._control: dict[str, list[int]] = {}
        """Hearth's own markers as the engine's token ids: the same few, asked for once."""

    def _probe(self) -> EngineInfo:
        started = self._clock()
        health = self._http.json("GET", "/health", timeout=self._config.connect_timeout_s + 5)
        round_trip = (self._clock() - started) * 1000
        if not isinstance(health, dict):
            why = f"{self._config.endpoint}/health answered {health!r:.80}"
            raise EngineError(EngineProblem.NOT_AN_ENGINE, why)
        props = self._http.json("GET", "/props", timeout=self._config.connect_timeout_s + 5)
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        if not isinstance(settings, dict) or not isinstance(settings.get("n_ctx"), int):
            raise EngineError(
                EngineProblem.NOT_AN_ENGINE,
                f"{self._config.endpoint}/props does not describe a llama.cpp server (no n_ctx)",
            )
        # /health and /props may be open to all; tokenizing needs the key, as generating does.
        self._tokens("ping", control=False)
        model = Path(str(props.get("model_alias") or props.get("model_path") or "")).name
        slots = props.get("total_slots")
        return EngineInfo(
            model=str(model or self._config.model),
            n_ctx=int(settings["n_ctx"]),
            slots=slots if isinstance(slots, int) and slots > 0 else 1,
            round_trip_ms=round_trip,
        )

    def _tokens(self, text: str, control: bool) -> list[int]:
        if control and text in self._control:
            return self._control[text]
        body = {"content": text, "add_special": False, "parse_special": control}
        reply = self._http.json("POST", "/tokenize", body, timeout=self._config.connect_timeout_s + 10)
        tokens = reply.get("tokens") if isinstance(reply, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            why = f"{self._config.endpoint}/tokenize answered {reply!r:.80}"
            raise EngineError(EngineProblem.NOT_AN_ENGINE, why)
        if control:
            self._control[text] = tokens
        return tokens

    def _ids(self, text: str, control: Spans) -> list[int]:
        """Token ids: repository text as plain text, Hearth's own markers as control tokens."""
        tokens: list[int] = []
        at = 0
        for start, end in (*control, (len(text), len(text))):
            if start > at:
                tokens += self._tokens(text[at:start], control=False)
            if end > start and start < len(text):
                tokens += self._tokens(text[start:end], control=True)
            at = max(at, end)
        return tokens

    def _prompt(self, request: GenerationRequest) -> list[int]:
        assert self.info is not None
        head = request.prompt[: request.keep_head]
        return fit_context(
            self._ids(request.prompt, request.control),
            self.info.n_ctx,
            request.max_tokens,
            lambda: self._ids(head, request.control) if head else [],
        )

    def _templated(self, request: GenerationRequest) -> GenerationRequest | None:
        """The turns rendered by the engine's own template (`/apply-template`), with the template's
        markup as control text and each turn's content as plain text, so repository text still
        goes as text tokens; None where the template does not keep the contents as given."""
        mark = f"HEARTH{random.getrandbits(48):012x}TURN"
        marked = [{"role": t.role, "content": f"{mark}{i}{mark}"} for i, t in enumerate(request.turns)]
        try:
            reply = self._http.json(
                "POST", "/apply-template", {"messages": marked}, timeout=self._config.connect_timeout_s + 10
            )
        except EngineError as exc:
            if exc.problem in (EngineProblem.UNREACHABLE, EngineProblem.KEY_REFUSED):
                raise
            return None  # an older server without the endpoint, or a template it cannot apply
        rendered = reply.get("prompt") if isinstance(reply, dict) else None
        if not isinstance(rendered, str):
            return None
        parts: list[str | Control] = []
        at = 0
        keep_head = 0
        for i, turn in enumerate(request.turns):
            sentinel = f"{mark}{i}{mark}"
            found = rendered.find(sentinel, at)
            if found < 0:
                return None
            parts += [Control(rendered[at:found]), turn.content]
            at = found + len(sentinel)
            if i == 1:  # the system turn and the markup after it survive a cut
                keep_head = sum(len(p.text if isinstance(p, Control) else p) for p in parts[:-1])
        parts.append(Control(rendered[at:]))
        prompt, control = compose(*parts)
        return replace(request, prompt=prompt, control=control, keep_head=keep_head, turns=())

    def _outgoing(self, request: GenerationRequest) -> Outgoing:
        if self._by_engine_template(request):
            templated = self._templated(request)
            if templated is None:
                return self._chat_outgoing(request)
            request = templated
        prompt = self._prompt(request)
        greedy = request.temperature <= 0
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": request.max_tokens,
            "stream": True,
            "cache_prompt": request.use_prompt_cache,
            "n_probs": 1,
            "temperature": max(0.0, request.temperature),
            "top_k": 1 if greedy else 40,
            "top_p": 0.95,
            "min_p": 0.05,
            "repeat_penalty": request.repeat_penalty,
            "seed": request.seed,
            "timings_per_token": True,
            "return_progress": True,
            # Completions keep to one slot, so that its KV cache holds this editor's last prompt:
            # left to pick, the engine takes another idle slot while the last request's is still
            # winding down after a cut stream, and evaluates the prompt cold there. Chat turns
            # take any idle slot and leave that cache alone.
            "id_slot": -1 if request.exclusive else self._slot,
        }
        grammar = engine_grammar(request)
        if grammar:
            body["grammar"] = grammar
        return Outgoing("/completion", body, len(prompt))

    def probe(self) -> EngineInfo:
        info = self._probe()
        # Editors that share the engine spread over its slots by chance; each keeps to its own.
        self._slot = random.randrange(info.slots)
        return info

    def _piece(self, event: dict[str, Any]) -> Piece:
        progress = event.get("prompt_progress")
        timings = event.get("timings")
        content = event.get("content")
        predicted = event.get("tokens_predicted")  # progress events carry a placeholder token
        probabilities = event.get("completion_probabilities") or ()
        stop_type = event.get("stop_type") if event.get("stop") is True else None
        return Piece(
            text=content if isinstance(content, str) else "",
            logprobs=tuple(
                float(p["logprob"])
                for p in probabilities
                if isinstance(p, dict) and isinstance(p.get("logprob"), int | float)
            ),
            predicted=predicted if isinstance(predicted, int) else None,
            reused=timings["cache_n"]
            if isinstance(timings, dict) and isinstance(timings.get("cache_n"), int)
            else None,
            evaluated=int(progress.get("processed", 0)) if isinstance(progress, dict) else None,
            stop_reason=None if stop_type is None else _LLAMA_STOPS.get(str(stop_type), "max_tokens"),
        )


_LLAMA_STOPS = {"eos": "eos", "limit": "max_tokens", "word": "stop"}


ZERO_WIDTH = "\u200b"
_KNOWN_SPECIAL = (
    "<s>", "</s>", "<unk>", "<pad>", "<PRE>", "<SUF>", "<MID>", "<EOT>", "[INST]", "[/INST]", "<<SYS>>",
    "<</SYS>>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<file_sep>", "<repo_name>",
    "<reponame>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>",
    "<commit_before>", "<commit_msg>", "<commit_after>",
)  # fmt: skip
_LOOKS_SPECIAL = re.compile(
    r"<\|[^\s|<>]{1,48}\|>|<\uff5c[^\n\uff5c]{1,48}\uff5c>|" + "|".join(re.escape(t) for t in _KNOWN_SPECIAL)
)
"""What engines parse as special tokens in a text prompt: <|...|> (ChatML, Qwen, GPT), its fullwidth
form (DeepSeek) and the markers of the StarCoder, CodeLlama and Llama 2 families."""


def neutralize(text: str) -> str:
    """Repository text that an engine would read as control tokens, made plain text.

    An OpenAI-compatible engine takes a string and tokenizes it with special
    tokens on (llama-cpp-python's server and vLLM do), so a file containing
    `<|im_start|>system` could open a system turn there. A zero-width space
    after the first character keeps the text as it reads and breaks the
    match; engines that take token ids (llama.cpp's own server) need none of it.
    """
    return _LOOKS_SPECIAL.sub(lambda match: match.group(0)[0] + ZERO_WIDTH + match.group(0)[1:], text)


class OpenAIBackend(EngineBackend):
    """Any OpenAI-compatible `/v1/completions`: vLLM, llama-cpp-python's server, SGLang, LM Studio.

    The prompt goes raw as one string (never `suffix`, which vLLM does not
    implement), with the repository's text neutralized. Token counts are the
    engine's where it streams them, else estimated; a grammar goes as
    `grammar` (llama.cpp-based servers) and vLLM's structured outputs, and an
    engine that ignores both leaves the edit agent's own checks and retries.
    """

    kind = "openai"

    def __init__(self, *args: Any, n_ctx: int = 4096, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._n_ctx = n_ctx

    def probe(self) -> EngineInfo:
        started = self._clock()
        listing = self._http.json("GET", "/v1/models", timeout=self._config.connect_timeout_s + 5)
        round_trip = (self._clock() - started) * 1000
        data = listing.get("data") if isinstance(listing, dict) else None
        served = [m for m in data or () if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if not served:
            raise EngineError(
                EngineProblem.NOT_AN_ENGINE, f"{self._config.endpoint}/v1/models lists no model"
            )
        wanted = self._config.model
        chosen = next((m for m in served if m["id"] == wanted), None) if wanted else served[0]
        if chosen is None:
            names = ", ".join(str(m["id"]) for m in served[:5])
            raise EngineError(
                EngineProblem.ENGINE_ERROR,
                f"the engine at {self._config.endpoint} does not serve {wanted!r} (it serves {names}); "
                "set remoteModel to one of them",
            )
        n_ctx = chosen.get("max_model_len")  # vLLM says it; others leave the setting to say it
        return EngineInfo(
            model=str(chosen["id"]),
            n_ctx=n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else self._n_ctx,
            slots=8,  # these engines batch requests: a chat turn does not hold completions up
            round_trip_ms=round_trip,
        )

    def _text(self, request: GenerationRequest) -> str:
        parts: list[str] = []
        at = 0
        text = request.prompt
        for start, end in (*request.control, (len(text), len(text))):
            if start > at:
                parts.append(neutralize(text[at:start]))
            parts.append(text[start:end])
            at = max(at, end)
        return "".join(parts)

    def _fitted(self, request: GenerationRequest) -> str:
        """The prompt as text, cut (by an estimate of its tokens) to leave room for the answer."""
        assert self.info is not None
        prompt = self._text(request)
        room = int(max(16, self.info.n_ctx - request.max_tokens - 1) * self.CHARS_PER_TOKEN)
        if len(prompt) > room:
            head = self._text(replace(request, prompt=request.prompt[: request.keep_head]))[: room // 2]
            prompt = head + prompt[len(prompt) - (room - len(head)) :]
        return prompt

    def _outgoing(self, request: GenerationRequest) -> Outgoing:
        if self._by_engine_template(request):
            return self._chat_outgoing(request)
        prompt = self._fitted(request)
        body = {**self._openai_body(request), "prompt": prompt, "logprobs": 1}
        return Outgoing("/v1/completions", body, self._estimated_tokens(len(prompt)))

    def _piece(self, event: dict[str, Any]) -> Piece:
        choice = _first_choice(event)
        logprobs = choice.get("logprobs")
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        return Piece(
            text=_plain(choice.get("text")),
            logprobs=tuple(float(v) for v in values or () if isinstance(v, int | float)),
            stop_reason=_finish(choice.get("finish_reason")),
        )


def _first_choice(event: dict[str, Any]) -> dict[str, Any]:
    choices = event.get("choices")
    return choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}


def _plain(text: Any) -> str:
    """Streamed text without the zero-width spaces `neutralize` put in (a model may copy them)."""
    return text.replace(ZERO_WIDTH, "") if isinstance(text, str) else ""


def _finish(reason: Any) -> str | None:
    """An OpenAI or Ollama finish reason as Hearth's stop reason; None while the stream goes on."""
    return None if not reason else "max_tokens" if reason == "length" else "eos"


class OllamaBackend(OpenAIBackend):
    """Ollama's `/api/generate` with `raw: true`: Hearth's prompt, not the model's template (and
    `/api/chat` for chat turns of a model whose template only Ollama knows).

    Written from Ollama's API documentation and tested against fixtures made
    from it; no live Ollama runs here. Ollama reads no GBNF grammar, so an edit
    draft is checked and retried by the agent alone.
    """

    kind = "ollama"
    NDJSON = True
    KEEP_ALIVE = "30m"
    """How long Ollama keeps the model loaded after a request: typing pauses must not unload it."""

    def probe(self) -> EngineInfo:
        started = self._clock()
        tags = self._http.json("GET", "/api/tags", timeout=self._config.connect_timeout_s + 5)
        round_trip = (self._clock() - started) * 1000
        models = tags.get("models") if isinstance(tags, dict) else None
        names = [
            str(m["name"]) for m in models or () if isinstance(m, dict) and isinstance(m.get("name"), str)
        ]
        if not isinstance(models, list):
            raise EngineError(
                EngineProblem.NOT_AN_ENGINE, f"{self._config.endpoint}/api/tags is not Ollama's"
            )
        wanted = self._config.model
        if not names or (wanted and wanted not in names):
            missing = wanted or "a model"
            raise EngineError(
                EngineProblem.ENGINE_ERROR,
                f"Ollama at {self._config.endpoint} has no {missing}: ollama pull {wanted or 'MODEL'}",
            )
        return EngineInfo(model=wanted or names[0], n_ctx=self._n_ctx, slots=1, round_trip_ms=round_trip)

    def _options(self, request: GenerationRequest) -> dict[str, Any]:
        assert self.info is not None
        greedy = request.temperature <= 0
        return {
            "num_predict": request.max_tokens,
            "num_ctx": self.info.n_ctx,
            "temperature": max(0.0, request.temperature),
            "top_k": 1 if greedy else 40,
            "top_p": 1.0 if greedy else 0.95,
            "seed": request.seed,
            "repeat_penalty": request.repeat_penalty,
        }

    def _body(self, request: GenerationRequest, **fields: Any) -> dict[str, Any]:
        """What every Ollama request carries, with the prompt or the turns in `fields`."""
        assert self.info is not None
        return {
            "model": self.info.model,
            **fields,
            "stream": True,
            "keep_alive": self.KEEP_ALIVE,
            "options": self._options(request),
        }

    def _chat_outgoing(self, request: GenerationRequest) -> Outgoing:
        turns = self._fitted_turns(request)
        chars = sum(len(t["content"]) for t in turns)
        body = self._body(request, messages=turns)
        return Outgoing("/api/chat", body, self._estimated_tokens(chars), chat=True)

    def _chat_piece(self, event: dict[str, Any]) -> Piece:
        message = event.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        return replace(_ollama_end(event), text=_plain(text))

    def _outgoing(self, request: GenerationRequest) -> Outgoing:
        if self._by_engine_template(request):
            return self._chat_outgoing(request)
        prompt = self._fitted(request)
        body = self._body(request, prompt=prompt, raw=True, logprobs=True)
        return Outgoing("/api/generate", body, self._estimated_tokens(len(prompt)))

    def _piece(self, event: dict[str, Any]) -> Piece:
        text = event.get("response")
        logprobs = event.get("logprobs")
        values = (
            [p.get("logprob") for p in logprobs or () if isinstance(p, dict)]
            if isinstance(logprobs, list)
            else []
        )
        logprobs_read = tuple(float(v) for v in values if isinstance(v, int | float))
        return replace(_ollama_end(event), text=_plain(text), logprobs=logprobs_read)


def _ollama_end(event: dict[str, Any]) -> Piece:
    """What Ollama's last line of a stream says: why it ended and how many tokens it generated."""
    if event.get("done") is not True:
        return Piece()
    predicted = event.get("eval_count")
    return Piece(
        predicted=predicted if isinstance(predicted, int) else None,
        stop_reason=_finish(event.get("done_reason")) or "eos",
    )


def engine_grammar(request: GenerationRequest) -> str:
    """The grammar an engine gets: the request's, or the start an explicit request at a line start
    must write (an engine takes no logits mask; the grammar costs it a pass over the vocabulary
    for every token, so it goes only where the start must be code). Engines neither heal the
    prompt's last token nor branch into candidates: they answer with one, as written."""
    if request.grammar or not request.lead_then_code:
        return request.grammar
    return start_grammar(request.lead)
