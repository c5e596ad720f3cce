"""From an LSP request to the pipeline's plain `DocumentSnapshot`, and back to positions.

Also owns "newest wins" per document: a new completion request for a
document cancels the one still running for it (the editor gets -32800).
"""

from __future__ import annotations

import asyncio

from lsprotocol import types

from hearth.completion.pipeline import CompletionOutcome, DocumentSnapshot
from hearth.lsp.language_server import HearthServer
from hearth.text.lines import LineIndex


def snapshot(ls: HearthServer, uri: str, position: types.Position) -> DocumentSnapshot | None:
    documents = ls.services.documents
    doc = documents.get(uri)
    if doc is None:
        return None
    offset = doc.lines.offset_at(doc.text, position.line, position.character, documents.encoding)
    return ls.services.snapshot(uri, offset)


async def complete(ls: HearthServer, snap: DocumentSnapshot, automatic: bool) -> CompletionOutcome:
    """Run the pipeline as the newest request for this document."""
    task = asyncio.current_task()
    running = ls.services.running_completions
    previous = running.get(snap.uri)
    if previous is not None and previous is not task and not previous.done():
        previous.cancel()
    if task is not None:
        running[snap.uri] = task

    def is_current() -> bool:
        doc = ls.services.documents.get(snap.uri)
        return doc is not None and doc.version == snap.version and running.get(snap.uri) is task

    try:
        return await ls.services.pipeline.complete(snap, automatic=automatic, is_current=is_current)
    finally:
        if running.get(snap.uri) is task:
            del running[snap.uri]


def range_at(ls: HearthServer, snap: DocumentSnapshot, start: int, end: int) -> types.Range:
    encoding = ls.services.documents.encoding
    doc = ls.services.documents.get(snap.uri)
    # The document's line index fits the snapshot only while it is the same version.
    lines = doc.lines if doc is not None and doc.version == snap.version else LineIndex(snap.text)
    sl, sc = lines.position_at(snap.text, start, encoding)
    el, ec = lines.position_at(snap.text, end, encoding)
    return types.Range(types.Position(sl, sc), types.Position(el, ec))
