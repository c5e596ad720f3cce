"""Python only: a suggestion ends before an attribute its object cannot have.

Small models invent members (`items.lenght`, `os.path.joinpath`). Where jedi
knows the object's type well enough to list its members and the suggested
name is not among them, the suggestion is cut back to the lines before the
one that uses it (or to what precedes the object on the first line). Where
jedi knows nothing (an untyped parameter) the suggestion passes unchanged:
only a known miss is cut. This runs after generation, in a worker thread.
"""

from __future__ import annotations

import re
from pathlib import Path

from hearth.context.jedi_names import jedi_project, locked

_ATTRIBUTE = re.compile(r"(?<=[\w\)\]])\.([A-Za-z_]\w*)")
_STRINGS = re.compile(r"(\"\"\"|''').*?\1|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|#[^\n]*", re.DOTALL)
MAX_CHECKS = 6


@locked
def _known_members(code: str, path: str | None, line: int, column: int) -> set[str] | None:
    import jedi

    try:
        # A fresh Script per question: a reused one answers later completions with nothing.
        project = jedi_project(Path(path).parent if path else None)
        names = jedi.Script(code, path=path, project=project).complete(line, column)
    except Exception:  # jedi fails on odd code; that is not the suggestion's fault
        return None
    members = {name.name for name in names}
    # Only dunder members (plain `object`) or nothing: the type is not known.
    if not any(not member.startswith("__") for member in members):
        return None
    return members


def cut_unknown_members(
    prefix: str, suggestion: str, suffix: str, path: str | None = None
) -> tuple[str, str]:
    """The suggestion cut before the first member jedi says cannot exist, and what was done."""
    masked = _STRINGS.sub(lambda m: " " * len(m.group(0)), suggestion)
    hits = list(_ATTRIBUTE.finditer(masked))[:MAX_CHECKS]
    if not hits:
        return suggestion, "unchecked"
    code = prefix + suggestion + suffix
    for hit in hits:
        absolute = len(prefix) + hit.start(1)
        # `code` holds prefix and suggestion at the same offsets: no copy of the document per hit.
        line = code.count("\n", 0, absolute) + 1
        column = absolute - (code.rfind("\n", 0, absolute) + 1)
        members = _known_members(code, path, line, column)
        if members is None or hit.group(1) in members:
            continue
        line_start = suggestion.rfind("\n", 0, hit.start()) + 1
        if line_start > 0:
            return suggestion[: line_start - 1].rstrip(), "cut"
        # On the first line, keep what comes before the expression that holds the member.
        expression = re.search(r"[\w\.\(\)\[\]]*$", suggestion[: hit.start()])
        start = expression.start() if expression else hit.start()
        return suggestion[:start].rstrip(), "cut" if suggestion[:start].strip() else "dropped"
    return suggestion, "valid"
