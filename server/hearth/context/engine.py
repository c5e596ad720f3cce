"""What the model sees besides the code at the cursor, under a token budget, kept stable.

Sources, most useful first: the enclosing scopes and the import block when
they are above the visible window; definitions of the names used around the
cursor (this file's syntax tree, the repository index, jedi for Python);
similar snippets from other open files. The block is rendered as comments
in the file's language, labelled by source, and kept per document and
place (the window's start and the enclosing scopes): a context that changed
on every keystroke would throw away the model's KV cache each time, and one
that changed while the user was elsewhere would make coming back to a place
a cold prompt where the model worker kept that place's KV cache.
"""

from __future__ import annotations

import keyword
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hearth.context.index import RepoIndex
from hearth.context.jedi_names import JediResolver
from hearth.context.syntax import (
    Definition,
    SyntaxCache,
    enclosing_scopes,
    identifiers,
    imported_names,
    lines_after,
    lines_before,
    outline,
)
from hearth.text.tokens import comment_token, estimate_tokens

NEAR_LINES_BEFORE = 40
NEAR_LINES_AFTER = 10
MAX_NAMES = 16
SNIPPET_LINES = 12
SNIPPET_MIN_SCORE = 0.2
SNIPPET_SCAN_CHARS = 512 * 1024
"""Characters of other open documents compared with the cursor per context build, at most."""
PLACES_PER_DOCUMENT = 8
"""Blocks kept per document, one per place: as many as the model worker keeps KV caches, and more."""
WARM_NAMES = 32
"""Imported names jedi is asked about when a document opens, at most."""
JEDI_WAIT_S = 0.5
"""How long a new place's block waits for jedi's answers: a new place is a cold prompt anyway
(seconds on a laptop CPU), and an answer that came later would change the block when the user
comes back, making that a cold prompt too. (On `hearth bench latency --mode scope-switch`,
jedi still loading a library answered a place within 0.4 s: 0.25 s left that place cold on
its first return.)"""
_COMMON = set(keyword.kwlist) | {
    "self", "cls", "None", "True", "False", "print", "len", "range", "str", "int", "float", "list", "dict",
    "set", "tuple", "bool", "isinstance", "super", "object", "Exception", "this", "return", "const", "let",
    "var", "function", "new", "null", "undefined", "func", "err", "nil", "string", "void", "public",
    "private", "static", "final", "class", "import", "from", "std", "auto", "char", "include",
}  # fmt: skip


@dataclass(frozen=True)
class ContextPart:
    source: str
    """scope, imports, definition, library (jedi) or snippet."""
    label: str
    text: str
    tokens: int = 0


@dataclass(frozen=True)
class ContextBlock:
    parts: tuple[ContextPart, ...] = ()
    text: str = ""
    tokens: int = 0


@dataclass(frozen=True)
class ContextRequest:
    uri: str
    language_id: str
    path: str
    text: str
    offset: int
    visible_from: int
    """Offset where the prompt's prefix window starts: what lies after it needs no context."""


@dataclass(frozen=True)
class _Cached:
    block: ContextBlock
    complete: bool
    """Nothing it asked jedi for was still unanswered: coming back, there is nothing new to add."""


class ContextEngine:
    def __init__(
        self,
        index: Callable[[], RepoIndex | None] = lambda: None,
        open_documents: Callable[[], Iterable[tuple[str, str, str]]] = lambda: (),
        jedi: JediResolver | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self._index = index
        self._open = open_documents
        self._jedi = jedi
        self._count = count_tokens or estimate_tokens
        self._places: dict[str, OrderedDict[tuple, _Cached]] = {}
        """Per document, the block of each recent place, the current place last."""
        self._places_lock = threading.Lock()
        """Blocks are built on worker threads, two at once where two generations overlap."""
        self._syntax = SyntaxCache()

    def set_jedi(self, jedi: JediResolver | None) -> None:
        self._jedi = jedi

    def last(self, uri: str) -> ContextBlock | None:
        with self._places_lock:
            places = self._places.get(uri)
            return next(reversed(places.values())).block if places else None

    def block(
        self, request: ContextRequest, budget_tokens: int, jedi_wait_s: float = JEDI_WAIT_S
    ) -> ContextBlock:
        """The block for the request's place: the one it had, coming back to a place.

        Off the event loop: a new place may wait up to `jedi_wait_s` for jedi.
        """
        tree = self._syntax.tree(request.uri, request.language_id, request.text)
        scopes = enclosing_scopes(request.language_id, request.text, request.offset, tree)
        visible_line = request.text.count("\n", 0, request.visible_from)
        key = (visible_line, tuple(s.signature for s in scopes), budget_tokens)
        with self._places_lock:
            places = self._places.setdefault(request.uri, OrderedDict())
            cached = places.get(key)
            here = bool(places) and next(reversed(places)) == key
            # At the same place the block stays as it is while the user types; coming back, it is
            # built again only if jedi had not answered everything it asked (jedi's answers are
            # worth one cold prompt; other open documents changing are not).
            if cached is not None and (here or cached.complete):
                places.move_to_end(key)
                return cached.block
        parts, complete = self._parts(request, tree, scopes, visible_line, jedi_wait_s)
        block = self._fit(parts, budget_tokens, request.language_id)
        if cached is not None and cached.block.text == block.text:
            block = cached.block
        with self._places_lock:
            places = self._places.setdefault(request.uri, OrderedDict())
            places[key] = _Cached(block, complete)
            places.move_to_end(key)
            while len(places) > PLACES_PER_DOCUMENT:
                places.popitem(last=False)
        return block

    def warm(self, uri: str, language_id: str, path: str, text: str) -> None:
        """Parse a document as it opens, so its first request does not pay for the full parse,
        and ask jedi about what its imports bind: jedi loads a library the first time it is
        asked about it (seconds), and a block built while it loads lacks that library."""
        tree = self._syntax.tree(uri, language_id, text)
        if self._jedi is not None and language_id == "python":
            names = imported_names(language_id, text, tree)
            self._jedi.lookup(path, text, dict(list(names.items())[:WARM_NAMES]))

    def forget(self, uri: str) -> None:
        with self._places_lock:
            self._places.pop(uri, None)
        self._syntax.forget(uri)

    # -- sources -------------------------------------------------------------

    def _parts(
        self,
        request: ContextRequest,
        tree: object,
        scopes: list[Definition],
        visible_line: int,
        jedi_wait_s: float,
    ) -> tuple[list[ContextPart], bool]:
        """The parts, most useful first, and whether jedi had answered every name it was asked."""
        text, language = request.text, request.language_id
        complete = True
        parts: list[ContextPart] = []
        hidden_scopes = [s for s in scopes if s.start_line < visible_line]
        if hidden_scopes:
            parts.append(ContextPart("scope", "enclosing", "\n".join(_render_def(s) for s in hidden_scopes)))
        facts = outline(language, text, tree)
        if facts.imports and visible_line > 0:
            parts.append(ContextPart("imports", "imports", "\n".join(facts.imports)))
        names = _names_near(text, request.offset)
        local = {d.name: d for d in facts.definitions}
        visible_defs = {d.name for d in facts.definitions if d.start_line >= visible_line}
        wanted = [n for n in names if n not in visible_defs]
        for name in wanted:
            if name in local:
                parts.append(ContextPart("definition", f"{request.path}:{local[name].start_line + 1}",
                                         _render_def(local[name])))  # fmt: skip
        remote = [n for n in wanted if n not in local]
        index = self._index()
        if index is not None and remote:
            seen: set[str] = set()
            for symbol in index.definitions(remote, limit_per_name=1):
                if symbol.path == request.path or symbol.name in seen:
                    continue
                seen.add(symbol.name)
                label = f"{symbol.path}:{symbol.line + 1}"
                parts.append(
                    ContextPart("definition", label, _with_doc(symbol.signature, symbol.doc, language))
                )
            remote = [n for n in remote if n not in seen]
        if self._jedi is not None and language == "python" and remote:
            positions = _last_positions(text, request.offset, remote)
            lookup = self._jedi.lookup(request.path, text, positions, jedi_wait_s)
            complete = lookup.complete
            for resolved in lookup.found:
                library = _with_doc(resolved.signature, resolved.doc, language)
                parts.append(ContextPart("library", resolved.module, library))
        parts.extend(self._snippets(request))
        return [ContextPart(p.source, p.label, p.text, self._count(p.text)) for p in parts], complete

    def _snippets(self, request: ContextRequest) -> list[ContextPart]:
        query = set(identifiers(lines_before(request.text, request.offset, SNIPPET_LINES)))
        if len(query) < 3:
            return []
        scored: list[tuple[float, str, str]] = []
        budget = SNIPPET_SCAN_CHARS
        # The most recently opened documents first; the scan stops at its budget however many
        # (or however large) the open documents are.
        for uri, path, text in list(self._open())[::-1]:
            if uri == request.uri:
                continue
            if budget <= 0:
                break
            text = text[:budget]
            budget -= len(text)
            lines = text.split("\n")
            for start in range(0, max(1, len(lines) - SNIPPET_LINES + 1), SNIPPET_LINES // 2):
                chunk = "\n".join(lines[start : start + SNIPPET_LINES])
                words = set(identifiers(chunk))
                if not words:
                    continue
                score = len(query & words) / len(query | words)
                if score >= SNIPPET_MIN_SCORE:
                    scored.append((score, f"{path}:{start + 1}", chunk))
        scored.sort(key=lambda item: -item[0])
        chosen: list[ContextPart] = []
        for _score, label, chunk in scored:
            if all(chunk not in p.text and p.text not in chunk for p in chosen):
                chosen.append(ContextPart("snippet", label, chunk.strip("\n")))
            if len(chosen) == 2:
                break
        return chosen

    # -- budget and rendering ---------------------------------------------------

    def _fit(self, parts: list[ContextPart], budget_tokens: int, language_id: str) -> ContextBlock:
        chosen: list[ContextPart] = []
        used = 0
        for part in parts:  # already most useful first
            if used + part.tokens + 4 <= budget_tokens:
                chosen.append(part)
                used += part.tokens + 4
        if not chosen:
            return ContextBlock()
        text = render(chosen, language_id)
        return ContextBlock(tuple(chosen), text, self._count(text))


def render(parts: list[ContextPart], language_id: str) -> str:
    mark = comment_token(language_id)
    lines = [f"{mark} Context (Hearth):"]
    for part in parts:
        lines.append(f"{mark} [{part.source}] {part.label}")
        lines.extend(f"{mark}   {line}" if line else mark for line in part.text.split("\n"))
    return "\n".join(lines) + "\n\n"


def _render_def(definition: Definition) -> str:
    return definition.signature + (f"  — {definition.doc}" if definition.doc else "")


def _with_doc(signature: str, doc: str, language_id: str) -> str:
    """A signature with its docstring quoted below it, as the language writes one."""
    if not doc:
        return signature
    quoted = f'"""{doc}"""' if language_id == "python" else f"/** {doc} */"
    return f"{signature}\n    {quoted}"


def _names_near(text: str, offset: int) -> list[str]:
    """Identifiers around the cursor, nearest first, common words left out."""
    before = lines_before(text, offset, NEAR_LINES_BEFORE)
    after = lines_after(text, offset, NEAR_LINES_AFTER)
    names = list(reversed(identifiers(before))) + identifiers(after)
    ordered = [n for n in dict.fromkeys(names) if n not in _COMMON and len(n) > 2]
    return ordered[:MAX_NAMES]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _last_positions(text: str, offset: int, names: list[str]) -> dict[str, tuple[int, int]]:
    """1-based line and 0-based column of each name's last use before the cursor (for jedi)."""
    wanted = set(names)
    start = offset - len(lines_before(text, offset, NEAR_LINES_BEFORE))
    first_line = text.count("\n", 0, start)
    found: dict[str, tuple[int, int]] = {}
    for match in _WORD.finditer(text, start, offset):
        if match.group(0) in wanted:
            line = first_line + text.count("\n", start, match.start())
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1)
            found[match.group(0)] = (line + 1, column)
    return found
