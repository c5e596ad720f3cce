"""Features for the acceptance filter, computed from plain data (no code text leaves here).

Stage 1 sees only what is known before generation: the cursor's
surroundings as categories, the language, typing rhythm and recent
acceptance history. Stage 2 adds what the generation produced. Keys are
stable names; categorical values are one-hot keys such as `prev=.`. The
same dictionaries are stored by telemetry and read back by the trainer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hearth.completion.policy import Cursor
from hearth.model.backend import GenerationResult

_LANGUAGES = {"python", "javascript", "typescript", "typescriptreact", "go", "rust", "java", "c", "cpp"}
_PUNCTUATION = set(".,:;()[]{}=+-*/<>!&|\"'#@%^~`\\?")


def char_class(ch: str) -> str:
    """A category for one character: punctuation is kept, letters and digits are not."""
    if not ch:
        return "none"
    if ch in _PUNCTUATION:
        return ch
    if ch.isspace():
        return "space"
    if ch.isdigit():
        return "digit"
    if ch.isalpha() or ch == "_":
        return "word"
    return "other"


def stage1_features(
    cursor: Cursor,
    language_id: str,
    decision: str,
    automatic: bool,
    signals: Mapping[str, float],
) -> dict[str, float]:
    before = cursor.line_before
    stripped = before.rstrip()
    features: dict[str, float] = {
        f"lang={language_id if language_id in _LANGUAGES else 'other'}": 1.0,
        f"decision={decision}": 1.0,
        "automatic": 1.0 if automatic else 0.0,
        f"prev={char_class(before[-1:] if before else '')}": 1.0,
        f"last_nonspace={char_class(stripped[-1:])}": 1.0,
        "line_blank_before": 1.0 if not before.strip() else 0.0,
        "text_right": 1.0 if cursor.line_after.strip() else 0.0,
        "col_log": math.log1p(len(before)),
        "indent_log": math.log1p(len(before) - len(before.lstrip())),
        "doc_lines_log": math.log1p(cursor.prefix.count("\n") + cursor.suffix.count("\n")),
        "line_no_log": math.log1p(cursor.prefix.count("\n")),
    }
    for key, value in signals.items():
        features[key] = float(value)
    return features


def stage2_features(
    text: str, result: GenerationResult | None, cursor: Cursor, raw_end: int | None = None
) -> dict[str, float]:
    """`raw_end`: where the shown `text` ends in the model's output, when it is a cut of it.

    A multi-line suggestion earns most often through its first line (a partial
    accept), so the first line gets its own length and log-probabilities.
    """
    lines = text.split("\n") if text else []
    nonblank = [line.strip() for line in lines if line.strip()]
    first = lines[0] if lines else ""
    features = {
        "chars_log": math.log1p(len(text)),
        "lines": float(len(lines)),
        "multiline": 1.0 if len(lines) > 1 else 0.0,
        "first_line_chars_log": math.log1p(len(first.strip())),
        "repeated_lines": 1.0 - len(set(nonblank)) / len(nonblank) if nonblank else 0.0,
        "suffix_overlap": 1.0 if text.strip() and text.strip() in cursor.suffix[:2000] else 0.0,
        "alnum_share": sum(ch.isalnum() for ch in text) / len(text) if text else 0.0,
    }
    if result is not None:
        end = len(result.text) if raw_end is None else raw_end
        shown = result.logprobs_within(end) or [0.0]
        first_line = result.logprobs_within(end - len(text) + len(first)) or shown
        features.update(
            mean_logprob=sum(shown) / len(shown),
            min_logprob=min(shown),
            first_line_mean_logprob=sum(first_line) / len(first_line),
            first_line_min_logprob=min(first_line),
            generated_tokens_log=math.log1p(result.generated_tokens),
            stopped_naturally=1.0 if result.stop_reason in ("stop", "eos") else 0.0,
        )
    return features
