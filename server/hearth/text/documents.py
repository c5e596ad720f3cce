"""The open documents' text, kept exactly as the client has it.

Incremental changes are applied with `positions`, so the server's copy and
the client's agree in every encoding and line-ending style.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hearth.text.lines import LineIndex
from hearth.text.positions import UTF16


@dataclass(frozen=True)
class Edit:
    """One content change as offsets into the document before it (code points)."""

    start: int
    end: int
    text: str
    replaced: str = ""
    """The text the change replaced."""


@dataclass
class OpenDocument:
    uri: str
    language_id: str
    version: int
    text: str
    lines: LineIndex = field(init=False)

    def __post_init__(self) -> None:
        self.lines = LineIndex(self.text)


@dataclass(frozen=True)
class Change:
    text: str
    range: tuple[int, int, int, int] | None = None
    """(start line, start character, end line, end character), or None for the whole text."""


class DocumentStore:
    def __init__(self, encoding: str = UTF16) -> None:
        self.encoding = encoding
        self._docs: dict[str, OpenDocument] = {}

    def open(self, uri: str, language_id: str, version: int, text: str) -> OpenDocument:
        doc = OpenDocument(uri, language_id, version, text)
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, changes: list[Change]) -> list[Edit]:
        """Apply the changes in order; the edits as offsets, for whoever watches typing."""
        doc = self._docs.get(uri)
        if doc is None:
            return []
        edits = []
        for change in changes:
            text = doc.text
            if change.range is None:
                edits.append(Edit(0, len(text), change.text, text))
                doc.text = change.text
                doc.lines = LineIndex(doc.text)
                continue
            start = doc.lines.offset_at(text, change.range[0], change.range[1], self.encoding)
            end = doc.lines.offset_at(text, change.range[2], change.range[3], self.encoding)
            start, end = min(start, end), max(start, end)
            edits.append(Edit(start, end, change.text, text[start:end]))
            doc.text = text[:start] + change.text + text[end:]
            doc.lines.edit(doc.text, start, end, len(change.text))
        doc.version = version
        return edits

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def all(self) -> list[OpenDocument]:
        return list(self._docs.values())

    def get(self, uri: str) -> OpenDocument | None:
        return self._docs.get(uri)

    def __len__(self) -> int:
        return len(self._docs)
