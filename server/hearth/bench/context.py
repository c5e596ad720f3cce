"""`hearth bench context REPO`: index build, per-request context extraction and incremental updates.

Prints: the full index build time and the process's peak memory, a warm
rebuild (nothing changed), context extraction per request p50/p95 both when
the cursor enters a new scope (the engine gathers everything) and while
typing inside one (the cached block is reused), and the time to re-index
one edited file.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hearth.context.engine import ContextEngine, ContextRequest
from hearth.context.files import source_files
from hearth.context.index import RepoIndex
from hearth.context.languages import language_of
from hearth_telemetry.stats import percentile


def _pct(values: list[float], p: float) -> float:
    return percentile(values, p, digits=2) or 0.0


def run_context_bench(repo: str, samples: int, seed: int, as_json: bool) -> int:
    root = Path(repo).resolve()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        index = RepoIndex(root, Path(tmp) / "index.sqlite3")
        build = index.build()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rebuild = index.build()
        files = [p for p in source_files(root)]
        chosen = [rng.choice(files) for _ in range(samples)] if files else []
        engine = ContextEngine(index=lambda: index)
        opening: list[float] = []
        first: list[float] = []
        miss: list[float] = []
        typing: list[float] = []
        updates: list[float] = []
        for path in chosen:
            text = path.read_text("utf-8", errors="replace")
            relative = path.relative_to(root).as_posix()
            language = language_of(relative) or "plaintext"
            uri = f"file://{path}"
            # The server parses a document as it opens (after answering didOpen).
            started = time.perf_counter()
            engine.warm(uri, language, relative, text)
            opening.append((time.perf_counter() - started) * 1000)
            for timings in (first, miss):
                offset = rng.randrange(len(text) + 1)
                offset = text.rfind("\n", 0, offset) + 1
                request = ContextRequest(uri, language, relative, text, offset, max(0, offset - 3000))
                started = time.perf_counter()
                engine.block(request, 358)
                timings.append((time.perf_counter() - started) * 1000)
            typed = text
            for ch in "value = ":
                typed = typed[:offset] + ch + typed[offset:]
                offset += 1
                request = ContextRequest(uri, language, relative, typed, offset, max(0, offset - 3000 - 1))
                started = time.perf_counter()
                engine.block(request, 358)
                typing.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            index.update(relative, typed)
            updates.append((time.perf_counter() - started) * 1000)
            engine.forget(uri)
        counts = index.counts()
        index.close()
    report: dict[str, Any] = {
        "repo": str(root),
        "files": build.files_seen,
        "lines": build.lines,
        "symbols": counts["symbols"],
        "index_build_s": round(build.seconds, 2),
        "index_rebuild_unchanged_s": round(rebuild.seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "parse_on_open_ms": {"p50": _pct(opening, 0.5), "p95": _pct(opening, 0.95)},
        "extraction_first_in_document_ms": {"p50": _pct(first, 0.5), "p95": _pct(first, 0.95)},
        "extraction_new_scope_ms": {"p50": _pct(miss, 0.5), "p95": _pct(miss, 0.95)},
        "extraction_while_typing_ms": {"p50": _pct(typing, 0.5), "p95": _pct(typing, 0.95)},
        "incremental_update_ms": {"p50": _pct(updates, 0.5), "p95": _pct(updates, 0.95)},
        "mean_extraction_ms": round(statistics.fmean(miss + typing), 2) if miss else 0.0,
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['repo']}: {report['files']} files, {report['lines']} lines, {report['symbols']} symbols")
    rebuild_s, peak = report["index_rebuild_unchanged_s"], report["peak_rss_mb"]
    print(f"index build {report['index_build_s']} s (unchanged rebuild {rebuild_s} s), peak RSS {peak} MB")
    keys = ("parse_on_open_ms", "extraction_first_in_document_ms", "extraction_new_scope_ms",
            "extraction_while_typing_ms", "incremental_update_ms")  # fmt: skip
    for key in keys:
        print(f"{key:<28} p50 {report[key]['p50']:>8}   p95 {report[key]['p95']:>8}")
    return 0
