"""Which code an edit is about: files and line ranges to show the model, within a budget.

In the manner of Agentless: the files the user named, the definitions of the
names the instruction mentions (repository index), their callers (jedi
references for Python, the index's reference table otherwise), and the
selection. Each file is cut down to the top-level definitions that mention
those names, so a small model sees little and the edit grammar stays small.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from hearth.agent.blocks import MAX_GRAMMAR_LINES
from hearth.agent.changes import Sources
from hearth.agent.context import Focus, mentioned_names
from hearth.context.index import RepoIndex
from hearth.context.languages import language_of
from hearth.context.syntax import outline

log = logging.getLogger(__name__)

MAX_FILES = 4
CALLERS = re.compile(
    r"\b(callers?|call sites?|calls|uses|usages?|everywhere|parameter|argument|signature)\b", re.I
)
"""Instructions that change how a name is used: its callers are shown too."""
WHOLE_FILE_LINES = 80


@dataclass(frozen=True)
class Excerpt:
    path: str
    text: str
    start_line: int
    """0-based line of the excerpt's first line in the file."""
    whole: bool


@dataclass(frozen=True)
class Candidates:
    """What an instruction is about: files to show (best first) and the names it mentions."""

    files: tuple[str, ...]
    names: tuple[str, ...]
    callers: bool
    """It reaches callers or signatures: no single definition to rewrite."""


def candidate_files(
    instruction: str, sources: Sources, index: RepoIndex | None, paths: list[str], focus: Focus | None
) -> Candidates:
    # Short words count too ("tax"): only names the workspace defines are kept.
    names = mentioned_names(instruction, min_length=2)
    ordered: list[str] = list(paths)
    if focus is not None:
        ordered.append(focus.path)
    known = set(sources.files())
    found = [n for n in names if n in _defined_names(index, names, sources, known)]
    callers = CALLERS.search(instruction) is not None
    if callers:
        ordered.extend(_python_references(found, sources, index))
    if index is not None:
        for symbol in index.definitions(found, limit_per_name=2):
            ordered.append(symbol.path)
        for name in found if callers else ():
            ordered.extend(index.referencing_files(name, limit=6))
    else:
        for relative in sorted(known):
            text = sources.read(relative) or ""
            uses = [n for n in found if re.search(rf"\b{re.escape(n)}\b", text)]
            defines = [n for n in uses if re.search(rf"\b(def|class)\s+{re.escape(n)}\b|^{re.escape(n)}\s*=",
                                                        text, re.M)]  # fmt: skip
            if defines or (uses and callers):
                ordered.append(relative)
    unique = [p for p in dict.fromkeys(ordered) if p in known or p in paths]
    return Candidates(tuple(unique[:MAX_FILES]), tuple(found), callers)


def _python_references(names: list[str], sources: Sources, index: RepoIndex | None) -> list[str]:
    """Files jedi finds using these Python names, the definition's file first: exact, unlike a word search."""
    from hearth.agent.tools import PythonTools

    found: list[str] = []
    try:
        tools = PythonTools(sources, index)
        for name in names[:3]:
            definition = tools.find_definition(name)
            found.append(definition.path)
            found.extend(ref.path for ref in tools.references(definition))
    except Exception:  # jedi is a help here; the index and the scan still run
        log.debug("jedi references unavailable", exc_info=True)
    return found


def _defined_names(index: RepoIndex | None, names: list[str], sources: Sources, known: set[str]) -> set[str]:
    if index is not None:
        return {s.name for s in index.definitions(names, limit_per_name=1)}
    defined: set[str] = set()
    for relative in known:
        language = language_of(relative)
        text = sources.read(relative)
        if language and text:
            defined |= {d.name for d in outline(language, text).definitions} & set(names)
    return defined


def excerpt(path: str, text: str, names: tuple[str, ...], focus: Focus | None, budget_lines: int) -> Excerpt:
    """The file whole when short, else the top-level definitions that mention `names`."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= min(WHOLE_FILE_LINES, budget_lines):
        return Excerpt(path, text, 0, True)
    language = language_of(path)
    spans: list[tuple[int, int]] = []
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    definitions = outline(language, text).definitions if language else ()
    top = [d for d in definitions if not any(o.start_line < d.start_line and d.end_line <= o.end_line
                                                for o in definitions)]  # fmt: skip
    focus_lines = set()
    if focus is not None and focus.path == path:
        focus_lines = set(range(focus.line_of(focus.start), focus.line_of(focus.end) + 1))
    for definition in top:
        body = "".join(lines[definition.start_line : definition.end_line + 1])
        wanted = pattern is not None and pattern.search(body) is not None
        if wanted or focus_lines & set(range(definition.start_line, definition.end_line + 1)):
            spans.append((definition.start_line, definition.end_line))
    if not spans:
        mention = [i for i, line in enumerate(lines) if pattern and pattern.search(line)] or sorted(
            focus_lines
        )
        center = mention[0] if mention else 0
        spans = [(max(0, center - 20), min(len(lines) - 1, center + 20))]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    last = min(last, first + min(budget_lines, MAX_GRAMMAR_LINES) - 1)
    return Excerpt(path, "".join(lines[first : last + 1]), first, False)


def localize(
    found: Candidates, sources: Sources, focus: Focus | None, budget_lines: int = 160
) -> list[Excerpt]:
    """Excerpts of the candidate files within `budget_lines`."""
    names = found.names
    excerpts = []
    remaining = budget_lines
    for relative in found.files:
        text = sources.read(relative)
        if text is None or remaining < 8:
            continue
        part = excerpt(relative, text, names, focus, remaining)
        excerpts.append(part)
        remaining -= part.text.count("\n") + 1
    return excerpts


def target_definition(found: Candidates, sources: Sources, focus: Focus | None) -> Excerpt | None:
    """The one definition an instruction is about ("add a docstring to tax"), if it names one.

    Instructions that reach callers or signatures ("... and update its callers")
    have none: they need the general edit over several places.
    """
    if found.callers:
        return None
    names = found.names
    for relative in found.files:
        language = language_of(relative)
        text = sources.read(relative)
        if language is None or text is None:
            continue
        definitions = outline(language, text).definitions
        matching = [d for d in definitions if d.name in names]
        if len(names) != 1 and not matching and focus is not None and focus.path == relative:
            line = focus.line_of(focus.start)
            matching = [d for d in definitions if d.start_line <= line <= d.end_line]
        if len(matching) >= 1 and len({d.name for d in matching}) == 1:
            chosen = min(matching, key=lambda d: d.end_line - d.start_line)
            lines = text.splitlines(keepends=True)
            body = "".join(lines[chosen.start_line : chosen.end_line + 1])
            if text.count(body) == 1:
                return Excerpt(relative, body, chosen.start_line, False)
    return None
