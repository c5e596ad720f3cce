"""The acceptance filter model: two logistic scorers stored as plain JSON.

Scoring needs no numerical library: a dot product over named features and
a sigmoid, so the server pays microseconds per request. Training (in
`train.py`) uses scikit-learn and writes this same format.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
FILTER_FILE = "filter.json"
"""The user's trained filter, in the data directory."""


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


def load_filter(user_path: Path) -> tuple[FilterModel, list[str]]:
    """The user's trained filter, else the shipped default, else none; and any problem found."""
    problems: list[str] = []
    if user_path.is_file():
        try:
            return FilterModel.from_json(user_path.read_text("utf-8"), str(user_path)), problems
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"trained filter {user_path} is unreadable ({exc}); using the default")
    text = default_model_text()
    if text is not None:
        try:
            return FilterModel.from_json(text, "default"), problems
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"default filter unreadable: {exc}")
    return FilterModel(source="none"), problems


class FilterFile:
    """The filter in use, re-read when `hearth filter train` installs a new one."""

    RECHECK_S = 30.0

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._model: FilterModel | None = None
        self._mtime: float | None = None
        self._checked = -math.inf
        self.problems: list[str] = []

    def current(self) -> FilterModel:
        now = self._clock()
        if self._model is None or now - self._checked >= self.RECHECK_S:
            self._checked = now
            mtime = self.path.stat().st_mtime if self.path.is_file() else None
            if self._model is None or mtime != self._mtime:
                self._mtime = mtime
                self._model, self.problems = load_filter(self.path)
        return self._model
