"""Token counts where no tokenizer is at hand, and the comment token that labels prompt parts."""

from __future__ import annotations

CHARS_PER_TOKEN = 3
"""About three characters make a token of code."""


def estimate_tokens(text: str) -> int:
    """Tokens by the rule of thumb, where no tokenizer (or calibration) is at hand."""
    return max(1, len(text) // CHARS_PER_TOKEN)


_LINE_COMMENTS = {
    "python": "#",
    "shellscript": "#",
    "ruby": "#",
    "r": "#",
    "yaml": "#",
    "toml": "#",
}


def comment_token(language_id: str) -> str:
    """What starts a line comment in the language (`//` where Hearth does not know)."""
    return _LINE_COMMENTS.get(language_id, "//")
