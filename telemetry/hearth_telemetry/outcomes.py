"""The learning loop's vocabulary: what became of a request, and why a suggestion was rejected.

The filter learns from these, the writer files rows by them, stats and the
replay benchmark count them. They are enums so that nothing matches on the
wording of a message: a reason's text is for people and may change freely.
The values are what the database stores.
"""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    SHOWN = "shown"
    FIRST_LINE_SHOWN = "first_line_shown"
    """A block the filter hid, shown as its first line (which passed on its own)."""
    SKIPPED_BY_FILTER = "skipped_by_filter"
    """Stage 1: acceptance unlikely, the model was not called."""
    HIDDEN_BY_FILTER = "hidden_by_filter"
    """Stage 2: generated, then hidden as a likely rejection."""
    NOT_HERE = "not_here"
    """The placement policy suggests nothing at this cursor (a comment, a closed statement)."""
    DISABLED = "disabled"
    TOO_LARGE = "too_large"
    MODEL_UNAVAILABLE = "model_unavailable"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    DOCUMENT_CHANGED = "document_changed"
    INVALID_SYNTAX = "invalid_syntax"
    UNKNOWN_MEMBER = "unknown_member"
    EMPTY = "empty"
    """The model generated nothing usable."""
    PREFETCHED = "prefetched"
    """Made ahead after an accepted suggestion and kept for the request that comes; not shown."""

    @property
    def row_kind(self) -> str:
        """The stored row: offered (shown), skipped (stage 1), filtered (stage 2) or dropped."""
        if self in (Outcome.SHOWN, Outcome.FIRST_LINE_SHOWN):
            return "offered"
        if self is Outcome.SKIPPED_BY_FILTER:
            return "skipped"
        if self is Outcome.HIDDEN_BY_FILTER:
            return "filtered"
        if self is Outcome.PREFETCHED:
            return "prefetched"
        return "dropped"


class Source(enum.Enum):
    """Where a completion's answer came from."""

    MODEL = "model"
    CACHE = "cache"
    """The same text around the cursor was answered before (a revisit, an undo)."""
    TYPED_ALONG = "typed_along"
    """The user typed the start of an earlier answer; this is the rest of it."""
    IN_FLIGHT = "in_flight"
    """An earlier request's generation, still running when this one came, was waited for."""


class Rejection(enum.Enum):
    """Why a shown suggestion counts as rejected (inferred from the next edit)."""

    TYPED_OVER = "typed_over"
    CURSOR_MOVED = "cursor_moved"
    SUPERSEDED = "superseded"


class Acceptance(enum.Enum):
    """How much of a suggestion the user took."""

    FULL = "full"
    PARTIAL = "partial"
