"""Byte transport for the server: stdio or one TCP connection, framed by `FrameDecoder`.

A reader thread turns bytes into decoded JSON values and hands each to the
event loop. The loop ends on `exit`, on end of input, or when the client's
process (`processId` from initialize) is gone; the function returns the exit
code. Only this module writes to the protocol channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hearth.lsp.framing import Frame, FrameDecoder
from hearth.lsp.protocol import HearthProtocol

log = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 0.3


class FrameWriter:
    """pygls's writer interface over a raw write function; thread-safe."""

    def __init__(self, write: Callable[[bytes], Any], flush: Callable[[], Any] = lambda: None):
        self._write = write
        self._flush = flush
        self._lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        with self._lock:
            self._write(data)
            self._flush()

    def close(self) -> None:
        self.closed = True


def serve(
    protocol: HearthProtocol,
    read: Callable[[int], bytes],
    writer: FrameWriter,
    parent_pid: Callable[[], int | None] = lambda: None,
    on_loop: Callable[[asyncio.AbstractEventLoop], None] = lambda loop: None,
    first: Sequence[Any] = (),
    pending: bytes = b"",
) -> int:
    """Serve one client until exit or end of input; returns the process exit code.

    `first` are messages already decoded (the TCP handshake's initialize) and
    `pending` the bytes that arrived after them; both come before `read`.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    done: asyncio.Future[int] = loop.create_future()

    def finish(code: int) -> None:
        if not done.done():
            done.set_result(code)

    protocol.set_writer(writer, include_headers=True)
    protocol.on_exit = finish
    on_loop(loop)

    for message in first:
        loop.call_soon(_deliver, protocol, message)

    def reader() -> None:
        decoder = FrameDecoder()
        data = pending
        while True:
            if not data:
                try:
                    data = read(65536)
                except (OSError, ValueError):
                    data = b""
            if not data:
                log.info("input closed; stopping")
                with contextlib.suppress(RuntimeError):  # the loop already ended (exit came first)
                    loop.call_soon_threadsafe(finish, 0 if protocol._shutdown else 1)
                return
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    loop.call_soon_threadsafe(_deliver, protocol, event.message)
                else:
                    log.warning("protocol: %s (%d bytes skipped)", event.reason, event.skipped_bytes)
                    if event.request_id is not None:
                        loop.call_soon_threadsafe(protocol.reply_parse_error, event.request_id, event.reason)
            data = b""

    threading.Thread(target=reader, name="hearth-reader", daemon=True).start()
    watcher = loop.create_task(_watch_parent(parent_pid, finish))
    try:
        return loop.run_until_complete(done)
    finally:
        watcher.cancel()
        writer.close()
        _cancel_all(loop)


def _deliver(protocol: HearthProtocol, message: Any) -> None:
    try:
        protocol.receive(message)
    except Exception:  # one bad message must never stop the loop
        log.exception("failed to handle a message")


async def _watch_parent(parent_pid: Callable[[], int | None], finish: Callable[[int], None]) -> None:
    while True:
        await asyncio.sleep(PARENT_POLL_SECONDS)
        pid = parent_pid()
        if pid is not None and not _alive(pid):
            log.warning("client process %s is gone; exiting", pid)
            finish(1)
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()
