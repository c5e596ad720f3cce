"""The import rule the layout promises: every import points down (README, "Repository layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server" / "hearth"

RANKS = {
    # Foundations anything may use.
    **dict.fromkeys(("text", "config", "paths", "logs", "safepath", "events", "trust"), 0),
    "model": 1,
    "context": 1,
    "completion": 2,
    "agent": 3,
    "services": 4,
    "lsp": 5,
    "commands": 6,
    "bench": 6,
    "cli": 7,
    "__main__": 7,
    "__init__": 0,
}
LSP_ROOT = "hearth.lsp.server"


def modules(folder: Path) -> list[Path]:
    return [
        path
        for path in folder.rglob("*.py")
        if "examples" not in path.parts and "edit_project" not in path.parts
    ]


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def layer(path: Path) -> str:
    relative = path.relative_to(SERVER)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize("path", modules(SERVER), ids=lambda p: str(p.relative_to(SERVER)))
def test_hearth_imports_point_down(path):
    own = layer(path)
    assert own in RANKS, f"{own} has no place in the layering; add it to RANKS and the README"
    upward = [
        name
        for name in imports(path)
        if name.startswith("hearth.") and RANKS[name.split(".")[1]] > RANKS[own]
    ]
    assert upward == []


def test_no_handler_module_imports_the_composition_root():
    for path in modules(SERVER / "lsp"):
        if path.name != "server.py":
            assert LSP_ROOT not in imports(path), path.name


@pytest.mark.parametrize("package", ["telemetry/hearth_telemetry", "models/hearth_models"])
def test_the_side_packages_never_import_the_server(package):
    for path in modules(ROOT / package):
        assert not any(name == "hearth" or name.startswith("hearth.") for name in imports(path)), path
