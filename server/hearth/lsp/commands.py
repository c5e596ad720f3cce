"""workspace/executeCommand: hearth.accepted (acceptance reports) and hearth.restartModel."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import ACCEPTED_COMMAND, candidate_argument


def accepted(ls: HearthServer, *args: Any) -> None:
    if not args or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"{ACCEPTED_COMMAND} takes the suggestion id (a string)")
    ls.services.acceptance.accepted(args[0], candidate=candidate_argument(args))


def restart_model(ls: HearthServer, *args: Any) -> None:
    ls.services.models.restart()
