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

from hearth.lsp.framing import encode_frame
from hearth.lsp.stdio_client import LspClient

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


class SocketClient(LspClient):
    """The test client's protocol over a TCP connection to `hearth serve --tcp`."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.settimeout(None)
        super().__init__(self.sock.recv, self.sock.sendall)

    def close(self, timeout: float = 5.0) -> int | None:
        self.sock.close()
        return None


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
