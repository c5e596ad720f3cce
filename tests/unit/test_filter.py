"""The acceptance filter: training on a real SQLite store, JSON scoring, and the pipeline hook."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot
from hearth.config import Settings
from hearth.events import RecentSink
from hearth.model.catalog import PromptFormat
from hearth_telemetry.filter import FilterFile, FilterModel, default_model_text, load_filter
from hearth_telemetry.stats import compute_stats, load_suggestions
from hearth_telemetry.store import EventStore
from hearth_telemetry.train import NotEnoughData, train_filter
from tests.fakes import ScriptedBackend


def synthetic_store(path, n=400, seed=1, engines=(), start=1000.0) -> EventStore:
    """Suggestions whose acceptance depends on one stage-1 and one stage-2 feature.

    With `engines`, suggestion i comes from engines[i % len(engines)] (backend, model, sign):
    a sign of -1 turns the log-probability's signal around for that model. `start` is the
    first suggestion's time (the shipped filter's figures stand for suggestions before its own)."""
    rng = random.Random(seed)
    store = EventStore(path).open()
    rows = []
    for i in range(n):
        sid = f"s{i}"
        after_dot = rng.random() < 0.5
        logprob = rng.uniform(-3, 0)
        backend, model, sign = engines[i % len(engines)] if engines else ("", "", 1)
        confident = logprob > -1 if sign > 0 else logprob < -2
        p = 0.15 + 0.4 * after_dot + 0.35 * confident
        accepted = rng.random() < p
        features = {"prev=.": float(after_dot), "noise": rng.random(), "col_log": rng.uniform(0, 4)}
        chars = rng.randint(5, 80)
        lines = 1 if chars < 40 else 3
        base = {"ts": start + i, "sid": sid, "language": "python"}

        def row(event: str, base=base, **data) -> dict:
            return {**base, "kind": event, "data": json.dumps(data)}

        rows += [
            row("requested", decision="line", features=features),
            row(
                "generated",
                post={"mean_logprob": logprob},
                timings_ms={"total": 100.0 + i},
                **({"backend": backend, "model": model} if backend else {}),
            ),
            row("offered", chars=chars, lines=lines),
        ]
        if accepted:
            rows.append(row("accepted", kind="full", accepted_chars=chars))
            rows.append(row("retained", after_s=30, retained=True))
        else:
            rows.append(row("rejected", reason="typed_over"))
    rows.append({"ts": start + 4000, "kind": "typed", "data": json.dumps({"chars": 3000})})
    store.write(rows)
    return store


def test_training_learns_the_signal_and_scores_like_sklearn(tmp_path):
    store = synthetic_store(tmp_path / "t.sqlite3")
    suggestions, typed = load_suggestions(store)
    model, metrics = train_filter(suggestions, max_char_loss=0.1)
    # Each stage learns its own signal: stage 1 the character before the cursor,
    # stage 2 (which sees only what was generated) the log-probability.
    assert metrics["stage1"]["held_out_auc"] > 0.6 and metrics["stage2"]["held_out_auc"] > 0.55
    assert model.stage2 is not None and model.stage2.names == ["mean_logprob"]
    assert model.stage2.coef[0] > 0
    # The cut is chosen on every suggestion scored out of fold, and holds there.
    at = metrics["stage2"]["out_of_fold_at_threshold"]
    assert at["accepted_chars_lost"] <= 0.1
    # Hiding likely rejections raises the acceptance rate and keeps most keystrokes saved.
    assert at["acceptance_rate_gain"] > 1.0 and 0.85 <= at["keystrokes_saved_kept"] <= 1.0
    assert model.stage1 is not None and "prev=." in model.stage1.names
    coef = dict(zip(model.stage1.names, model.stage1.coef, strict=True))
    assert coef["prev=."] > abs(coef["noise"])
    # The JSON round trip scores exactly as before.
    again = FilterModel.from_json(model.to_json())
    features = {"prev=.": 1.0, "noise": 0.3, "col_log": 2.0}
    assert again.score(1, features) == pytest.approx(model.score(1, features))
    assert model.score(1, features) > model.score(1, {**features, "prev=.": 0.0})

    stats = compute_stats(suggestions, typed)
    assert stats["offered"] == 400 and 0.2 < stats["acceptance_rate"] < 0.8
    assert stats["retention"]["30s"] == 1.0
    assert 0 < stats["multiline_share_of_accepted_chars"] < 1


def test_too_little_data_is_a_clear_error(tmp_path):
    store = synthetic_store(tmp_path / "t.sqlite3", n=20)
    suggestions, _ = load_suggestions(store)
    with pytest.raises(NotEnoughData, match="need at least"):
        train_filter(suggestions)


def test_unreadable_trained_filter_falls_back(tmp_path):
    path = tmp_path / "filter.json"
    path.write_text("{not json")
    model, problems = load_filter(path)
    assert problems and "unreadable" in problems[0]
    assert model.source in ("default", "none")
    ticks = [0.0]
    holder = FilterFile(tmp_path, clock=lambda: ticks[0])
    first = holder.current()
    store = synthetic_store(tmp_path / "t.sqlite3")
    trained, _ = train_filter(load_suggestions(store)[0])
    trained.save(path)
    ticks[0] += 60  # the server re-reads the file after `hearth filter train` installs one
    assert holder.current() is not first and holder.current().stage1 is not None


class _AlwaysLow:
    def score(self, stage, features):
        return 0.01

    def threshold(self, stage):
        return 0.2


async def test_stage_one_skips_generation_and_explicit_requests_are_always_answered():
    backend = ScriptedBackend(["\n    return 1"])
    sink = RecentSink()
    pipeline = CompletionPipeline(
        backend, sink, lambda: Settings(debounce_ms=0), lambda: PromptFormat(), suggestion_filter=_AlwaysLow
    )
    doc = DocumentSnapshot("file:///a.py", "python", 1, "def f():\n", 9)
    outcome = await pipeline.complete(doc, automatic=True)
    assert outcome.reason == "skipped by filter" and not backend.requests
    event = sink.recent("completion")[-1]
    assert event["score"] == 0.01 and event["features"]["decision=block"] == 1.0
    outcome = await pipeline.complete(doc, automatic=False)
    assert outcome.shown and len(backend.requests) == 1


def test_stage_two_scores_only_the_shown_tokens_and_the_first_line_apart():
    from hearth.completion.features import stage2_features
    from hearth.completion.policy import Cursor
    from hearth.model.backend import GenerationResult

    # "    total += x\n    return total\n\nprint(" generated; the suggestion shows two
    # lines after the four spaces already in the document.
    raw = "    total += x\n    return total\n\nprint("
    ends = [(9, -0.1), (15, -0.3), (25, -2.0), (31, -1.0), (33, -0.5), (39, -6.0)]
    result = GenerationResult(raw, "max_tokens", generated_tokens=6, token_logprobs=tuple(ends))
    shown = "total += x\n    return total"
    features = stage2_features(shown, result, Cursor("def f(xs):\n    ", ""), raw_end=4 + len(shown))
    # The unshown "\n\nprint(" tokens (-0.5, -6.0) do not count.
    assert features["min_logprob"] == -2.0
    assert features["mean_logprob"] == pytest.approx((-0.1 - 0.3 - 2.0 - 1.0) / 4)
    assert features["first_line_mean_logprob"] == pytest.approx(-0.2)
    assert features["first_line_min_logprob"] == -0.3
    assert features["multiline"] == 1.0


class _BlocksLow:
    """Stage 2 passes one-line suggestions and hides blocks."""

    def score(self, stage, features):
        return 0.05 if stage == 2 and features.get("multiline") else 0.9

    def threshold(self, stage):
        return 0.2


def complete_automatically(suggestion_filter, output: str, text: str, settings: Settings | None = None):
    """One automatic request at the end of `text`, the scripted model answering `output`."""
    backend = ScriptedBackend([output])
    sink = RecentSink()
    pipeline = CompletionPipeline(
        backend,
        sink,
        lambda: settings or Settings(debounce_ms=0),
        lambda: PromptFormat(),
        suggestion_filter=suggestion_filter,
    )
    outcome = asyncio.run(
        pipeline.complete(DocumentSnapshot("file:///a.py", "python", 1, text, len(text)), True)
    )
    return outcome, backend, sink.recent("completion")[-1]


def test_a_hidden_block_may_still_show_its_first_line():
    outcome, _backend, event = complete_automatically(
        _BlocksLow, "\n    total = 0\n    for x in xs:\n        total += x", "def f(xs):\n    "
    )
    assert outcome.text == "total = 0" and outcome.reason == "first line shown"
    assert outcome.post["first_line_of_block"] == 1.0 and outcome.post["multiline"] == 0.0
    assert event["score"] == 0.9
    # A block that starts with a line break has no first line to offer.
    outcome, _backend, event = complete_automatically(_BlocksLow, "\n    return 1\n", "def f():")
    assert not outcome.shown and outcome.reason == "filtered by stage 2" and event["score"] == 0.05


class _Middling:
    def score(self, stage, features):
        return 0.5

    def threshold(self, stage):
        return 0.2


def test_the_user_threshold_hides_and_never_skips_generation():
    settings = Settings(debounce_ms=0, filter_threshold=0.9)
    outcome, backend, _event = complete_automatically(_Middling, "\n    return 1", "def f():\n    ", settings)
    assert len(backend.requests) == 1
    assert outcome.reason == "filtered by stage 2"


def test_filter_train_installs_the_stages_that_beat_the_current_filter(tmp_path, capsys):
    from hearth_telemetry.commands import run_filter_train
    from hearth_telemetry.filter import FILTER_FILE
    from hearth_telemetry.writer import TELEMETRY_FILE

    synthetic_store(tmp_path / TELEMETRY_FILE).close()
    assert run_filter_train(tmp_path, 0.1, force=False, as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    # Stage 1 of the shipped default knows nothing of this data's signal and is replaced;
    # a stage the new filter does not beat stays as it was, with its own figures.
    assert report["installed"] and "stage1" in report["new_stages"]
    installed = FilterModel.from_json((tmp_path / FILTER_FILE).read_text())
    default = FilterModel.from_json(default_model_text())
    for name in ("stage1", "stage2"):
        new = name in report["new_stages"]
        assert (getattr(installed, name) == getattr(default, name)) is not new
        kept_figures = {k: v for k, v in installed.metrics[name].items() if k != "trained_until"}
        assert (kept_figures == default.metrics[name]) is not new
    # On this data the shipped stage 2 is not beaten; kept, it remembers what it learnt from,
    # so it is judged on newer suggestions and not by the date of the stage trained beside it.
    assert report["new_stages"] == ["stage1"]
    assert installed.metrics["stage2"]["trained_until"] == default.metrics["trained_until"]
    # Trained again on the same data, neither stage is better than itself: nothing changes.
    before = (tmp_path / FILTER_FILE).read_bytes()
    assert run_filter_train(tmp_path, 0.1, force=False, as_json=False) == 0
    assert "not installed" in capsys.readouterr().out
    assert (tmp_path / FILTER_FILE).read_bytes() == before


def test_each_model_gets_its_own_filter_and_the_server_judges_by_the_one_answering(tmp_path, capsys):
    from hearth_telemetry.commands import run_filter_status, run_filter_train
    from hearth_telemetry.filter import FILTER_FILE, model_filter_path
    from hearth_telemetry.writer import TELEMETRY_FILE

    # The embedded model is right when confident; the engine's model, when it hesitates.
    engines = [("local", "smollm2-135m", 1), ("llamacpp", "qwen2.5-coder-1.5b", -1)]
    synthetic_store(tmp_path / TELEMETRY_FILE, n=1200, engines=engines, start=2e9).close()
    assert run_filter_train(tmp_path, 0.1, force=False, as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["models"]) == ["llamacpp/qwen2.5-coder-1.5b", "local/smollm2-135m"]
    # The filter for every model learnt nothing from the log-probability (the two models pull
    # it opposite ways); the engine's own filter learns its way round and beats it on the
    # engine's newest suggestions.
    engine_row = report["models"]["llamacpp/qwen2.5-coder-1.5b"]
    assert engine_row["installed"] and "stage2" in engine_row["new_stages"]
    assert engine_row["path"] == str(model_filter_path(tmp_path, "llamacpp/qwen2.5-coder-1.5b"))
    assert engine_row["stage2"]["held_out_auc"] > engine_row["current"]["stage2_auc"]
    engine = FilterModel.from_json(Path(engine_row["path"]).read_text())
    assert engine.stage2 is not None and engine.stage2.names == ["mean_logprob"] and engine.stage2.coef[0] < 0
    assert engine.metrics["served_by"] == "llamacpp/qwen2.5-coder-1.5b"
    # The embedded model's own filter ranks its suggestions as the shipped stage 2 already
    # does (both rise with the log-probability): no better, so not installed.
    local_row = report["models"]["local/smollm2-135m"]
    assert "stage2" not in local_row["new_stages"]

    holder = FilterFile(tmp_path)
    hesitant, sure = {"mean_logprob": -2.5}, {"mean_logprob": -0.2}
    assert holder.current("llamacpp/qwen2.5-coder-1.5b").score(2, hesitant) > holder.current(
        "llamacpp/qwen2.5-coder-1.5b"
    ).score(2, sure)
    assert holder.current("local/smollm2-135m").score(2, sure) > holder.current("local/smollm2-135m").score(
        2, hesitant
    )
    # A model with no filter of its own is judged by the filter for every model.
    assert holder.current("openai/other").source == str(tmp_path / FILTER_FILE)

    assert run_filter_status(tmp_path) == 0
    status = capsys.readouterr().out
    assert "for llamacpp/qwen2.5-coder-1.5b:" in status and "for local/smollm2-135m" not in status


def test_a_model_with_too_few_suggestions_is_skipped_and_keeps_the_general_filter(tmp_path, capsys):
    from hearth_telemetry.commands import run_filter_train
    from hearth_telemetry.filter import model_filter_path
    from hearth_telemetry.writer import TELEMETRY_FILE

    # One suggestion in fifty from the engine: too few to train on.
    engines = [("local", "smollm2-135m", 1)] * 49 + [("llamacpp", "qwen", 1)]
    synthetic_store(tmp_path / TELEMETRY_FILE, n=600, engines=engines).close()
    assert run_filter_train(tmp_path, 0.1, force=False, as_json=False) == 0
    out = capsys.readouterr().out
    assert "for llamacpp/qwen alone:\n  not trained:" in out
    assert not model_filter_path(tmp_path, "llamacpp/qwen").exists()


def test_a_suggestion_taken_by_cycling_to_another_candidate_is_a_rejection_of_the_first_for_stage_two():
    from hearth_telemetry.stats import Suggestion
    from hearth_telemetry.train import samples

    def offered(sid: str, candidate: int) -> Suggestion:
        return Suggestion(sid, 1.0, "python", offered=True, shown=True, accepted_chars=5,
                          accepted_candidate=candidate, features={"a": 1.0}, post={"b": 1.0})  # fmt: skip

    suggestions = {"s1": offered("s1", 0), "s2": offered("s2", 2)}
    # The moment deserved a suggestion either way; the first one offered (what `post` describes)
    # was taken only in s1.
    assert {s.sid: s.label for s in samples(suggestions, 1)} == {"s1": 1, "s2": 1}
    assert {s.sid: s.label for s in samples(suggestions, 2)} == {"s1": 1, "s2": 0}
