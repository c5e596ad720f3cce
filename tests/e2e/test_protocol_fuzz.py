"""Framing fuzz against the real server: never alive and deaf, bounded memory, huge bodies refused."""

from __future__ import annotations

import random
import sys
import time

import psutil
import pytest

from hearth.lsp.framing import encode_frame
from hearth.lsp.stdio_client import ResponseTimeout, StdioClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BASE = [
    {"jsonrpc": "2.0", "id": 7, "method": "textDocument/completion",
     "params": {"textDocument": {"uri": "file:///f.py"}, "position": {"line": 0, "character": 3}}},
    {"jsonrpc": "2.0", "method": "textDocument/didChange",
     "params": {"textDocument": {"uri": "file:///f.py", "version": 2},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}}, "text": "é"}]}},
    {"jsonrpc": "2.0", "id": "s", "method": "hearth/status", "params": {}},
]  # fmt: skip


def mutate(rng: random.Random, frame: bytes) -> bytes:
    header, _, body = frame.partition(b"\r\n\r\n")
    length = len(body)
    kind = rng.randrange(9)
    if kind == 0:  # bit flips anywhere
        data = bytearray(frame)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == 1:  # truncated
        return frame[: rng.randrange(len(frame))]
    if kind == 2:  # off by one
        return b"Content-Length: %d\r\n\r\n" % (length + rng.choice((-1, 1))) + body
    if kind == 3:
        return b"Content-Length: 0\r\n\r\n" + body
    if kind == 4:  # huge
        return b"Content-Length: %d\r\n\r\n" % rng.choice((10**8, 10**12, 2**63)) + body
    if kind == 5:  # not a number
        return b"Content-Length: " + rng.choice((b"abc", b"-5", b"1e3", b"", b" 12 34")) + b"\r\n\r\n" + body
    if kind == 6:  # lowercase header, LF only
        return b"content-length: %d\n\n" % length + body
    if kind == 7:  # junk without a newline
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    return header + b"\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + body


DEAF_AFTER_S = 30.0


def test_ten_thousand_mutated_frames_never_leave_the_server_deaf(tmp_path):
    # No model needed to test the protocol: a missing file (named on the command line, where
    # it needs no confirmation) keeps the CPU quiet.
    client = StdioClient([sys.executable, "-m", "hearth", "serve", "--model", str(tmp_path / "absent.gguf")])
    client.initialize({})
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///f.py", "languageId": "python", "version": 1, "text": "abc\n"}})  # fmt: skip
    process = psutil.Process(client.process.pid)
    rng = random.Random(20261122)
    frames = [encode_frame(m) for m in BASE]
    rss_start = process.memory_info().rss
    slow = []
    for i in range(10_000):
        client.send_raw(mutate(rng, rng.choice(frames)))
        msg_id = 1_000_000 + i
        sent = time.monotonic()
        client.request_nowait("hearth/status", {}, msg_id)
        try:
            # Deaf means never: a loaded machine may take seconds, so the wait does not decide.
            response = client.wait(msg_id, timeout=DEAF_AFTER_S)
        except ResponseTimeout:
            # The only other acceptable outcome: the process exited non-zero.
            assert client.process.wait(1.0) != 0, f"deaf after mutation {i}"
            pytest.fail(f"server exited after mutation {i}; acceptable, but it should resynchronise")
        assert "result" in response
        slow.append(time.monotonic() - sent)
    growth_mb = (process.memory_info().rss - rss_start) / 2**20
    assert growth_mb < 50, growth_mb
    # A body over 64 MB is refused without reading it, and the next request is answered.
    client.send_raw(b"Content-Length: %d\r\n\r\n" % (65 * 2**20))
    client.send_raw(b"x" * (1 << 20))
    # (a string id: a bit-flipped request may have been answered under a small number)
    assert "result" in client.wait(client.request_nowait("hearth/status", {}, "after-huge"), timeout=60)
    assert client.close() == 0
    slow.sort()
    print(
        f"p50 {slow[len(slow) // 2] * 1000:.1f} ms, max {slow[-1] * 1000:.1f} ms, growth {growth_mb:.1f} MB"
    )
