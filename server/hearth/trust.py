"""Settings that run programs, read files or send code away are the user's to give, once per workspace.

An editor forwards workspace settings (`.vscode/settings.json`, a project's
`.nvim.lua`) to the server as if the user had typed them. So a value that
names a program to run (`agentTestCommand`), a file to load outside the
data directory (`model` as a path, `apiKeyFile`) or where code is sent (a
shared engine's `backend` and `endpoint`) is held back when it arrives over LSP
until the user has said yes to that exact value for that workspace; the
answer is remembered in the data directory (`trusted-settings.json`, 0600),
never in the workspace. Values given on Hearth's own command line are the
user's and are not asked about.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hearth.config import Settings
from hearth.paths import data_dir

TRUST_FILE = "trusted-settings.json"
GUARDED = (
    "agent_test_command",
    "model",
    "backend",
    "endpoint",
    "api_key_env",
    "api_key_file",
    "tls_verify",
    "chat_model",
    "chat_backend",
    "chat_endpoint",
)
"""Settings that run a program, read a file, or say where code goes."""


@dataclass(frozen=True)
class HeldSetting:
    name: str
    """The Settings field."""
    value: str | bool
    question: str
    """What the user is asked, naming the value and what it would do."""


def _question(name: str, value: str | bool, workspace: str) -> str | None:
    if name.startswith("chat_"):  # the chat model's own: asked about as the completion model's are
        shared = name.removeprefix("chat_")
        asked = _question(shared, value, workspace) if value else None  # empty: the completion model's
        setting = f"(hearth.chat{shared.title()})"
        return None if asked is None else asked.replace(f"(hearth.{shared})", setting)
    where = workspace or "files opened without a folder"
    if name == "agent_test_command" and isinstance(value, str) and value.strip():
        return (
            f"Hearth: the settings for {where} ask to run `{value}` on a copy of the workspace "
            "after each edit draft (hearth.agentTestCommand). Allow this command?"
        )
    if name == "backend" and value != "local":
        return (
            f"Hearth: the settings for {where} ask to send your code to a shared {value} engine "
            "(hearth.backend). Allow this?"
        )
    if name == "endpoint" and value:
        return f"Hearth: the settings for {where} ask to send your code to {value} (hearth.endpoint). Allow?"
    if name == "api_key_env" and value:
        return (
            f"Hearth: the settings for {where} ask to send the environment variable {value} to the engine "
            "as its API key (hearth.apiKeyEnv). Allow this?"
        )
    if name == "api_key_file" and value:
        return (
            f"Hearth: the settings for {where} ask to read {value} and send it to the engine as its API key "
            "(hearth.apiKeyFile). Allow this?"
        )
    if name == "tls_verify" and value is False:
        return (
            f"Hearth: the settings for {where} ask to send your code without checking the engine's "
            "certificate (hearth.tlsVerify). Allow this?"
        )
    if name == "model" and isinstance(value, str) and _is_outside_path(value):
        return (
            f"Hearth: the settings for {where} ask to load the model file {value} (hearth.model). "
            "Allow this file?"
        )
    return None


def _is_outside_path(value: str) -> bool:
    """A model given as a file path (not a catalog name) outside Hearth's own models folder."""
    if not value or ("/" not in value and "\\" not in value and not value.endswith(".gguf")):
        return False
    try:
        Path(value).expanduser().resolve().relative_to((data_dir() / "models").resolve())
    except (ValueError, OSError):
        return True
    return False


class TrustStore:
    """The (workspace, setting, value) triples the user allowed, as hashes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._asked: set[str] = set()

    def first_ask(self, workspace: str, name: str, value: str | bool) -> bool:
        """True once per process for each value: the user is not asked again after a no."""
        key = self._key(workspace, name, value)
        if key in self._asked:
            return False
        self._asked.add(key)
        return True

    @staticmethod
    def _key(workspace: str, name: str, value: str | bool) -> str:
        return hashlib.sha256(json.dumps([workspace, name, value]).encode()).hexdigest()

    def _load(self) -> set[str]:
        try:
            data = json.loads(self._path.read_text("utf-8"))
        except (OSError, ValueError):
            return set()
        return (
            {item for item in data.get("allowed", []) if isinstance(item, str)}
            if isinstance(data, dict)
            else set()
        )

    def allowed(self, workspace: str, name: str, value: str | bool) -> bool:
        return self._key(workspace, name, value) in self._load()

    def allow(self, workspace: str, name: str, value: str | bool) -> None:
        allowed = self._load() | {self._key(workspace, name, value)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"allowed": sorted(allowed)}, handle)
        os.replace(temporary, self._path)


def hold_untrusted(
    new: Settings, current: Settings, workspace: str, store: TrustStore
) -> tuple[Settings, list[HeldSetting]]:
    """`new` with each value that needs the user's yes (and lacks it) kept at `current`'s."""
    held: list[HeldSetting] = []
    kept: dict[str, Any] = {}
    for name in GUARDED:
        value = getattr(new, name)
        if value == getattr(current, name):
            continue
        question = _question(name, value, workspace)
        if question is not None and not store.allowed(workspace, name, value):
            held.append(HeldSetting(name, value, question))
            kept[name] = getattr(current, name)
    return replace(new, **kept), held
