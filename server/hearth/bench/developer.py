"""The simulated developer of `hearth bench replay`: what to type, how fast, and what to accept.

Pure and seeded. A task is a span of a real file to re-type with the code
before and after it in place. Keystrokes are single characters, except
that Enter also inserts the next line's indentation (editors auto-indent).
The developer accepts a shown suggestion when it is exactly what they were
about to type (trailing whitespace aside), accepts its first line when only
that matches (a partial accept), and otherwise types on.
"""

from __future__ import annotations

import fnmatch
import math
import random
from dataclasses import dataclass
from pathlib import Path

from hearth.context.git import run_git
from hearth.context.languages import language_of

_OPENERS = (":", "{", "(", "[")


@dataclass(frozen=True)
class Task:
    path: str
    language: str
    before: str
    span: str
    after: str


@dataclass(frozen=True)
class Match:
    kind: str
    """full, partial or none."""
    chars: int


def tasks_from_files(
    root: Path, pattern: str, rng: random.Random, count: int, max_lines: int = 8
) -> list[Task]:
    """Spans starting at the first line of a block body, spread over the matching files."""
    files = _source_files(root, pattern)
    candidates: list[Task] = []
    for path in files:
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        candidates.extend(_block_spans(path.relative_to(root).as_posix(), text, max_lines))
    rng.shuffle(candidates)
    return candidates[:count]


def _block_spans(path: str, text: str, max_lines: int) -> list[Task]:
    language = language_of(path) or "plaintext"
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    spans = []
    for number in range(len(lines) - 2):
        opener, body = lines[number].rstrip(), lines[number + 1]
        if not opener.endswith(_OPENERS) or not body.strip():
            continue
        indent = len(body) - len(body.lstrip())
        if indent <= len(opener) - len(opener.lstrip()):
            continue
        end = number + 1
        while end < len(lines) and end - number <= max_lines:
            line = lines[end]
            if line.strip() and len(line) - len(line.lstrip()) < indent:
                break
            end += 1
        start = offsets[number + 1] + indent  # the editor has indented the body already
        stop = offsets[end] - 1
        span = text[start:stop].rstrip()
        if 20 <= len(span) <= 600:
            spans.append(Task(path, language, text[:start], span, text[start + len(span) :]))
    return spans


def tasks_top_down(root: Path, pattern: str, rng: random.Random, count: int, lines: int = 40) -> list[Task]:
    """Files written from their first line: each task types a file's first `lines` lines into an
    empty document (the developer moves down through imports, functions and classes)."""
    files = _source_files(root, pattern)
    rng.shuffle(files)
    tasks = []
    for path in files:
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        span = "\n".join(text.split("\n")[:lines]).rstrip()
        if len(span) >= 200:
            language = language_of(path.name) or "plaintext"
            tasks.append(Task(path.relative_to(root).as_posix(), language, "", span, ""))
        if len(tasks) == count:
            break
    return tasks


def _source_files(root: Path, pattern: str) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and language_of(p.name) and fnmatch.fnmatch(p.relative_to(root).as_posix(), pattern)
        and 200 < p.stat().st_size < 200_000
    )  # fmt: skip


def tasks_from_commits(repo: Path, rev_range: str, pattern: str) -> list[Task]:
    """Each block of lines added by the commits, oldest first, typed into the file as it became."""
    revs = _git(repo, "rev-list", "--reverse", "--no-merges", rev_range).split()
    tasks: list[Task] = []
    files: dict[tuple[str, str], str] = {}
    for rev in revs:
        diff = _git(repo, "diff", "-U0", "--no-color", f"{rev}^", rev, "--", ".")
        path = ""
        for line in diff.splitlines():
            if line.startswith("+++ "):
                path = line[6:] if line.startswith("+++ b/") else ""
            elif line.startswith("@@") and path and language_of(path) and fnmatch.fnmatch(path, pattern):
                added = line.split("+", 1)[1].split(" ", 1)[0]
                first, _, length = added.partition(",")
                size = int(length) if length else 1
                if size == 0:
                    continue
                if (rev, path) not in files:  # one read per file, however many hunks it has
                    files[(rev, path)] = _git(repo, "show", f"{rev}:{path}")
                text = files[(rev, path)]
                lines = text.split("\n")
                start_line = int(first) - 1
                before = "\n".join(lines[:start_line]) + ("\n" if start_line else "")
                span = "\n".join(lines[start_line : start_line + size])
                after = text[len(before) + len(span) :]
                # Blank lines and indentation before the code are already in place.
                lead = len(span) - len(span.lstrip())
                if span.strip():
                    tasks.append(Task(path, language_of(path) or "plaintext", before + span[:lead],
                                      span[lead:].rstrip(), after))  # fmt: skip
    return tasks


def _git(repo: Path, *args: str) -> str:
    return run_git(repo, *args, timeout=120).decode("utf-8", "replace")


def next_keystroke(span: str, pos: int) -> str:
    """What one keystroke inserts at `pos`: a character, or Enter with the auto-indent."""
    if span[pos] != "\n":
        return span[pos]
    end = pos + 1
    while end < len(span) and span[end] in " \t":
        end += 1
    return span[pos:end]


def keystroke_count(span: str) -> int:
    count, pos = 0, 0
    while pos < len(span):
        pos += len(next_keystroke(span, pos))
        count += 1
    return count


class Typist:
    """Seeded delays between keystrokes: a steady pace with pauses at line ends and to think."""

    def __init__(self, seed: int, chars_per_s: float = 6.0, pause_after: str = "(:.=,") -> None:
        """`pause_after`: characters after which the developer sometimes stops to think."""
        self._rng = random.Random(seed)
        self._mean = 1.0 / chars_per_s
        self._pause_after = pause_after

    def delay(self, keystroke: str) -> float:
        rng = self._rng
        delay = self._mean * math.exp(rng.gauss(0.0, 0.35)) * 0.94
        if keystroke.startswith("\n"):
            delay += rng.uniform(0.3, 1.2)
        elif keystroke in self._pause_after and rng.random() < 0.3:
            delay += rng.uniform(0.2, 0.8)
        if rng.random() < 0.02:
            delay += rng.uniform(1.0, 3.0)
        return delay


def match_suggestion(suggestion: str, upcoming: str) -> Match:
    wanted = suggestion.rstrip()
    if not wanted.strip():
        return Match("none", 0)
    if upcoming.startswith(wanted):
        return Match("full", len(wanted))
    first = suggestion.split("\n", 1)[0]
    if "\n" in wanted and first.strip() and upcoming.startswith(first + "\n"):
        return Match("partial", len(first))
    return Match("none", 0)
