"""`hearth complete FILE:LINE:COL`: the suggestion the server would show, in a terminal.

The same pipeline as the language server, with the same model worker; the
debounce is skipped, as for an explicitly invoked completion.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from hearth.completion.pipeline import CompletionOutcome, CompletionPipeline, DocumentSnapshot
from hearth.completion.policy import Cursor
from hearth.config import Settings
from hearth.context.engine import ContextEngine
from hearth.context.index import RepoIndex, index_path
from hearth.context.languages import language_of
from hearth.events import NullSink
from hearth.model.backend import ModelUnavailable
from hearth.model.catalog import ModelNotFound, resolve_model
from hearth.model.manager import ModelManager, ready_model
from hearth.model.tokenizer import model_tokenizer
from hearth.paths import cache_dir, data_dir
from hearth.text.positions import UTF32, offset_at


class UsageError(Exception):
    pass


_OTHER_LANGUAGES = {".rb": "ruby", ".sh": "shellscript", ".md": "markdown"}


def language_for(path: Path) -> str:
    return language_of(path.name) or _OTHER_LANGUAGES.get(path.suffix.lower(), "plaintext")


def parse_location(spec: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL (1-based, COL in characters); COL defaults to the end of the line."""
    match = re.fullmatch(r"(.+?):(\d+)(?::(\d+))?", spec)
    if not match:
        raise UsageError(f"expected FILE:LINE:COL, got {spec!r}")
    path = Path(match.group(1))
    line = int(match.group(2))
    col = int(match.group(3)) if match.group(3) else 0
    if line < 1:
        raise UsageError("LINE counts from 1")
    return path, line, col


def snapshot_from_file(spec: str) -> DocumentSnapshot:
    path, line, col = parse_location(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if b"\0" in data[:8192]:
        raise UsageError(f"{path} looks binary; nothing to complete")
    text = data.decode("utf-8", errors="replace")
    # Column 0 (not given) means the end of the line.
    offset = offset_at(text, line - 1, col - 1 if col else 10**9, UTF32)
    return DocumentSnapshot(
        uri=path.resolve().as_uri(),
        language_id=language_for(path),
        version=0,
        text=text,
        offset=offset,
        path_hint=path.name,
    )


def run_complete(spec: str, settings: Settings, as_json: bool, timeout: float = 120.0) -> int:
    try:
        snap = snapshot_from_file(spec)
    except UsageError as exc:
        print(f"hearth complete: {exc}", file=sys.stderr)
        return 2
    try:
        with ready_model(settings, data_dir(), timeout) as manager:
            status = manager.status()
            path = parse_location(spec)[0].resolve()
            index = workspace_index(path.parent)
            engine = ContextEngine(index=lambda: index)
            pipeline = CompletionPipeline(
                manager, NullSink(), lambda: replace(settings, debounce_ms=0), manager.prompt_format,
                context=engine,
            )  # fmt: skip
            snap = replace(snap, path_hint=_relative(path, index))
            outcome = asyncio.run(pipeline.complete(snap, automatic=False))
    except ModelUnavailable as exc:
        print(f"hearth complete: model not ready: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(outcome_json(outcome, status.model_path), indent=2))
    elif outcome.text:
        print(outcome.text)
    else:
        print(f"(no suggestion: {outcome.reason})", file=sys.stderr)
    return 0


PROJECT_MARKERS = (".git", "pyproject.toml", "setup.cfg", "setup.py", ".hg")
"""What makes a folder a project root, as editors (root_dir, rootUri) find one."""


def project_root(start: Path, cwd: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding a project marker; else the working
    directory when `start` lies under it; else None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    here = (cwd or Path.cwd()).resolve()
    return here if start == here or here in start.parents else None


def workspace_index(directory: Path) -> RepoIndex | None:
    """The repository index of the project around `directory` (persisted; quick after the first run)."""
    root = project_root(directory)
    if root is None or root == Path(root.anchor):
        return None
    index = RepoIndex(root, index_path(cache_dir(), root))
    index.build()
    return index


def _relative(path: Path, index: RepoIndex | None) -> str:
    if index is not None:
        try:
            return path.relative_to(index.root).as_posix()
        except ValueError:
            pass
    return path.name


def outcome_json(outcome: CompletionOutcome, model_path: str) -> dict[str, Any]:
    result = outcome.generation
    data: dict[str, Any] = {
        "suggestion": outcome.text,
        "reason": outcome.reason,
        "decision": outcome.decision,
        "model": model_path,
        "timings_ms": {k: round(v, 2) for k, v in outcome.timings_ms.items()},
        "context": [
            {"source": p.source, "label": p.label, "tokens": p.tokens} for p in outcome.context.parts
        ],
    }
    if result is not None:
        data["tokens"] = {
            "prompt": result.prompt_tokens,
            "reused": result.reused_tokens,
            "evaluated": result.evaluated_tokens,
            "generated": result.generated_tokens,
            "stop_reason": result.stop_reason,
        }
    return data


def run_context(spec: str, settings: Settings, as_json: bool) -> int:
    """`hearth context FILE:LINE[:COL]`: the prompt the model would get there, part by part.

    Token counts come from the model's own tokenizer (its vocabulary loaded
    alone, without the weights); no generation runs.
    """
    try:
        snap = snapshot_from_file(spec)
        model = resolve_model(settings.model, data_dir())
    except (UsageError, ModelNotFound) as exc:
        print(f"hearth context: {exc}", file=sys.stderr)
        return 2
    count = model_tokenizer(str(model.path))
    path = parse_location(spec)[0].resolve()
    index = workspace_index(path.parent)
    engine = ContextEngine(index=lambda: index, count_tokens=count)
    pipeline = CompletionPipeline(
        ModelManager(data_dir()), NullSink(), lambda: settings, lambda: model.format, context=engine
    )
    snap = replace(snap, path_hint=_relative(path, index))
    offset = snap.offset
    shown, _held, block = pipeline.prompt_for(snap, Cursor(snap.text[:offset], snap.text[offset:]), settings)
    prompt = shown.text
    parts = [
        {"source": p.source, "label": p.label, "tokens": count(p.text), "text": p.text} for p in block.parts
    ]
    report = {"model": model.name, "prompt_tokens": count(prompt), "context_tokens": count(block.text),
              "parts": parts, "prompt": prompt}  # fmt: skip
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{model.name}: prompt {report['prompt_tokens']} tokens, context {report['context_tokens']} tokens")
    for part in parts:
        print(f"\n[{part['source']}] {part['label']} ({part['tokens']} tokens)\n{part['text']}")
    print(f"\n--- prompt ({report['prompt_tokens']} tokens) ---\n{prompt}")
    return 0
