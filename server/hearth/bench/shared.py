"""`hearth bench shared-engine`: several simulated developers typing at once, on one engine.

Each developer is a `hearth serve` of their own (as each editor starts one)
replaying their own spans of the same code base at the same time, through the
replay bench's typist. Run once with every server on the shared engine, and
once with every server on its own local model, the figures show the trade-off
a team makes: per-developer latency and acceptance, and the machine's memory
for N local models against one engine.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hearth.bench.developer import Task, tasks_from_files
from hearth.bench.replay import run_mode
from hearth_telemetry.stats import percentile, share_text

ENGINE_SETTINGS = ("backend", "endpoint", "remoteModel", "apiKeyEnv", "apiKeyFile")


def _concurrently(
    developers: list[list[Task]], settings: dict[str, Any], seed: int, cps: float, root: Path
) -> dict[str, Any]:
    results: list[dict[str, Any] | None] = [None] * len(developers)
    failures: list[str] = []

    def one(index: int) -> None:
        try:
            results[index] = run_mode(developers[index], "hearth", settings, seed + index, cps, root)
        except BaseException as exc:  # one developer's failure is reported, the others go on
            failures.append(f"developer {index + 1}: {type(exc).__name__}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(developers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [r for r in results if r is not None]
    return {
        "wall_s": round(time.monotonic() - started, 1),
        "developers": [
            {
                "requests": r["requests"],
                "answered": r["answered"],
                "cancelled": r["cancelled"],
                "latency_ms": r["latency_ms"],
                "acceptance_rate": r["acceptance_rate"],
                "keystrokes_saved": r["keystrokes_saved"],
                "shown": r["shown"],
                "peak_rss_mb": r["peak_rss_mb"],
            }
            for r in done
        ],
        "p50_of_p50_ms": percentile([r["latency_ms"]["p50"] for r in done if r["latency_ms"]["p50"]], 0.5),
        "worst_p95_ms": max((r["latency_ms"]["p95"] or 0.0 for r in done), default=None),
        "hearth_rss_mb": round(sum(r["peak_rss_mb"] or 0.0 for r in done), 1),
        "failures": failures,
    }


def run_shared_engine(
    root: Path,
    files: str,
    developers: int,
    tasks_each: int,
    settings: dict[str, Any],
    seed: int,
    cps: float,
    as_json: bool,
    local_too: bool = True,
) -> int:
    if not settings.get("endpoint"):
        print("hearth bench shared-engine: --endpoint is required (the engine to share)", file=sys.stderr)
        return 2
    tasks = tasks_from_files(root, files, random.Random(seed), developers * tasks_each)
    if len(tasks) < developers:
        print("hearth bench shared-engine: not enough spans to type in PATH", file=sys.stderr)
        return 2
    shares = [tasks[i::developers] for i in range(developers)]
    report: dict[str, Any] = {"developers": developers, "tasks_each": tasks_each, "chars_per_s": cps}
    report["engine"] = _concurrently(shares, settings, seed, cps, root)
    if local_too:
        local = {k: v for k, v in settings.items() if k not in ENGINE_SETTINGS}
        report["local"] = _concurrently(shares, local, seed, cps, root)
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['developers']} developers typing at once, {report['tasks_each']} spans each"]
    for name in ("engine", "local"):
        run = report.get(name)
        if run is None:
            continue
        title = "one shared engine" if name == "engine" else "a local model each"
        lines.append(
            f"{title}: median p50 {run['p50_of_p50_ms']} ms, worst p95 {run['worst_p95_ms']} ms, "
            f"Hearth processes {run['hearth_rss_mb']} MB in all, {run['wall_s']} s"
        )
        for number, dev in enumerate(run["developers"], 1):
            latency = dev["latency_ms"]
            lines.append(
                f"  developer {number}: p50 {latency['p50']} ms  p95 {latency['p95']} ms  "
                f"acceptance {share_text(dev['acceptance_rate'])}  keystrokes saved "
                f"{share_text(dev['keystrokes_saved'])}  ({dev['shown']} shown)"
            )
        lines += [f"  {failure}" for failure in run["failures"]]
    return "\n".join(lines)
