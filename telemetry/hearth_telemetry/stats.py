"""Metrics from the event store: what `hearth stats` prints, as text, JSON or an HTML report.

Definitions (CodeCompose's, as far as an editor can observe them):
- acceptance rate: accepted suggestions / suggestions displayed (those the
  editor reported with didShowCompletion, or, for editors that do not
  report it, every suggestion returned to the editor);
- share of code from suggestions: accepted characters / (accepted + typed);
- keystrokes saved: accepted characters minus one keystroke per accept,
  over the characters that would have been typed without suggestions;
- multi-line share: accepted characters from multi-line suggestions / all
  accepted characters;
- retained: accepted suggestions whose text is still at least half there.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hearth_telemetry.filter import served_by
from hearth_telemetry.store import EventStore


@dataclass
class Suggestion:
    sid: str
    ts: float
    language: str = ""
    decision: str = ""
    lines: int = 0
    chars: int = 0
    offered: bool = False
    skipped: bool = False
    filtered: bool = False
    generated: bool = False
    shown: bool = False
    accepted_chars: int = 0
    accept_kind: str = ""
    accepted_candidate: int = 0
    """Which of the suggestions offered together was taken (0: the first, the one described)."""
    rejected: str = ""
    retained: dict[float, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    post: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    served_by: str = ""
    """backend/model that generated it ("local/smollm2-135m-instruct")."""

    @property
    def label(self) -> int | None:
        """1 accepted (fully or partly), 0 rejected, None unknown."""
        if self.accepted_chars > 0:
            return 1
        return 0 if self.rejected else None


def displayed(suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    """The suggestions the user saw: those the editor reported with didShowCompletion (and any
    accepted), or every one offered when the editor reports no such thing. An answer that
    arrived after the next keystroke was never on screen, so it is neither accepted nor rejected."""
    offered = [s for s in suggestions if s.offered]
    if any(s.shown for s in offered):
        return [s for s in offered if s.shown or s.accepted_chars > 0]
    return offered


def load_suggestions(store: EventStore, since: float = 0.0) -> tuple[dict[str, Suggestion], int]:
    """Every suggestion's story, and the characters the user typed."""
    suggestions: dict[str, Suggestion] = {}
    typed = 0
    for row in store.events(since=since):
        kind, data, sid = row["kind"], row["data"], row["sid"]
        if kind == "typed":
            typed += int(data.get("chars", 0))
            continue
        if not sid:
            continue
        s = suggestions.get(sid)
        if s is None:
            s = suggestions[sid] = Suggestion(sid, row["ts"], row["language"] or "")
        if kind == "requested":
            s.decision = data.get("decision", "")
            s.features = data.get("features", {})
        elif kind == "generated":
            s.generated = True
            s.timings = data.get("timings_ms", {})
            s.post = data.get("post", {})
            if data.get("backend"):
                s.served_by = served_by(data["backend"], data.get("model") or "")
        elif kind == "offered":
            s.offered, s.lines, s.chars = True, int(data.get("lines", 0)), int(data.get("chars", 0))
            s.score = data.get("score")
        elif kind == "skipped":
            s.skipped, s.score = True, data.get("score")
        elif kind == "filtered":
            s.filtered, s.score = True, data.get("score")
        elif kind == "shown":
            s.shown = True
        elif kind == "accepted":
            s.accepted_chars = max(s.accepted_chars, int(data.get("accepted_chars", 0)))
            s.accept_kind = data.get("kind", "")
            s.accepted_candidate = int(data.get("candidate", 0))
        elif kind == "rejected":
            s.rejected = data.get("reason", "") or "rejected"
        elif kind == "retained":
            s.retained[float(data.get("after_s", 0))] = bool(data.get("retained"))
    return suggestions, typed


def percentile(values: list[float], p: float, digits: int = 1) -> float | None:
    """The value below which a share `p` of `values` lies (nearest rank); None for no values.

    The one percentile every report and benchmark uses, so their figures compare.
    """
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], digits)


def share_text(value: float | None) -> str:
    """A share as a percentage for tables, "-" where there is none."""
    return "-" if value is None else f"{value:.1%}"


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_stats(suggestions: dict[str, Suggestion], typed_chars: int) -> dict[str, Any]:
    items = list(suggestions.values())
    offered = displayed(items)
    accepted = [s for s in offered if s.accepted_chars > 0]
    accepted_chars = sum(s.accepted_chars for s in accepted)
    multi_chars = sum(s.accepted_chars for s in accepted if s.lines > 1)
    without = typed_chars + accepted_chars
    by_stage: dict[str, list[float]] = defaultdict(list)
    for s in items:
        if s.generated:
            for stage, ms in s.timings.items():
                by_stage[stage].append(float(ms))
    retention = {}
    for after in sorted({a for s in accepted for a in s.retained}):
        checked = [s.retained[after] for s in accepted if after in s.retained]
        retention[f"{after:g}s"] = _rate(sum(checked), len(checked))
    by_language: dict[str, dict[str, Any]] = {}
    for language in sorted({s.language for s in offered}):
        group = [s for s in offered if s.language == language]
        hits = [s for s in group if s.accepted_chars > 0]
        by_language[language or "unknown"] = {
            "offered": len(group),
            "accepted": len(hits),
            "acceptance_rate": _rate(len(hits), len(group)),
        }
    by_model: dict[str, dict[str, Any]] = {}
    for served in sorted({s.served_by for s in offered if s.served_by}):
        group = [s for s in offered if s.served_by == served]
        hits = [s for s in group if s.accepted_chars > 0]
        totals = [float(s.timings["total"]) for s in group if "total" in s.timings]
        by_model[served] = {
            "offered": len(group),
            "accepted": len(hits),
            "acceptance_rate": _rate(len(hits), len(group)),
            "latency_p50_ms": percentile(totals, 0.5),
            "latency_p95_ms": percentile(totals, 0.95),
        }
    by_length: dict[str, dict[str, Any]] = {}
    for low, high in ((1, 10), (11, 40), (41, 120), (121, 10**9)):
        group = [s for s in offered if low <= s.chars <= high]
        label = f"{low}-{high}" if high < 10**9 else f"{low}+"
        hits = [s for s in group if s.accepted_chars > 0]
        by_length[label] = {"offered": len(group), "acceptance_rate": _rate(len(hits), len(group))}
    by_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in offered:
        day = dt.datetime.fromtimestamp(s.ts, dt.UTC).strftime("%Y-%m-%d")
        by_day[day][0] += 1
        by_day[day][1] += s.accepted_chars > 0
    return {
        "requests": len(items),
        "skipped_by_filter": sum(s.skipped for s in items),
        "generated": sum(s.generated for s in items),
        "filtered_after_generation": sum(s.filtered for s in items),
        "offered": len(offered),
        "shown_reported": sum(s.shown for s in items),
        "accepted": len(accepted),
        "partially_accepted": sum(s.accept_kind == "partial" for s in accepted),
        "rejected": dict(Counter(s.rejected for s in offered if s.rejected and not s.accepted_chars)),
        "acceptance_rate": _rate(len(accepted), len(offered)),
        "accepted_chars": accepted_chars,
        "typed_chars": typed_chars,
        "share_of_code_from_suggestions": _rate(accepted_chars, without),
        "keystrokes_saved": _rate(accepted_chars - len(accepted), without),
        "multiline_share_of_accepted_chars": _rate(multi_chars, accepted_chars),
        "latency_ms": {
            stage: {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}
            for stage, values in sorted(by_stage.items())
        },
        "retention": retention,
        "by_language": by_language,
        "by_model": by_model,
        "by_length": by_length,
        "by_day": {day: {"offered": o, "accepted": a} for day, (o, a) in sorted(by_day.items())},
        "mean_filter_score_offered": round(statistics.fmean(scores), 3)
        if (scores := [s.score for s in offered if s.score is not None])
        else None,
    }


def format_text(stats: dict[str, Any]) -> str:
    pct = share_text
    lines = [
        f"requests {stats['requests']}   skipped by filter {stats['skipped_by_filter']}   "
        f"generated {stats['generated']}   hidden after generation {stats['filtered_after_generation']}",
        f"offered {stats['offered']}   accepted {stats['accepted']} "
        f"({stats['partially_accepted']} partly)   acceptance rate {pct(stats['acceptance_rate'])}",
        f"characters accepted {stats['accepted_chars']}   typed {stats['typed_chars']}   "
        f"share from suggestions {pct(stats['share_of_code_from_suggestions'])}",
        f"keystrokes saved {pct(stats['keystrokes_saved'])}   "
        f"multi-line share of accepted characters {pct(stats['multiline_share_of_accepted_chars'])}",
        "retention: "
        + ("   ".join(f"{k} {pct(v)}" for k, v in stats["retention"].items()) or "no checks yet"),
        "latency (ms):",
    ]
    for stage, figures in stats["latency_ms"].items():
        lines.append(f"  {stage:<14} p50 {figures['p50']:>8}   p95 {figures['p95']:>8}")
    if stats["rejected"]:
        lines.append("rejections: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected"].items())))
    for language, row in stats["by_language"].items():
        lines.append(
            f"  {language:<12} offered {row['offered']:>5}  acceptance {pct(row['acceptance_rate'])}"
        )
    if stats["by_model"]:
        lines.append("by backend and model:")
    for served, row in stats["by_model"].items():
        lines.append(
            f"  {served:<40} offered {row['offered']:>5}  acceptance {pct(row['acceptance_rate'])}"
            f"  latency p50 {row['latency_p50_ms']} ms  p95 {row['latency_p95_ms']} ms"
        )
    return "\n".join(lines)
