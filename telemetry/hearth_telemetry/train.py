"""`hearth filter train`: fit both filter stages from the local event store.

Labels: a suggestion offered to the editor and then accepted (fully or in
part) is 1; one rejected is 0; the rest are unknown and left out. The most
recent quarter of labelled suggestions is held out, so the figures are what
the filter would have done on suggestions it had not seen.

CDHF's warning is that a filter tuned for acceptance rate learns to show
only short, safe suggestions. The threshold here is therefore chosen by
characters: the highest cut that loses at most `max_char_loss` of the
accepted-and-retained characters, and the report says what it costs in
both suggestions and characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hearth_telemetry.filter import FilterModel, StageModel
from hearth_telemetry.stats import Suggestion, displayed

MIN_PER_CLASS = 20
FOLDS = 4
"""Stretches of the log, oldest first; the newest is the held-out quarter."""
MIN_AUC_TO_ACT = 0.55
REGULARIZATION = 0.05
"""Inverse strength for scikit-learn: strong, because a few hundred suggestions from one
repository are easy to overfit (0.05 did best on replays judged on another repository)."""


class NotEnoughData(Exception):
    pass


@dataclass(frozen=True)
class Sample:
    features: dict[str, float]
    label: int
    chars: float
    """Accepted and retained characters this suggestion is worth (0 for a rejection)."""
    ts: float
    sid: str = ""


def samples(suggestions: dict[str, Suggestion], stage: int) -> list[Sample]:
    out = []
    for s in sorted(displayed(suggestions.values()), key=lambda s: s.ts):
        label = s.label
        if label is None or not s.features:
            continue
        # Stage 2 judges the suggestion itself. The moment's features are stage 1's to
        # weigh, and in replays of one repository judged on another they did not carry over.
        features = dict(s.features) if stage == 1 else dict(s.post)
        if not features:
            continue
        if stage == 2 and label == 1 and s.accepted_candidate != 0:
            # The moment deserved a suggestion, but `post` describes the first one offered, and
            # the user cycled past it to another.
            label = 0
        retained = all(s.retained.values()) if s.retained else True
        out.append(Sample(features, label, float(s.accepted_chars if retained else 0), s.ts, s.sid))
    return out


def tradeoff(scores: list[float], data: list[Sample], threshold: float) -> dict[str, float]:
    """What a cut at `threshold` would have done to these suggestions."""
    hidden = [s for score, s in zip(scores, data, strict=True) if score < threshold]
    kept = [s for score, s in zip(scores, data, strict=True) if score >= threshold]
    accepted_chars = sum(s.chars for s in data if s.label == 1) or 1.0
    return {
        "threshold": round(threshold, 4),
        "rejections_hidden": _share(sum(s.label == 0 for s in hidden), sum(s.label == 0 for s in data)),
        "acceptances_lost": _share(sum(s.label == 1 for s in hidden), sum(s.label == 1 for s in data)),
        "accepted_chars_lost": round(sum(s.chars for s in hidden if s.label == 1) / accepted_chars, 4),
        "suggestions_hidden": _share(len(hidden), len(data)),
        # The two figures the replay benchmark's targets are stated in.
        "acceptance_rate_gain": round(_rate(kept) / _rate(data), 4) if _rate(data) else 0.0,
        "keystrokes_saved_kept": round(_saved(kept) / _saved(data), 4) if _saved(data) else 0.0,
    }


def _rate(rows: list[Sample]) -> float:
    return sum(s.label for s in rows) / len(rows) if rows else 0.0


def _saved(rows: list[Sample]) -> float:
    """Keystrokes saved: accepted characters less the one keystroke each acceptance takes."""
    return sum(max(0.0, s.chars - 1) for s in rows if s.label == 1)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def fit_stage(data: list[Sample], max_char_loss: float) -> tuple[StageModel, dict[str, Any]]:
    """Measured by fitting on the older samples and scoring the newer; the cut is chosen on
    out-of-fold scores of every sample; the stored model is fitted on all of them."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    positives = sum(s.label for s in data)
    if min(positives, len(data) - positives) < MIN_PER_CLASS:
        raise NotEnoughData(
            f"{len(data)} labelled suggestions ({positives} accepted); "
            f"need at least {MIN_PER_CLASS} accepted and {MIN_PER_CLASS} rejected"
        )
    names = sorted({name for s in data for name in s.features})

    def matrix(rows: list[Sample]) -> Any:
        return np.array([[s.features.get(n, 0.0) for n in names] for s in rows], dtype=float)

    def fit(rows: list[Sample]) -> tuple[Any, Any]:
        scaler = StandardScaler().fit(matrix(rows))
        model = LogisticRegression(C=REGULARIZATION, class_weight="balanced", max_iter=2000)
        model.fit(scaler.transform(matrix(rows)), [s.label for s in rows])
        return scaler, model

    def scores(fitted: tuple[Any, Any], rows: list[Sample]) -> list[float]:
        scaler, model = fitted
        return [float(p) for p in model.predict_proba(scaler.transform(matrix(rows)))[:, 1]]

    split = _fold_start(FOLDS - 1, len(data))
    train, held = data[:split], data[split:]
    if len({s.label for s in held}) < 2 or len({s.label for s in train}) < 2:
        raise NotEnoughData("the held-out part has only one class; collect more suggestions")
    # A quarter of the data alone gives a jumpy cut; every sample scored by a model that
    # did not see it gives a steadier one. The last stretch is the held-out quarter.
    out_of_fold: list[float] = []
    for k in range(FOLDS):
        start, end = _fold_start(k, len(data)), _fold_start(k + 1, len(data))
        fold, rest = data[start:end], data[:start] + data[end:]
        if len({s.label for s in rest}) < 2:
            raise NotEnoughData("one stretch of suggestions holds every acceptance; collect more")
        out_of_fold += scores(fit(rest), fold)
    held_scores = out_of_fold[split:]
    auc = float(roc_auc_score([s.label for s in held], held_scores))
    oof_auc = float(roc_auc_score([s.label for s in data], out_of_fold))
    # A stage that cannot tell acceptances from rejections on data it did not see
    # would only drop suggestions at random: it is kept, but never acts.
    threshold = choose_threshold(out_of_fold, data, max_char_loss) if oof_auc >= MIN_AUC_TO_ACT else 0.0
    metrics = {
        "train": len(train),
        "held_out": len(held),
        "held_out_auc": round(auc, 4),
        "out_of_fold_auc": round(oof_auc, 4),
        "at_threshold": tradeoff(held_scores, held, threshold),
        "out_of_fold_at_threshold": tradeoff(out_of_fold, data, threshold),
        "curve": [tradeoff(held_scores, held, t) for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)],
    }
    scaler, model = fit(data)
    scale = [float(v) if v > 0 else 1.0 for v in scaler.scale_]
    stage = StageModel(
        names=names,
        mean=[float(v) for v in scaler.mean_],
        scale=scale,
        coef=[float(v) for v in model.coef_[0]],
        intercept=float(model.intercept_[0]),
        threshold=round(threshold, 4),
    )
    return stage, metrics


def _fold_start(k: int, size: int) -> int:
    return k * size // FOLDS


def choose_threshold(scores: list[float], data: list[Sample], max_char_loss: float) -> float:
    """The highest cut that loses at most `max_char_loss` of accepted-and-retained characters."""
    best = 0.0
    for candidate in sorted(set(round(s, 4) for s in scores)):
        if tradeoff(scores, data, candidate)["accepted_chars_lost"] <= max_char_loss:
            best = candidate
        else:
            break
    return best


def trained_until(model: FilterModel, stage: int) -> float:
    """The newest suggestion a stage was trained on: its own figure where a stage was kept from an
    older filter (see `hearth filter train`), else the filter's."""
    own = model.metrics.get(f"stage{stage}", {}).get("trained_until")
    return float(own if own is not None else model.metrics.get("trained_until", 0.0))


def held_out_ids(suggestions: dict[str, Suggestion]) -> set[str]:
    """The suggestions either stage holds out when trained on `suggestions`."""
    ids: set[str] = set()
    for stage in (1, 2):
        data = samples(suggestions, stage)
        ids |= {s.sid for s in data[_fold_start(FOLDS - 1, len(data)) :]}
    return ids


def evaluate(
    model: FilterModel, suggestions: dict[str, Suggestion], stage: int, unseen: bool = False
) -> float | None:
    """AUC of an existing filter on the held-out suggestions a new one is measured on.

    A filter that was trained on some of those suggestions would be judged on
    what it has seen: then its own recorded held-out AUC stands in, unless the
    caller knows the filter has not seen them (`unseen`).
    """
    from sklearn.metrics import roc_auc_score

    data = samples(suggestions, stage)
    held = data[_fold_start(FOLDS - 1, len(data)) :]
    if not unseen and held and held[0].ts <= trained_until(model, stage):
        recorded = model.metrics.get(f"stage{stage}", {}).get("held_out_auc")
        return float(recorded) if recorded is not None else None
    scores = [model.score(stage, s.features) for s in held]
    if not held or any(score is None for score in scores) or len({s.label for s in held}) < 2:
        return None
    return float(roc_auc_score([s.label for s in held], scores))


def train_filter(
    suggestions: dict[str, Suggestion], max_char_loss: float = 0.1
) -> tuple[FilterModel, dict[str, Any]]:
    # Stage 1 decides with less to go on, and a skipped suggestion cannot be
    # recovered later, so it gets half of the characters the filter may lose.
    stage1, metrics1 = fit_stage(samples(suggestions, 1), max_char_loss / 2)
    stage2, metrics2 = fit_stage(samples(suggestions, 2), max_char_loss)
    metrics = {
        "stage1": metrics1,
        "stage2": metrics2,
        "max_char_loss": max_char_loss,
        "trained_until": max((s.ts for s in suggestions.values()), default=0.0),
    }
    return FilterModel(stage1, stage2, metrics, source="trained"), metrics
