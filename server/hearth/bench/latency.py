"""`hearth bench latency`: replay typing through `hearth serve` over stdio and print figures.

Modes, each a view of one mechanism:

- typing: at several places in a real source file the benchmark opens the
  text up to that place, then types the next characters one keystroke at a
  time (a didChange and an inlineCompletion each, as an editor does), and
  times every response. It runs twice: with the KV cache (warm) and with
  `promptCache` off (every prompt evaluated cold), and prints the ratio. The
  first request after opening a document cannot reuse anything, so it is
  reported apart from the requests made while typing.
- typed-along: at each place the user asks for a suggestion, then types it
  character by character with the default debounce; every answer should be
  the rest of it, at once, with no model call.
- revisit: the same place asked for again (the editor re-asking after a
  focus change), and again after a character typed and undone.
- scope-switch: a developer moving between functions in two files, coming
  back to each a character further on: the first visit is a cold prompt,
  each return should restore the KV cache the worker kept. Run with the
  saved caches and without (`savedStatesMb` 0), on the same places, with
  the prompt evaluation time per round (the first return may find a context
  block that changed meanwhile: jedi answers in the background).
- after-accept: a suggestion accepted, then the user goes on (Enter at the
  end of a finished line): the time from the accept to the next suggestion,
  with the next one made ahead and without (`prefetch` off). The user reads
  for READ_S before going on, as people do after taking a suggestion.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hearth.bench import first_suggestion, position, start_server
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
    client = start_server({"deadlineMs": 60000, **settings})
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


SCOPE_PLACES = 4
"""Places the developer moves between: two functions in each of two files."""
SCOPE_ROUNDS = 4
READ_S = 1.0
"""Seconds between accepting a suggestion and the next keystroke."""
TYPED_ALONG_KEYSTROKES = 24


def _request(client: Any, uri: str, text: str, offset: int, trigger: int) -> tuple[dict[str, Any], float]:
    """One inline completion: its response and the milliseconds from sending it to the answer."""
    sent = time.monotonic()
    msg_id = client.inline_completion(uri, position(text, offset), trigger_kind=trigger)
    response = client.wait(msg_id, timeout=300)
    return response, (client.response_times[msg_id] - sent) * 1000


def _model_answers(client: Any) -> int:
    """Completions the model generated so far (answers reused are not counted)."""
    return int(client.request("hearth/status", {})["result"]["totals"].get("generated", 0))


def _typed_along(path: Path, points: int, settings: dict[str, Any]) -> dict[str, Any]:
    text = path.read_text("utf-8")
    client = start_server({"deadlineMs": 60000, **settings})
    latencies: list[float] = []
    served = keystrokes = model_calls = places = 0
    try:
        for number, start in enumerate(_places(text, points, 1)):
            uri = f"file:///bench/along/{number}/{path.name}"
            typed = text[:start] + "\n" + text[start:]  # a fresh line to write on
            offset = start
            client.open_document(uri, "python", typed, version=0)
            response, _ = _request(client, uri, typed, offset, trigger=1)
            suggestion = first_suggestion(response)
            before = _model_answers(client)
            for key, char in enumerate(suggestion[:TYPED_ALONG_KEYSTROKES]):
                rest = suggestion[key + 1 :]
                if not rest.strip():
                    break
                client.insert(uri, key + 1, position(typed, offset), char)
                typed, offset = typed[:offset] + char + typed[offset:], offset + 1
                response, latency = _request(client, uri, typed, offset, trigger=2)
                latencies.append(latency)
                keystrokes += 1
                served += first_suggestion(response) == rest
            model_calls += _model_answers(client) - before
            places += bool(suggestion.strip())
            client.close_document(uri)
    finally:
        client.close()
    return {
        "places": places,
        "keystrokes": keystrokes,
        "served_rest_share": round(served / keystrokes, 3) if keystrokes else None,
        "model_calls": model_calls,
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "debounce_ms": settings.get("debounceMs", "default"),
    }


def _revisit(path: Path, points: int, settings: dict[str, Any]) -> dict[str, Any]:
    text = path.read_text("utf-8")
    client = start_server({"deadlineMs": 60000, **settings})
    again: list[float] = []
    undone: list[float] = []
    first: list[float] = []
    same = asked = model_calls = 0
    try:
        for number, start in enumerate(_places(text, points, 1)):
            uri = f"file:///bench/revisit/{number}/{path.name}"
            content = text[:start] + "\n" + text[start:]
            client.open_document(uri, "python", content, version=0)
            response, latency = _request(client, uri, content, start, trigger=1)
            first.append(latency)
            suggestion = first_suggestion(response)
            before = _model_answers(client)
            response, latency = _request(client, uri, content, start, trigger=1)
            again.append(latency)
            same += first_suggestion(response) == suggestion
            # A character typed, then undone: the text around the cursor is what it was.
            client.insert(uri, 1, position(content, start), "#")
            client.delete(uri, 2, position(content, start), position(content[:start] + "#", start + 1))
            response, latency = _request(client, uri, content, start, trigger=1)
            undone.append(latency)
            same += first_suggestion(response) == suggestion
            asked += 2
            model_calls += _model_answers(client) - before
            client.close_document(uri)
    finally:
        client.close()
    return {
        "places": len(first),
        "first_p50_ms": percentile(first, 0.5),
        "again_p50_ms": percentile(again, 0.5),
        "again_p95_ms": percentile(again, 0.95),
        "after_undo_p50_ms": percentile(undone, 0.5),
        "after_undo_p95_ms": percentile(undone, 0.95),
        "same_answer_share": round(same / asked, 3) if asked else None,
        "model_calls_on_revisit": model_calls,
    }


def _scope_switch(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    files = [path, path.with_name("encoder.py")] if path.with_name("encoder.py").exists() else [path]
    runs = {}
    for name, extra in (("saved", {}), ("none", {"savedStatesMb": 0})):
        options = {"deadlineMs": 60000, "debounceMs": 0, "filter": False, **settings, **extra}
        runs[name] = _visits(files, options)
    saved, none = runs["saved"], runs["none"]
    return {
        "places": saved["places"],
        "rounds": SCOPE_ROUNDS,
        "saved": saved,
        "none": none,
        "come_back_p95_none_over_saved": round(none["come_back_p95_ms"] / saved["come_back_p95_ms"], 2)
        if saved["come_back_p95_ms"]
        else None,
    }


def _visits(files: list[Path], settings: dict[str, Any]) -> dict[str, Any]:
    client = start_server(settings)
    places: list[tuple[str, str, int]] = []
    first: list[float] = []
    back: list[float] = []
    prompt_ms: list[list[float]] = [[] for _ in range(SCOPE_ROUNDS)]
    restored: list[float] = []
    try:
        for number, path in enumerate(files):
            text = path.read_text("utf-8")
            uri = f"file:///bench/scope/{number}/{path.name}"
            client.open_document(uri, "python", text, version=0)
            picked = _places(text, SCOPE_PLACES // len(files), SCOPE_ROUNDS)
            places += [(uri, text, offset) for offset in picked]
        for round_number in range(SCOPE_ROUNDS):
            for uri, text, offset in places:
                # Back a character further on: the prompt's start is the same, its end is not.
                _response, latency = _request(client, uri, text, offset + round_number, trigger=2)
                recent = client.request("hearth/status", {})["result"]["recent"]
                event = next(e for e in reversed(recent) if e.get("event") == "completion")
                (first if round_number == 0 else back).append(latency)
                prompt_ms[round_number].append(event.get("timings_ms", {}).get("model_prompt", 0.0))
                if round_number and event.get("prompt_tokens"):
                    restored.append(event.get("restored_tokens", 0) / event["prompt_tokens"])
    finally:
        client.close()
    return {
        "places": len(places),
        "first_visit_p50_ms": percentile(first, 0.5),
        "first_visit_p95_ms": percentile(first, 0.95),
        "come_back_p50_ms": percentile(back, 0.5),
        "come_back_p95_ms": percentile(back, 0.95),
        "come_back_restored_fraction": round(statistics.fmean(restored), 3) if restored else 0.0,
        # Prompt evaluation alone, per round: the part a cold prompt costs (the rest is decoding).
        "prompt_p95_ms_by_round": [percentile(r, 0.95) for r in prompt_ms],
    }


def _after_accept(path: Path, points: int, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _accepts(path, points, {"deadlineMs": 60000, "filter": False, **settings, "prefetch": on})
        for name, on in (("prefetch", True), ("none", False))
    }


def _accepts(path: Path, points: int, settings: dict[str, Any]) -> dict[str, Any]:
    text = path.read_text("utf-8")
    client = start_server(settings)
    waits: list[float] = []
    shown = 0
    try:
        for number, start in enumerate(_places(text, points, 1)):
            uri = f"file:///bench/accept/{number}/{path.name}"
            content = text[:start] + "\n" + text[start:]
            client.open_document(uri, "python", content, version=0)
            response, _ = _request(client, uri, content, start, trigger=1)
            items = (response.get("result") or {}).get("items") or []
            if not items:
                client.close_document(uri)
                continue
            suggestion, sid = items[0]["insertText"], items[0]["command"]["arguments"][0]
            client.insert(uri, 1, position(content, start), suggestion)
            client.request("workspace/executeCommand", {"command": "hearth.accepted", "arguments": [sid]})
            content, cursor = content[:start] + suggestion + content[start:], start + len(suggestion)
            time.sleep(READ_S)
            line = content[content.rfind("\n", 0, cursor) + 1 : cursor]
            if not content[cursor:].split("\n", 1)[0].strip():
                enter = "\n" + line[: len(line) - len(line.lstrip())]
                client.insert(uri, 2, position(content, cursor), enter)
                content, cursor = content[:cursor] + enter + content[cursor:], cursor + len(enter)
            response, latency = _request(client, uri, content, cursor, trigger=2)
            waits.append(latency)
            shown += bool(first_suggestion(response))
            client.close_document(uri)
    finally:
        client.close()
    return {
        "accepts": len(waits),
        "next_shown": shown,
        "p50_ms": percentile(waits, 0.5),
        "p95_ms": percentile(waits, 0.95),
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
    file: str | None,
    points: int,
    keystrokes: int,
    settings: dict[str, Any],
    as_json: bool,
    modes: tuple[str, ...],
) -> int:
    path = Path(file) if file else _default_file()
    report: dict[str, Any] = {"file": str(path)}
    if "typing" in modes:
        report["typing"] = _typing(path, points, keystrokes, settings)
    if "typed-along" in modes:
        report["typed_along"] = _typed_along(path, points, settings)
    if "revisit" in modes:
        report["revisit"] = _revisit(path, points, settings)
    if "scope-switch" in modes:
        report["scope_switch"] = _scope_switch(path, settings)
    if "after-accept" in modes:
        report["after_accept"] = _after_accept(path, points, settings)
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"file: {path}  ({points} places)")
    typing = report.get("typing")
    if typing is not None:
        for name in ("warm", "cold"):
            for part in ("while_typing", "first_after_open"):
                r = typing[name][part]
                print(f"typing {name:>4} {part:<16} {r['requests']:>3} requests  p50 {r['p50_ms']:>7} ms  "
                      f"p95 {r['p95_ms']:>7} ms  reused {r['mean_reused_fraction']:>4.0%}  "
                      f"latency/decode p50 {r['p50_latency_over_decode']}x")  # fmt: skip
        print(f"typing: cold/warm p50 {typing['cold_over_warm_p50']}x   warm latency / decode time "
              f"of emitted tokens p50: {typing['warm_p50_over_decode']}x")  # fmt: skip
    along = report.get("typed_along")
    if along is not None:
        print(f"typed-along: {along['keystrokes']} keystrokes at {along['places']} places  "
              f"p50 {along['p50_ms']} ms  p95 {along['p95_ms']} ms  "
              f"rest served {along['served_rest_share']}  model calls {along['model_calls']}")  # fmt: skip
    revisit = report.get("revisit")
    if revisit is not None:
        print(f"revisit: {revisit['places']} places  first p50 {revisit['first_p50_ms']} ms  "
              f"again p50/p95 {revisit['again_p50_ms']}/{revisit['again_p95_ms']} ms  "
              f"after undo p50/p95 {revisit['after_undo_p50_ms']}/{revisit['after_undo_p95_ms']} ms  "
              f"same answer {revisit['same_answer_share']}  "
              f"model calls {revisit['model_calls_on_revisit']}")  # fmt: skip
    scope = report.get("scope_switch")
    if scope is not None:
        for name in ("saved", "none"):
            r = scope[name]
            print(f"scope-switch {name:>5}: {r['places']} places x {scope['rounds']} rounds  "
                  f"first visit p50/p95 {r['first_visit_p50_ms']}/{r['first_visit_p95_ms']} ms  "
                  f"come back p50/p95 {r['come_back_p50_ms']}/{r['come_back_p95_ms']} ms  "
                  f"restored {r['come_back_restored_fraction']:.0%}  "
                  f"prompt p95 by round {r['prompt_p95_ms_by_round']} ms")  # fmt: skip
    accept = report.get("after_accept")
    if accept is not None:
        for name in ("prefetch", "none"):
            r = accept[name]
            print(f"after-accept {name:>8}: {r['accepts']} accepts  next suggestion after the keystroke "
                  f"p50/p95 {r['p50_ms']}/{r['p95_ms']} ms  shown {r['next_shown']}")  # fmt: skip
    sys.stdout.flush()
    return 0


def _typing(path: Path, points: int, keystrokes: int, settings: dict[str, Any]) -> dict[str, Any]:
    warm = _run(path, points, keystrokes, {"debounceMs": 0, **settings})
    cold = _run(path, points, keystrokes, {"debounceMs": 0, **settings, "promptCache": False})
    typing_warm = warm["while_typing"]
    return {
        "warm": warm,
        "cold": cold,
        "cold_over_warm_p50": round(cold["while_typing"]["p50_ms"] / typing_warm["p50_ms"], 2)
        if typing_warm["p50_ms"]
        else None,
        "warm_p50_over_decode": typing_warm["p50_latency_over_decode"],
    }
