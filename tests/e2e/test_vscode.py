"""The VS Code extension: its lint and unit tests, and ghost text in a real VS Code (code-server).

code-server comes from the npm registry (client-vscode/e2e/install-code-server.sh), Chromium
from Debian. Where either is missing the tests skip locally and fail in CI (CI=true), so a
broken set-up cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import hearth

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLIENT = Path(__file__).resolve().parents[2] / "client-vscode"
CODE_SERVER = CLIENT / ".code-server" / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
EXAMPLE = Path(hearth.__file__).parent / "examples" / "primes.py"


def require(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI installs it in .ci/run)")
    pytest.skip(why)


def npm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=CLIENT, capture_output=True, text=True, timeout=timeout)


def test_extension_lint_types_and_unit_tests():
    require((CLIENT / "node_modules").is_dir(), "client-vscode/node_modules is missing (npm ci)")
    lint = npm("run", "lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    unit = npm("test")
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "# fail 0" in unit.stdout and "# pass " in unit.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepted_events(database: Path) -> list[tuple[str, str, str]]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT kind, sid, data FROM events WHERE kind IN ('offered', 'accepted')"
        ).fetchall()
    return [(kind, sid, json.loads(data).get("kind", "")) for kind, sid, data in rows]


def _install_extension(tmp_path: Path, user_settings: dict) -> list[str]:
    """Package the extension, install it into a fresh code-server profile; its base command line."""
    require((CLIENT / "node_modules").is_dir(), "client-vscode/node_modules is missing (npm ci)")
    require(CODE_SERVER.exists(), "code-server is not installed (client-vscode/e2e/install-code-server.sh)")
    require(CHROMIUM.exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    vsix = tmp_path / "hearth.vsix"
    package = npm("run", "bundle")
    assert package.returncode == 0, package.stderr
    vsce = ["npx", "vsce", "package", "--no-dependencies", "--skip-license", "-o", str(vsix)]
    packed = subprocess.run(vsce, cwd=CLIENT, capture_output=True, text=True, timeout=300)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    user, extensions = tmp_path / "user", tmp_path / "extensions"
    (user / "User").mkdir(parents=True)
    (user / "User" / "settings.json").write_text(json.dumps({
        "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False, "workbench.tips.enabled": False, **user_settings,
    }))  # fmt: skip
    base = [str(CODE_SERVER), "--user-data-dir", str(user), "--extensions-dir", str(extensions)]
    installed = subprocess.run([*base, "--install-extension", str(vsix)], capture_output=True, text=True,
                               timeout=300)  # fmt: skip
    assert "successfully installed" in installed.stdout, installed.stdout + installed.stderr
    return base


def _start_code_server(
    base: list[str], workspace: Path, data: Path, trust: bool
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "HEARTH_DATA_DIR": str(data), "HEARTH_CACHE_DIR": str(data / "cache")}
    flags = [] if trust else ["--disable-workspace-trust"]
    server = subprocess.Popen(
        [*base, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
         "--disable-update-check", *flags, str(workspace)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    return server, port


def _watch(server: Any, port: int, workspace: Path, wait_ms: int, screenshot: Path) -> tuple[dict, set[str]]:
    """What the page showed, and every `hearth serve` command line seen while it was open (the
    server ends with the window, so it is looked for while the driver runs, not after)."""
    driver = subprocess.Popen(
        ["node", str(CLIENT / "e2e" / "trust.mjs"), f"http://127.0.0.1:{port}/?folder={workspace}",
         str(wait_ms), str(screenshot)],
        cwd=CLIENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CHROMIUM": str(CHROMIUM)},
    )  # fmt: skip
    servers: set[str] = set()
    deadline = time.monotonic() + 600
    while driver.poll() is None and time.monotonic() < deadline:
        servers.update(_hearth_servers(server.pid))
        time.sleep(0.5)
    stdout, _ = driver.communicate(timeout=60)
    seen = json.loads(stdout.strip().splitlines()[-1])
    assert seen["error"] is None and seen["workbench"], seen
    return seen, servers


def _hearth_servers(root_pid: int) -> list[str]:
    import psutil

    found = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "hearth" in line and "serve" in line:
            found.append(line)
    return found


def test_restricted_mode_starts_nothing_and_workspace_settings_name_no_program(tmp_path):
    marker, hostile_log, user_log = (
        tmp_path / "fake-python-ran",
        tmp_path / "hostile.log",
        tmp_path / "user.log",
    )
    fake_python = tmp_path / "fake-python"
    fake_python.write_text(f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n')
    fake_python.chmod(0o755)
    workspace, data = tmp_path / "workspace", tmp_path / "data"
    (workspace / ".vscode").mkdir(parents=True)
    shutil.copy(EXAMPLE, workspace / "primes.py")
    (workspace / ".vscode" / "settings.json").write_text(json.dumps({
        "hearth.pythonPath": str(fake_python), "hearth.serverArgs": ["--log-file", str(hostile_log)],
        "hearth.agentTestCommand": f"touch {marker}",
    }))  # fmt: skip
    base = _install_extension(tmp_path, {
        "hearth.pythonPath": sys.executable, "hearth.serverArgs": ["--log-file", str(user_log)],
        "hearth.agentTestCommand": "echo user-level-command", "security.workspace.trust.enabled": True,
        "security.workspace.trust.startupPrompt": "never", "security.workspace.trust.untrustedFiles": "open",
    })  # fmt: skip

    # Restricted Mode (the folder is not trusted): the extension does not run, no server starts.
    server, port = _start_code_server(base, workspace, data, trust=True)
    try:
        seen, servers = _watch(server, port, workspace, 40_000, tmp_path / "restricted.png")
        assert not seen["flame"] and servers == set()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert not marker.exists() and not user_log.exists()

    # Trusted: the server starts with the user's Python and arguments, never the workspace's, and
    # the user's own test command is what the server asks about.
    server, port = _start_code_server(base, workspace, data, trust=False)
    try:
        seen, servers = _watch(server, port, workspace, 180_000, tmp_path / "trusted.png")
        assert seen["flame"], seen
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert servers and all(str(fake_python) not in line and "-P -m hearth serve" in line for line in servers)
    assert user_log.exists() and not hostile_log.exists() and not marker.exists()
    questions = [n for n in seen["notifications"] if "agentTestCommand" in n]
    assert questions and all("echo user-level-command" in q and "touch" not in q for q in questions), seen


@pytest.mark.parametrize(("key", "kind"), [("tab", "full"), ("word", "partial")])
def test_ghost_text_in_code_server_is_accepted(tmp_path, key, kind):
    base = _install_extension(tmp_path, {
        "hearth.pythonPath": sys.executable, "hearth.filter": False,
        "hearth.deadlineMs": 30000,  # a loaded CI machine evaluates the first (cold) prompt slowly
        "security.workspace.trust.enabled": False,
    })  # fmt: skip
    workspace, data = tmp_path / "workspace", tmp_path / "data"
    workspace.mkdir()
    shutil.copy(EXAMPLE, workspace / "primes.py")
    server, port = _start_code_server(base, workspace, data, trust=False)
    try:
        screenshot = tmp_path / "ghost-text.png"
        driver = subprocess.run(
            ["node", str(CLIENT / "e2e" / "ghost-text.mjs"), f"http://127.0.0.1:{port}/?folder={workspace}",
             "primes.py", "17", "\nif is_prime(n):", str(screenshot), key],
            cwd=CLIENT, capture_output=True, text=True, timeout=600,
            env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )  # fmt: skip
        seen = json.loads(driver.stdout.strip().splitlines()[-1])
        assert seen["error"] is None, seen
        assert screenshot.stat().st_size > 10_000
        evidence = CLIENT / "e2e" / "last-run"
        evidence.mkdir(exist_ok=True)
        shutil.copy(screenshot, evidence / f"ghost-text-{key}.png")
        ghost = seen["ghost"].strip()
        assert ghost, seen
        saved = (workspace / "primes.py").read_text()
        assert saved.startswith(EXAMPLE.read_text().rstrip("\n"))
        taken = saved[len(EXAMPLE.read_text().rstrip("\n")) :]
        # Tab takes it all; the word accept takes its first word only.
        if key == "tab":
            assert ghost in saved, (ghost, taken)
        else:
            first_word = ghost.lstrip().split(".")[0].split("(")[0]
            last_line = taken.rstrip("\n").split("\n")[-1]
            assert last_line.strip() == first_word and ghost not in saved, (ghost, taken)
        database = data / "telemetry.sqlite3"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e[0] == "accepted" for e in accepted_events(database)):
            time.sleep(0.5)
        events = accepted_events(database)
        accepted = {sid for event, sid, how in events if event == "accepted" and how == kind}
        offered = {sid for event, sid, _how in events if event == "offered"}
        assert accepted and accepted <= offered, events
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_status_menu_chat_view_and_edit_preview_in_code_server(tmp_path):
    """The rest of the extension in a real workbench: its menu, its chat view, and an edit that
    reaches the file only through VS Code's refactor preview (a rename: jedi plans it, so what
    the edit does is known; the chat answer comes from the real model, so only its presence is)."""
    base = _install_extension(tmp_path, {
        "hearth.pythonPath": sys.executable, "hearth.deadlineMs": 30000,
        "security.workspace.trust.enabled": False,
    })  # fmt: skip
    workspace, data = tmp_path / "workspace", tmp_path / "data"
    workspace.mkdir()
    shutil.copy(EXAMPLE, workspace / "primes.py")
    before = (workspace / "primes.py").read_text()
    server, port = _start_code_server(base, workspace, data, trust=False)
    try:
        shots = tmp_path / "workbench"
        driver = subprocess.run(
            ["node", str(CLIENT / "e2e" / "workbench.mjs"), f"http://127.0.0.1:{port}/?folder={workspace}",
             str(workspace / "primes.py"), "rename is_prime to check_prime", str(shots)],
            cwd=CLIENT, capture_output=True, text=True, timeout=900,
            env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )  # fmt: skip
        seen = json.loads(driver.stdout.strip().splitlines()[-1])
        evidence = CLIENT / "e2e" / "last-run"
        evidence.mkdir(exist_ok=True)
        for shot in tmp_path.glob("workbench-*.png"):
            shutil.copy(shot, evidence / shot.name)
        assert seen["error"] is None, seen
        # The menu the flame opens offers what the extension contributes.
        assert any("Pick model" in row for row in seen["menu"]), seen["menu"]
        assert any("Show statistics" in row for row in seen["menu"]), seen["menu"]
        # The chat view got an answer, and the server stored the conversation.
        assert seen["chat"]["answer"] and not seen["chat"]["answer"].startswith("Error:"), seen["chat"]
        from hearth.agent.conversations import CONVERSATIONS_FILE, ConversationStore

        store = ConversationStore(data / CONVERSATIONS_FILE)
        [summary] = store.list()
        conversation = store.get(summary.id)
        assert conversation is not None and [m.role for m in conversation.messages] == ["user", "assistant"]
        assert seen["chat"]["question"] in conversation.messages[0].content
        # The edit came through the preview, where it changed nothing until ticked and applied.
        assert any("check_prime" in row for row in seen["preview"]) and seen["applied"], seen
        assert seen["diskDuringPreview"] == before
        assert seen["diskAfterApply"] == before.replace("is_prime", "check_prime"), seen
        assert any("Hearth: rename by jedi" in n for n in seen["notifications"]), seen
        # Undo from the notification restores the exact text, again through the preview.
        assert seen["diskAfterUndo"] == before == (workspace / "primes.py").read_text()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
