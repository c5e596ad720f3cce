"""The pygls internals Hearth's wire stack relies on, checked where they are used.

`lsp/protocol.py` and `lsp/transport.py` reach past pygls's public API
(`_shutdown`, `_converter`, `_send_response`, `fm.features`, the generator
protocol of `lsp_initialize`, `set_writer`). pyproject pins pygls to one
minor version; this test is what tells a maintainer raising that pin what
broke, before any editor does.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from importlib.metadata import version
from typing import Any

import cattrs
from pygls.protocol import LanguageServerProtocol

from hearth.config import Settings
from hearth.lsp.protocol import HearthProtocol
from hearth.lsp.server import FEATURES, create_server
from hearth.model.manager import ModelManager
from hearth.services import Stores
from tests.fakes import ScriptedBackend


def test_the_private_names_exist_with_the_shapes_used():
    assert version("pygls").startswith("2.1.")
    assert inspect.isgeneratorfunction(LanguageServerProtocol.lsp_initialize)
    assert {"msg_id", "result", "error"} <= set(
        inspect.signature(LanguageServerProtocol._send_response).parameters
    )
    assert "include_headers" in inspect.signature(LanguageServerProtocol.set_writer).parameters
    assert "data" in inspect.signature(LanguageServerProtocol.structure_message).parameters


class Capture:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        _headers, _sep, body = data.partition(b"\r\n\r\n")
        self.frames.append(json.loads(body))

    def close(self) -> None:
        pass


def test_a_session_through_the_seam(tmp_path):
    models = ModelManager(tmp_path, factory=lambda _model, _settings: ScriptedBackend([]))
    stores = Stores.in_folders(tmp_path, tmp_path / "cache", learn=False)
    server = create_server(Settings(), backend=models, sink=None, stores=stores)
    protocol = server.hearth_protocol
    assert isinstance(protocol, HearthProtocol)
    assert isinstance(protocol._converter, cattrs.Converter)
    assert protocol._shutdown is False
    assert {method for method, _o, _h in FEATURES} <= set(protocol.fm.features)
    capture = Capture()
    protocol.set_writer(capture, include_headers=True)

    async def session() -> None:
        protocol.receive({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                          "params": {"processId": None, "rootUri": None, "capabilities": {}}})  # fmt: skip
        protocol.receive({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        protocol.receive({"jsonrpc": "2.0", "id": 2, "method": "hearth/context", "params": {"uri": 3}})
        protocol.receive({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        await asyncio.sleep(0.05)

    try:
        asyncio.run(session())
        responses = {frame["id"]: frame for frame in capture.frames if "id" in frame}
        assert "capabilities" in responses[1]["result"] and protocol.initialized
        assert responses[2]["error"]["code"] == -32602
        assert responses[3]["result"] is None and protocol._shutdown is True
    finally:
        server.services.close()
