"""`hearth bench edits`: edit tasks on a small real project, each with a check that can fail.

The project (`bench/edit_project`, a stock-keeping library with pytest
tests, one of them failing on purpose) is copied to a temporary git work
tree per task. A task succeeds when the agent produced an edit, the task's
own check passes, and no test that passed before fails after. Reported:
success rate, share of well-formed drafts, and time per task, per kind; and
of the edits offered, the share that break the code, found by running it
(every changed module imported, the tests run), never by the agent's own checks.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hearth.agent.agent import AgentSettings, EditAgent, EditRequest
from hearth.agent.changes import Sources, write_all
from hearth.agent.context import Focus
from hearth.agent.workspace import WorkspaceGuard
from hearth.config import Settings
from hearth.model.backend import ModelBackend, ModelUnavailable
from hearth.model.manager import ready_model
from hearth.paths import data_dir
from hearth_telemetry.stats import percentile

PROJECT = Path(__file__).parent / "edit_project"


def copy_project(destination: Path) -> Path:
    """A fresh copy of the benchmark project (the tests use it too)."""
    shutil.copytree(PROJECT, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


Check = Callable[[Path], str | None]


@dataclass(frozen=True)
class EditTask:
    name: str
    kind: str
    instruction: str
    check: Check
    selection: tuple[str, str] | None = None
    """(file, exact text) selected in the editor, for extractions."""


def _source(root: Path, path: str) -> str:
    return (root / path).read_text("utf-8")


def _function(root: Path, path: str, name: str) -> ast.FunctionDef | None:
    for node in ast.walk(ast.parse(_source(root, path))):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def renamed(old: str, new: str, path: str) -> Check:
    def check(root: Path) -> str | None:
        texts = " ".join(_source(root, p.relative_to(root).as_posix()) for p in root.rglob("*.py"))
        if any(word == old for word in _words(texts)):
            return f"{old} still appears"
        return None if new in _source(root, path) else f"{new} is not in {path}"

    return check


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_]\w*", text)


def has_parameter(path: str, function: str, parameter: str) -> Check:
    def check(root: Path) -> str | None:
        node = _function(root, path, function)
        if node is None:
            return f"{function} is gone"
        return None if parameter in [a.arg for a in node.args.args] else f"{function} has no {parameter}"

    return check


def has_hints(path: str, function: str) -> Check:
    def check(root: Path) -> str | None:
        node = _function(root, path, function)
        if node is None:
            return f"{function} is gone"
        missing = [a.arg for a in node.args.args if a.annotation is None and a.arg != "self"]
        if missing or node.returns is None:
            return f"not annotated: {missing or 'return'}"
        return None

    return check


def has_docstring(path: str, function: str) -> Check:
    def check(root: Path) -> str | None:
        node = _function(root, path, function)
        return None if node is not None and ast.get_docstring(node) else f"{function} has no docstring"

    return check


def runs(snippet: str) -> Check:
    def check(root: Path) -> str | None:
        result = subprocess.run([sys.executable, "-c", snippet], cwd=root, env=_project_env(root),
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        return None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["failed"])[-1]

    return check


def lacks(path: str, text: str) -> Check:
    def check(root: Path) -> str | None:
        return f"{path} still has {text!r}" if text in _source(root, path) else None

    return check


TASKS = [
    EditTask("rename-function", "rename", "rename total_value to inventory_value",
             renamed("total_value", "inventory_value", "shelf/models.py")),
    EditTask("rename-class", "rename", "rename the class Item to Product",
             renamed("Item", "Product", "shelf/models.py")),
    EditTask("rename-discount", "rename", "rename apply_discount to discounted_price",
             renamed("apply_discount", "discounted_price", "shelf/pricing.py")),
    EditTask("rename-constant", "rename", "rename the constant TAX_RATE to VAT_RATE",
             renamed("TAX_RATE", "VAT_RATE", "shelf/pricing.py")),
    EditTask("rename-method", "rename", "rename the method value to worth",
             renamed("value", "worth", "shelf/models.py")),
    EditTask("rename-parser", "rename", "rename parse_line to parse_record",
             renamed("parse_line", "parse_record", "shelf/loader.py")),
    EditTask("param-timeout", "parameter", "add a timeout parameter with default 10 to fetch and update its callers",
             has_parameter("shelf/loader.py", "fetch", "timeout")),
    EditTask("param-currency", "parameter",
             'add a currency parameter with default "EUR" to format_price and update its callers',
             has_parameter("shelf/pricing.py", "format_price", "currency")),
    EditTask("param-separator", "parameter", 'add a parameter sep with default ";" to parse_line and use it in split',
             has_parameter("shelf/loader.py", "parse_line", "sep")),
    EditTask("hints-discount", "hints", "add type hints to apply_discount",
             has_hints("shelf/pricing.py", "apply_discount")),
    EditTask("hints-tax", "hints", "add type hints to tax", has_hints("shelf/pricing.py", "tax")),
    EditTask("hints-parser", "hints", "add type hints to parse_line", has_hints("shelf/loader.py", "parse_line")),
    EditTask("doc-total", "docstring", "add a docstring to total_value",
             has_docstring("shelf/models.py", "total_value")),
    EditTask("doc-report", "docstring", "add a docstring to format_report",
             has_docstring("shelf/report.py", "format_report")),
    EditTask("doc-fetch", "docstring", "add a docstring to fetch", has_docstring("shelf/loader.py", "fetch")),
    EditTask("fix-discount", "fix", "fix apply_discount: it adds the discount instead of subtracting it",
             runs("from shelf.pricing import apply_discount; assert apply_discount(100.0, 10) == 90.0")),
    EditTask("round-tax", "behaviour", "make tax return its result rounded to 2 decimals",
             runs("from shelf.pricing import tax; assert tax(1.234) == 0.25")),
    EditTask("restock", "behaviour", "add a method restock(self, amount) to Item that adds amount to quantity",
             runs("from shelf.models import Item; i = Item('a', 1.0, 1); i.restock(2); assert i.quantity == 3")),
    EditTask("minimum", "behaviour", "give in_stock a parameter minimum with default 1: keep items with at least "
             "that quantity", runs("from shelf.models import Item, in_stock; "
                                   "assert in_stock([Item('a', 1, 1), Item('b', 1, 3)], minimum=2)[0].name == 'b'")),
    EditTask("unused-import", "cleanup", "remove the unused import os from format_report's module report.py",
             lacks("shelf/report.py", "import os")),
    EditTask("validate-percent", "behaviour", "make apply_discount raise ValueError when percent is negative",
             runs("from shelf.pricing import apply_discount\ntry:\n    apply_discount(1.0, -5)\n"
                  "except ValueError:\n    pass\nelse:\n    raise SystemExit(1)")),
    EditTask("extract-variable", "extract", "extract the selection into a variable named amount",
             lacks("shelf/models.py", "return self.price * self.quantity"),
             selection=("shelf/models.py", "self.price * self.quantity")),
]  # fmt: skip


def _project_env(root: Path) -> dict[str, str]:
    """The bench's own project on sys.path: Hearth's processes (and so their children) run
    with PYTHONSAFEPATH, which keeps the working directory off it."""
    return {**os.environ, "PYTHONPATH": str(root)}


def failing_tests(root: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "tests"],
        cwd=root, env=_project_env(root), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    failed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")}
    if result.returncode not in (0, 1) and not failed:
        failed.add(f"pytest exited {result.returncode}")
    return failed


def _import_failure(root: Path, paths: list[str]) -> str | None:
    """The first changed module that no longer imports, with the error's last line."""
    for path in paths:
        if not path.endswith(".py") or path.startswith("tests/"):
            continue
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=root, env=_project_env(root),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return f"{module} no longer imports: {last}"
    return None


def _focus(root: Path, task: EditTask) -> Focus | None:
    if task.selection is None:
        return None
    path, selected = task.selection
    text = _source(root, path)
    start = text.index(selected)
    return Focus(path, "python", text, start, start + len(selected))


def run_task(
    task: EditTask, backend: ModelBackend, settings: AgentSettings, baseline: set[str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hearth-edit-bench-") as temp:
        root = copy_project(Path(temp) / "project")
        guard = WorkspaceGuard([root])
        started = time.monotonic()
        result = EditAgent(backend, Sources(guard), settings).run(
            EditRequest(task.instruction, focus=_focus(root, task))
        )
        seconds = time.monotonic() - started
        generations = [a.generation for a in result.attempts if a.generation is not None]
        problem = None if result.ok else result.message
        breaks = None
        if result.ok:
            write_all(guard, result.changes)
            broken = failing_tests(root) - baseline
            breaks = _import_failure(root, [c.path for c in result.changes if c.after is not None])
            if broken and breaks is None:
                breaks = f"tests now fail: {', '.join(sorted(broken))}"
            problem = task.check(root) or breaks
        return {
            "task": task.name,
            "kind": task.kind,
            "ok": problem is None,
            "problem": problem,
            "offered": result.ok,
            "breaks": breaks,
            "checks": list(result.checks),
            "via": result.via,
            "drafts": len(result.attempts),
            "refused_by": [a.refused_by for a in result.attempts if a.refused_by],
            # The checks that are not the tests, per model draft that applied (one that did not
            # reached no check; a tool's edit has no draft).
            "static_check_ms": [round(a.static_ms, 1) for a in result.attempts if a.refused_by != "apply"],
            "well_formed": result.well_formed,
            "seconds": round(seconds, 2),
            "generated_tokens": sum(g.generated_tokens for g in generations),
            "decode_ms": round(sum(g.decode_ms for g in generations), 1),
            "drafted_tokens": sum(g.drafted_tokens for g in generations),
            "draft_accepted_tokens": sum(g.draft_accepted_tokens for g in generations),
        }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    drafts = sum(r["drafts"] for r in rows)
    offered = [r for r in rows if r["offered"]]
    generated, decode_ms = sum(r["generated_tokens"] for r in rows), sum(r["decode_ms"] for r in rows)
    drafted, accepted = sum(r["drafted_tokens"] for r in rows), sum(r["draft_accepted_tokens"] for r in rows)
    return {
        "tasks": len(rows),
        "success_rate": round(sum(r["ok"] for r in rows) / max(1, len(rows)), 3),
        "offered_share": round(len(offered) / max(1, len(rows)), 3),
        "offered_that_break": f"{sum(r['breaks'] is not None for r in offered)}/{len(offered)}",
        "model_drafts": drafts,
        "well_formed_share": round(sum(r["well_formed"] for r in rows) / drafts, 3) if drafts else None,
        "seconds_p50": round(statistics.median(r["seconds"] for r in rows), 2) if rows else None,
        "seconds_mean": round(statistics.fmean(r["seconds"] for r in rows), 2) if rows else None,
        "decode_tokens_per_s": round(generated / (decode_ms / 1000), 1) if decode_ms else None,
        "draft_acceptance": round(accepted / drafted, 3) if drafted else None,
        "static_check_ms_per_draft": _spread([ms for r in rows for ms in r["static_check_ms"]]),
        "drafts_refused_by": dict(Counter(check for r in rows for check in r["refused_by"]).most_common()),
        "breaks": [f"{r['task']}: {r['breaks']}" for r in offered if r["breaks"] is not None],
        "by_kind": {
            kind: f"{sum(r['ok'] for r in rows if r['kind'] == kind)}/{sum(r['kind'] == kind for r in rows)}"
            for kind in dict.fromkeys(r["kind"] for r in rows)
        },
    }


def _spread(values: list[float]) -> dict[str, float | None] | None:
    if not values:
        return None
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "max": max(values)}


@dataclass(frozen=True)
class EditChecks:
    """What the bench leaves on, to measure what each part buys."""

    grammar: bool = True
    names: bool = True
    lookup: bool = True
    interfaces: bool = True
    tests: bool = False
    """The agent runs the project's own tests (pytest) as its test command."""


def run_edits_bench(settings: Settings, checks: EditChecks, only: str | None, as_json: bool) -> int:
    tasks = [t for t in TASKS if only is None or only in t.name]
    try:
        with ready_model(settings, data_dir(), timeout=180) as manager:
            rows = _run_tasks(manager, tasks, settings, checks, as_json)
            status = manager.status()
    except ModelUnavailable as exc:
        print(f"hearth bench edits: model not ready: {exc}", file=sys.stderr)
        return 1
    summary = {
        "model": status.model_name or status.model_path,
        "grammar": checks.grammar,
        "name_check": checks.names,
        "interface_check": checks.interfaces,
        "test_command": checks.tests,
        "lookup": checks.lookup,
        **summarize(rows),
    }
    if as_json:
        print(json.dumps({"summary": summary, "tasks": rows}, indent=2))
    else:
        print(json.dumps(summary, indent=2))
    return 0


def _run_tasks(
    manager: ModelBackend, tasks: list[EditTask], settings: Settings, checks: EditChecks, as_json: bool
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as temp:
        baseline = failing_tests(copy_project(Path(temp) / "p"))
    agent_settings = replace(
        AgentSettings.from_settings(settings), grammar=checks.grammar, name_check=checks.names,
        lookup=checks.lookup, interface_check=checks.interfaces,
        test_command=f"{sys.executable} -m pytest -q -p no:cacheprovider" if checks.tests else "",
    )  # fmt: skip
    rows = []
    for task in tasks:
        rows.append(run_task(task, manager, agent_settings, baseline))
        if not as_json:
            row = rows[-1]
            mark = "ok " if row["ok"] else "FAIL"
            print(f"{mark} {row['task']:<18} {row['via']:<16} drafts={row['drafts']} "
                  f"well-formed={row['well_formed']} {row['seconds']:>6.1f}s  {row['problem'] or ''}")  # fmt: skip
    return rows
