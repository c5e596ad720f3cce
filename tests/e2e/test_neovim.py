"""A real editor that is not VS Code: headless Neovim's built-in LSP client against `hearth serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hearth

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SCRIPT = Path(__file__).parent / "nvim" / "hearth_test.lua"
EXAMPLE = Path(hearth.__file__).parent / "examples" / "primes.py"


@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed (apt-get install neovim)")
def test_neovim_gets_and_accepts_a_completion_item(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    target = work / "primes.py"
    target.write_text(EXAMPLE.read_text())
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "HEARTH_NVIM_OUT": str(out),
        "HEARTH_SERVE_CMD": f"{sys.executable} -m hearth serve",
    }
    subprocess.run(
        ["nvim", "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}", str(target)],
        cwd=work, env=env, timeout=180, check=False, capture_output=True,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert "error" not in result, result.get("error")
    assert result["ready"] and result["item"], result
    suggestion = result["item"]["textEdit"]["newText"]
    assert suggestion.strip()
    original = EXAMPLE.read_text().rstrip("\n").split("\n")
    buffer = result["buffer"].split("\n")
    assert buffer[: len(original) - 1] == original[:-1]
    # The last line now holds what it had plus the accepted suggestion.
    assert "\n".join(buffer[len(original) - 1 :]).startswith(original[-1].rstrip())
    assert len(result["buffer"]) > len("\n".join(original))
    sid = result["item"]["command"]["arguments"][0]
    accepted = [e for e in result["recent"] if e.get("event") == "accepted"]
    assert accepted and accepted[-1]["id"] == sid
