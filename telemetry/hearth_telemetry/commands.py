"""`hearth stats`, `hearth filter train|status` and `hearth telemetry export|wipe`."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from hearth_telemetry.filter import (
    FILTER_FILE,
    MODEL_FILTERS_DIR,
    FilterModel,
    load_filter,
    model_filter_path,
)
from hearth_telemetry.report import render_html
from hearth_telemetry.stats import Suggestion, compute_stats, format_text, load_suggestions
from hearth_telemetry.store import EventStore
from hearth_telemetry.train import NotEnoughData, evaluate, held_out_ids, train_filter, trained_until
from hearth_telemetry.writer import TELEMETRY_FILE


def _store(data_dir: Path) -> EventStore | None:
    path = data_dir / TELEMETRY_FILE
    if not path.exists():
        print(f"hearth: no telemetry yet ({path} does not exist)", file=sys.stderr)
        return None
    return EventStore(path).open()


def _load(data_dir: Path, since: float = 0.0) -> tuple[dict[str, Suggestion], int] | None:
    store = _store(data_dir)
    if store is None:
        return None
    try:
        return load_suggestions(store, since)
    finally:
        store.close()


def run_stats(data_dir: Path, as_json: bool, html_path: str | None, days: float | None) -> int:
    loaded = _load(data_dir, time.time() - days * 86400 if days else 0.0)
    if loaded is None:
        return 1
    suggestions, typed = loaded
    stats = compute_stats(suggestions, typed)
    if html_path:
        Path(html_path).write_text(render_html(stats, suggestions), "utf-8")
        print(f"report written to {html_path}", file=sys.stderr)
    print(json.dumps(stats, indent=2) if as_json else format_text(stats))
    return 0


def run_filter_train(data_dir: Path, max_char_loss: float, force: bool, as_json: bool) -> int:
    loaded = _load(data_dir)
    if loaded is None:
        return 1
    suggestions, _ = loaded
    general = data_dir / FILTER_FILE
    try:
        report = _train_and_install(suggestions, max_char_loss, force, general, (general,))
    except NotEnoughData as exc:
        print(f"hearth: cannot train the filter yet: {exc}", file=sys.stderr)
        return 1
    groups = _by_model(suggestions)
    # One model's filter is the filter for every model; with several, each that has enough
    # suggestions of its own gets one, installed where it beats the filter its model uses now.
    models: dict[str, dict] = {}
    for served, group in sorted(groups.items()) if len(groups) > 1 else ():
        own = model_filter_path(data_dir, served)
        try:
            stand_in = {} if own.exists() else _general_unseen(suggestions, group, report, max_char_loss)
            models[served] = _train_and_install(
                group, max_char_loss, force, own, (own, general), served, stand_in
            )
        except NotEnoughData as exc:
            models[served] = {"skipped": str(exc), "path": str(own)}
    report["models"] = models
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_training(report, sys.stdout)
        for served, row in models.items():
            print(f"\nfor {served} alone:", file=sys.stdout)
            if "skipped" in row:
                print(f"  not trained: {row['skipped']}", file=sys.stdout)
            else:
                _print_training(row, sys.stdout)
    return 0


def _by_model(suggestions: dict[str, Suggestion]) -> dict[str, dict[str, Suggestion]]:
    """Suggestions grouped by the backend and model that generated them (older rows name none)."""
    groups: dict[str, dict[str, Suggestion]] = {}
    for sid, s in suggestions.items():
        if s.served_by:
            groups.setdefault(s.served_by, {})[sid] = s
    return groups


def _general_unseen(
    suggestions: dict[str, Suggestion], group: dict[str, Suggestion], general: dict, max_char_loss: float
) -> dict[int, FilterModel]:
    """For each stage of the filter for every model that was just trained on `group` too: the
    same filter trained without the suggestions `group`'s own filter is judged on, so the two
    meet on suggestions neither has seen."""
    if not general["new_stages"]:
        return {}
    held = held_out_ids(group)
    try:
        unseen, _ = train_filter({sid: s for sid, s in suggestions.items() if sid not in held}, max_char_loss)
    except NotEnoughData:
        return {}
    return {int(name.removeprefix("stage")): unseen for name in general["new_stages"]}


def _train_and_install(
    suggestions: dict[str, Suggestion],
    max_char_loss: float,
    force: bool,
    target: Path,
    in_use: tuple[Path, ...],
    served: str = "",
    stand_in: dict[int, FilterModel] | None = None,
) -> dict:
    """Train on `suggestions`; install at `target` the stages that beat the filter now used
    (the first of `in_use` that exists, else the default) on the same held-out suggestions."""
    model, metrics = train_filter(suggestions, max_char_loss)
    if served:
        metrics = {**metrics, "served_by": served}
        model = replace(model, metrics=metrics)
    current, _ = load_filter(*in_use)
    verdict = _compare(current, model, suggestions, stand_in or {})
    new_stages = [1, 2] if force else [stage for stage in (1, 2) if verdict[f"stage{stage}_better"]]
    if new_stages:
        # A stage the new filter does not beat stays as it is, with its own figures and the
        # time of the newest suggestion it learnt from.
        kept = [stage for stage in (1, 2) if stage not in new_stages]
        model = replace(
            model,
            **{f"stage{stage}": getattr(current, f"stage{stage}") for stage in kept},
            metrics={
                **model.metrics,
                **{
                    f"stage{stage}": {
                        **(current.metrics.get(f"stage{stage}") or {}),
                        "trained_until": trained_until(current, stage),
                    }
                    for stage in kept
                },
            },
        )
        model.save(target)
    return {
        **metrics,
        "current": verdict,
        "installed": bool(new_stages),
        "new_stages": [f"stage{stage}" for stage in new_stages],
        "path": str(target),
    }


def _compare(
    current: FilterModel, new: FilterModel, suggestions: dict, stand_in: dict[int, FilterModel]
) -> dict[str, object]:
    """Which stages of the new filter beat the current ones on the same held-out data (a stage
    in `stand_in` is judged by that model, which has not seen them)."""
    figures: dict[str, object] = {"source": current.source}
    for stage in (1, 2):
        if stage in stand_in:
            old_auc = evaluate(stand_in[stage], suggestions, stage, unseen=True)
        else:
            old_auc = evaluate(current, suggestions, stage) if current.source != "none" else None
        new_auc = new.metrics[f"stage{stage}"]["held_out_auc"]
        figures[f"stage{stage}_auc"] = None if old_auc is None else round(old_auc, 4)
        figures[f"stage{stage}_better"] = old_auc is None or new_auc > old_auc
    return figures


def _print_training(report: dict, out: TextIO) -> None:
    def effect(at: dict) -> str:
        return (
            f"hides {at['rejections_hidden']:.0%} of rejections, loses {at['acceptances_lost']:.0%} of "
            f"acceptances and {at['accepted_chars_lost']:.0%} of accepted-and-retained characters; "
            f"acceptance rate x{at['acceptance_rate_gain']:.2f}, "
            f"keystrokes saved x{at['keystrokes_saved_kept']:.2f}"
        )

    for stage in ("stage1", "stage2"):
        m = report[stage]
        old = report["current"].get(f"{stage}_auc")
        print(
            f"{stage}: trained on {m['train']}, held out the newest {m['held_out']}; AUC {m['held_out_auc']}"
            f" (out of fold {m['out_of_fold_auc']}; current filter: {old if old is not None else 'none'})",
            file=out,
        )
        cut = m["at_threshold"]["threshold"]
        print(f"  cut {cut}, on all out of fold: {effect(m['out_of_fold_at_threshold'])}", file=out)
        print(f"  on the newest {m['held_out']}: {effect(m['at_threshold'])}", file=out)
        for row in m["curve"]:
            print(
                f"    cut {row['threshold']:.1f}: rejections hidden {row['rejections_hidden']:.0%}, "
                f"acceptances lost {row['acceptances_lost']:.0%}, "
                f"characters lost {row['accepted_chars_lost']:.0%}",
                file=out,
            )
    if report["installed"]:
        state = f"installed at {report['path']} (new: {', '.join(report['new_stages'])})"
    else:
        state = "not installed: neither stage beats the current filter"
    print(f"filter {state}", file=out)


def run_filter_status(data_dir: Path) -> int:
    model, problems = load_filter(data_dir / FILTER_FILE)
    for problem in problems:
        print(f"hearth: {problem}", file=sys.stderr)
    print(f"filter in use: {model.source}")
    _print_stages(model)
    for path in sorted((data_dir / MODEL_FILTERS_DIR).glob("*.json")):
        own, problems = load_filter(path)
        if own.source != str(path):
            print(f"hearth: {problems[0] if problems else f'{path} is unreadable'}", file=sys.stderr)
            continue
        print(f"for {own.metrics.get('served_by', '?')}: {path}")
        _print_stages(own)
    return 0


def _print_stages(model: FilterModel) -> None:
    for stage in (1, 2):
        part = model.stage1 if stage == 1 else model.stage2
        if part is not None:
            auc = model.metrics.get(f"stage{stage}", {}).get("held_out_auc")
            print(f"  stage {stage}: {len(part.names)} features, threshold {part.threshold}, AUC {auc}")


def run_export(data_dir: Path, out_path: str | None) -> int:
    store = _store(data_dir)
    if store is None:
        return 1
    out = open(out_path, "w", encoding="utf-8") if out_path else sys.stdout  # noqa: SIM115
    try:
        for row in store.events():
            out.write(json.dumps(row, sort_keys=True) + "\n")
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return 0


def run_wipe(data_dir: Path) -> int:
    store = _store(data_dir)
    if store is None:
        return 0
    try:
        store.wipe()
    except sqlite3.OperationalError as exc:
        print(f"hearth: could not wipe ({exc}); close the editor and try again", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"telemetry wiped: {data_dir / TELEMETRY_FILE}")
    return 0
