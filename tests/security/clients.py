"""Helpers for the hostile-workspace tests: a TCP client, marker modules, the server's launches."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hearth.lsp.framing import Frame, FrameDecoder, encode_frame
from hearth.lsp.stdio_client import StdioClient

PYTHON = sys.executable
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "hearth")


def marker_module(markers: Path, name: str) -> str:
    """Source of a module that records its own import in `markers`."""
    return f"import pathlib\npathlib.Path({str(markers)!r}, {name!r}).write_text('imported')\n"


def plant_modules(workspace: Path, markers: Path, names: list[str]) -> None:
    """Modules named like the ones Hearth imports, each leaving a marker when imported."""
    for name in names:
        package = workspace / name
        package.mkdir()
        (package / "__init__.py").write_text(marker_module(markers, name))


def found(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


class _NoProcess:
    returncode = 0

    def poll(self) -> None:
        return None


class SocketClient(StdioClient):
    """The StdioClient's protocol over a TCP connection to `hearth serve --tcp`."""

    def __init__(self, port: int) -> None:  # no super().__init__(): it starts a process
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.settimeout(None)
        self.process = _NoProcess()  # type: ignore[assignment]
        self._init_state()
        threading.Thread(target=self._read, daemon=True).start()

    def _init_state(self) -> None:
        import itertools
        from collections import Counter

        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self.responses: dict[int | str, dict[str, Any]] = {}
        self.response_counts: Counter[int | str] = Counter()
        self.response_times: dict[int | str, float] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.stdout_errors = 0
        self.on_request = lambda message: None
        self.closed = threading.Event()

    def _read(self) -> None:
        decoder = FrameDecoder()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    self._route(event.message, time.monotonic())
        self.closed.set()
        with self._cond:
            self._cond.notify_all()

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:
            self.sock.sendall(data)

    def close(self, timeout: float = 5.0) -> int | None:
        self.sock.close()
        return 0


def start_tcp_server(
    token: str, data_dir: Path, extra: list[str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """`hearth serve --tcp 127.0.0.1:0` with the token in the environment; returns it and its port."""
    env = {
        **os.environ,
        "HEARTH_AUTH_TOKEN": token,
        "HEARTH_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [CONSOLE_SCRIPT, "serve", "--tcp", "127.0.0.1:0", ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "listening on 127.0.0.1:" in line, line
    port = int(line.split("127.0.0.1:")[1].split(";")[0])
    threading.Thread(target=lambda: process.stderr and process.stderr.read(), daemon=True).start()
    return process, port


def raw_exchange(port: int, payload: bytes, wait: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; everything the server sent back before closing it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(payload)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            received += chunk
    return received


def frames(*messages: dict[str, Any]) -> bytes:
    return b"".join(encode_frame(m) for m in messages)
