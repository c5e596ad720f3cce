"""Syntax facts from tree-sitter: definitions, imports, the scopes around the cursor.

tree-sitter works on UTF-8 bytes; offsets in and out of this module are
code-point indices into the Python string, converted here and nowhere else.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

from hearth.context.languages import LanguageSpec, grammar, spec_for

MAX_SIGNATURE = 240
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT_MARK = re.compile(r"^\s*(?://+|#+|/\*+|\*+/?|--)\s?|\*+/\s*$")
_NAME_TYPES = ("identifier", "field_identifier", "type_identifier", "property_identifier", "name")


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str
    signature: str
    doc: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Outline:
    definitions: tuple[Definition, ...]
    imports: tuple[str, ...]
    has_errors: bool


@functools.cache
def _parser(language_id: str) -> Any | None:
    language = grammar(language_id)
    if language is None:
        return None
    import tree_sitter

    return tree_sitter.Parser(language)


@functools.cache
def _definition_query(language_id: str) -> Any | None:
    spec, language = spec_for(language_id), grammar(language_id)
    if spec is None or language is None:
        return None
    import tree_sitter

    # One spec serves related grammars (JS, TS, TSX): keep the node types this one knows.
    known = [t for t in sorted(spec.definitions) if language.id_for_node_kind(t, True)]
    return tree_sitter.Query(language, " ".join(f"({t}) @d" for t in known)) if known else None


def parse(language_id: str, text: str | bytes, old_tree: Any = None) -> Any | None:
    parser = _parser(language_id)
    if parser is None:
        return None
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return parser.parse(data, old_tree) if old_tree is not None else parser.parse(data)


def outline(language_id: str, text: str, tree: Any = None) -> Outline:
    """Every definition (nested ones too) and the top-level imports; empty without a grammar."""
    spec = spec_for(language_id)
    tree = tree or parse(language_id, text)
    query = _definition_query(language_id)
    if spec is None or tree is None or query is None:
        return Outline((), (), False)
    import tree_sitter

    data = text.encode("utf-8", "surrogatepass")
    captures = tree_sitter.QueryCursor(query).captures(tree.root_node).get("d", [])
    definitions = [
        d for node in sorted(captures, key=lambda n: n.start_byte) if (d := _definition(node, data))
    ]
    imports = tuple(
        _text(data, child).strip() for child in tree.root_node.children if child.type in spec.imports
    )
    return Outline(tuple(definitions), imports, tree.root_node.has_error)


def imported_names(language_id: str, text: str, tree: Any = None) -> dict[str, tuple[int, int]]:
    """The names a Python module's top-level imports bind, each with where it is bound (1-based
    line, 0-based column in characters, as jedi counts); empty for other languages."""
    tree = tree or parse(language_id, text)
    if language_id != "python" or tree is None:
        return {}
    data = text.encode("utf-8", "surrogatepass")
    found: dict[str, tuple[int, int]] = {}
    for statement in tree.root_node.children:
        if statement.type not in ("import_statement", "import_from_statement"):
            continue
        for imported in statement.children_by_field_name("name"):
            # `import a.b` binds `a`; `import a.b as c` and `from a import b as c` bind `c`.
            bound = imported.child_by_field_name("alias") if imported.type == "aliased_import" else imported
            if bound is not None and bound.type == "dotted_name":
                bound = bound.children[0]
            if bound is None or bound.type != "identifier":
                continue
            line_start = data.rfind(b"\n", 0, bound.start_byte) + 1
            column = len(data[line_start : bound.start_byte].decode("utf-8", "replace"))
            found[_text(data, bound)] = (bound.start_point[0] + 1, column)
    return found


def enclosing_scopes(language_id: str, text: str, offset: int, tree: Any = None) -> list[Definition]:
    """The definitions that contain the cursor, outermost first."""
    spec = spec_for(language_id)
    tree = tree or parse(language_id, text)
    if spec is None or tree is None:
        return []
    data = text.encode("utf-8", "surrogatepass")
    # The last code before the cursor decides: a blank line after a body (or the
    # end of the file) belongs to no node, but the user is still in that body.
    at = byte_offset(text, len(text[:offset].rstrip()))
    node = tree.root_node.descendant_for_byte_range(max(0, at - 1), max(0, at - 1))
    chain: list[Definition] = []
    while node is not None:
        if node.type in spec.scopes and node.start_byte < at:
            definition = _definition(node, data)
            if definition is not None:
                chain.append(definition)
        node = node.parent
    return chain[::-1]


def byte_offset(text: str, offset: int) -> int:
    prefix = text[:offset]
    return len(prefix) if prefix.isascii() else len(prefix.encode("utf-8", "surrogatepass"))


def lines_before(text: str, offset: int, count: int) -> str:
    """The text from the start of the line `count` lines above the cursor's, to the cursor."""
    start = offset
    for _ in range(count):
        start = text.rfind("\n", 0, start)
        if start <= 0:
            return text[:offset]
    return text[start:offset]


def lines_after(text: str, offset: int, count: int) -> str:
    """The text from the cursor to the end of the line `count` lines below (without its break)."""
    end = offset
    for _ in range(count):
        nxt = text.find("\n", end + 1)
        if nxt == -1:
            return text[offset:]
        end = nxt
    return text[offset:end]


def identifiers(text: str) -> list[str]:
    return _IDENTIFIER.findall(text)


def _text(data: bytes, node: Any) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _name(node: Any, data: bytes) -> str:
    for field in ("name", "declarator", "type"):
        child = node.child_by_field_name(field)
        depth = 0
        while child is not None and depth < 6:
            if child.type in _NAME_TYPES or child.type.endswith("identifier"):
                return _text(data, child)
            inner = child.child_by_field_name("declarator") or child.child_by_field_name("name")
            child, depth = inner, depth + 1
    return ""


def _definition(node: Any, data: bytes) -> Definition | None:
    name = _name(node, data)
    if not name:
        return None
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None else node.end_byte
    head = data[node.start_byte : end].decode("utf-8", "replace")
    if body is None:
        head = head.split("\n", 1)[0]
    signature = " ".join(head.split())
    if len(signature) > MAX_SIGNATURE:
        signature = signature[:MAX_SIGNATURE] + "..."
    return Definition(
        name=name,
        kind=node.type,
        signature=signature,
        doc=_doc(node, body, data),
        start_line=node.start_point[0],
        end_line=node.end_point[0],
    )


def _doc(node: Any, body: Any, data: bytes) -> str:
    """A docstring (Python) or the comment just above the definition, first lines only."""
    text = ""
    if body is not None and body.named_child_count:
        first = body.named_children[0]
        if first.type == "expression_statement" and first.named_child_count:
            first = first.named_children[0]
        if first.type == "string":
            text = _text(data, first).strip("\"' \n\r\t")
    if not text:
        comments: list[str] = []
        sibling = node.prev_named_sibling
        while sibling is not None and sibling.type == "comment" and len(comments) < 4:
            comments.append(_text(data, sibling))
            sibling = sibling.prev_named_sibling
        text = "\n".join(reversed(comments))
    lines = [_COMMENT_MARK.sub("", line).strip() for line in text.strip().splitlines()[:3]]
    return " ".join(line for line in lines if line)[:200]


def supported(language_id: str) -> bool:
    return spec_for(language_id) is not None and grammar(language_id) is not None


__all__ = ["Definition", "LanguageSpec", "Outline", "enclosing_scopes", "imported_names", "outline", "parse"]


class SyntaxCache:
    """One syntax tree per open document, re-parsed incrementally as the text changes.

    The edit is found by comparing the old and new text (common prefix and
    suffix), so the cache needs no LSP change events and cannot drift from
    the text it is given.
    """

    def __init__(self, max_documents: int = 32) -> None:
        self._docs: dict[str, tuple[str, bytes, Any]] = {}
        self._max = max_documents
        # Context is built off the event loop while documents open (and parse) on it; an
        # incremental parse edits the cached tree in place, so one caller at a time.
        self._lock = threading.Lock()

    def tree(self, uri: str, language_id: str, text: str) -> Any | None:
        with self._lock:
            return self._tree(uri, language_id, text)

    def _tree(self, uri: str, language_id: str, text: str) -> Any | None:
        data = text.encode("utf-8", "surrogatepass")
        old = self._docs.pop(uri, None)
        if old is not None and old[0] == language_id and old[2] is not None:
            _, old_data, old_tree = old
            if old_data == data:
                self._docs[uri] = old
                return old_tree
            start, old_end, new_end = changed_range(old_data, data)
            old_tree.edit(
                start_byte=start,
                old_end_byte=old_end,
                new_end_byte=new_end,
                start_point=_point(old_data, start),
                old_end_point=_point(old_data, old_end),
                new_end_point=_point(data, new_end),
            )
            tree = parse(language_id, data, old_tree)
        else:
            tree = parse(language_id, data)
        self._docs[uri] = (language_id, data, tree)
        while len(self._docs) > self._max:
            self._docs.pop(next(iter(self._docs)))
        return tree

    def forget(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)


def changed_range(old: bytes, new: bytes) -> tuple[int, int, int]:
    """(start, old end, new end) of the one region where two byte strings differ."""
    low, high = 0, min(len(old), len(new))
    while low < high:  # longest common prefix, by halving (slice compares run in C)
        mid = (low + high + 1) // 2
        if old[:mid] == new[:mid]:
            low = mid
        else:
            high = mid - 1
    start = low
    low, high = 0, min(len(old), len(new)) - start
    while low < high:
        mid = (low + high + 1) // 2
        if old[len(old) - mid :] == new[len(new) - mid :]:
            low = mid
        else:
            high = mid - 1
    return start, len(old) - low, len(new) - low


def _point(data: bytes, offset: int) -> tuple[int, int]:
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)
