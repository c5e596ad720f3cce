"""Hearth's real server, assembled in this process with a scripted model, spoken to over pipes.

Every message goes through the same decoder, protocol and registered handlers
as `hearth serve`; only the model is scripted (tests/fakes.py), so what these
tests see does not depend on a model's output or a machine's speed.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from hearth.config import Settings
from hearth.events import RecentSink
from hearth.lsp.server import create_server
from hearth.lsp.stdio_client import LspClient
from hearth.lsp.transport import FrameWriter, serve
from hearth.model.manager import ModelManager
from hearth.paths import data_dir
from hearth.services import Stores
from tests.fakes import ScriptedBackend


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class InProcessServer:
    def __init__(
        self,
        outputs: list[str] | None = None,
        options: dict[str, Any] | None = None,
        capabilities: dict[str, Any] | None = None,
        root: Path | None = None,
        hold: bool = False,
        settings: Settings | None = None,
        pinned: frozenset[str] = frozenset(),
        learn: bool = False,
    ) -> None:
        self.backend = ScriptedBackend(list(outputs or []), hold=hold)
        self.chat_backend = ScriptedBackend(list(outputs or []))
        """What answers when the settings give chat and edits an engine of their own."""

        def factory(_model: Any, settings: Settings) -> ScriptedBackend:
            return self.chat_backend if settings.backend != "local" else self.backend

        self.models = ModelManager(data_dir(), factory=factory)
        self.events = RecentSink(size=4096)
        folder = data_dir()
        stores = Stores.in_folders(folder, folder / "cache", learn=learn)
        self.server = create_server(
            settings or Settings(), backend=self.models, sink=self.events, stores=stores, pinned=pinned
        )
        self.services = self.server.services
        self._server_in, self._client_out = os.pipe()
        self._client_in, self._server_out = os.pipe()
        writer = FrameWriter(lambda data: _write_all(self._server_out, data))
        self.exit_code: int | None = None

        def run() -> None:
            try:
                self.exit_code = serve(
                    self.server.hearth_protocol,
                    lambda n: os.read(self._server_in, n),
                    writer,
                    parent_pid=lambda: self.server.parent_pid,
                    on_loop=self.server.on_loop,
                )
            finally:
                self.services.close()
                os.close(self._server_out)  # the client sees the end of the stream

        self.thread = threading.Thread(target=run, name="hearth-in-process", daemon=True)
        self.thread.start()
        self.client = LspClient(
            lambda n: os.read(self._client_in, n), lambda d: _write_all(self._client_out, d)
        )
        self.initialize_result = self.client.initialize(
            {"debounceMs": 0, **(options or {})}, capabilities, root.as_uri() if root else None
        )["result"]

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return self.events.recent(name)

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    def close(self) -> int | None:
        self.client.close()
        os.close(self._client_out)  # end of input for the server's reader
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server did not stop"
        self.client.ended.wait(5)
        os.close(self._server_in)
        os.close(self._client_in)
        return self.exit_code
