"""Incremental, self-resynchronising decoder for LSP base-protocol frames.

pygls trusts the `Content-Length` header blindly: one frame whose length is
off by a byte leaves it waiting for bytes that never come, or parsing the
next header as a body, and the server goes deaf. This decoder owns framing
instead. Its one invariant: a header line `Content-Length: N` followed by a
raw newline can never occur inside a valid JSON body (JSON strings cannot
hold raw control characters, and the word is not a JSON token), so whenever
a frame turns out to be garbled, the next such header is a safe place to
start again.

Pure code: bytes in, `Frame` and `FrameError` out; no I/O, no pygls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 64 * 1024 * 1024
# A header block longer than this is junk, not headers.
MAX_HEADER_BYTES = 8 * 1024

_HEADER_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_LENGTH_LINE = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?\n", re.IGNORECASE)
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_ID_FIELD = re.compile(rb'"id"\s*:\s*(-?\d{1,15}|"(?:[^"\\]|\\.){0,200}")')
_METHOD_FIELD = re.compile(rb'"method"\s*:\s*"')


@dataclass(frozen=True)
class Frame:
    """One well-formed message: a decoded JSON value."""

    message: Any


@dataclass(frozen=True)
class FrameError:
    """A garbled frame or junk bytes that were skipped.

    `request_id` is the id salvaged from a broken body that looks like a
    request, so the server can still answer it (with a parse error) instead
    of leaving the client waiting forever.
    """

    reason: str
    skipped_bytes: int
    request_id: int | str | None = None


Event = Frame | FrameError


class FrameDecoder:
    """Feed bytes with `feed`; it returns every frame and error completed so far."""

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._buf = bytearray()
        self._max_body = max_body_bytes
        # Body in progress: (body start in _buf, body length, bytes already scanned).
        self._pending: tuple[int, int, int] | None = None
        self.frames = 0
        self.errors = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while True:
            event = self._next_event()
            if event is None:
                break
            events.append(event)
            if isinstance(event, Frame):
                self.frames += 1
            else:
                self.errors += 1
        return events

    # One step of the state machine: returns an event, or None when more bytes are needed.
    def _next_event(self) -> Event | None:
        if self._pending is not None:
            return self._continue_body()
        match = _HEADER_START.search(self._buf)
        if match is None:
            return self._drop_junk_without_header()
        if match.start() > 0:
            junk = bytes(self._buf[: match.start()])
            del self._buf[: match.start()]
            if junk.strip():
                return FrameError("junk bytes before a header", len(junk))
        return self._read_headers()

    def _drop_junk_without_header(self) -> Event | None:
        # Keep a tail that could be the start of a header split across reads.
        keep = len(b"content-length") + 2
        if len(self._buf) <= keep:
            return None
        junk_len = len(self._buf) - keep
        junk = bytes(self._buf[:junk_len])
        del self._buf[:junk_len]
        if junk.strip():
            return FrameError("junk bytes without a header", junk_len)
        return None

    def _read_headers(self) -> Event | None:
        end = _END_OF_HEADERS.search(self._buf)
        next_header = _HEADER_START.search(self._buf, 1)
        if end is None or (next_header is not None and next_header.start() < end.start()):
            if next_header is not None:
                return self._skip_to(next_header.start(), "header block without an end")
            if len(self._buf) > MAX_HEADER_BYTES:
                return self._skip_to(1, "header block too long")
            return None
        line = _LENGTH_LINE.match(self._buf, 0, end.end())
        raw_length = line.group(1) if line else b""
        if not raw_length.isdigit():
            return self._skip_to(1, f"bad Content-Length {raw_length[:40]!r}")
        length = int(raw_length)
        if length == 0:
            return self._skip_to(end.end(), "Content-Length is zero")
        if length > self._max_body:
            # Never wait for (or drop) that many bytes: a bogus length would
            # swallow the next valid request. The body, if it really follows,
            # holds no header and is skipped as junk.
            window = bytes(self._buf[end.end() : end.end() + 4096])
            request_id = salvage_request_id(window[: _header_free_length(window)])
            error = self._skip_to(end.end(), f"body of {length} bytes refused")
            return FrameError(error.reason, error.skipped_bytes, request_id)
        self._pending = (end.end(), length, end.end())
        return self._continue_body()

    def _continue_body(self) -> Event | None:
        assert self._pending is not None
        body_at, length, scanned = self._pending
        body_end = body_at + length
        arrived = min(len(self._buf), body_end)
        # A header inside the body means the declared length was too long. Scan
        # only what arrived since last time, less a header's width of overlap,
        # in place: bodies of many megabytes arrive in many small reads.
        intruder = _HEADER_START.search(self._buf, max(body_at, scanned - 24), arrived)
        if intruder is not None and _LENGTH_LINE.match(self._buf, intruder.start(), arrived):
            self._pending = None
            broken = bytes(self._buf[body_at : intruder.start()])
            return self._garbled(broken, intruder.start(), "body cut short by a header")
        if arrived < body_end:
            self._pending = (body_at, length, arrived)
            return None
        self._pending = None
        body = bytes(self._buf[body_at:body_end])
        try:
            message = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            # Rewind to just past this header: if the length was off, the next
            # frame's header is still in the buffer and will be found.
            return self._garbled(body, 1, "body is not valid JSON")
        del self._buf[:body_end]
        return Frame(message)

    def _garbled(self, body: bytes, resume_at: int, reason: str) -> FrameError:
        del self._buf[:resume_at]
        return FrameError(reason, resume_at, salvage_request_id(body))

    def _skip_to(self, position: int, reason: str) -> FrameError:
        del self._buf[:position]
        return FrameError(reason, position)


def _header_free_length(data: bytes) -> int:
    match = _HEADER_START.search(data)
    return len(data) if match is None else match.start()


def salvage_request_id(body: bytes) -> int | str | None:
    """The id of a broken request body, if one can be read; None for notifications."""
    if _METHOD_FIELD.search(body) is None:
        return None
    match = _ID_FIELD.search(body)
    if match is None:
        return None
    raw = match.group(1)
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, int | str) else None


def encode_frame(message: Any) -> bytes:
    """One message as a frame; the length counts bytes, not characters."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
