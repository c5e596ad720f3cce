"""A minimal editor for end-to-end tests: applies workspace/applyEdit to open buffers and files.

It does what VS Code does after the user confirms the preview: each
TextDocumentEdit must name the version the buffer has (else the whole edit
is refused), open buffers change and send didChange, closed files change on
disk. ASCII test files only: character offsets are used as UTF-16 units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from hearth.lsp.stdio_client import StdioClient

CAPABILITIES: dict[str, Any] = {
    "window": {"workDoneProgress": True, "showMessage": {}},
    "workspace": {"workspaceEdit": {"documentChanges": True, "resourceOperations": ["create", "delete"],
                                    "changeAnnotationSupport": {"groupsOnLabel": True}}},
}  # fmt: skip
"""What VS Code advertises for edits: it shows a preview for annotations that need confirmation."""


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def _offset(text: str, position: dict[str, int]) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(line) for line in lines[: position["line"]]) + position["character"]


class DiskEditor:
    def __init__(self, client: StdioClient) -> None:
        self.client = client
        self.buffers: dict[str, tuple[int, str]] = {}
        self.edits: list[dict[str, Any]] = []
        self.accept = True
        client.on_request = self.handle

    def open(self, uri: str) -> None:
        text = _path(uri).read_text()
        self.buffers[uri] = (1, text)
        self.client.open_document(uri, "python", text)

    def type(self, uri: str, text: str) -> None:
        version, old = self.buffers[uri]
        self.buffers[uri] = (version + 1, text + old)
        self.client.insert(uri, version + 1, {"line": 0, "character": 0}, text)

    def handle(self, message: dict[str, Any]) -> Any:
        if message["method"] != "workspace/applyEdit":
            return None
        edit = message["params"]["edit"]
        self.edits.append(edit)
        if not self.accept:
            return {"applied": False, "failureReason": "the user cancelled the preview"}
        for change in edit.get("documentChanges", []):
            version = change.get("textDocument", {}).get("version")
            uri = change.get("textDocument", {}).get("uri")
            if uri in self.buffers and version is not None and version != self.buffers[uri][0]:
                return {"applied": False, "failureReason": f"{uri} is at another version"}
        for change in edit.get("documentChanges", []):
            kind = change.get("kind")
            if kind == "create":
                _path(change["uri"]).write_text("")
            elif kind == "delete":
                _path(change["uri"]).unlink()
            elif kind is None:
                self._apply(change["textDocument"]["uri"], change["edits"])
        return {"applied": True}

    def _apply(self, uri: str, edits: list[dict[str, Any]]) -> None:
        text = self.buffers[uri][1] if uri in self.buffers else _path(uri).read_text()

        def start_of(edit: dict[str, Any]) -> tuple[int, int]:
            return edit["range"]["start"]["line"], edit["range"]["start"]["character"]

        for edit in sorted(edits, key=start_of, reverse=True):
            start, end = _offset(text, edit["range"]["start"]), _offset(text, edit["range"]["end"])
            text = text[:start] + edit["newText"] + text[end:]
        if uri in self.buffers:
            version = self.buffers[uri][0] + 1
            self.buffers[uri] = (version, text)
            self.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                          "contentChanges": [{"text": text}]})  # fmt: skip
        _path(uri).write_text(text)  # the user saves
