"""`hearth bench completion REPO`: what the context buys, on masked code from a real repository.

Targets are chosen by the syntax tree (ExecRepoBench-style levels): a
single statement line, a multi-line block (the body of an if/for/while/with
/try), and a whole function body. Each target is removed from its file, the
cursor put where it was, and the server asked over stdio, once with
repository context and once without. The requests are explicit (the user
asked). Scores: the share answered with a suggestion that is not empty or filler
(`pass`), exact match (whitespace at the ends ignored) and edit similarity
(difflib ratio) of the first candidate and of the best of those offered to cycle
through, per level. Each target is asked twice (answer reuse off): the first is
a cold prompt, the second finds it in the KV cache, so the latency of several
candidates is seen cold and warm; a third run asks for one candidate only.
"""

from __future__ import annotations

import difflib
import functools
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth.bench import position, start_server, suggestions
from hearth.completion.pipeline import FILLER
from hearth.context.files import source_files
from hearth.context.languages import language_of
from hearth.context.syntax import parse
from hearth_telemetry.stats import percentile

_BLOCKS = {"if_statement", "for_statement", "while_statement", "with_statement", "try_statement"}
LEVELS = ("line", "block", "function")


@dataclass(frozen=True)
class Target:
    path: str
    language: str
    level: str
    before: str
    expected: str
    after: str


def targets(root: Path, per_level: int, rng: random.Random) -> list[Target]:
    found: dict[str, list[Target]] = {level: [] for level in LEVELS}
    files = [p for p in source_files(root) if language_of(p.name) == "python"]
    rng.shuffle(files)
    for path in files:
        if all(len(v) >= per_level * 4 for v in found.values()):
            break
        text = path.read_text("utf-8", errors="replace")
        tree = parse("python", text)
        if tree is None or not text.isascii():
            continue
        relative = path.relative_to(root).as_posix()
        for node in _walk(tree.root_node):
            picked = _level(node)
            if picked is None:
                continue
            level, node = picked
            start, end = node.start_byte, node.end_byte
            expected = text[start:end]
            if expected.strip() and '"""' not in expected:
                found[level].append(Target(relative, "python", level, text[:start], expected, text[end:]))
    chosen: list[Target] = []
    for level in LEVELS:
        rng.shuffle(found[level])
        chosen.extend(found[level][:per_level])
    return chosen


def _lines(node: Any) -> int:
    return int(node.end_point[0] - node.start_point[0])


def _level(node: Any) -> tuple[str, Any] | None:
    """The level a node is a target of, and the node to mask."""
    if node.type == "function_definition":
        body = node.child_by_field_name("body")
        return ("function", body) if body is not None and 2 <= _lines(body) <= 12 else None
    if node.type in _BLOCKS:
        body = node.child_by_field_name("body") or node.child_by_field_name("consequence")
        return ("block", body) if body is not None and 1 <= _lines(body) <= 6 else None
    statement = node.type in ("expression_statement", "return_statement") and node.parent.type == "block"
    if statement and _lines(node) == 0 and 10 <= node.end_byte - node.start_byte <= 100:
        return "line", node
    return None


def _walk(node: Any) -> Any:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _score(suggestion: str, expected: str) -> tuple[bool, float]:
    got, want = suggestion.strip(), expected.strip()
    return got == want, difflib.SequenceMatcher(None, got, want, autojunk=False).ratio()


def _run(root: Path, chosen: list[Target], settings: dict[str, Any]) -> list[dict[str, Any]]:
    options = {"debounceMs": 0, "maxLines": 12, "maxTokens": 128, "deadlineMs": 30000, "filter": False,
               "reuse": False}  # fmt: skip
    client = start_server({**options, **settings}, root_uri=root.as_uri())
    rows = []
    try:
        for number, target in enumerate(chosen):
            uri = (root / target.path).as_uri() + f"#{number}"
            text = target.before + target.after
            client.open_document(uri, target.language, text)
            at = position(text, len(target.before))
            started = time.monotonic()
            offered = suggestions(client.wait(client.inline_completion(uri, at, trigger_kind=1), timeout=120))
            cold_ms = (time.monotonic() - started) * 1000
            recent = client.request("hearth/status", {})["result"]["recent"]
            event = next(e for e in reversed(recent) if e.get("event") == "completion")
            # The first try is what a request without the second one would have shown.
            retried = "second_try" in event.get("timings_ms", {})
            started = time.monotonic()
            client.wait(client.inline_completion(uri, at, trigger_kind=1), timeout=120)
            warm_ms = (time.monotonic() - started) * 1000
            scores = [_score(suggestion, target.expected) for suggestion in offered] or [(False, 0.0)]
            answered = bool(offered) and offered[0].strip() not in FILLER
            rows.append({"level": target.level, "exact": scores[0][0], "similarity": scores[0][1],
                         "best_exact": any(e for e, _ in scores),
                         "best_similarity": max(s for _, s in scores),
                         "candidates": len(offered), "cold_ms": cold_ms, "warm_ms": warm_ms,
                         "answered": answered, "answered_first_try": answered and not retried})  # fmt: skip
            client.close_document(uri)
    finally:
        client.close()
    return rows


def _share(group: list[dict[str, Any]], key: str) -> float:
    return round(sum(r[key] for r in group) / len(group), 3)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for level in LEVELS:
        group = [r for r in rows if r["level"] == level]
        if group:
            share = functools.partial(_share, group)
            out[level] = {
                "n": len(group),
                "answered": share("answered"),
                "answered_first_try": share("answered_first_try"),
                "exact_match": share("exact"),
                "edit_similarity": round(statistics.fmean(r["similarity"] for r in group), 3),
                "best_of_n_exact_match": share("best_exact"),
                "best_of_n_edit_similarity": round(statistics.fmean(r["best_similarity"] for r in group), 3),
                "mean_candidates": round(statistics.fmean(r["candidates"] for r in group), 2),
                "latency_ms": {
                    "cold_p50": percentile([r["cold_ms"] for r in group], 0.5),
                    "warm_p50": percentile([r["warm_ms"] for r in group], 0.5),
                },
            }
    return out


def run_completion_bench(repo: str, per_level: int, seed: int, as_json: bool) -> int:
    root = Path(repo).resolve()
    chosen = targets(root, per_level, random.Random(seed))
    if not chosen:
        print("hearth bench completion: no Python targets found", flush=True)
        return 2
    report: dict[str, Any] = {
        "repo": str(root),
        "with_context": _summary(_run(root, chosen, {})),
        "without_context": _summary(_run(root, chosen, {"context": False})),
        "one_candidate": _summary(_run(root, chosen, {"candidates": 1})),
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['repo']}: {len(chosen)} targets")
    for level in LEVELS:
        w, wo, one = (report[run].get(level) for run in ("with_context", "without_context", "one_candidate"))
        if w and wo and one:
            print(f"{level:<9} n={w['n']:<3} answered {wo['answered']:.1%} -> {w['answered']:.1%}   "
                  f"exact {wo['exact_match']:.1%} -> {w['exact_match']:.1%}   "
                  f"edit similarity {wo['edit_similarity']:.3f} -> {w['edit_similarity']:.3f}   "
                  f"best of {w['mean_candidates']}: exact {w['best_of_n_exact_match']:.1%}, "
                  f"similarity {w['best_of_n_edit_similarity']:.3f}")  # fmt: skip
            many, single = w["latency_ms"], one["latency_ms"]
            print(f"{'':<15} latency p50 cold/warm: {many['cold_p50']}/{many['warm_p50']} ms with "
                  f"candidates, {single['cold_p50']}/{single['warm_p50']} ms with one "
                  f"(exact {one['exact_match']:.1%})")  # fmt: skip
    return 0
