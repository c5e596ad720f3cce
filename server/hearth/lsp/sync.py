"""textDocument/didOpen, didChange, didClose into Hearth's document store."""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.uris import to_fs_path

from hearth.lsp.language_server import HearthServer
from hearth.text.documents import Change


def did_open(ls: HearthServer, params: types.DidOpenTextDocumentParams) -> None:
    services = ls.services
    doc = params.text_document
    services.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
    settings = services.settings.current
    if settings.context and len(doc.text) <= settings.max_file_kb * 1024:
        # On a worker thread: neither the open nor any other message waits for the parse.
        asyncio.get_running_loop().run_in_executor(None, _warm, ls, doc.uri)


def did_change(ls: HearthServer, params: types.DidChangeTextDocumentParams) -> None:
    changes = [_change(c) for c in params.content_changes]
    uri = params.text_document.uri
    edits = ls.services.documents.change(uri, params.text_document.version, changes)
    if edits:
        ls.services.acceptance.changed(uri, edits)
        _reindex(ls, uri)


def did_save(ls: HearthServer, params: types.DidSaveTextDocumentParams) -> None:
    _reindex(ls, params.text_document.uri)


def did_change_watched_files(ls: HearthServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if path:
            ls.services.workspace.changed_on_disk(path, deleted=change.type == types.FileChangeType.Deleted)


def did_close(ls: HearthServer, params: types.DidCloseTextDocumentParams) -> None:
    services = ls.services
    uri = params.text_document.uri
    services.documents.close(uri)
    services.context.forget(uri)
    services.acceptance.forget(uri)
    services.pipeline.forget(uri)
    running = services.running_completions.pop(uri, None)
    if running is not None:
        running.cancel()


def _reindex(ls: HearthServer, uri: str) -> None:
    doc = ls.services.documents.get(uri)
    path = to_fs_path(uri)
    if doc is not None and path:
        ls.services.workspace.edited(path, doc.text)


def _change(change: types.TextDocumentContentChangeEvent) -> Change:
    if isinstance(change, types.TextDocumentContentChangePartial):
        r = change.range
        return Change(change.text, (r.start.line, r.start.character, r.end.line, r.end.character))
    return Change(change.text)


def _warm(ls: HearthServer, uri: str) -> None:
    doc = ls.services.documents.get(uri)
    if doc is not None:
        ls.services.context.warm(uri, doc.language_id, ls.path_hint(uri), doc.text)
