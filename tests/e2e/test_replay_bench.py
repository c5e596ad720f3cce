"""`hearth bench replay` end to end: the real server and model, a small repository, its telemetry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hearth_telemetry.store import EventStore
from tests.unit.test_developer import SOURCE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_replay_reports_and_writes_telemetry(tmp_path, private_data_dir):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shapes.py").write_text(SOURCE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "hearth",
            "bench",
            "replay",
            str(repo),
            "--tasks",
            "2",
            "--cps",
            "15",
            "--modes",
            "hearth,naive",
            "--json",
            "--html",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["tasks"] == 2 and set(report["modes"]) == {"hearth", "naive"}
    for mode in report["modes"].values():
        assert mode["requests"] > 0
        assert mode["answered"] + mode["cancelled"] == mode["requests"]
        assert mode["keystrokes"] <= mode["keystrokes_without_suggestions"]
        assert mode["latency_ms"]["p50"] is not None
    assert "hearth_over_naive" in report
    assert "<svg" in (tmp_path / "r.html").read_text()
    # The hearth run wrote real telemetry; the naive baseline wrote none.
    store = EventStore(private_data_dir / "telemetry.sqlite3").open()
    kinds = {row["kind"] for row in store.events()}
    assert {"requested", "generated"} <= kinds
    assert kinds & {"offered", "filtered"}  # shown, or hidden by the learned filter
    sessions = {row["session"] for row in store.events()}
    assert len(sessions) == 1
