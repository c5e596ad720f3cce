"""ruff and mypy are part of the test command: a lint or type error fails the suite."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy():
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_is_in_the_distribution():
    """`pip install .` (not -e) ships only the packages pyproject lists; a missing one breaks the CLI."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    server = ROOT / "server"
    found = {
        ".".join(init.parent.relative_to(server).parts)
        for init in server.rglob("__init__.py")
        if "edit_project" not in init.parts and "examples" not in init.parts
    }
    assert found - listed == set()
