"""The VS Code extension's settings are the server's settings, one to one, with the same defaults."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path

from hearth.config import Settings, parse_settings

MANIFEST = Path(__file__).resolve().parents[2] / "client-vscode" / "package.json"
CLIENT_ONLY = {"pythonPath", "serverArgs"}


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def test_every_server_setting_is_contributed_with_its_default():
    properties = json.loads(MANIFEST.read_text())["contributes"]["configuration"]["properties"]
    contributed = {key.removeprefix("hearth."): spec for key, spec in properties.items()}
    server = {camel(f.name): f for f in fields(Settings)}
    assert set(contributed) - CLIENT_ONLY == set(server)
    for key, field in server.items():
        default = field.default if field.default is not MISSING else field.default_factory()  # type: ignore[misc]
        assert contributed[key]["default"] == default, key
        assert contributed[key].get("description") or contributed[key].get("markdownDescription"), key


def test_the_defaults_the_extension_sends_parse_without_complaint():
    properties = json.loads(MANIFEST.read_text())["contributes"]["configuration"]["properties"]
    sent = {key.removeprefix("hearth."): spec["default"] for key, spec in properties.items()}
    for key in CLIENT_ONLY:
        sent.pop(key)
    settings, problems = parse_settings({"hearth": sent})
    assert problems == [] and settings == Settings()
