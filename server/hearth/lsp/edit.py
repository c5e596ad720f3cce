"""hearth.edit and hearth.undoEdit: agent edits reach the editor as workspace/applyEdit.

Each edit is versioned `TextDocumentEdit`s (and file creations) under a change
annotation that needs confirmation, so VS Code shows its refactor preview. The
agent plans on a snapshot of the open buffers; if one of the files it changes
moved on while it worked, or the editor refuses a stale version, it plans
again rather than overwrite the user's typing. What the editor applied is
checkpointed; hearth.undoEdit applies the inverse, file by file, only where the
text is still exactly what the edit left.
"""

from __future__ import annotations

import asyncio
import difflib
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path, to_fs_path

from hearth.agent.agent import AgentSettings, EditAgent, EditRequest
from hearth.agent.changes import FileChange, Sources, read_text, unified_diff
from hearth.agent.checkpoint import inverse
from hearth.agent.workspace import PathRefused, WorkspaceGuard
from hearth.lsp.chat import focus_of
from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import EDIT_COMMAND, UNDO_COMMAND, EditOptions, EditResult, UndoResult
from hearth.text.lines import LineIndex

ANNOTATION = "hearth.edit"
PROTECTED_ANNOTATION = "hearth.protected"
MAX_PLANS = 3


def _guard(ls: HearthServer) -> WorkspaceGuard:
    root = ls.services.workspace.root
    if root is None:
        raise JsonRpcInvalidParams("open a folder first: Hearth only edits inside a workspace folder")
    return WorkspaceGuard([root])


def _open_buffers(ls: HearthServer, guard: WorkspaceGuard) -> dict[str, tuple[str, int, str]]:
    """Workspace-relative path -> (uri, version, text) of every open document in the workspace."""
    buffers = {}
    for doc in ls.services.documents.all():
        path = to_fs_path(doc.uri)
        relative = guard.relative(Path(path)) if path else None
        if relative is not None:
            buffers[relative] = (doc.uri, doc.version, doc.text)
    return buffers


def text_edits(before: str, after: str, encoding: str, annotation: str) -> list[types.AnnotatedTextEdit]:
    """Line-level hunks turning `before` into `after` (a readable preview, not one big replace)."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    starts = [0]
    for line in old:
        starts.append(starts[-1] + len(line))
    lines = LineIndex(before)
    edits = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start = lines.position_at(before, starts[i1], encoding)
        end = lines.position_at(before, starts[i2], encoding)
        edits.append(
            types.AnnotatedTextEdit(
                range=types.Range(types.Position(*start), types.Position(*end)),
                new_text="".join(new[j1:j2]),
                annotation_id=annotation,
            )
        )
    return edits


def workspace_edit(
    ls: HearthServer,
    guard: WorkspaceGuard,
    changes: list[FileChange],
    versions: dict[str, int],
    label: str,
    description: str,
) -> types.WorkspaceEdit:
    encoding = ls.services.documents.encoding
    document_changes: list[Any] = []
    for change in changes:
        target = guard.resolve(change.path)
        uri = from_fs_path(str(target.path)) or target.path.as_uri()
        annotation = PROTECTED_ANNOTATION if target.protected else ANNOTATION
        if change.after is None:
            document_changes.append(types.DeleteFile(uri=uri, annotation_id=annotation))
            continue
        if change.before is None:
            document_changes.append(types.CreateFile(uri=uri, annotation_id=annotation))
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=versions.get(change.path))
        edits = text_edits(change.before or "", change.after, encoding, annotation)
        document_changes.append(types.TextDocumentEdit(text_document=identifier, edits=edits))
    annotations = {
        ANNOTATION: types.ChangeAnnotation(label=label, needs_confirmation=True, description=description),
        PROTECTED_ANNOTATION: types.ChangeAnnotation(
            label=f"{label} (protected files)", needs_confirmation=True,
            description="Secrets, editor, CI or agent configuration: check each file before applying.",
        ),
    }  # fmt: skip
    return types.WorkspaceEdit(document_changes=document_changes, change_annotations=annotations)


async def _confirm_protected(
    ls: HearthServer, guard: WorkspaceGuard, changes: list[FileChange]
) -> list[FileChange]:
    """Ask about each protected file; the ones the user does not allow are left out."""
    kept = []
    for change in changes:
        if not guard.resolve(change.path).protected:
            kept.append(change)
            continue
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=f"Hearth's edit changes the protected file {change.path}. Allow this file?",
                actions=[types.MessageActionItem("Allow"), types.MessageActionItem("Skip")],
            )
        )
        if answer is not None and answer.title == "Allow":
            kept.append(change)
    return kept


async def edit(ls: HearthServer, *args: Any) -> EditResult:
    usage = f"{EDIT_COMMAND} takes {{instruction, uris?, textDocument?, range?}}"
    options = ls.structure(args[0] if args else None, EditOptions, usage)
    instruction = options.instruction
    if not instruction.strip():
        raise JsonRpcInvalidParams(usage)
    guard = _guard(ls)
    store = ls.services.stores.checkpoints
    paths = []
    for uri in options.uris:
        relative = guard.relative(Path(to_fs_path(uri) or ""))
        if relative is None:
            raise JsonRpcInvalidParams(f"{uri} is not inside the workspace")
        paths.append(relative)
    stop = threading.Event()
    message = ""
    for _plan in range(MAX_PLANS):
        buffers = _open_buffers(ls, guard)
        sources = Sources(guard, {path: text for path, (_u, _v, text) in buffers.items()})
        focus = focus_of(ls, options.text_document, options.range)
        services = ls.services
        settings = AgentSettings.from_settings(services.settings.current)
        agent = EditAgent(services.chat_models, sources, settings, index=services.workspace.index)
        request = EditRequest(instruction, tuple(paths), focus)
        try:
            result = await asyncio.to_thread(agent.run, request, stop.is_set)
        except asyncio.CancelledError:
            stop.set()
            raise
        if not result.ok:
            return EditResult(applied=False, message=result.message)
        moved = [c.path for c in result.changes if c.path in buffers and _moved(ls, buffers[c.path])]
        if moved:
            message = f"{', '.join(moved)} changed while planning; planned again"
            continue
        moved = [c.path for c in result.changes if c.path not in buffers and _changed_on_disk(guard, c)]
        if moved:
            message = f"{', '.join(moved)} changed on disk while planning; planned again"
            continue
        changes = await _confirm_protected(ls, guard, result.changes)
        if not changes:
            return EditResult(applied=False, message="every file of the edit was protected and skipped")
        versions = {path: version for path, (_u, version, _t) in buffers.items()}
        label = f"Hearth: {instruction[:60]}"
        if not reviews_edits(ls.client_capabilities) and not await _confirm_whole(ls, label, changes):
            return EditResult(applied=False, message="not applied: the edit was declined")
        response = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(
                edit=workspace_edit(ls, guard, changes, versions, label, result.summary), label=label
            )
        )
        if response is not None and response.applied:
            checkpoint = store.save(guard.root, instruction, changes)
            return EditResult(
                applied=True,
                message=result.summary,
                checks=list(result.checks),
                checkpoint=checkpoint,
                diff=unified_diff(changes),
                via=result.via,
                attempts=len(result.attempts),
            )
        reason = (
            getattr(response, "failure_reason", None)
            or "not applied: nothing was ticked in the preview, or the editor declined"
        )
        if not any(_moved(ls, buffers[c.path]) for c in changes if c.path in buffers):
            return EditResult(applied=False, message=reason)
        message = f"{reason}; planned again"
    return EditResult(applied=False, message=f"the files kept changing; not applied ({message})")


async def undo(ls: HearthServer, *args: Any) -> UndoResult:
    guard = _guard(ls)
    store = ls.services.stores.checkpoints
    wanted = args[0] if args else None
    if wanted is not None and not isinstance(wanted, str):
        raise JsonRpcInvalidParams(f"{UNDO_COMMAND} takes a checkpoint id, or nothing for the latest")
    checkpoint = store.get(wanted) if wanted else store.latest(guard.root)
    if checkpoint is None or checkpoint.undone:
        return UndoResult(undone=False, message="nothing to undo")
    buffers = _open_buffers(ls, guard)

    def current(path: str) -> str | None:
        return buffers[path][2] if path in buffers else read_text(guard.root / path)

    changes, conflicts = inverse(checkpoint, current)
    if conflicts:
        return UndoResult(
            undone=False, message=f"changed since the edit, not touched: {', '.join(conflicts)}"
        )
    if not changes:
        store.mark_undone(checkpoint.id)
        return UndoResult(undone=True, message="nothing of that edit is left to undo")
    versions = {path: version for path, (_u, version, _t) in buffers.items()}
    label = f"Hearth: undo {checkpoint.instruction[:60]}"
    try:
        edit_ = workspace_edit(ls, guard, changes, versions, label, "Restores the files as they were.")
    except PathRefused as exc:
        return UndoResult(undone=False, message=str(exc))
    response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit_, label=label))
    if response is None or not response.applied:
        return UndoResult(undone=False, message=getattr(response, "failure_reason", None) or "not applied")
    store.mark_undone(checkpoint.id)
    return UndoResult(undone=True, checkpoint=checkpoint.id, diff=unified_diff(changes))


def reviews_edits(capabilities: types.ClientCapabilities) -> bool:
    """Whether the client honours `needsConfirmation` (VS Code's refactor preview); Neovim does not."""
    workspace = capabilities.workspace
    edit = workspace.workspace_edit if workspace is not None else None
    support = edit.change_annotation_support if edit is not None else None
    return support is not None and bool(edit is not None and edit.document_changes)


REVIEW_DIFF_CHARS = 3000


async def _confirm_whole(ls: HearthServer, label: str, changes: list[FileChange]) -> bool:
    """For a client that would apply an edit unseen: show the diff and ask first."""
    diff = unified_diff(changes)
    if len(diff) > REVIEW_DIFF_CHARS:
        diff = diff[:REVIEW_DIFF_CHARS] + f"\n[... {len(diff) - REVIEW_DIFF_CHARS} more characters]"
    answer = await ls.window_show_message_request_async(
        types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=f"{label}: apply this change to {len(changes)} file(s)?\n\n{diff}",
            actions=[types.MessageActionItem("Apply"), types.MessageActionItem("Cancel")],
        )
    )
    return answer is not None and answer.title == "Apply"


def _changed_on_disk(guard: WorkspaceGuard, change: FileChange) -> bool:
    """A file the editor does not have open differs from the text the plan was made on."""
    return read_text(guard.root / change.path) != change.before


def _moved(ls: HearthServer, buffer: tuple[str, int, str]) -> bool:
    uri, version, _text = buffer
    doc = ls.services.documents.get(uri)
    return doc is None or doc.version != version
