"""Benchmark commands (`hearth bench ...`): they print figures; tests check behaviour."""

from __future__ import annotations

from typing import Any

from hearth.lsp.stdio_client import StdioClient
from hearth.text.positions import UTF16, position_at


def start_server(options: dict[str, Any], root_uri: str | None = None) -> StdioClient:
    """`hearth serve` as a subprocess, initialized, with its model loaded."""
    client = StdioClient()
    try:
        client.initialize(options, root_uri=root_uri)
        if client.wait_model_ready()["state"] != "ready":
            raise SystemExit("hearth bench: the model did not load (run hearth doctor)")
    except BaseException:
        client.close()
        raise
    return client


def position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (UTF-16, the default encoding) of an offset in `text`."""
    line, character = position_at(text, offset, UTF16)
    return {"line": line, "character": character}


def first_suggestion(response: dict[str, Any]) -> str:
    items = (response.get("result") or {}).get("items") or []
    return str(items[0]["insertText"]) if items else ""
