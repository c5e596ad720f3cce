"""Acceptance reports from editors: didShowCompletion and didPartiallyAcceptCompletion.

The shapes follow the Copilot language server's notifications: the inline
item as it was shown, and for a partial accept the number of characters
taken. The suggestion id travels in the item's `command` arguments.
"""

from __future__ import annotations

import logging
from typing import Any

from hearth.lsp.protocol import param
from hearth.lsp.server import HearthServer

log = logging.getLogger(__name__)

DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"


def register(server: HearthServer) -> None:
    @server.feature(DID_SHOW)
    def did_show(ls: HearthServer, params: Any) -> None:
        sid = suggestion_id(params)
        if sid is not None:
            ls.acceptance.shown(sid)

    @server.feature(DID_PARTIALLY_ACCEPT)
    def did_partially_accept(ls: HearthServer, params: Any) -> None:
        sid = suggestion_id(params)
        length = param(params, "acceptedLength")
        if sid is None or isinstance(length, bool) or not isinstance(length, int) or length < 0:
            log.info("%s with unusable params ignored", DID_PARTIALLY_ACCEPT)
            return
        ls.acceptance.partially_accepted(sid, length)


def suggestion_id(params: Any) -> str | None:
    """The id from `params.item.command.arguments[0]`, whatever object shape pygls gave us."""
    arguments = param(param(param(params, "item"), "command"), "arguments")
    if isinstance(arguments, (list, tuple)) and arguments and isinstance(arguments[0], str):
        return arguments[0]
    return None
