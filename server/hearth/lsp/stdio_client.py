"""A small LSP client speaking plain JSON over a byte stream: a child's stdio, a socket, a pipe.

Benchmarks use it to drive `hearth serve` exactly as an editor would, and
tests use it to send raw, even garbled, bytes. Responses and notifications
are collected by a reader thread; every wait has a timeout.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hearth.lsp.framing import Frame, FrameDecoder, encode_frame


class ResponseTimeout(Exception):
    pass


class LspClient:
    """The protocol over any byte stream: `read(n)` returns b"" at its end, `write` sends all."""

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], Any]) -> None:
        self._read_bytes = read
        self._write_bytes = write
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self.responses: dict[int | str, dict[str, Any]] = {}
        self.response_counts: Counter[int | str] = Counter()
        """How many responses arrived per id (a request must get exactly one)."""
        self.response_times: dict[int | str, float] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.answered = 0
        """Server-to-client requests answered so far (the answer is on the wire)."""
        self.stdout_errors = 0
        self.ended = threading.Event()
        """The server's side of the stream ended."""
        self.on_request: Callable[[dict[str, Any]], Any] = lambda message: None
        """Answers a server-to-client request (default: null, a yes to progress tokens)."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        return not self.ended.is_set()

    def _read(self) -> None:
        decoder = FrameDecoder()
        while True:
            try:
                data = self._read_bytes(65536)
            except OSError:
                data = b""
            if not data:
                break
            now = time.monotonic()
            for event in decoder.feed(data):
                if not isinstance(event, Frame):
                    self.stdout_errors += 1
                    continue
                self._route(event.message, now)
        self.ended.set()
        with self._cond:
            self._cond.notify_all()

    def _route(self, message: dict[str, Any], now: float) -> None:
        with self._cond:
            if "method" in message and "id" in message:
                self.server_requests.append(message)
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": self.on_request(message)})
                self.answered += 1
            elif "method" in message:
                self.notifications.append(message)
            else:
                msg_id = message.get("id")
                if isinstance(msg_id, int | str):
                    self.response_counts[msg_id] += 1
                    self.responses[msg_id] = message
                    self.response_times[msg_id] = now
            self._cond.notify_all()

    # -- sending -------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(encode_frame(message))

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:  # the reader thread answers server requests too
            self._write_bytes(data)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request_nowait(self, method: str, params: Any = None, msg_id: int | str | None = None) -> int | str:
        msg_id = msg_id if msg_id is not None else next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def wait_answered(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` server requests have been answered, and the server has read the answers
        (a request sent after this one is handled after them)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.answered < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.alive():
                    raise ResponseTimeout(
                        f"{self.answered} of {count} server requests answered in {timeout}s"
                    )
                self._cond.wait(remaining)
        # A round trip after the answers: the server has acted on them when it replies. Its own id,
        # as a test that numbers its messages itself may have used the counter's next ones.
        self.wait(
            self.request_nowait("hearth/status", {}, f"after-answer-{count}-{time.monotonic()}"), timeout
        )

    def wait(self, msg_id: int | str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.alive():
                    raise ResponseTimeout(f"no response to {msg_id} within {timeout}s")
                self._cond.wait(remaining)
            return self.responses[msg_id]

    def request(self, method: str, params: Any = None, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(self.request_nowait(method, params), timeout)

    # -- session helpers -------------------------------------------------------

    def initialize(
        self,
        options: dict[str, Any] | None = None,
        capabilities: dict[str, Any] | None = None,
        root_uri: str | None = None,
    ) -> dict[str, Any]:
        response = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root_uri,
                "capabilities": capabilities or {"window": {"workDoneProgress": True}},
                "initializationOptions": options or {},
            },
        )
        self.notify("initialized", {})
        return response

    def open_document(self, uri: str, language_id: str, text: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language_id, "version": version, "text": text}})  # fmt: skip

    def close_document(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def insert(self, uri: str, version: int, position: dict[str, int], text: str) -> None:
        """An incremental didChange that inserts `text` at `position`."""
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": position, "end": position}, "text": text}]})  # fmt: skip

    def delete(self, uri: str, version: int, start: dict[str, int], end: dict[str, int]) -> None:
        """An incremental didChange that removes the text from `start` to `end`."""
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": start, "end": end}, "text": ""}]})  # fmt: skip

    def inline_completion(self, uri: str, position: dict[str, int], trigger_kind: int) -> int | str:
        """Send textDocument/inlineCompletion (1: invoked, 2: automatic); returns the request id."""
        return self.request_nowait("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": position,
            "context": {"triggerKind": trigger_kind}})  # fmt: skip

    def wait_model_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.request("hearth/status", {})["result"]["model"]
            if status["state"] in ("ready", "failed"):
                return status
            time.sleep(0.1)
        raise ResponseTimeout("model did not become ready")

    def close(self, timeout: float = 5.0) -> int | None:
        """shutdown and exit; the server's exit code where there is a process (else None)."""
        if self.alive():
            try:
                self.request("shutdown", None, timeout=timeout)
                self.notify("exit")
            except (ResponseTimeout, BrokenPipeError, OSError):
                pass
        return None


class StdioClient(LspClient):
    """`hearth serve` (or another command) as a child process, spoken to over its stdio."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        stderr: Any = subprocess.DEVNULL,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        cmd = list(command or [sys.executable, "-m", "hearth", "serve"])
        self.process = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        super().__init__(lambda n: os.read(stdout.fileno(), n), write)

    def alive(self) -> bool:
        return self.process.poll() is None and super().alive()

    def close(self, timeout: float = 5.0) -> int | None:
        super().close(timeout)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        return self.process.returncode
