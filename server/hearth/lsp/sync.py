"""textDocument/didOpen, didChange, didClose into Hearth's document store."""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.uris import to_fs_path

from hearth.lsp.server import HearthServer
from hearth.text.documents import Change


def register(server: HearthServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: HearthServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        if ls.settings.context and len(doc.text) <= ls.settings.max_file_kb * 1024:
            # On a worker thread: neither the open nor any other message waits for the parse.
            asyncio.get_running_loop().run_in_executor(None, _warm, ls, doc.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: HearthServer, params: types.DidChangeTextDocumentParams) -> None:
        changes = [_change(c) for c in params.content_changes]
        uri = params.text_document.uri
        edits = ls.documents.change(uri, params.text_document.version, changes)
        if edits:
            ls.acceptance.changed(uri, edits)
            _reindex(ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: HearthServer, params: types.DidSaveTextDocumentParams) -> None:
        _reindex(ls, params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: HearthServer, params: types.DidChangeWatchedFilesParams) -> None:
        if ls.indexer is None:
            return
        for change in params.changes:
            path = to_fs_path(change.uri)
            if path:
                ls.indexer.file_changed_on_disk(path, deleted=change.type == types.FileChangeType.Deleted)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: HearthServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.context.forget(uri)
        ls.acceptance.forget(uri)
        running = ls.running_completions.pop(uri, None)
        if running is not None:
            running.cancel()


def _reindex(ls: HearthServer, uri: str) -> None:
    doc = ls.documents.get(uri)
    path = to_fs_path(uri)
    if ls.indexer is not None and doc is not None and path:
        ls.indexer.edited(path, doc.text)


def _change(change: types.TextDocumentContentChangeEvent) -> Change:
    if isinstance(change, types.TextDocumentContentChangePartial):
        r = change.range
        return Change(change.text, (r.start.line, r.start.character, r.end.line, r.end.character))
    return Change(change.text)


def _warm(ls: HearthServer, uri: str) -> None:
    doc = ls.documents.get(uri)
    if doc is not None:
        ls.context.warm(uri, doc.language_id, doc.text)
