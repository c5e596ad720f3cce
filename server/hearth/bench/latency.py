"""`hearth bench latency`: replay typing through `hearth serve` over stdio and print figures.

At several places in a real source file the benchmark opens the text up to
that place, then types the next characters one keystroke at a time (a
didChange and an inlineCompletion each, as an editor does), and times every
response. It runs twice: with the KV cache (warm) and with `promptCache`
off (every prompt evaluated cold), and prints the ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hearth.lsp.stdio_client import StdioClient


def _default_file() -> Path:
    import json as json_module

    return Path(json_module.__file__).parent / "decoder.py"


def _places(text: str, points: int, keystrokes: int) -> list[int]:
    """Offsets at the ends of lines opening blocks, spread over the file."""
    candidates = []
    offset = 0
    for line in text.split("\n"):
        offset += len(line) + 1
        if line.rstrip().endswith(":") and offset + keystrokes < len(text):
            candidates.append(offset)
    step = max(1, len(candidates) // max(1, points))
    return candidates[::step][:points]


def _run(path: Path, points: int, keystrokes: int, settings: dict[str, Any]) -> dict[str, Any]:
    text = path.read_text("utf-8")
    client = StdioClient()
    latencies: list[float] = []
    events: list[dict[str, Any]] = []
    try:
        client.initialize({"debounceMs": 0, **settings})
        if client.wait_model_ready()["state"] != "ready":
            raise SystemExit("hearth bench: the model did not load (run hearth doctor)")
        for number, start in enumerate(_places(text, points, keystrokes)):
            uri = f"file:///bench/{number}/{path.name}"
            typed = text[:start]
            client.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "python", "version": 0, "text": typed}})  # fmt: skip
            for key in range(keystrokes):
                char = text[start + key]
                line = typed.count("\n")
                col = len(typed) - (typed.rfind("\n") + 1)
                client.notify("textDocument/didChange", {
                    "textDocument": {"uri": uri, "version": key + 1},
                    "contentChanges": [{"range": {"start": {"line": line, "character": col},
                                                  "end": {"line": line, "character": col}},
                                        "text": char}]})  # fmt: skip
                typed += char
                position = {"line": typed.count("\n"), "character": len(typed) - (typed.rfind("\n") + 1)}
                sent = time.monotonic()
                msg_id = client.request_nowait("textDocument/inlineCompletion", {
                    "textDocument": {"uri": uri}, "position": position,
                    "context": {"triggerKind": 2}})  # fmt: skip
                client.wait(msg_id, timeout=120)
                latencies.append((client.response_times[msg_id] - sent) * 1000)
            client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        recent = client.request("hearth/status", {})["result"]["recent"]
        events = [e for e in recent if e.get("event") == "completion" and "prompt_tokens" in e]
    finally:
        client.close()
    return _summary(latencies, events)


def _summary(latencies: list[float], events: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0

    reused = [e["reused_tokens"] / e["prompt_tokens"] for e in events if e["prompt_tokens"]]
    decode = [e["timings_ms"].get("model_decode", 0.0) for e in events]
    return {
        "requests": len(latencies),
        "p50_ms": round(pct(0.5), 1),
        "p95_ms": round(pct(0.95), 1),
        "mean_reused_fraction": round(statistics.fmean(reused), 3) if reused else 0.0,
        "median_decode_ms": round(statistics.median(decode), 1) if decode else 0.0,
        "median_generated_tokens": (
            statistics.median([e["generated_tokens"] for e in events]) if events else 0
        ),
    }


def run_latency_bench(
    file: str | None, points: int, keystrokes: int, settings: dict[str, Any], as_json: bool
) -> int:
    path = Path(file) if file else _default_file()
    warm = _run(path, points, keystrokes, settings)
    cold = _run(path, points, keystrokes, {**settings, "promptCache": False})
    report: dict[str, Any] = {
        "file": str(path),
        "warm": warm,
        "cold": cold,
        "cold_over_warm_p50": round(cold["p50_ms"] / warm["p50_ms"], 2) if warm["p50_ms"] else None,
        "warm_p50_over_decode": round(warm["p50_ms"] / warm["median_decode_ms"], 2)
        if warm["median_decode_ms"]
        else None,
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"file: {path}")
    for name, r in (("warm", warm), ("cold", cold)):
        print(f"{name:>5}: {r['requests']} requests  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  "
              f"reused {r['mean_reused_fraction']:.0%}  decode p50 {r['median_decode_ms']} ms")  # fmt: skip
    print(f"cold/warm p50: {report['cold_over_warm_p50']}x   "
          f"warm p50 / decode time: {report['warm_p50_over_decode']}x")  # fmt: skip
    sys.stdout.flush()
    return 0
