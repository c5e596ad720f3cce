"""`hearth edit`, `hearth undo` and `hearth chat` as a user runs them in a terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def hearth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_edit_prints_a_diff_writes_only_with_apply_and_undo_restores_bytes(edit_project):
    root = edit_project
    models = root / "shelf" / "models.py"
    models.write_bytes(models.read_bytes().replace(b"\n", b"\r\n"))  # CRLF must survive the round trip
    before = {p: p.read_bytes() for p in root.rglob("*.py")}

    dry = hearth("edit", "rename total_value to inventory_value", cwd=root)
    assert dry.returncode == 0, dry.stderr
    assert "+def inventory_value(items):" in dry.stdout and "not applied" in dry.stderr
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == before

    applied = hearth("edit", "rename total_value to inventory_value", "--apply", cwd=root)
    assert applied.returncode == 0, applied.stderr
    assert b"def inventory_value(items):\r\n" in models.read_bytes()
    assert "total_value" not in (root / "shelf" / "report.py").read_text()

    undone = hearth("undo", cwd=root)
    assert undone.returncode == 0, undone.stderr
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == before
    assert hearth("undo", cwd=root).returncode == 1  # nothing left to undo


def test_edit_refuses_paths_outside_the_workspace(edit_project, tmp_path):
    root = edit_project
    outside = tmp_path / "other.py"
    outside.write_text("x = 1\n")
    result = hearth("edit", "add a docstring", str(outside), "--apply", cwd=root)
    assert result.returncode == 2 and "outside the workspace" in result.stderr
    assert outside.read_text() == "x = 1\n"


def test_ctrl_c_stops_the_answer_not_the_program(tmp_path):
    import psutil

    process = subprocess.Popen(
        [sys.executable, "-m", "hearth", "chat"], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"Write a very long essay about every sorting algorithm you know.\n")
    process.stdin.flush()
    os.set_blocking(process.stdout.fileno(), False)
    seen = _read_until(process, lambda out: len(out.removeprefix(b"you> ").strip()) >= 8)
    # The model worker is paused as soon as the answer has begun, so the answer is still
    # unfinished when Ctrl-C lands, however fast or slow the machine.
    workers = [p for p in psutil.Process(process.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 1, workers
    workers[0].suspend()
    try:
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        seen += _read_until(process, lambda out: b"[stopped]" in seen + out)
    finally:
        workers[0].resume()
    # The next question is answered: the stopped answer gives the model back.
    process.stdin.write(b"Say hello.\n")
    process.stdin.close()
    assert process.wait(120) == 0
    text = (seen + (process.stdout.read() or b"")).decode()
    assert "[stopped]" in text
    answer = text.split("[stopped]")[1].replace("you>", "").strip()
    assert answer, text
    assert "busy" not in process.stderr.read().decode()


def _read_until(process: subprocess.Popen[bytes], enough: Any, timeout: float = 120) -> bytes:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while not enough(seen) and time.monotonic() < deadline:
        seen += os.read(process.stdout.fileno(), 4096) if _readable(process) else b""
    assert enough(seen), seen
    return seen


def _readable(process: subprocess.Popen[bytes]) -> bool:
    import select

    assert process.stdout is not None
    return bool(select.select([process.stdout], [], [], 0.1)[0])
