"""workspace/executeCommand: hearth.accepted (acceptance reports) and hearth.restartModel."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from hearth.lsp.inline_completion import ACCEPTED_COMMAND
from hearth.lsp.server import HearthServer

RESTART_COMMAND = "hearth.restartModel"


def register(server: HearthServer) -> None:
    @server.command(ACCEPTED_COMMAND)
    def accepted(ls: HearthServer, *args: Any) -> None:
        if not args or not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{ACCEPTED_COMMAND} takes the suggestion id (a string)")
        ls.acceptance.accepted(args[0])

    @server.command(RESTART_COMMAND)
    def restart_model(ls: HearthServer, *args: Any) -> None:
        ls.models.restart()
