"""The start a generation must write: text taken off the prompt's end, then code.

A prompt that ends where the cursor is often ends on an unnatural token
boundary: in the middle of an identifier (`self.ca`), after half an operator,
or before the whitespace the line needs (which the pipeline holds back). The
model then sees a tokenization it never saw in training and tends to end or
go elsewhere. Token healing takes the prompt's last token off and has the
model write it again: its first tokens are limited to those that reproduce
that text (and the held-back whitespace), so it may choose the natural token
(`cache`, `:\\n    `) instead of the cut one. For an explicit request at a line
start, what follows must begin with code: an empty answer is no answer.

`Vocabulary` is pure (token pieces as bytes); the worker applies its answer
as a mask on the logits for the few steps the lead lasts.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

BLANK = frozenset(b" \t\r\n")


@dataclass(frozen=True)
class Lead:
    """What a generation must still write first."""

    remaining: bytes = b""
    """Bytes the next tokens must reproduce."""
    then_code: bool = False
    """After them, a byte that is not blank (and not the end of the text)."""

    @property
    def done(self) -> bool:
        return not self.remaining and not self.then_code

    def after(self, piece: bytes) -> Lead:
        """The lead once a token with this piece is written (the piece was allowed)."""
        if piece.startswith(self.remaining):
            extra = piece[len(self.remaining) :]
            return Lead(b"", self.then_code and not extra)
        return Lead(self.remaining[len(piece) :], self.then_code)


class Vocabulary:
    """A model's token pieces, indexed for the tokens that may start a lead."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = pieces
        order = sorted((piece, token) for token, piece in enumerate(pieces) if piece)
        self._sorted = [piece for piece, _ in order]
        self._ids = [token for _, token in order]
        self._exact: dict[bytes, list[int]] = {}
        for piece, token in order:
            self._exact.setdefault(piece, []).append(token)
        self._code_start = [token for piece, token in order if piece[0] not in BLANK]

    def allowed(self, lead: Lead) -> list[int]:
        """The tokens that may come next under `lead` (empty pieces, so control tokens and the end
        of text, never do)."""
        remaining = lead.remaining
        if not remaining:
            return self._code_start if lead.then_code else self._ids
        allowed: list[int] = []
        # Pieces that hold all of the remaining text (and, for code, go on with a non-blank byte).
        at = bisect.bisect_left(self._sorted, remaining)
        while at < len(self._sorted) and self._sorted[at].startswith(remaining):
            piece = self._sorted[at]
            if not (lead.then_code and len(piece) > len(remaining) and piece[len(remaining)] in BLANK):
                allowed.append(self._ids[at])
            at += 1
        # Pieces that are a start of it.
        for end in range(1, len(remaining)):
            allowed += self._exact.get(remaining[:end], [])
        return allowed


def start_grammar(lead: str) -> str:
    """The same start as a llama.cpp grammar, for an engine that takes a grammar but no mask: the
    lead, then a character that is not blank. It constrains every token, so it costs more."""
    literal = lead.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    literal = literal.replace("\r", "\\r").replace("\n", "\\n")
    return f'root ::= "{literal}" [^ \\t\\r\\n] [^\\x00]*\n'
