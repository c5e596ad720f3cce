"""Attacks a repository (or a web page, or another local process) can make, end to end.

Each attack would leave a marker (a file, a reply, a line of output); each test
asserts the marker is absent and, as a positive control, that the same set-up
reaches its effect when the protection is off or the path is the legitimate one,
so a marker missing for another reason cannot pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hearth.bench.edits import copy_project
from hearth.lsp.stdio_client import StdioClient
from tests.e2e.editor import CAPABILITIES, DiskEditor
from tests.security.clients import (
    CONSOLE_SCRIPT,
    PYTHON,
    SocketClient,
    found,
    frames,
    plant_modules,
    raw_exchange,
    start_tcp_server,
)

pytestmark = pytest.mark.e2e

TOKEN = "t0ken-for-the-hostile-workspace-tests"
SHADOWED = ["multiprocessing", "jedi", "numpy", "sqlite_utils", "asyncio", "llama_cpp", "tree_sitter"]
"""Modules Hearth's processes import after start-up, planted in the workspace."""


def _rename_attack(root: Path, test_command: str, token: str | None = None) -> list[dict]:
    """What a hostile page would POST: set a test command, open a file, ask for a rename."""
    options: dict = {"agentTestCommand": test_command}
    if token is not None:
        options["authToken"] = token
    path = root / "shelf" / "models.py"
    uri, text = path.as_uri(), path.read_text()
    instruction = {"instruction": "rename total_value to inventory_value"}
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": root.as_uri(), "capabilities": CAPABILITIES,
            "initializationOptions": options}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}}},
        {"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": {
            "command": "hearth.edit", "arguments": [instruction]}},
    ]  # fmt: skip


# -- 1. the TCP port --------------------------------------------------------------------------


def test_a_web_page_post_to_the_tcp_port_is_closed_unanswered(edit_project, tmp_path):
    server, port = start_tcp_server(TOKEN, tmp_path / "data")
    try:
        body = frames(*_rename_attack(edit_project, "sh -c 'echo RAN; exit 1'"))
        post = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        assert raw_exchange(port, post) == b""
        # The frames alone, without the token (another local process racing the editor): closed.
        assert raw_exchange(port, body) == b""
        # A first message that is not initialize, even with the token: closed.
        notification = {"jsonrpc": "2.0", "method": "initialized", "params": {"authToken": TOKEN}}
        assert raw_exchange(port, frames(notification, *_rename_attack(edit_project, "true", TOKEN))) == b""

        # Positive control: the same frames with the token are served, up to the edit itself.
        client = SocketClient(port)
        answers: list[str] = []

        def on_request(message: dict) -> object:
            if message["method"] == "window/showMessageRequest":
                answers.append(message["params"]["message"])
                return {"title": "Allow"}
            return {"applied": True} if message["method"] == "workspace/applyEdit" else None

        client.on_request = on_request
        for message in _rename_attack(edit_project, "sh -c 'echo RAN-THE-TEST-COMMAND; exit 1'", TOKEN):
            if "id" in message:
                client.send(message)
            else:
                client.notify(message["method"], message["params"])
            if message.get("method") == "initialize":
                assert client.wait(1, timeout=30)["result"]["capabilities"]
                client.wait_answered(1, timeout=120)
                _wait_until_allowed(tmp_path / "data")  # the edit must come after the Allow
        result = client.wait(2, timeout=120)["result"]
        assert "agentTestCommand" in answers[0]
        assert result["applied"] is False and "RAN-THE-TEST-COMMAND" in result["message"]
        client.close()
    finally:
        server.kill()
        server.wait()


def test_the_tcp_port_listens_on_loopback_only_unless_asked(tmp_path):
    env = {**os.environ, "HEARTH_AUTH_TOKEN": TOKEN}
    refused = subprocess.run([CONSOLE_SCRIPT, "serve", "--tcp", "0.0.0.0:0"], capture_output=True, text=True,
                             env=env, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr


def test_the_server_writes_its_own_token_file_private(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HEARTH_AUTH_TOKEN"}
    env["HEARTH_DATA_DIR"] = str(tmp_path / "data")
    server = subprocess.Popen([CONSOLE_SCRIPT, "serve", "--tcp", "127.0.0.1:0"], stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        token_file = Path(line.rsplit("token: ", 1)[1].strip())
        assert token_file.stat().st_mode & 0o777 == 0o600
        port = int(line.split("127.0.0.1:")[1].split(";")[0])
        client = SocketClient(port)
        client.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "capabilities": {},
            "initializationOptions": {"authToken": token_file.read_text().strip()}}})  # fmt: skip
        assert "capabilities" in client.wait(1, timeout=30)["result"]
        client.close()
    finally:
        server.kill()
        server.wait()


# -- 2. modules in the workspace ---------------------------------------------------------------


LAUNCHES = {
    "console script": [CONSOLE_SCRIPT, "serve"],
    "python -m": [PYTHON, "-m", "hearth", "serve"],
    "python -P -m (the extension)": [PYTHON, "-P", "-m", "hearth", "serve"],
}


@pytest.mark.parametrize("launch", list(LAUNCHES))
def test_no_module_of_the_workspace_is_imported(tmp_path, launch):
    workspace, markers = tmp_path / "repo", tmp_path / "markers"
    workspace.mkdir()
    markers.mkdir()
    plant_modules(workspace, markers, SHADOWED)
    if "-P" in LAUNCHES[launch]:
        plant_modules(workspace, markers, ["hearth"])  # only a safe launch can keep this one out
    (workspace / "app.py").write_text("import json\n\ndef load(path):\n    return json.loads(path)\n")
    client = StdioClient(LAUNCHES[launch], env={"PYTHONUNBUFFERED": "1"}, cwd=workspace)
    client.initialize({"debounceMs": 0}, root_uri=workspace.as_uri())
    assert client.wait_model_ready()["state"] == "ready"
    uri = (workspace / "app.py").as_uri()
    client.open_document(uri, "python", (workspace / "app.py").read_text())
    response = client.wait(client.inline_completion(uri, {"line": 3, "character": 27}, 1), timeout=360)
    assert "result" in response
    assert client.close() == 0
    assert found(markers) == []

    # Positive control: the same folder as the working directory of a plain `python -c`.
    planted = [*SHADOWED, "hearth"] if "-P" in LAUNCHES[launch] else SHADOWED
    for name in planted:
        subprocess.run([PYTHON, "-c", f"import {name}"], cwd=workspace, capture_output=True, timeout=60)
    assert found(markers) == sorted(planted)


# -- 3. programs named by the repository -------------------------------------------------------


def _fsmonitor_repo(root: Path, marker: Path) -> None:
    root.mkdir()
    (root / "mod.py").write_text("def helper():\n    return 1\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "mod.py"], check=True)
    hook = root / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\necho 2\n")
    hook.chmod(0o755)
    subprocess.run(["git", "-C", str(root), "config", "core.fsmonitor", str(hook)], check=True)


def test_the_repositorys_fsmonitor_never_runs(tmp_path):
    root, marker = tmp_path / "repo", tmp_path / "fsmonitor-ran"
    _fsmonitor_repo(root, marker)
    client = StdioClient(env={"PYTHONUNBUFFERED": "1"}, cwd=root)
    client.initialize({"debounceMs": 0}, root_uri=root.as_uri())
    deadline = time.monotonic() + 60
    while not client.request("hearth/repoMap", {"budget": 200})["result"]["ready"]:
        assert time.monotonic() < deadline, "the index never finished"
        time.sleep(0.1)
    assert "helper" in client.request("hearth/repoMap", {"budget": 200})["result"]["map"]
    client.close()
    context = subprocess.run([CONSOLE_SCRIPT, "context", f"{root / 'mod.py'}:2"], capture_output=True,
                             text=True, timeout=120, cwd=root)  # fmt: skip
    assert context.returncode == 0, context.stderr
    assert not marker.exists()

    # Positive control: git itself, run plainly in that repository, runs the program.
    subprocess.run(["git", "-C", str(root), "status"], capture_output=True, timeout=60)
    assert marker.exists()


def test_a_jedi_project_file_never_picks_the_python_that_runs(tmp_path):
    folder, marker = tmp_path / "loose", tmp_path / "jedi-ran"
    fake = folder / "env" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    (folder / ".jedi").mkdir()
    project = [1, {"path": str(folder), "environment_path": str(folder / "env")}]
    (folder / ".jedi" / "project.json").write_text(json.dumps(project))
    source = (
        "from os.path import join\n\n\ndef build(parts):\n    return join(parts)\n\n\n"
        "def other(parts):\n    return join(\n"
    )
    (folder / "build.py").write_text(source)
    # No workspace folder and the folder as working directory: jedi would look for .jedi here.
    client = StdioClient(env={"PYTHONUNBUFFERED": "1"}, cwd=folder)
    # reuse off: asking at the same places again must build a new prompt, with what jedi found since.
    client.initialize({"debounceMs": 0, "memberCheck": True, "filter": False, "reuse": False})
    assert client.wait_model_ready()["state"] == "ready"
    uri = (folder / "build.py").as_uri()
    client.open_document(uri, "python", source)
    # jedi answers in the background; a request in the other function shows what it found.
    deadline, library, turn = time.monotonic() + 60, [], 0
    while not library:
        assert time.monotonic() < deadline, "jedi never resolved the imported name"
        position = [{"line": 8, "character": 16}, {"line": 4, "character": 16}][turn % 2]
        client.wait(client.inline_completion(uri, position, 1), timeout=360)
        parts = client.request("hearth/context", {"uri": uri})["result"]["parts"]
        library = [p for p in parts if p["source"] == "library"]
        turn += 1
        time.sleep(0.2)
    client.close()
    assert not marker.exists()

    # Positive control: a jedi told to use that Python runs it (jedi before 0.20.1 also took it from
    # the project file), so the marker is missing for no other reason.
    env = str(folder / "env")
    told = f"import jedi; jedi.Project({str(folder)!r}, environment_path={env!r}).get_environment()"
    subprocess.run([PYTHON, "-c", told], capture_output=True, timeout=120)
    assert marker.exists()


# -- 4. settings that run programs --------------------------------------------------------------


def _wait_until_allowed(data_dir: Path) -> None:
    """The server remembers a yes (the trust file), then puts the setting live in the same
    synchronous step: once the file is there, a request sent now is handled after both."""
    deadline = time.monotonic() + 120
    while not (data_dir / "trusted-settings.json").exists():
        assert time.monotonic() < deadline, "the Allow never reached the server"
        time.sleep(0.05)


def _edit_with(root: Path, test_command: str, answer: str | None, data_dir: Path) -> tuple[dict, list[str]]:
    client = StdioClient(env={"PYTHONUNBUFFERED": "1", "HEARTH_DATA_DIR": str(data_dir)})
    editor = DiskEditor(client)
    asked: list[str] = []

    def on_request(message: dict) -> object:
        if message["method"] == "window/showMessageRequest":
            asked.append(message["params"]["message"])
            return None if answer is None else {"title": answer}
        return editor.handle(message)

    client.on_request = on_request
    client.initialize({"agentTestCommand": test_command}, CAPABILITIES, root_uri=root.as_uri())
    if answer is not None:
        client.wait_answered(1, timeout=120)  # the answer reaches the server before the edit is asked
    if answer == "Allow":
        _wait_until_allowed(data_dir)
    result = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "rename total_value to inventory_value"}]}, timeout=120)["result"]  # fmt: skip
    client.close()
    return result, asked


def test_a_workspace_test_command_runs_only_once_the_user_allows_it(tmp_path):
    command = "sh -c 'echo RAN-THE-TEST-COMMAND; exit 1'"
    data = tmp_path / "data"
    declined, asked = _edit_with(copy_project(tmp_path / "p1"), command, "Don't allow", data)
    assert len(asked) == 1 and "sh -c" in asked[0]
    assert "RAN-THE-TEST-COMMAND" not in json.dumps(declined) and declined["applied"] is True

    # Positive control: allowed, the command runs (and its failure stops the edit); remembered.
    trusted = copy_project(tmp_path / "p2")
    allowed, asked = _edit_with(trusted, command, "Allow", data)
    assert len(asked) == 1 and allowed["applied"] is False and "RAN-THE-TEST-COMMAND" in allowed["message"]
    remembered, asked = _edit_with(trusted, command, None, data)
    assert asked == [] and "RAN-THE-TEST-COMMAND" in remembered["message"]
    assert (data / "trusted-settings.json").stat().st_mode & 0o777 == 0o600


def test_a_model_path_from_the_workspace_is_not_loaded_unasked(tmp_path):
    model = tmp_path / "repo" / "evil.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF" + b"\x00" * 64)
    client = StdioClient(env={"PYTHONUNBUFFERED": "1"})
    asked: list[str] = []

    def on_request(message: dict) -> None:
        if message["method"] == "window/showMessageRequest":
            asked.append(message["params"]["message"])

    client.on_request = on_request
    client.initialize({"model": str(model)}, root_uri=model.parent.as_uri())
    status = client.wait_model_ready()
    assert status["state"] == "ready" and status["path"] != str(model)
    assert len(asked) == 1 and "evil.gguf" in asked[0]
    client.close()


def _engine_settings_from_the_workspace(root: Path, answer: str, data_dir: Path) -> tuple[list[str], int]:
    """A workspace's settings point Hearth at an engine; how many connections that engine got."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    client = StdioClient(env={"PYTHONUNBUFFERED": "1", "HEARTH_DATA_DIR": str(data_dir)})
    asked: list[str] = []

    def on_request(message: dict) -> object:
        if message["method"] == "window/showMessageRequest":
            asked.append(message["params"]["message"])
            return {"title": answer}
        return None

    client.on_request = on_request
    client.initialize({"backend": "llamacpp", "endpoint": f"http://127.0.0.1:{port}"}, root_uri=root.as_uri())
    client.wait_answered(2, timeout=120)  # both questions answered, and the answers read
    connections = 0
    # Allowed, the probe connects at once; refused, nothing would connect even in a while.
    deadline = time.monotonic() + (120 if answer == "Allow" else 5)
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            conn, _ = listener.accept()
            conn.close()
            connections += 1
        if connections:
            break
    client.close()
    listener.close()
    return asked, connections


def test_a_workspace_cannot_send_code_to_an_engine_unasked(tmp_path):
    asked, connections = _engine_settings_from_the_workspace(tmp_path / "p1", "Don't allow", tmp_path / "d1")
    assert len(asked) == 2 and any("127.0.0.1" in question for question in asked)
    assert connections == 0
    # Positive control: both allowed, Hearth connects to the engine the settings name.
    asked, connections = _engine_settings_from_the_workspace(tmp_path / "p2", "Allow", tmp_path / "d2")
    assert len(asked) == 2 and connections >= 1


# -- 5. edits a client would apply unseen --------------------------------------------------------


def _edit_in_a_client_without_previews(root: Path, answer: str) -> tuple[dict, list[str], DiskEditor]:
    client = StdioClient(env={"PYTHONUNBUFFERED": "1"})
    editor = DiskEditor(client)
    asked: list[str] = []

    def on_request(message: dict) -> object:
        if message["method"] == "window/showMessageRequest":
            asked.append(message["params"]["message"])
            return {"title": answer}
        return editor.handle(message)

    client.on_request = on_request
    neovim = {"workspace": {"workspaceEdit": {"documentChanges": True}}}  # no changeAnnotationSupport
    client.initialize({}, neovim, root_uri=root.as_uri())
    result = client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "rename total_value to inventory_value"}]}, timeout=120)["result"]  # fmt: skip
    client.close()
    return result, asked, editor


def test_a_client_without_previews_is_shown_the_diff_and_a_no_sends_nothing(tmp_path):
    root = copy_project(tmp_path / "declined")
    before = (root / "shelf" / "models.py").read_text()
    result, asked, editor = _edit_in_a_client_without_previews(root, "Cancel")
    assert len(asked) == 1 and "+def inventory_value" in asked[0]
    assert result["applied"] is False and editor.edits == []
    assert (root / "shelf" / "models.py").read_text() == before

    # Positive control: the same edit, answered Apply, reaches the editor and the file.
    root = copy_project(tmp_path / "applied")
    result, asked, editor = _edit_in_a_client_without_previews(root, "Apply")
    assert len(asked) == 1 and result["applied"] is True and len(editor.edits) == 1
    assert "def inventory_value" in (root / "shelf" / "models.py").read_text()
