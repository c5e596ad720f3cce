"""`hearth stats --html FILE`: one self-contained page with the figures and plots.

Plots are inline SVG written here, so the report opens offline in any
browser and needs no plotting library.
"""

from __future__ import annotations

import html
import itertools
from typing import Any

from hearth_telemetry.stats import Suggestion, format_text


def bar_chart(title: str, rows: list[tuple[str, float, str]], unit: str = "") -> str:
    """A horizontal bar chart: (label, value, annotation)."""
    if not rows:
        return f"<h3>{html.escape(title)}</h3><p>No data yet.</p>"
    top = max(value for _, value, _ in rows) or 1.0
    height = 22 * len(rows) + 10
    parts = [f'<h3>{html.escape(title)}</h3><svg width="640" height="{height}" role="img">']
    for i, (label, value, note) in enumerate(rows):
        y = 5 + 22 * i
        width = 400 * value / top
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="140" y="{y}" width="{width:.1f}" height="16" fill="#c2410c"/>'
            f'<text x="{146 + width:.1f}" y="{y + 13}" font-size="11">'
            f"{html.escape(note or f'{value:g}{unit}')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _rate_rows(groups: dict[str, dict[str, Any]]) -> list[tuple[str, float, str]]:
    rows = []
    for label, row in groups.items():
        rate = row.get("acceptance_rate")
        if rate is not None:
            rows.append((label, rate, f"{rate:.0%} of {row['offered']}"))
    return rows


def _latency_histogram(suggestions: dict[str, Suggestion]) -> list[tuple[str, float, str]]:
    edges = [0, 100, 200, 400, 800, 1600, 3200, float("inf")]
    totals = [s.timings.get("total", 0.0) for s in suggestions.values() if s.generated]
    rows = []
    for low, high in itertools.pairwise(edges):
        count = sum(low <= t < high for t in totals)
        label = f"{low:g}-{high:g} ms" if high != float("inf") else f"{low:g}+ ms"
        rows.append((label, float(count), str(count)))
    return rows if totals else []


def render_html(stats: dict[str, Any], suggestions: dict[str, Suggestion]) -> str:
    by_day = [
        (day, row["accepted"] / row["offered"], f"{row['accepted']}/{row['offered']}")
        for day, row in stats["by_day"].items()
        if row["offered"]
    ]
    sections = [
        bar_chart("Acceptance over time (per day)", by_day),
        bar_chart("Acceptance by language", _rate_rows(stats["by_language"])),
        bar_chart("Acceptance by suggestion length (characters)", _rate_rows(stats["by_length"])),
        bar_chart("Latency of generated suggestions", _latency_histogram(suggestions)),
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Hearth statistics</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>"
        "<h1>Hearth: what the assistant did for you</h1>"
        "<p>Everything here comes from the local database on this machine.</p>"
        f"<pre>{html.escape(format_text(stats))}</pre>" + "".join(sections) + "</body></html>"
    )
