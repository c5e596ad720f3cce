"""textDocument/inlineCompletion: the pipeline's suggestion as ghost text."""

from __future__ import annotations

from lsprotocol import types

from hearth.lsp.language_server import HearthServer
from hearth.lsp.messages import ACCEPTED_COMMAND
from hearth.lsp.snapshot import complete, range_at, snapshot

OPTIONS = types.InlineCompletionOptions()


async def inline_completion(
    ls: HearthServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    snap = snapshot(ls, params.text_document.uri, params.position)
    if snap is None:
        return types.InlineCompletionList(items=[])
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    outcome = await complete(ls, snap, automatic)
    if not outcome.shown:
        return types.InlineCompletionList(items=[])
    others = tuple(outcome.alternatives)
    ls.services.acceptance.offered(outcome.suggestion_id, snap.uri, outcome.text, snap.offset, others)
    at = range_at(ls, snap, snap.offset, snap.offset)
    # One item per candidate, best first: the editor cycles through them (VS Code: Alt+] / Alt+[),
    # and the command of the one taken says which it was.
    items = [
        types.InlineCompletionItem(
            insert_text=text,
            range=at,
            command=types.Command(
                title="Hearth: suggestion accepted",
                command=ACCEPTED_COMMAND,
                arguments=[outcome.suggestion_id, candidate],
            ),
        )
        for candidate, text in enumerate((outcome.text, *others))
    ]
    return types.InlineCompletionList(items=items)
