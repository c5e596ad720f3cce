"""`hearth serve`: run the language server over stdio or one TCP connection.

Before anything else, file descriptor 1 is moved aside: the protocol gets
a private copy of it, and fd 1 becomes stderr, so a stray print, a C
library or a child process can never corrupt the protocol channel.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

from hearth.config import Settings, parse_settings
from hearth.lsp.server import build_server
from hearth.lsp.transport import FrameWriter, serve
from hearth.model.manager import ModelManager
from hearth.paths import data_dir
from hearth_telemetry.filter import FILTER_FILE, FilterFile
from hearth_telemetry.writer import TELEMETRY_FILE, TelemetrySink

log = logging.getLogger(__name__)


def run_stdio(settings: dict[str, Any] | None = None) -> int:
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin_fd = sys.stdin.fileno()
    writer = FrameWriter(protocol_out.write)
    return _run(lambda n: os.read(stdin_fd, n), writer, settings)


def run_tcp(host: str, port: int, settings: dict[str, Any] | None = None) -> int:
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with socket.create_server((host, port)) as listener:
        log.info("listening on %s:%s", host, listener.getsockname()[1])
        sys.stderr.write(f"hearth: listening on {host}:{listener.getsockname()[1]}\n")
        conn, peer = listener.accept()
    log.info("client connected from %s", peer)
    with conn:
        return _run(conn.recv, FrameWriter(conn.sendall), settings)


def _run(read: Any, writer: FrameWriter, settings: dict[str, Any] | None) -> int:
    models = ModelManager(data_dir())
    telemetry = TelemetrySink(data_dir() / TELEMETRY_FILE)
    server = build_server(models, telemetry=telemetry, filter_file=FilterFile(data_dir() / FILTER_FILE))
    if settings:
        server.settings, problems = parse_settings(settings, Settings())
        for problem in problems:
            log.warning("%s", problem)
    server.apply_telemetry_settings()
    try:
        return serve(
            server.hearth_protocol,
            read,
            writer,
            parent_pid=lambda: server.parent_pid,
            on_loop=server.model_progress.attach,
        )
    finally:
        models.close()
        server.stop_workspace()
        server.acceptance.flush_typed()
        telemetry.close()
