"""textDocument/completion: the same suggestion as one completion item.

For editors without inline completion. The item's edit starts at the start
of the word being typed, so every editor's prefix filter keeps it.
"""

from __future__ import annotations

import re

from lsprotocol import types

from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import ACCEPTED_COMMAND
from hearth.lsp.snapshot import complete, range_at, snapshot

_WORD_BEFORE = re.compile(r"[A-Za-z_0-9$]*\Z")


OPTIONS = types.CompletionOptions(trigger_characters=[".", "(", " "], resolve_provider=False)


async def completion(ls: HearthServer, params: types.CompletionParams) -> types.CompletionList:
    snap = snapshot(ls, params.text_document.uri, params.position)
    if snap is None:
        return types.CompletionList(is_incomplete=True, items=[])
    invoked = params.context is not None and (
        params.context.trigger_kind == types.CompletionTriggerKind.Invoked
    )
    outcome = await complete(ls, snap, automatic=not invoked)
    if not outcome.shown:
        return types.CompletionList(is_incomplete=True, items=[])
    others = tuple(outcome.alternatives)
    ls.services.acceptance.offered(outcome.suggestion_id, snap.uri, outcome.text, snap.offset, others)
    line_start = snap.text.rfind("\n", 0, snap.offset) + 1
    match = _WORD_BEFORE.search(snap.text, line_start, snap.offset)
    word = match.group(0) if match else ""
    start = snap.offset - len(word)
    at = range_at(ls, snap, start, snap.offset)
    items = [
        _item(word, text, at, [outcome.suggestion_id, candidate])
        for candidate, text in enumerate((outcome.text, *others))
    ]
    return types.CompletionList(is_incomplete=True, items=items)


def _item(word: str, text: str, at: types.Range, arguments: list[object]) -> types.CompletionItem:
    """One candidate as a menu item, in the order they were ranked (the first preselected)."""
    # The menu shows one line: the first one with code (a block starts with a newline).
    first_line = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return types.CompletionItem(
        label=(word + first_line)[:80] or "hearth",
        kind=types.CompletionItemKind.Text,
        detail="Hearth (local model)",
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{word}{text}\n```"),
        filter_text=word + text,
        sort_text=str(arguments[1]),
        preselect=arguments[1] == 0,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=at, new_text=word + text),
        command=types.Command(
            title="Hearth: suggestion accepted", command=ACCEPTED_COMMAND, arguments=arguments
        ),
    )
