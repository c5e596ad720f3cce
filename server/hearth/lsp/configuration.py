"""initialize and workspace/didChangeConfiguration: settings, encoding, workspace, model.

`initialize` never waits for the model: the model manager starts the worker
in the background and the editor sees progress until it is ready.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from hearth.config import parse_settings
from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import ClientExtensions
from hearth.trust import HeldSetting, hold_untrusted

ALLOW = "Allow"

log = logging.getLogger(__name__)

_ENCODINGS = {
    types.PositionEncodingKind.Utf8: "utf-8",
    types.PositionEncodingKind.Utf16: "utf-16",
    types.PositionEncodingKind.Utf32: "utf-32",
}


def initialize(ls: HearthServer, params: types.InitializeParams) -> None:
    services = ls.services
    chosen = ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities)
    services.documents.encoding = _ENCODINGS.get(chosen, "utf-16")  # type: ignore[call-overload]
    ls.parent_pid = params.process_id
    ls.client_extensions = _extensions(ls, params.capabilities.experimental)
    root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    path = to_fs_path(root) if root else None
    services.workspace.root = None if path is None else Path(path)
    apply_settings(ls, params.initialization_options)
    services.start_workspace(services.workspace.root)
    services.configure_models()


def _extensions(ls: HearthServer, experimental: Any) -> ClientExtensions:
    raw = experimental.get("hearth") if isinstance(experimental, dict) else None
    if raw is None:
        return ClientExtensions()
    try:
        return ls.structure(raw, ClientExtensions, "capabilities.experimental.hearth")
    except JsonRpcInvalidParams as exc:  # an unreadable extension is one the client did not ask for
        log.warning("%s", exc)
        return ClientExtensions()


def did_change_configuration(ls: HearthServer, params: types.DidChangeConfigurationParams) -> None:
    apply_settings(ls, params.settings)
    ls.services.configure_models()


def apply_settings(ls: HearthServer, raw: Any) -> None:
    services = ls.services
    parsed, problems = parse_settings(raw, services.settings.current)
    current = services.settings.current
    parsed = replace(parsed, **{name: getattr(current, name) for name in services.settings.pinned})
    workspace = str(services.workspace.root or "")
    trust = services.stores.trust
    settings, held = hold_untrusted(parsed, services.settings.current, workspace, trust)
    services.apply_settings(settings, problems)
    for item in held:
        log.warning("setting %s held back until the user allows it", item.name)
        if trust.first_ask(workspace, item.name, item.value):
            ls.spawn(asyncio.get_running_loop().create_task(_ask_trust(ls, workspace, item)))
    for problem in problems:
        log.warning("%s", problem)
    if problems:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message="Hearth: " + "; ".join(problems),
            )
        )


async def _ask_trust(ls: HearthServer, workspace: str, item: HeldSetting) -> None:
    """Ask once; a yes is remembered for this workspace and value, and the value goes live."""
    try:
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=item.question,
                actions=[types.MessageActionItem(ALLOW), types.MessageActionItem("Don't allow")],
            )
        )
    except Exception as exc:  # a client that cannot ask is a client that did not say yes
        log.warning("could not ask about setting %s: %s", item.name, exc)
        return
    if answer is None or answer.title != ALLOW:
        log.warning("setting %s not allowed; it stays off", item.name)
        return
    ls.services.stores.trust.allow(workspace, item.name, item.value)
    ls.services.allow(item.name, item.value)
