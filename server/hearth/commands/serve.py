"""`hearth serve`: run the language server over stdio or one TCP connection.

Before anything else, file descriptor 1 is moved aside: the protocol gets
a private copy of it, and fd 1 becomes stderr, so a stray print, a C
library or a child process can never corrupt the protocol channel.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from hearth.config import Settings, parse_settings, snake_case
from hearth.lsp.handshake import FIRST_FRAME_SECONDS, Refused, authenticate, read_first_frame, server_token
from hearth.lsp.server import create_server
from hearth.lsp.transport import FrameWriter, serve
from hearth.model.manager import ModelManager
from hearth.paths import cache_dir, data_dir
from hearth.services import Stores

log = logging.getLogger(__name__)


def run_stdio(settings: dict[str, Any] | None = None) -> int:
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin_fd = sys.stdin.fileno()
    writer = FrameWriter(protocol_out.write)
    return _run(lambda n: os.read(stdin_fd, n), writer, settings)


def run_tcp(
    host: str,
    port: int,
    settings: dict[str, Any] | None = None,
    allow_remote: bool = False,
    token_file: str | None = None,
) -> int:
    """Serve the first connection that authenticates (see `handshake`); others are closed."""
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if not allow_remote and not _is_loopback(host):
        sys.stderr.write(
            f"hearth: refusing to listen on {host}: not a loopback address (see --allow-remote)\n"
        )
        return 2
    if allow_remote and not _is_loopback(host):
        sys.stderr.write(f"hearth: WARNING: listening on {host}: other machines can reach this port\n")
    try:
        token = server_token(data_dir(), Path(token_file) if token_file else None)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"hearth: no token for the TCP port: {exc}\n")
        return 2
    with socket.create_server((host, port)) as listener:
        bound = listener.getsockname()[1]
        sys.stderr.write(f"hearth: listening on {host}:{bound}; token: {token.source}\n")
        sys.stderr.flush()
        while True:
            conn, peer = listener.accept()
            conn.settimeout(FIRST_FRAME_SECONDS)
            try:
                first, rest = read_first_frame(conn.recv)
                first = authenticate(first, token.value)
            except Refused as exc:
                log.warning("closed a connection from %s: %s", peer[0], exc)
                _close(conn)
                continue
            conn.settimeout(None)
            log.info("client connected from %s", peer[0])
            break
    with conn:
        return _run(conn.recv, FrameWriter(conn.sendall), settings, first=[first], pending=rest)


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def _run(
    read: Any,
    writer: FrameWriter,
    settings: dict[str, Any] | None,
    first: list[Any] | None = None,
    pending: bytes = b"",
) -> int:
    initial, problems = parse_settings(settings or {}, Settings())
    for problem in problems:
        log.warning("%s", problem)
    stores = Stores.in_folders(data_dir(), cache_dir())
    pinned = frozenset(snake_case(key) for key in settings or {})
    server = create_server(initial, backend=ModelManager(data_dir()), sink=None, stores=stores, pinned=pinned)
    try:
        return serve(
            server.hearth_protocol,
            read,
            writer,
            parent_pid=lambda: server.parent_pid,
            on_loop=server.on_loop,
            first=first or [],
            pending=pending,
        )
    finally:
        server.services.close()
