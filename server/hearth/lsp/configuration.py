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
from pygls.uris import to_fs_path

from hearth.config import parse_settings
from hearth.lsp.server import HearthServer
from hearth.trust import HeldSetting, hold_untrusted

ALLOW = "Allow"

log = logging.getLogger(__name__)

_ENCODINGS = {
    types.PositionEncodingKind.Utf8: "utf-8",
    types.PositionEncodingKind.Utf16: "utf-16",
    types.PositionEncodingKind.Utf32: "utf-32",
}


def register(server: HearthServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: HearthServer, params: types.InitializeParams) -> None:
        chosen = ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities)
        ls.documents.encoding = _ENCODINGS.get(chosen, "utf-16")  # type: ignore[call-overload]
        ls.parent_pid = params.process_id
        root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        path = to_fs_path(root) if root else None
        ls.workspace_root = None if path is None else Path(path)
        apply_settings(ls, params.initialization_options)
        ls.start_workspace(ls.workspace_root)
        ls.models.configure(ls.settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: HearthServer, params: types.DidChangeConfigurationParams) -> None:
        apply_settings(ls, params.settings)
        ls.models.configure(ls.settings)


def apply_settings(ls: HearthServer, raw: Any) -> None:
    parsed, problems = parse_settings(raw, ls.settings)
    workspace = str(ls.workspace_root or "")
    ls.settings, held = hold_untrusted(parsed, ls.settings, workspace, ls.trust)
    for item in held:
        log.warning("setting %s held back until the user allows it", item.name)
        if not ls.trust.first_ask(workspace, item.name, item.value):
            continue
        task = asyncio.get_running_loop().create_task(_ask_trust(ls, workspace, item))
        ls.background_tasks.add(task)
        task.add_done_callback(ls.background_tasks.discard)
    ls.settings_problems = problems
    ls.apply_telemetry_settings()
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
    ls.trust.allow(workspace, item.name, item.value)
    value: dict[str, Any] = {item.name: item.value}
    ls.settings = replace(ls.settings, **value)
    if item.name == "model":
        ls.models.configure(ls.settings)
