"""Containment: the agent writes inside the workspace only, all files or none, and undo restores bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hearth.agent.changes import FileChange, WriteFailed, read_text, write_all
from hearth.agent.checkpoint import CheckpointStore, inverse
from hearth.agent.workspace import PathRefused, WorkspaceGuard, is_protected


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me\n")
    return root, outside


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


HOSTILE = [
    "../outside/secret.txt",
    "pkg/../../outside/secret.txt",
    "/etc/passwd",
    "C:/Windows/system.ini",
    "pkg\\..\\..\\outside\\secret.txt",
    ".git/config",
    ".GIT/config",
    ".Git/hooks/pre-commit",
    "pkg/.git/config",
    "",
    " pkg/mod.py",
    "pkg/mod.py\x00.txt",
    # Windows opens these as .git: short names, trailing dots and spaces, NTFS streams.
    "GIT~1/config",
    "git~2/hooks/pre-commit",
    ".git./config",
    ".git /config",
    ".git::$INDEX_ALLOCATION/config",
    "pkg/mod.py:evil",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused_and_nothing_outside_changes(workspace, path):
    root, outside = workspace
    before_outside, before_git = snapshot(outside), snapshot(root / ".git")
    guard = WorkspaceGuard([root])
    with pytest.raises(PathRefused):
        guard.resolve(path)
    with pytest.raises(PathRefused):
        write_all(guard, [FileChange(path, None, "pwned\n")])
    assert snapshot(outside) == before_outside
    assert snapshot(root / ".git") == before_git


def test_symlinks_and_hard_links_leading_out_are_refused(workspace):
    root, outside = workspace
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file_link.py").symlink_to(outside / "secret.txt")
    os.link(outside / "secret.txt", root / "hard.txt")
    guard = WorkspaceGuard([root])
    for path in ("link/secret.txt", "link/new.py", "file_link.py", "hard.txt"):
        with pytest.raises(PathRefused):
            write_all(guard, [FileChange(path, None, "pwned\n")])
    assert (outside / "secret.txt").read_text() == "keep me\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_workspace_reached_through_a_symlink_still_works(tmp_path, workspace):
    root, _ = workspace
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    guard = WorkspaceGuard([alias])
    assert guard.resolve("pkg/mod.py").path == root.resolve() / "pkg" / "mod.py"


@pytest.mark.parametrize(
    ("path", "protected"),
    [(".env", True), (".env.local", True), ("config/.env.production", True), ("keys/server.pem", True),
     (".vscode/settings.json", True), (".github/workflows/ci.yml", True), ("AGENTS.md", True),
     (".cursorrules", True), ("src/app.py", False), ("docs/environment.md", False), ("README.md", False),
     ("team.code-workspace", True), (".devcontainer/devcontainer.json", True), (".VSCODE./settings.json", True),
     (".jedi/project.json", True), (".envrc", True), (".github/CODEOWNERS", True), ("AGENTS.md.", True),
     (".pre-commit-config.yaml", True), ("src/workspace.py", False)],
)  # fmt: skip
def test_protected_files(path, protected):
    assert is_protected(path) is protected


def test_multi_file_edits_are_all_or_nothing(workspace):
    root, _ = workspace
    (root / "a.py").write_text("a = 1\n")
    before = snapshot(root)
    # The second file cannot be staged: its "directory" is a regular file.
    with pytest.raises(WriteFailed):
        write_all(WorkspaceGuard([root]), [FileChange("a.py", "a = 1\n", "a = 2\n"),
                                           FileChange("a.py/b.py", None, "b = 2\n")])  # fmt: skip
    assert snapshot(root) == before


def test_write_failure_midway_rolls_back_what_was_replaced(workspace, monkeypatch):
    root, _ = workspace
    (root / "a.py").write_text("a = 1\n")
    (root / "b.py").write_text("b = 1\n")
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst, **kwargs):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(WriteFailed):
        write_all(WorkspaceGuard([root]), [FileChange("a.py", "a = 1\n", "a = 2\n"),
                                           FileChange("b.py", "b = 1\n", "b = 2\n")])  # fmt: skip
    assert (root / "a.py").read_text() == "a = 1\n"
    assert (root / "b.py").read_text() == "b = 1\n"
    assert not list(root.glob(".*.hearth"))


def test_undo_restores_exact_bytes_and_refuses_conflicts(workspace, tmp_path):
    root, _ = workspace
    crlf = "def f():\r\n    return 1\r\n"
    (root / "w.py").write_bytes(crlf.encode())
    (root / "w.py").chmod(0o640)
    guard = WorkspaceGuard([root])
    changes = [
        FileChange("w.py", crlf, "def f():\r\n    return 2\r\n"),
        FileChange("new.py", None, "n = 1\n"),
    ]
    write_all(guard, changes)
    assert (root / "w.py").stat().st_mode & 0o777 == 0o640
    store = CheckpointStore(tmp_path / "data" / "checkpoints.sqlite3")
    checkpoint = store.get(store.save(guard.root, "bump", changes))
    assert checkpoint is not None and store.latest(guard.root) == checkpoint

    undo, conflicts = inverse(checkpoint, lambda path: read_text(root / path))
    assert conflicts == []
    write_all(guard, undo)
    assert (root / "w.py").read_bytes() == crlf.encode()
    assert not (root / "new.py").exists()

    write_all(guard, changes)
    (root / "w.py").write_text("user typed here\n")
    undo, conflicts = inverse(checkpoint, lambda path: read_text(root / path))
    assert conflicts == ["w.py"] and [c.path for c in undo] == ["new.py"]


def test_a_directory_swapped_for_a_link_after_the_check_does_not_redirect_the_write(workspace, monkeypatch):
    root, outside = workspace
    guard = WorkspaceGuard([root])
    checked = guard.resolve("pkg/mod.py")  # the check passes while pkg is a real folder
    (root / "pkg" / "mod.py").unlink()
    (root / "pkg").rmdir()
    (root / "pkg").symlink_to(outside, target_is_directory=True)  # then the link is swapped in
    (outside / "mod.py").write_text("x = 1\n")
    monkeypatch.setattr(WorkspaceGuard, "resolve", lambda self, relative: checked)
    with pytest.raises(WriteFailed):
        write_all(guard, [FileChange("pkg/mod.py", "x = 1\n", "pwned = 1\n")])
    assert (outside / "mod.py").read_text() == "x = 1\n"
    assert sorted(p.name for p in outside.iterdir()) == ["mod.py", "secret.txt"]
    # Positive control: a write by the checked path's name follows the swapped-in link.
    checked.path.write_text("pwned = 1\n")
    assert (outside / "mod.py").read_text() == "pwned = 1\n"


def test_a_file_changed_since_planning_is_never_overwritten(workspace):
    root, _ = workspace
    (root / "a.py").write_text("a = 1\n")
    (root / "b.py").write_text("b = 1\n")
    (root / "b.py").write_text("b = 'typed by the user'\n")  # while the agent planned
    with pytest.raises(WriteFailed, match="changed since"):
        write_all(WorkspaceGuard([root]), [FileChange("a.py", "a = 1\n", "a = 2\n"),
                                           FileChange("b.py", "b = 1\n", "b = 2\n")])  # fmt: skip
    assert (root / "a.py").read_text() == "a = 1\n"
    assert (root / "b.py").read_text() == "b = 'typed by the user'\n"
    assert not list(root.glob(".*.hearth"))
