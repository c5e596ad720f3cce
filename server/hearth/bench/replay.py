"""`hearth bench replay`: a simulated developer re-types real code through `hearth serve`.

The server is a subprocess spoken to only over stdio LSP, as an editor
would: didOpen, one didChange per keystroke, an automatic inlineCompletion
after each, $/cancelRequest for the one still running at the next
keystroke, didShowCompletion when a suggestion arrives in time, and
`hearth.accepted` or didPartiallyAcceptCompletion when the developer takes
it. Modes: `hearth` (as configured), `nofilter` (the acceptance filter
off), `noreuse` (no answer reuse, no prefetch, no saved KV caches: what
those save) and `naive` (no context, no multi-line policy, no validity
check, no filter, no prompt cache: what a plain completion endpoint would
give). The server writes the same telemetry
as a real session (except in naive mode), so `hearth filter train` can
learn from a replay.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hearth.bench import peak_rss_mb, position, start_server
from hearth.bench.developer import Task, Typist, keystroke_count, match_suggestion, next_keystroke
from hearth.events import outcome_total
from hearth.lsp.stdio_client import ResponseTimeout, StdioClient
from hearth_telemetry.outcomes import Outcome
from hearth_telemetry.stats import percentile, share_text

MODES: dict[str, dict[str, Any]] = {
    "hearth": {},
    "nofilter": {"filter": False},
    "noreuse": {"reuse": False, "prefetch": False, "savedStatesMb": 0},
    "naive": {
        "filter": False,
        "multiline": "always",
        "promptCache": False,
        "telemetry": False,
        "context": False,
        "validity": False,
    },
}
CANCELLED = -32800


@dataclass
class Tally:
    keystrokes_without: int = 0
    keystrokes: int = 0
    chars: int = 0
    requests: int = 0
    answered: int = 0
    cancelled: int = 0
    shown: int = 0
    accepted: int = 0
    partial: int = 0
    accepted_chars: int = 0
    multiline_accepted_chars: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def summary(self) -> dict[str, Any]:
        def pct(p: float) -> float | None:
            return percentile(self.latencies_ms, p)

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b else None

        taken = self.accepted + self.partial
        return {
            "keystrokes_without_suggestions": self.keystrokes_without,
            "keystrokes": self.keystrokes,
            "keystrokes_saved": ratio(self.keystrokes_without - self.keystrokes, self.keystrokes_without),
            "requests": self.requests,
            "answered": self.answered,
            "cancelled": self.cancelled,
            "shown": self.shown,
            "accepted": self.accepted,
            "partially_accepted": self.partial,
            "acceptance_rate": ratio(taken, self.shown),
            "accepted_chars": self.accepted_chars,
            "share_of_chars_from_suggestions": ratio(self.accepted_chars, self.chars),
            "multiline_share_of_accepted_chars": ratio(self.multiline_accepted_chars, self.accepted_chars),
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
        }


class _Session:
    """One task typed into one open document."""

    def __init__(self, client: StdioClient, task: Task, root: Path, typist: Typist) -> None:
        self.client = client
        self.task = task
        self.typist = typist
        # The file's real place in the workspace, as an editor would name it.
        self.uri = (root / task.path).as_uri()
        self.text = task.before + task.after
        self.cursor = len(task.before)
        self.version = 0
        self.tally = Tally(keystrokes_without=keystroke_count(task.span), chars=len(task.span))
        self.sent_at: dict[int | str, float] = {}
        self.shown_ids: set[str] = set()
        """Suggestions shown: one typed along and shown again is still one."""

    def insert(self, text: str) -> None:
        self.version += 1
        self.client.insert(self.uri, self.version, position(self.text, self.cursor), text)
        self.text = self.text[: self.cursor] + text + self.text[self.cursor :]
        self.cursor += len(text)

    def run(self) -> Tally:
        task, client = self.task, self.client
        client.open_document(self.uri, task.language, self.text, version=0)
        pos = 0
        pending: int | str | None = None
        while pos < len(task.span):
            keystroke = next_keystroke(task.span, pos)
            if pending is not None and pending not in client.responses:
                client.notify("$/cancelRequest", {"id": pending})
            self.insert(keystroke)
            pos += len(keystroke)
            self.tally.keystrokes += 1
            if pos >= len(task.span):
                break
            pending = self._request()
            due = time.monotonic() + self.typist.delay(keystroke)
            taken = self._watch(pending, due, task.span[pos:])
            if taken:
                pos += taken
                pending = None
            time.sleep(max(0.0, due - time.monotonic()))
        client.close_document(self.uri)
        return self.tally

    def _request(self) -> int | str:
        self.tally.requests += 1
        sent = time.monotonic()
        msg_id = self.client.inline_completion(self.uri, position(self.text, self.cursor), trigger_kind=2)
        self.sent_at[msg_id] = sent
        return msg_id

    def _watch(self, msg_id: int | str, due: float, upcoming: str) -> int:
        """Wait for the answer until the next keystroke is due; accept it if it fits. Chars taken."""
        client = self.client
        try:
            response = client.wait(msg_id, timeout=max(0.0, due - time.monotonic()))
        except ResponseTimeout:
            return 0  # not in time: the next keystroke cancels it
        items = (response.get("result") or {}).get("items") or []
        if not items:
            return 0
        item = items[0]
        text = item["insertText"]
        sid = str((item.get("command") or {}).get("arguments", [""])[0])
        if sid not in self.shown_ids:
            self.shown_ids.add(sid)
            self.tally.shown += 1
        multiline = "\n" in text.rstrip()
        client.notify("textDocument/didShowCompletion", {"item": item})
        match = match_suggestion(text, upcoming)
        if match.kind == "none":
            return 0
        self.insert(upcoming[: match.chars])
        self.tally.keystrokes += 1  # Tab
        self.tally.accepted_chars += match.chars
        self.tally.multiline_accepted_chars += match.chars if multiline else 0
        if match.kind == "full":
            self.tally.accepted += 1
            client.request_nowait("workspace/executeCommand", item["command"])
        else:
            self.tally.partial += 1
            client.notify("textDocument/didPartiallyAcceptCompletion",
                          {"item": item, "acceptedLength": match.chars})  # fmt: skip
        return match.chars

    def settle(self, grace_s: float = 30.0) -> None:
        """Wait for the last answers, then count cancelled requests and latencies."""
        deadline = time.monotonic() + grace_s
        for msg_id in self.sent_at:
            try:
                self.client.wait(msg_id, timeout=max(0.0, deadline - time.monotonic()))
            except ResponseTimeout:
                continue
        for msg_id, sent in self.sent_at.items():
            response = self.client.responses.get(msg_id)
            if response is None:
                continue
            error = response.get("error")
            if error and error.get("code") == CANCELLED:
                self.tally.cancelled += 1
            else:
                self.tally.answered += 1
                self.tally.latencies_ms.append((self.client.response_times[msg_id] - sent) * 1000)


TOP_DOWN_PAUSES = "(.= "
"""Writing a file from the top, developers stop to think after these (and at line starts)."""


def run_mode(
    tasks: list[Task],
    mode: str,
    settings: dict[str, Any],
    seed: int,
    cps: float,
    root: Path,
    pause_after: str = "(:.=,",
) -> dict[str, Any]:
    per_language: dict[str, Tally] = {}
    total = Tally()
    started = time.monotonic()
    client = start_server({**settings, **MODES[mode]}, root_uri=root.resolve().as_uri())
    try:
        typist = Typist(seed, cps, pause_after)
        for task in tasks:
            session = _Session(client, task, root.resolve(), typist)
            session.run()
            session.settle()
            per_language.setdefault(task.language, Tally()).add(session.tally)
            total.add(session.tally)
        totals = client.request("hearth/status", {})["result"]["totals"]
        peak_mb = peak_rss_mb(client.process.pid)
    finally:
        client.close()
    wall_s = time.monotonic() - started
    model_s = totals.get("model_ms", 0.0) / 1000
    return {
        "mode": mode,
        **total.summary(),
        "generated": totals.get("generated", 0),
        "skipped_by_filter": totals.get(outcome_total(Outcome.SKIPPED_BY_FILTER), 0),
        "hidden_by_filter": totals.get(outcome_total(Outcome.HIDDEN_BY_FILTER), 0),
        "cut_to_first_line_by_filter": totals.get(outcome_total(Outcome.FIRST_LINE_SHOWN), 0),
        "model_s": round(model_s, 1),
        "peak_rss_mb": peak_mb,
        "idle_s": round(max(0.0, wall_s - model_s), 1),
        "by_language": {lang: t.summary() for lang, t in sorted(per_language.items())},
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def run_replay(
    root: Path,
    tasks: list[Task],
    modes: list[str],
    settings: dict[str, Any],
    seed: int,
    cps: float,
    as_json: bool,
    html: str | None,
    top_down: bool = False,
) -> int:
    if not tasks:
        print("hearth bench replay: nothing to type (no matching files or commits)", file=sys.stderr)
        return 2
    pauses = TOP_DOWN_PAUSES if top_down else "(:.=,"
    results = {mode: run_mode(tasks, mode, settings, seed, cps, root, pauses) for mode in modes}
    report: dict[str, Any] = {
        "tasks": len(tasks), "top_down": top_down, "seed": seed, "chars_per_s": cps, "modes": results,
    }  # fmt: skip
    if "hearth" in results and "naive" in results:
        h, n = results["hearth"], results["naive"]
        report["hearth_over_naive"] = {
            "keystrokes_saved": _ratio(h["keystrokes_saved"], n["keystrokes_saved"]),
            "accepted_chars": _ratio(h["accepted_chars"], n["accepted_chars"]),
        }
    if "hearth" in results and "noreuse" in results:
        h, r = results["hearth"], results["noreuse"]
        report["reuse_on_over_off"] = {
            "p50_ms": _ratio(h["latency_ms"]["p50"], r["latency_ms"]["p50"]),
            "p95_ms": _ratio(h["latency_ms"]["p95"], r["latency_ms"]["p95"]),
            "acceptance_rate": _ratio(h["acceptance_rate"], r["acceptance_rate"]),
            "keystrokes_saved": _ratio(h["keystrokes_saved"], r["keystrokes_saved"]),
        }
    if "hearth" in results and "nofilter" in results:
        h, f = results["hearth"], results["nofilter"]
        report["filter_on_over_off"] = {
            "acceptance_rate": _ratio(h["acceptance_rate"], f["acceptance_rate"]),
            "keystrokes_saved": _ratio(h["keystrokes_saved"], f["keystrokes_saved"]),
        }
    if html:
        Path(html).write_text(_html(report), "utf-8")
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    pct = share_text

    rows = [
        f"{report['tasks']} spans re-typed at {report['chars_per_s']} chars/s, seed {report['seed']}",
        "mode       shown  accept    rate  chars from sugg.   saved  multi  p50 ms  p95 ms  p99 ms "
        "cancel model s",
    ]
    for mode, r in report["modes"].items():
        lat = r["latency_ms"]
        rows.append(
            f"{mode:<9} {r['shown']:>6} {r['accepted'] + r['partially_accepted']:>7} "
            f"{pct(r['acceptance_rate']):>7} {r['accepted_chars']:>6} "
            f"{pct(r['share_of_chars_from_suggestions']):>10} {pct(r['keystrokes_saved']):>7} "
            f"{pct(r['multiline_share_of_accepted_chars']):>6} {lat['p50'] or '-':>7} {lat['p95'] or '-':>7} "
            f"{lat['p99'] or '-':>7} {r['cancelled']:>6} {r['model_s']:>7}  peak RSS {r['peak_rss_mb']} MB"
        )
        for language, lr in r["by_language"].items():
            rows.append(f"  {language:<12} shown {lr['shown']:>4}  rate {pct(lr['acceptance_rate']):>6}  "
                        f"saved {pct(lr['keystrokes_saved']):>6}")  # fmt: skip
    for key in ("hearth_over_naive", "filter_on_over_off", "reuse_on_over_off"):
        if key in report:
            rows.append(f"{key}: " + ", ".join(f"{k} {v}x" for k, v in report[key].items()))
    return "\n".join(rows)


def _html(report: dict[str, Any]) -> str:
    from hearth_telemetry.report import bar_chart

    def saved(r: dict[str, Any]) -> float:
        return float(r["keystrokes_saved"] or 0.0)

    def rate(r: dict[str, Any]) -> float:
        return float(r["acceptance_rate"] or 0.0)

    def p50(r: dict[str, Any]) -> float:
        return float(r["latency_ms"]["p50"] or 0.0)

    modes = report["modes"]
    charts = [
        bar_chart("Keystrokes saved", [(m, saved(r), f"{saved(r):.1%}") for m, r in modes.items()]),
        bar_chart("Acceptance rate", [(m, rate(r), f"{rate(r):.1%}") for m, r in modes.items()]),
        bar_chart(
            "Latency p50 (ms)", [(m, float(r["latency_ms"]["p50"] or 0), "") for m, r in modes.items()]
        ),
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Hearth replay</title></head>"
        "<body style='font-family:system-ui;max-width:760px;margin:2em auto'><h1>Hearth replay</h1>"
        f"<pre>{format_report(report)}</pre>" + "".join(charts) + "</body></html>"
    )
