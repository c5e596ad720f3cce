"""The extension's protocol.ts and the server's messages.py declare the same protocol.

Every attrs class in `hearth.lsp.messages` has an interface of the same name
in `client-vscode/src/protocol.ts` with the same camelCase fields, the same
optional ones and the same types; the method and command names match too.
"""

from __future__ import annotations

import re
import types as pytypes
import typing
from pathlib import Path

import attrs
import pytest
from lsprotocol import types as lsp

from hearth.lsp import messages

PROTOCOL_TS = Path(__file__).resolve().parents[2] / "client-vscode" / "src" / "protocol.ts"
MESSAGE_CLASSES = [
    value
    for name, value in vars(messages).items()
    if isinstance(value, type) and attrs.has(value) and value.__module__ == messages.__name__
]


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def ts_source() -> str:
    text = PROTOCOL_TS.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def ts_interfaces() -> dict[str, dict[str, tuple[bool, str]]]:
    """interface name -> field -> (optional, type text)."""
    found: dict[str, dict[str, tuple[bool, str]]] = {}
    source = ts_source()
    for name, body in re.findall(r"export interface (\w+) \{(.*?)\n\}", source, flags=re.S):
        fields = {}
        for line in filter(str.strip, body.strip().splitlines()):
            match = re.fullmatch(r"\s*(\w+)(\??): (.+);\s*", line)
            assert match, f"{name}: cannot read {line!r}"
            fields[match.group(1)] = (match.group(2) == "?", match.group(3))
        found[name] = fields
    for name in re.findall(r"export type (\w+) = Record<string, never>;", source):
        found[name] = {}
    return found


def ts_type(annotation: typing.Any, optional: bool) -> str:
    """How protocol.ts spells a Python annotation (an optional field drops its None)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, pytypes.UnionType):
        rest = [a for a in args if a is not type(None)]
        text = " | ".join(ts_type(a, False) for a in rest)
        return text if optional or len(rest) == len(args) else f"{text} | null"
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' for a in args)
    if origin is list:
        inner = ts_type(args[0], False)
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if origin is dict:
        return f"Record<string, {'unknown' if args[1] is typing.Any else ts_type(args[1], False)}>"
    simple = {str: "string", int: "number", float: "number", bool: "boolean", typing.Any: "unknown"}
    if annotation in simple:
        return simple[annotation]
    if annotation is lsp.Range:
        return "LspRange"
    assert attrs.has(annotation), annotation
    return str(annotation.__name__)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_every_message_class_has_the_same_interface_in_protocol_ts(cls):
    interfaces = ts_interfaces()
    assert cls.__name__ in interfaces, f"protocol.ts lacks {cls.__name__}"
    hints = typing.get_type_hints(cls, vars(messages))
    python = {}
    for field in attrs.fields(cls):
        optional = field.default is not attrs.NOTHING
        python[camel(field.name)] = (optional, ts_type(hints[field.name], optional))
    assert interfaces[cls.__name__] == python


def test_no_interface_in_protocol_ts_is_unknown_to_the_server():
    declared_here = {"CatalogModel", "ModelListing", "ModelPick", "LspPosition", "LspRange"}
    assert set(ts_interfaces()) - declared_here == {c.__name__ for c in MESSAGE_CLASSES}


def ts_constants(name: str) -> set[str]:
    block = re.search(rf"export const {name} = \{{(.*?)\}} as const;", ts_source(), flags=re.S)
    assert block, name
    return set(re.findall(r'"([^"]+)"', block.group(1)))


def test_method_and_command_names_match():
    methods = {*messages.REQUESTS, *messages.NOTIFICATIONS, *messages.SERVER_NOTIFICATIONS}
    assert ts_constants("METHODS") == methods
    assert ts_constants("COMMANDS") == set(messages.COMMANDS)


def test_the_checker_sees_a_difference():
    """Positive control: a renamed field would be caught."""
    interfaces = ts_interfaces()
    assert interfaces["ChatChunk"]["streamId"] == (True, "number | string")
    assert ts_type(int | None, optional=False) == "number | null"
    assert ts_type(list[messages.ChatMessage], optional=False) == "ChatMessage[]"
