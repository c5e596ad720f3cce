"""The edit format the model writes, the grammar that forces its shape, and applying it.

An answer is one or more blocks:

    FILE: path/to/file.py
    <<<<<<< SEARCH
    lines copied from the file
    =======
    the lines that replace them
    >>>>>>> REPLACE

or `NEW FILE: path` followed by the content and `>>>>>>> END`. Small models
most often fail by quoting lines that are not in the file. The grammar built
by `edit_grammar` lists, for each file the agent localized, only contiguous
runs of that file's own lines as SEARCH text, so a search that cannot be
found is impossible to generate, and the block markers cannot be malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_GRAMMAR_LINES = 400
"""Lines of one file offered to the grammar; localization keeps files under this."""
MAX_REPLACE_LINES = 24
MAX_LINE_CHARS = 120
"""Lines in one REPLACE part: keeps a rambling small model inside its token budget."""


@dataclass(frozen=True)
class Block:
    path: str
    search: str
    replace: str
    new_file: bool = False


class EditFailed(Exception):
    """An edit that cannot be applied or does not validate; the text is fed back to the model."""


_BLOCK = re.compile(
    r"FILE: (?P<path>[^\n]+)\n<<<<<<< SEARCH\n(?P<search>.*?)=======\n(?P<replace>.*?)>>>>>>> REPLACE\n?"
    r"|NEW FILE: (?P<new>[^\n]+)\n(?P<content>.*?)>>>>>>> END\n?",
    re.DOTALL,
)


def parse_blocks(text: str) -> list[Block]:
    blocks = []
    for match in _BLOCK.finditer(text):
        if match.group("new") is not None:
            blocks.append(Block(match.group("new").strip(), "", match.group("content"), new_file=True))
        else:
            blocks.append(Block(match.group("path").strip(), match.group("search"), match.group("replace")))
    return blocks


def apply_blocks(files: dict[str, str], blocks: list[Block]) -> dict[str, str]:
    """New texts of the files the blocks change; EditFailed says which block did not fit."""
    if not blocks:
        raise EditFailed("the answer contained no edit blocks")
    result: dict[str, str] = {}
    for number, block in enumerate(blocks, 1):
        if block.new_file:
            if block.path in files or block.path in result:
                raise EditFailed(f"block {number}: {block.path} already exists; edit it with FILE: instead")
            result[block.path] = block.replace
            continue
        current = result.get(block.path, files.get(block.path))
        if current is None:
            raise EditFailed(f"block {number}: {block.path} is not one of the files given")
        result[block.path] = _replace_once(current, block, number)
    changed = {path: text for path, text in result.items() if text != files.get(path)}
    if not changed:
        raise EditFailed("the edit changes nothing; make the change the instruction asks for")
    if all(path in files and _squeezed(text) == _squeezed(files[path]) for path, text in changed.items()):
        raise EditFailed("the edit only changes blank space; make the change the instruction asks for")
    return changed


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _replace_once(text: str, block: Block, number: int) -> str:
    search = block.search
    if not search.strip():
        raise EditFailed(f"block {number}: the SEARCH part is empty")
    count = text.count(search)
    if count == 1:
        return text.replace(search, block.replace, 1)
    if count > 1:
        raise EditFailed(
            f"block {number}: the SEARCH lines occur {count} times in {block.path}; quote more lines"
        )
    # The grammar quotes lines exactly; this only catches edits from unconstrained backends.
    stripped = _loose_find(text, search)
    if stripped is None:
        raise EditFailed(f"block {number}: the SEARCH lines are not in {block.path}")
    start, end = stripped
    return text[:start] + block.replace + text[end:]


def _loose_find(text: str, search: str) -> tuple[int, int] | None:
    """Where `search` occurs if trailing whitespace on each line is ignored (exactly once)."""
    want = [line.rstrip() for line in search.splitlines()]
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    hits = [
        i for i in range(len(lines) - len(want) + 1)
        if all(lines[i + k].rstrip() == want[k] for k in range(len(want)))
    ]  # fmt: skip
    if len(hits) != 1:
        return None
    return starts[hits[0]], starts[hits[0] + len(want)]


# -- the grammar ---------------------------------------------------------------


def gbnf_literal(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def definition_grammar(path: str, definition: str) -> str:
    """A rewrite of one whole definition: SEARCH is the definition, REPLACE keeps its first line
    up to its parameters (`def tax(`), which may change: type hints and new parameters are
    what many instructions ask for.

    The replacement's further lines must be indented or blank, so the draft
    ends with the definition instead of running on into the rest of the file:
    the commonest way a small model spoils an edit.
    """
    text = definition if definition.endswith("\n") else definition + "\n"
    lines = text.splitlines(keepends=True)
    # Decorators stay as they are, and the line they decorate is the one to keep the start of.
    at = next((n for n, line in enumerate(lines) if not line.lstrip().startswith("@")), 0)
    kept, first = "".join(lines[:at]), lines[at]
    opened = first.find("(")
    if opened < 0:
        head = gbnf_literal(kept + first)
    else:
        head = f'{gbnf_literal(kept + first[: opened + 1])} [^\\n]{{0,{MAX_LINE_CHARS}}} "\\n"'
    return (
        "\n".join(
            [
                f'root ::= {gbnf_literal("FILE: " + path + chr(10))} "<<<<<<< SEARCH\\n" '
                f'{gbnf_literal(text)} "=======\\n" {head} body ">>>>>>> REPLACE\\n"',
                f"body ::= bline{{1,{MAX_REPLACE_LINES}}}",
                f'bline ::= ([ \\t] [^\\n]{{0,{MAX_LINE_CHARS}}})? "\\n"',
            ]
        )
        + "\n"
    )


def edit_grammar(files: dict[str, str], max_blocks: int = 2, allow_new_files: bool = False) -> str:
    """A GBNF grammar whose sentences are exactly the well-formed edits of these files."""
    rules: list[str] = []
    choices: list[str] = []
    for index, (path, text) in enumerate(sorted(files.items())):
        lines = text.splitlines(keepends=True)[:MAX_GRAMMAR_LINES]
        lines = [line if line.endswith("\n") else line + "\n" for line in lines]
        if not lines:
            continue
        names = [f"f{index}l{n}" for n in range(len(lines))]
        for n, line in enumerate(lines):
            follow = f" {names[n + 1]}?" if n + 1 < len(lines) else ""
            rules.append(f"{names[n]} ::= {gbnf_literal(line)}{follow}")
        # A search starts at any line that is not blank and runs on contiguously.
        starts = [names[n] for n, line in enumerate(lines) if line.strip()]
        rules.append(f"f{index}search ::= {' | '.join(starts)}")
        choices.append(f'{gbnf_literal("FILE: " + path + chr(10))} "<<<<<<< SEARCH\\n" f{index}search')
    if not choices:
        raise ValueError("no file text to build an edit grammar from")
    edit = "edit ::= (" + " | ".join(choices) + ') "=======\\n" replace ">>>>>>> REPLACE\\n"'
    block = "block ::= edit | newfile" if allow_new_files else "block ::= edit"
    head = [
        f"root ::= block{{1,{max_blocks}}}",
        block,
        edit,
        f"replace ::= rline{{0,{MAX_REPLACE_LINES}}}",
        f'rline ::= ([^>\\n] [^\\n]{{0,{MAX_LINE_CHARS}}})? "\\n"',
    ]
    if allow_new_files:
        head.append('newfile ::= "NEW FILE: " [a-zA-Z0-9_./-]+ "\\n" rline{1,200} ">>>>>>> END\\n"')
    return "\n".join(head + rules) + "\n"
