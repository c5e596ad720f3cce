"""Acceptance reports from editors: didShowCompletion and didPartiallyAcceptCompletion.

The shapes follow the Copilot language server's notifications: the inline
item as it was shown, and for a partial accept the number of characters
taken. The suggestion id travels in the item's `command` arguments.
"""

from __future__ import annotations

from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import DidPartiallyAcceptParams, DidShowParams


def did_show(ls: HearthServer, params: DidShowParams) -> None:
    command = params.item.command
    if command is not None and command.suggestion_id is not None:
        ls.services.acceptance.shown(command.suggestion_id, command.candidate)


def did_partially_accept(ls: HearthServer, params: DidPartiallyAcceptParams) -> None:
    command = params.item.command
    if command is not None and command.suggestion_id is not None:
        ls.services.acceptance.partially_accepted(
            command.suggestion_id, params.accepted_length, command.candidate
        )
