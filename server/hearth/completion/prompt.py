"""Prompt layout: what the model sees, arranged so the KV cache is reused.

llama.cpp reuses only the longest common token prefix of consecutive
prompts. While a developer types, only the text at the cursor changes, so
the prompt is laid out stable-first (file header, then the prefix window,
whose start moves in coarse steps) and the changing part sits at its end.
Budgets are in characters here; about three characters make a token of code.
"""

from __future__ import annotations

from dataclasses import dataclass

from hearth.model.backend import Control, Spans, compose
from hearth.model.catalog import PromptFormat
from hearth.text.tokens import CHARS_PER_TOKEN, comment_token

WINDOW_STEP_LINES = 32
"""The prefix window's first line moves in steps of this many lines."""


@dataclass(frozen=True)
class Prompt:
    text: str
    prefix_chars: int
    suffix_chars: int
    header: str
    control: Spans = ()
    """Where the FIM markers are; the code around them is tokenized as text."""
    cursor_at: int = -1
    """Where the text before the cursor ends in `text` (-1: at its end)."""


def prefix_window(prefix: str, budget_chars: int, step: int = WINDOW_STEP_LINES) -> str:
    """The end of `prefix` within budget, starting on a line that moves in steps.

    Dropping whole steps of lines (rather than exactly enough characters) keeps
    the window's start, and so the prompt's token prefix, unchanged for many
    keystrokes at a time.
    """
    if len(prefix) <= budget_chars:
        return prefix
    lines = prefix.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    drop = 0
    while drop < len(lines) - 1 and len(prefix) - starts[drop] > budget_chars:
        drop += step
    if drop >= len(lines) - 1:
        # A single enormous last line: keep its end.
        return prefix[-budget_chars:]
    return prefix[starts[drop] :]


def suffix_window(suffix: str, budget_chars: int) -> str:
    if len(suffix) <= budget_chars:
        return suffix
    cut = suffix.rfind("\n", 0, budget_chars)
    return suffix[: cut + 1] if cut > 0 else suffix[:budget_chars]


def file_header(path_hint: str, language_id: str) -> str:
    if not path_hint:
        return ""
    return f"{comment_token(language_id)} Path: {path_hint}\n"


def code_budget_chars(budget_tokens: int, reserved_tokens: int, fim: bool) -> tuple[int, int]:
    """Characters for the prefix window and for the suffix, after the reserve for context."""
    budget = max(64, budget_tokens - reserved_tokens) * CHARS_PER_TOKEN
    suffix = budget // 4 if fim else 0
    return budget - suffix, suffix


@dataclass(frozen=True)
class CodeWindow:
    """The code the prompt shows: file header, the prefix window and the suffix window."""

    header: str
    before: str
    after: str


def code_window(
    prefix: str,
    suffix: str,
    language_id: str,
    path_hint: str,
    fmt: PromptFormat,
    budget_tokens: int,
    reserved_tokens: int = 0,
) -> CodeWindow:
    """`reserved_tokens` is set aside for context whether or not it is all used,
    so the prefix window does not move when the context changes size."""
    header = file_header(path_hint, language_id)
    prefix_chars, suffix_chars = code_budget_chars(budget_tokens, reserved_tokens, fmt.kind != "prefix")
    after = suffix_window(suffix, suffix_chars) if suffix_chars else ""
    return CodeWindow(header, prefix_window(prefix, prefix_chars - len(header)), after)


def assemble(window: CodeWindow, fmt: PromptFormat, context: str = "") -> Prompt:
    """Context first (it changes least), then the file header, then the code."""
    header, before, after = window.header, window.before, window.after
    if fmt.kind == "prefix":
        return Prompt(context + header + before, len(before), 0, header)
    prefix, suffix, middle = Control(fmt.fim_prefix), Control(fmt.fim_suffix), Control(fmt.fim_middle)
    if fmt.kind == "fim-spm":
        text, control = compose(suffix, after, prefix, context, header, before, middle)
        cursor_at = len(text) - len(middle.text)
    else:
        text, control = compose(prefix, context, header, before, suffix, after, middle)
        cursor_at = len(prefix.text) + len(context) + len(header) + len(before)
    return Prompt(text, len(before), len(after), header, control, cursor_at)
