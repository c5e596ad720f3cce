"""The pygls server object every handler receives: Hearth's services plus LSP plumbing.

It holds no feature logic. `hearth.lsp.server.create_server` builds it and
registers the handlers; handler modules import only this class, so no
import in `lsp/` goes in a circle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import cattrs
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from hearth import __version__
from hearth.lsp.messages import ClientExtensions
from hearth.lsp.protocol import HearthProtocol
from hearth.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")


class HearthServer(LanguageServer):
    def __init__(self, services: Services) -> None:
        super().__init__("hearth", __version__, protocol_cls=HearthProtocol)
        self.services = services
        self.parent_pid: int | None = None
        self.background_tasks: set[asyncio.Task[Any]] = set()
        """Tasks nobody awaits (questions to the user), held so they are not collected."""
        self.client_extensions = ClientExtensions()
        """What the client said at initialize about Hearth's own extensions."""
        self.on_loop: Callable[[asyncio.AbstractEventLoop], None] = lambda loop: None
        """Called with the event loop once serving starts (model progress needs it)."""

    @property
    def hearth_protocol(self) -> HearthProtocol:
        assert isinstance(self.protocol, HearthProtocol)
        return self.protocol

    def path_hint(self, uri: str) -> str:
        return self.services.workspace.path_hint(self.services.path_of(uri))

    def structure(self, value: Any, cls: type[T], what: str) -> T:
        """A command argument as its message class, or InvalidParams naming what was expected."""
        try:
            return self.hearth_protocol.structure_params(value, cls)
        except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
            raise JsonRpcInvalidParams(f"{what}: {exc}") from exc

    def spawn(self, task: asyncio.Task[Any]) -> None:
        self.background_tasks.add(task)
        task.add_done_callback(self.background_tasks.discard)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls's default shows a popup for every internal error; a log line is enough.
        log.error("internal error (%s): %s", getattr(source, "__name__", source), error)
