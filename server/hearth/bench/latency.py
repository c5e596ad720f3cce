"""`hearth bench latency`: replay typing through `hearth serve` over stdio and print figures.

At several places in a real source file the benchmark opens the text up to
that place, then types the next characters one keystroke at a time (a
didChange and an inlineCompletion each, as an editor does), and times every
response. It runs twice: with the KV cache (warm) and with `promptCache`
off (every prompt evaluated cold), and prints the ratio. The first request
after opening a document cannot reuse anything, so it is reported apart from
the requests made while typing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hearth.bench import position, start_server
from hearth_telemetry.stats import percentile


def _default_file() -> Path:
    import json as json_module

    return Path(json_module.__file__).parent / "decoder.py"


def _places(text: str, points: int, keystrokes: int) -> list[int]:
    """Offsets just after the indentation of lines that follow a block opener.

    Typing starts there, so every keystroke is a visible character that
    changes the prompt (indentation alone would not: trailing whitespace is
    not part of the prompt).
    """
    candidates = []
    lines = text.split("\n")
    offset = 0
    for number, line in enumerate(lines[:-1]):
        offset += len(line) + 1
        body = lines[number + 1]
        start = offset + len(body) - len(body.lstrip())
        if line.rstrip().endswith(":") and len(body.strip()) > keystrokes:
            candidates.append(start)
    step = max(1, len(candidates) // max(1, points))
    return candidates[::step][:points]


def _run(path: Path, points: int, keystrokes: int, settings: dict[str, Any]) -> dict[str, Any]:
    text = path.read_text("utf-8")
    client = start_server({"debounceMs": 0, "deadlineMs": 60000, **settings})
    samples: list[dict[str, Any]] = []
    try:
        for number, start in enumerate(_places(text, points, keystrokes)):
            uri = f"file:///bench/{number}/{path.name}"
            typed = text[:start]
            client.open_document(uri, "python", typed, version=0)
            for key in range(keystrokes):
                char = text[start + key]
                client.insert(uri, key + 1, position(typed, len(typed)), char)
                typed += char
                sent = time.monotonic()
                msg_id = client.inline_completion(uri, position(typed, len(typed)), trigger_kind=2)
                client.wait(msg_id, timeout=300)
                latency = (client.response_times[msg_id] - sent) * 1000
                recent = client.request("hearth/status", {})["result"]["recent"]
                event = next(e for e in reversed(recent) if e.get("event") == "completion")
                samples.append({"latency_ms": latency, "first": key == 0, **event})
            client.close_document(uri)
    finally:
        client.close()
    return {
        "all": _summary(samples),
        "first_after_open": _summary([s for s in samples if s["first"]]),
        "while_typing": _summary([s for s in samples if not s["first"]]),
    }


def _decode_ms(sample: dict[str, Any]) -> float:
    """Time to decode the emitted tokens: the measured per-token time times their number.

    The worker's decode timer starts at the first token, so it covers n-1 tokens.
    """
    generated = sample.get("generated_tokens", 0)
    decode = sample.get("timings_ms", {}).get("model_decode", 0.0)
    return decode * generated / (generated - 1) if generated > 1 else 0.0


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def pct(values: list[float], p: float) -> float:
        return percentile(values, p) or 0.0

    latencies = [s["latency_ms"] for s in samples]
    with_tokens = [s for s in samples if s.get("prompt_tokens")]
    decoding = [s for s in with_tokens if s.get("generated_tokens", 0) > 1]
    return {
        "requests": len(samples),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "mean_reused_fraction": round(
            statistics.fmean(s["reused_tokens"] / s["prompt_tokens"] for s in with_tokens), 3
        )
        if with_tokens
        else 0.0,
        "p50_decode_ms": pct([_decode_ms(s) for s in decoding], 0.5),
        "p50_latency_over_decode": round(
            statistics.median(s["latency_ms"] / _decode_ms(s) for s in decoding), 2
        )
        if decoding
        else None,
        "p50_generated_tokens": statistics.median(s.get("generated_tokens", 0) for s in samples)
        if samples
        else 0,
    }


def run_latency_bench(
    file: str | None, points: int, keystrokes: int, settings: dict[str, Any], as_json: bool
) -> int:
    path = Path(file) if file else _default_file()
    warm = _run(path, points, keystrokes, settings)
    cold = _run(path, points, keystrokes, {**settings, "promptCache": False})
    typing_warm, typing_cold = warm["while_typing"], cold["while_typing"]
    report: dict[str, Any] = {
        "file": str(path),
        "warm": warm,
        "cold": cold,
        "cold_over_warm_p50": round(typing_cold["p50_ms"] / typing_warm["p50_ms"], 2)
        if typing_warm["p50_ms"]
        else None,
        "warm_p50_over_decode": typing_warm["p50_latency_over_decode"],
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"file: {path}  ({points} places, {keystrokes} keystrokes each)")
    for name, run in (("warm", warm), ("cold", cold)):
        for part in ("while_typing", "first_after_open"):
            r = run[part]
            print(f"{name:>5} {part:<16} {r['requests']:>3} requests  p50 {r['p50_ms']:>7} ms  "
                  f"p95 {r['p95_ms']:>7} ms  reused {r['mean_reused_fraction']:>4.0%}  "
                  f"latency/decode p50 {r['p50_latency_over_decode']}x")  # fmt: skip
    print(f"while typing: cold/warm p50 {report['cold_over_warm_p50']}x   "
          f"warm latency / decode time of emitted tokens p50: {report['warm_p50_over_decode']}x")  # fmt: skip
    sys.stdout.flush()
    return 0
