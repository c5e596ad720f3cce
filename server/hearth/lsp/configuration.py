"""initialize and workspace/didChangeConfiguration: settings, encoding, workspace, model.

`initialize` never waits for the model: the model manager starts the worker
in the background and the editor sees progress until it is ready.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.uris import to_fs_path

from hearth.config import parse_settings
from hearth.lsp.server import HearthServer

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
        apply_settings(ls, params.initialization_options)
        ls.start_workspace(None if path is None else Path(path))
        ls.models.configure(ls.settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: HearthServer, params: types.DidChangeConfigurationParams) -> None:
        apply_settings(ls, params.settings)
        ls.models.configure(ls.settings)


def apply_settings(ls: HearthServer, raw: Any) -> None:
    ls.settings, problems = parse_settings(raw, ls.settings)
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
