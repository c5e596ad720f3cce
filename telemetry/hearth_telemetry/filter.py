"""The acceptance filter model: two logistic scorers stored as plain JSON.

Scoring needs no numerical library: a dot product over named features and
a sigmoid, so the server pays microseconds per request. Training (in
`train.py`) uses scikit-learn and writes this same format.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
FILTER_FILE = "filter.json"
"""The user's trained filter for every model, in the data directory."""
MODEL_FILTERS_DIR = "filters"
"""Filters trained on one backend and model's suggestions, beside FILTER_FILE: a 1.5B engine
model's log-probabilities and lengths are not the embedded model's."""


def served_by(backend: str, model: str) -> str:
    """The name telemetry, stats and the filter give what generated a suggestion."""
    return f"{backend}/{model or '?'}"


def model_filter_path(data_dir: Path, served: str) -> Path:
    """Where the filter for `served` lives: a readable name, with a hash so two names never meet."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", served).strip("._")[:80] or "model"
    digest = hashlib.sha256(served.encode("utf-8")).hexdigest()[:10]
    return data_dir / MODEL_FILTERS_DIR / f"{readable}-{digest}.json"


@dataclass(frozen=True)
class StageModel:
    names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    """Scores below this are skipped (stage 1) or hidden (stage 2)."""

    def score(self, features: Mapping[str, float]) -> float:
        z = self.intercept
        for name, mean, scale, coef in zip(self.names, self.mean, self.scale, self.coef, strict=True):
            z += coef * (float(features.get(name, 0.0)) - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class FilterModel:
    stage1: StageModel | None = None
    stage2: StageModel | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    """Where the model came from: a path, or "none"."""

    def score(self, stage: int, features: Mapping[str, float]) -> float | None:
        model = self.stage1 if stage == 1 else self.stage2
        return None if model is None else model.score(features)

    def threshold(self, stage: int) -> float:
        model = self.stage1 if stage == 1 else self.stage2
        return 0.0 if model is None else model.threshold

    def to_json(self) -> str:
        data = {"format": FORMAT_VERSION, **asdict(self)}
        data.pop("source")
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "") -> FilterModel:
        data = json.loads(text)
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported filter model format {data.get('format')!r}")

        def stage(raw: Any) -> StageModel | None:
            if raw is None:
                return None
            model = StageModel(**raw)
            if not (len(model.names) == len(model.mean) == len(model.scale) == len(model.coef)):
                raise ValueError("filter model vectors differ in length")
            return model

        return cls(stage(data.get("stage1")), stage(data.get("stage2")), data.get("metrics", {}), source)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(), "utf-8")
        tmp.replace(path)


def default_model_text() -> str | None:
    """The filter shipped with Hearth (trained on replay data), if this build has one."""
    entry = resources.files("hearth_telemetry") / "filter-default.json"
    return entry.read_text("utf-8") if entry.is_file() else None


def load_filter(*paths: Path) -> tuple[FilterModel, list[str]]:
    """The first readable trained filter of `paths`, else the shipped default, else none;
    and any problem found."""
    problems: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        try:
            return FilterModel.from_json(path.read_text("utf-8"), str(path)), problems
        except (ValueError, TypeError, KeyError, OSError) as exc:
            problems.append(f"trained filter {path} is unreadable ({exc}); using the next one")
    text = default_model_text()
    if text is not None:
        try:
            return FilterModel.from_json(text, "default"), problems
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"default filter unreadable: {exc}")
    return FilterModel(source="none"), problems


def _candidates(data_dir: Path, served: str) -> tuple[Path, ...]:
    """The filter files a suggestion from `served` may be judged by, first choice first."""
    own = (model_filter_path(data_dir, served),) if served else ()
    return (*own, data_dir / FILTER_FILE)


def filter_for(data_dir: Path, served: str = "") -> tuple[FilterModel, list[str]]:
    """The filter a suggestion from `served` is judged by: its model's own, else the filter for
    every model, else the default."""
    return load_filter(*_candidates(data_dir, served))


class FilterFile:
    """The filters in use, per model, re-read when `hearth filter train` installs new ones."""

    RECHECK_S = 30.0

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.data_dir = data_dir
        self._clock = clock
        self._loaded: dict[str, _Loaded] = {}
        self.problems: list[str] = []

    def current(self, served: str = "") -> FilterModel:
        now = self._clock()
        entry = self._loaded.get(served)
        if entry is None or now - entry.checked >= self.RECHECK_S:
            stamp = self._stamp(served)
            if entry is None or stamp != entry.stamp:
                model, self.problems = filter_for(self.data_dir, served)
                entry = self._loaded[served] = _Loaded(model, stamp, now)
            entry.checked = now
        return entry.model

    def _stamp(self, served: str) -> tuple[float | None, ...]:
        return tuple(_mtime(path) for path in _candidates(self.data_dir, served))


@dataclass
class _Loaded:
    model: FilterModel
    stamp: tuple[float | None, ...]
    checked: float


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
