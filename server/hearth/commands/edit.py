"""`hearth edit "instruction" [PATHS] [--apply]` and `hearth undo [ID]` in a terminal.

Without --apply nothing is written: the edit is printed as a unified diff.
With it, all files are written or none, and a checkpoint is kept so that
`hearth undo` puts back the exact bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hearth.agent.agent import AgentSettings, EditAgent, EditRequest
from hearth.agent.changes import Sources, WriteFailed, read_text, unified_diff, write_all
from hearth.agent.checkpoint import CHECKPOINTS_FILE, CheckpointStore, inverse
from hearth.agent.workspace import PathRefused, WorkspaceGuard
from hearth.commands.complete import workspace_index
from hearth.config import Settings
from hearth.model.backend import ModelUnavailable
from hearth.model.manager import chat_settings, ready_model
from hearth.paths import data_dir


def _relative_paths(guard: WorkspaceGuard, paths: list[str]) -> list[str]:
    relative = []
    for given in paths:
        inside = guard.relative(Path(given).absolute())
        if inside is None:
            raise PathRefused(f"{given} is outside the workspace {guard.root}")
        relative.append(inside)
    return relative


def run_edit(settings: Settings, instruction: str, paths: list[str], apply: bool, root: str | None) -> int:
    workspace = Path(root or Path.cwd())
    guard = WorkspaceGuard([workspace])
    try:
        relative = _relative_paths(guard, paths)
    except PathRefused as exc:
        print(f"hearth edit: {exc}", file=sys.stderr)
        return 2
    try:
        with ready_model(chat_settings(settings) or settings, data_dir()) as manager:
            index = workspace_index(guard.root)
            agent = EditAgent(manager, Sources(guard), AgentSettings.from_settings(settings), index=index)
            result = agent.run(EditRequest(instruction, tuple(relative)))
    except ModelUnavailable as exc:
        print(f"hearth edit: model not ready: {exc}", file=sys.stderr)
        return 1
    if not result.ok:
        print(f"hearth edit: {result.message}", file=sys.stderr)
        return 1
    protected = [c.path for c in result.changes if guard.resolve(c.path).protected]
    sys.stdout.write(unified_diff(result.changes))
    print(f"# {result.summary}", file=sys.stderr)
    if not apply:
        print("# not applied; run again with --apply to write these changes", file=sys.stderr)
        return 0
    if protected:
        print(f"hearth edit: refusing to write protected files: {', '.join(protected)}; edit them yourself",
              file=sys.stderr)  # fmt: skip
        return 1
    # The checkpoint first: an edit that lands always has its undo.
    store = CheckpointStore(data_dir() / CHECKPOINTS_FILE)
    checkpoint = store.save(guard.root, instruction, result.changes)
    try:
        write_all(guard, result.changes)
    except (WriteFailed, PathRefused) as exc:
        store.mark_undone(checkpoint)
        print(f"hearth edit: {exc}", file=sys.stderr)
        return 1
    print(f"# applied; undo with: hearth undo {checkpoint}", file=sys.stderr)
    return 0


def run_undo(checkpoint_id: str | None, root: str | None) -> int:
    guard = WorkspaceGuard([Path(root or Path.cwd())])
    store = CheckpointStore(data_dir() / CHECKPOINTS_FILE)
    checkpoint = store.get(checkpoint_id) if checkpoint_id else store.latest(guard.root)
    if checkpoint is None or checkpoint.undone:
        print("hearth undo: no such edit to undo (or it was undone already)", file=sys.stderr)
        return 1
    if Path(checkpoint.root) != guard.root:
        print(f"hearth undo: that edit was made in {checkpoint.root}; run there", file=sys.stderr)
        return 2
    changes, conflicts = inverse(checkpoint, lambda path: read_text(guard.root / path))
    if conflicts:
        print(f"hearth undo: changed since the edit, not touched: {', '.join(conflicts)}", file=sys.stderr)
        return 1
    try:
        write_all(guard, changes)
    except (WriteFailed, PathRefused) as exc:
        print(f"hearth undo: {exc}", file=sys.stderr)
        return 1
    store.mark_undone(checkpoint.id)
    print(f"undid {checkpoint.id}: {checkpoint.instruction}")
    return 0
