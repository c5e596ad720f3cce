"""The agent's test command in its box: no network, no home, no survivors, bounded output."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hearth.agent.sandbox import OUTPUT_CAP, bubblewrap, run_confined

ESCAPE = """
import os, socket, subprocess, sys
home, port = sys.argv[1], int(sys.argv[2])
for target in (os.path.join(home, "written-home"), "/tmp/hearth-sandbox-written-tmp"):
    try:
        open(target, "w").write("x")
        print("WROTE", target)
    except OSError as exc:
        print("NO-WRITE", target, exc.errno)
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).sendall(b"leak")
    print("CONNECTED")
except OSError:
    print("NO-NETWORK")
secret = os.path.join(home, "secret")
print("SECRET", open(secret).read() if os.path.exists(secret) else "hidden")
subprocess.Popen(["setsid", "sh", "-c", "sleep 2; touch " + os.path.join(home, "survivor")])
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home directory of our own, with a secret in it; Path.home() follows HOME."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "secret").write_text("ssh-key")
    monkeypatch.setenv("HOME", str(folder))
    Path("/tmp/hearth-sandbox-written-tmp").unlink(missing_ok=True)
    return folder


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    yield server
    server.close()


def _connected(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


def _escape(tmp_path: Path, home: Path, listener: socket.socket, sandbox: bool):
    work = tmp_path / ("boxed" if sandbox else "open")
    work.mkdir()
    (work / "escape.py").write_text(ESCAPE)
    port = str(listener.getsockname()[1])
    return run_confined(["python3", "escape.py", str(home), port], work, 60, sandbox=sandbox)


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI is required to have bubblewrap")
def test_ci_has_the_sandbox():
    assert bubblewrap() is not None, "CI must run the sandbox itself (apt-get install bubblewrap)"


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap is not installed")
def test_the_box_has_no_network_no_home_and_no_survivors(tmp_path, home, listener):
    result = _escape(tmp_path, home, listener, sandbox=True)
    assert result.sandboxed and result.returncode == 0, result
    assert "NO-NETWORK" in result.output and not _connected(listener)
    assert "SECRET hidden" in result.output
    assert not (home / "written-home").exists() and not Path("/tmp/hearth-sandbox-written-tmp").exists()
    time.sleep(3)
    assert not (home / "survivor").exists()


def test_without_the_box_the_same_command_escapes_but_no_survivor_outlives_the_run(tmp_path, home, listener):
    # Positive control for the box: the same command, run plainly, reaches home, /tmp and the network.
    result = _escape(tmp_path, home, listener, sandbox=False)
    assert not result.sandboxed and "not sandboxed" in result.note
    assert "CONNECTED" in result.output and _connected(listener)
    assert "SECRET ssh-key" in result.output and (home / "written-home").exists()
    # The setsid child left the process group, yet carried the run's marker and was killed.
    time.sleep(3)
    assert not (home / "survivor").exists()


def test_a_setsid_child_outlives_a_process_group_kill(tmp_path, home):
    # Positive control for the marker sweep: killing the process group alone leaves it running.
    survivor = home / "survivor-plain"
    process = subprocess.Popen(["sh", "-c", f"setsid sh -c 'sleep 1; touch {survivor}' & sleep 0.2"],
                               start_new_session=True)  # fmt: skip
    process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    time.sleep(2)
    assert survivor.exists()


def test_output_is_capped_and_a_slow_command_is_stopped(tmp_path):
    loud = run_confined(["python3", "-c", "print('x' * 10_000_000)"], tmp_path, 60)
    assert loud.returncode == 0 and len(loud.output) == OUTPUT_CAP
    slow = run_confined(["sleep", "30"], tmp_path, 1)
    assert slow.returncode is None


@pytest.mark.skipif(bubblewrap() is None, reason="bubblewrap is not installed")
def test_tools_in_hidden_folders_stay_usable_read_only(tmp_path, monkeypatch):
    # A virtualenv under /tmp or the home directory: hidden by the box, but the command needs it.
    tool = tmp_path / "venv" / "bin" / "greet"
    tool.parent.mkdir(parents=True)
    tool.write_text('#!/bin/sh\necho hello-from-the-venv\ntouch "$0.written" 2>/dev/null || echo read-only\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    for argv in (["greet"], [str(tool)]):
        result = run_confined(argv, work, 30)
        assert result.sandboxed and result.returncode == 0, result
        assert "hello-from-the-venv" in result.output and "read-only" in result.output
    assert not Path(f"{tool}.written").exists()
