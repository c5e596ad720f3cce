"""The composition root: `create_server` builds every service and registers every handler.

This is the one place that knows which method goes to which function. The
handler modules hold module-level functions over `ls.services`; they import
`language_server.HearthServer` and `messages`, never this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from hearth.config import Settings
from hearth.events import EventSink
from hearth.lsp import (
    acceptance,
    chat,
    commands,
    completion,
    configuration,
    edit,
    inline_completion,
    messages,
    status,
    sync,
)
from hearth.lsp.language_server import HearthServer
from hearth.model.manager import ModelManager
from hearth.services import Stores, build_services

Handler = Callable[..., Any]

FEATURES: tuple[tuple[str, Any, Handler], ...] = (
    (types.INITIALIZE, None, configuration.initialize),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, configuration.did_change_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, sync.did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, sync.did_change),
    (types.TEXT_DOCUMENT_DID_SAVE, None, sync.did_save),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, sync.did_close),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, sync.did_change_watched_files),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_completion.OPTIONS, inline_completion.inline_completion),
    (types.TEXT_DOCUMENT_COMPLETION, completion.OPTIONS, completion.completion),
    (messages.DID_SHOW, None, acceptance.did_show),
    (messages.DID_PARTIALLY_ACCEPT, None, acceptance.did_partially_accept),
    (messages.STATUS, None, status.status),
    (messages.CONTEXT, None, status.context),
    (messages.REPO_MAP, None, status.repo_map),
    (messages.CHAT, None, chat.chat),
    (messages.CONVERSATIONS, None, chat.conversations),
    (messages.CONVERSATION, None, chat.conversation),
    (messages.DELETE_CONVERSATION, None, chat.delete_conversation),
)
"""Every LSP method Hearth serves: (method, capability options, handler)."""

COMMANDS: tuple[tuple[str, Handler], ...] = (
    (messages.ACCEPTED_COMMAND, commands.accepted),
    (messages.RESTART_COMMAND, commands.restart_model),
    (messages.EDIT_COMMAND, edit.edit),
    (messages.UNDO_COMMAND, edit.undo),
)
"""Every workspace/executeCommand command: (name, handler)."""


def create_server(
    settings: Settings,
    *,
    backend: ModelManager,
    sink: EventSink | None,
    stores: Stores,
    clock: Callable[[], float] = time.monotonic,
    pinned: frozenset[str] = frozenset(),
) -> HearthServer:
    """The whole server for one editor session; nothing starts until the editor initializes.

    `pinned`: the settings given on the command line, which the editor's do not replace.
    """
    services = build_services(
        settings,
        backend=backend,
        sink=sink,
        stores=stores,
        clock=clock,
        path_of=lambda uri: to_fs_path(uri) or "",
        pinned=pinned,
    )
    server = HearthServer(services)
    for method, options, handler in FEATURES:
        server.feature(method, options)(handler)
    for name, handler in COMMANDS:
        server.command(name)(handler)
    progress = status.ModelProgress(server)
    server.on_loop = progress.attach
    backend.add_listener(progress.on_status)
    return server
