"""The TCP transport's gate: a connection speaks LSP only after proving it holds the token.

A TCP port on loopback is reachable by every local process and, through the
browser, by every web page (a `fetch` with `mode: "no-cors"` sends an HTTP
POST whose body can hold LSP frames). So before a single byte is decoded as
LSP, the first frame must be well formed on its own (no skipping of junk, no
resynchronising), must be `initialize`, and must carry
`initializationOptions.authToken` equal to the server's token, compared in
constant time. Anything else closes the connection; the listener goes on
waiting for the real client.

Pure functions over bytes, plus `read_first_frame` over a socket-like `recv`.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_ENV = "HEARTH_AUTH_TOKEN"
"""Where a client that starts the server passes the token it chose."""
TOKEN_FILE = "tcp-token"
"""The token file in the data directory when the server chooses the token (mode 0600)."""
MAX_FIRST_FRAME = 1024 * 1024
FIRST_FRAME_SECONDS = 10.0

_HEADER = re.compile(
    rb"Content-Length: *(\d{1,7})\r\n(?:Content-Type: [^\r\n]{1,100}\r\n)?\r\n", re.IGNORECASE
)
_HTTP_START = re.compile(
    rb"^[A-Z]{3,10} [^\r\n]* HTTP/\d|^(GET|POST|PUT|HEAD|OPTIONS|PATCH|DELETE|CONNECT|TRACE|PRI) "
)


class Refused(Exception):
    """The connection did not authenticate; the reason is for the log, never for the peer."""


@dataclass(frozen=True)
class Token:
    value: str
    source: str
    """Where the client finds it: the environment variable or the file's path."""


def server_token(directory: Path, path: Path | None = None) -> Token:
    """The token from `HEARTH_AUTH_TOKEN`, else a new one written to a 0600 file."""
    given = os.environ.get(TOKEN_ENV, "")
    if given:
        if len(given) < 16:
            raise ValueError(f"{TOKEN_ENV} must be at least 16 characters")
        return Token(given, TOKEN_ENV)
    target = path or directory / TOKEN_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.replace(temporary, target)
    return Token(value, str(target))


def looks_like_http(data: bytes) -> bool:
    return bool(_HTTP_START.match(data))


def parse_first_frame(data: bytes) -> tuple[Any, bytes] | None:
    """(message, bytes after it) once a whole strict first frame arrived; None: need more.

    Raises `Refused` as soon as the bytes cannot be the start of a valid frame.
    """
    if looks_like_http(data[:64]):
        raise Refused("an HTTP request, not LSP")
    if not b"content-length:".startswith(data[:15].lower()):
        raise Refused("the first bytes are not an LSP header")
    match = _HEADER.match(data)
    if match is None:
        if len(data) > 256 or (b"\r\n\r\n" in data[:256]):
            raise Refused("malformed first header")
        return None
    length = int(match.group(1))
    if length > MAX_FIRST_FRAME:
        raise Refused(f"first frame of {length} bytes")
    end = match.end() + length
    if len(data) < end:
        return None
    try:
        message = json.loads(data[match.end() : end])
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused("first frame is not JSON") from exc
    return message, data[end:]


def authenticate(message: Any, token: str) -> Any:
    """The initialize request with its token removed, or `Refused`."""
    if not isinstance(message, dict) or message.get("method") != "initialize" or "id" not in message:
        raise Refused("the first message is not initialize")
    params = message.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    offered = options.get("authToken") if isinstance(options, dict) else None
    if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), token.encode()):
        raise Refused("missing or wrong authToken")
    assert isinstance(params, dict) and isinstance(options, dict)
    rest = {key: value for key, value in options.items() if key != "authToken"}
    return {**message, "params": {**params, "initializationOptions": rest}}


def read_first_frame(
    recv: Callable[[int], bytes], clock: Callable[[], float] = time.monotonic
) -> tuple[Any, bytes]:
    """Read until one strict frame arrived (or `Refused`); the socket's timeout bounds each read."""
    data = b""
    deadline = clock() + FIRST_FRAME_SECONDS
    while True:
        parsed = parse_first_frame(data) if data else None
        if parsed is not None:
            return parsed
        if clock() > deadline:
            raise Refused("no complete first frame in time")
        try:
            chunk = recv(65536)
        except OSError as exc:
            raise Refused(f"read failed: {exc}") from exc
        if not chunk:
            raise Refused("closed before the first frame")
        data += chunk
