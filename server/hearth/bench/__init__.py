"""Benchmark commands (`hearth bench ...`): they print figures; tests check behaviour."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hearth.lsp.stdio_client import StdioClient
from hearth.text.positions import UTF16, position_at

ENGINE_FLAGS = {"backend": "--backend", "endpoint": "--endpoint", "remoteModel": "--remote-model",
                "apiKeyEnv": "--api-key-env", "apiKeyFile": "--api-key-file"}  # fmt: skip
"""Settings that say where code goes: given as `hearth serve` flags, as the user's, never over LSP
(where the server would ask before taking them)."""


def start_server(options: dict[str, Any], root_uri: str | None = None) -> StdioClient:
    """`hearth serve` as a subprocess, initialized, with its model loaded."""
    flags = [part for key, flag in ENGINE_FLAGS.items() if options.get(key) for part in (flag, options[key])]
    options = {key: value for key, value in options.items() if key not in ENGINE_FLAGS}
    client = StdioClient([sys.executable, "-m", "hearth", "serve", *flags])
    try:
        client.initialize(options, root_uri=root_uri)
        if client.wait_model_ready()["state"] != "ready":
            raise SystemExit("hearth bench: the model did not load (run hearth doctor)")
    except BaseException:
        client.close()
        raise
    return client


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a process and its descendants (the model worker), summed.

    Each process's own peak (VmHWM) is read from /proc, so the sum bounds the
    peak they reached together from above. None where /proc is not there.
    """
    total_kb, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        proc = Path("/proc") / str(current)
        try:
            status = (proc / "status").read_text()
        except OSError:
            if current == pid:
                return None
            continue
        peaks = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
        total_kb += int(peaks[0]) if peaks else 0
        for task in proc.glob("task/*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return round(total_kb / 1024, 1)


def position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (UTF-16, the default encoding) of an offset in `text`."""
    line, character = position_at(text, offset, UTF16)
    return {"line": line, "character": character}


def suggestions(response: dict[str, Any]) -> list[str]:
    """Every candidate of an inline completion response, in the order the editor cycles them."""
    items = (response.get("result") or {}).get("items") or []
    return [str(item["insertText"]) for item in items]


def first_suggestion(response: dict[str, Any]) -> str:
    return next(iter(suggestions(response)), "")
