"""The event store and writer on real SQLite files: schema, privacy, locks, corruption, processes."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hearth.events import LogSink, RecentSink
from hearth_telemetry.events import (
    EVENT_TYPES,
    Accepted,
    CompletionEvent,
    Generation,
    Privacy,
    Rejected,
    Typed,
    privacy_of,
)
from hearth_telemetry.outcomes import Acceptance, Outcome, Rejection
from hearth_telemetry.privacy import REDACTED, hash_path, redact_secrets
from hearth_telemetry.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from hearth_telemetry.stats import compute_stats, load_suggestions
from hearth_telemetry.store import EventStore
from hearth_telemetry.writer import TelemetryOptions, TelemetrySink

CANARY_CODE = "def zebra_canary_7741(quokka):"
CANARY_PATH = "src/secret_project_walrus/module.py"


def completion_event(sid: str = "s1", text: str = CANARY_CODE, **changes) -> CompletionEvent:
    event = CompletionEvent(
        id=sid,
        language="python",
        path=CANARY_PATH,
        trigger="automatic",
        outcome=Outcome.SHOWN,
        shown=True,
        decision="block",
        score=0.6,
        chars=len(text),
        lines=1,
        features={"col_log": 1.5, "prev=:": 1.0},
        post={"chars_log": 3.0},
        timings_ms={"total": 120.0},
        generation=Generation(
            prompt_tokens=100,
            reused_tokens=90,
            evaluated_tokens=10,
            generated_tokens=12,
            stop_reason="stop",
            mean_logprob=-0.4,
            min_logprob=-2.0,
        ),
        text=text,
    )
    return dataclasses.replace(event, **changes)


def all_bytes(path: Path) -> bytes:
    return b"".join(
        Path(f"{path}{s}").read_bytes() for s in ("", "-wal", "-shm") if Path(f"{path}{s}").exists()
    )


def test_rows_of_a_completion_and_file_modes(tmp_path):
    db = tmp_path / "t.sqlite3"
    sink = TelemetrySink(db)
    sink.emit(completion_event())
    sink.emit(Accepted("s1", Acceptance.FULL, 10))
    assert sink.flush()
    store = EventStore(db).open()
    kinds = [row["kind"] for row in store.events()]
    assert kinds == ["requested", "generated", "offered", "accepted"]
    generated = next(store.events(("generated",)))
    assert generated["data"]["reused_tokens"] == 90 and generated["data"]["post"] == {"chars_log": 3.0}
    assert generated["file"] == hash_path(CANARY_PATH, store.salt())
    for suffix in ("", "-wal", "-shm"):
        mode = stat.S_IMODE(os.stat(f"{db}{suffix}").st_mode)
        assert mode == 0o600, (suffix, oct(mode))
    store.close()
    sink.close()


def test_privacy_canaries_never_stored_unless_opted_in(tmp_path):
    db = tmp_path / "t.sqlite3"
    sink = TelemetrySink(db)
    sink.emit(completion_event())
    assert sink.flush()
    data = all_bytes(db)
    assert b"zebra_canary_7741" not in data and b"walrus" not in data
    sink.close()

    opted = tmp_path / "opted.sqlite3"
    sink = TelemetrySink(opted, TelemetryOptions(capture_code=True))
    secret = 'api_key = "sk-abcdefghijklmnopqrstuvwxyz123456"'
    sink.emit(completion_event(text=CANARY_CODE + "\n    " + secret))
    assert sink.flush()
    data = all_bytes(opted)
    assert b"zebra_canary_7741" in data  # the user asked for code text
    assert b"abcdefghijklmnopqrstuvwxyz123456" not in data  # but never the secret
    assert b"walrus" not in data  # and never the path
    sink.close()


def test_do_not_track_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    db = tmp_path / "t.sqlite3"
    sink = TelemetrySink(db)
    sink.emit(completion_event())
    assert sink.flush()
    assert not db.exists()
    monkeypatch.delenv("DO_NOT_TRACK")
    disabled = TelemetrySink(db, TelemetryOptions(enabled=False))
    disabled.emit(completion_event())
    assert disabled.flush() and not db.exists()


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ('password = "hunter2hunter2"', "hunter2hunter2"),
        ("AWS_KEY=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("token: ghp_0123456789abcdefghijABCDEFGHIJ0123", "ghp_0123456789abcdefghij"),
        ("url = 'postgres://admin:s3cretpw@db.local/x'", "s3cretpw"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
        ("Authorization = eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", "SflKxwRJSMeKKF2QT4"),
        ("HF = 'hf_abcdefghijklmnopqrstuvwxyzABCDEF12'", "hf_abcdefghijklmnopqrstuvwxyz"),
        ("//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghijklmnop"),
        ('gitlab("glpat-xxxxXXXX1234yyyyZZZZ")', "glpat-xxxxXXXX1234yyyy"),
        ('stripe.api_base = "sk_live_51Habcdefghijklmnop1234"', "sk_live_51Habcdefghijklmnop"),
        ("headers = {'Authorization': 'Bearer abcDEF123456ghiJKL789.mno'}", "abcDEF123456ghiJKL789"),
        ('curl -H "Authorization: Basic dXNlcjpwYXNzd29yZDEyMzQ="', "dXNlcjpwYXNzd29yZDEyMzQ="),
        (
            "upload(token_value='pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWlqa2wtbW5vcC1xcnN0')",
            "AgEIcHlwaS5vcmcCJGFi",
        ),
        ("SLACK = 'https://hooks.slack.com/services/T000/B000/XXXXXXXX'", "T000/B000/XXXXXXXX"),
        ("creds.token = 'ya29.a0AfH6SMBabcdefghijklmnopqrstu'", "a0AfH6SMBabcdefghijklmnop"),
    ],
)
def test_secret_redaction(text, leak):
    redacted = redact_secrets(text)
    assert leak not in redacted and REDACTED in redacted


def test_code_without_secrets_is_untouched():
    code = "def total(values):\n    return sum(v.price for v in values)\n"
    assert redact_secrets(code) == code


def test_migration_from_the_previous_schema(tmp_path):
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, target=1)
    conn.execute(
        "INSERT INTO events(ts, sid, kind, language, data) VALUES (1.0, 'old', 'accepted', 'go', '{}')"
    )
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    store = EventStore(db).open()
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    rows = list(store.events())
    assert rows[0]["sid"] == "old" and rows[0]["session"] is None and "file" in rows[0]
    store.write([{"ts": 2.0, "sid": "new", "kind": "shown", "session": "s", "data": "{}"}])
    assert [r["sid"] for r in store.events()] == ["old", "new"]


def test_corrupt_database_is_moved_aside_and_nothing_is_lost_after(tmp_path):
    db = tmp_path / "t.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    sink = TelemetrySink(db)
    sink.emit(Typed(5))
    assert sink.flush()
    assert sink.dropped == 0
    store = EventStore(db).open()
    assert [r["kind"] for r in store.events()] == ["typed"]
    assert list(tmp_path.glob("t.sqlite3.corrupt-*"))
    sink.close()


def test_locked_database_never_blocks_emit_and_counts_drops(tmp_path):
    db = tmp_path / "t.sqlite3"
    EventStore(db).open().close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    sink = TelemetrySink(db, busy_timeout_ms=50)
    for i in range(100):
        sink.emit(Typed(i))
    assert sink.flush(timeout=10)
    assert sink.dropped == 100 and "locked" in sink.last_error
    holder.execute("ROLLBACK")
    holder.close()
    sink.emit(Typed(1))
    assert sink.flush()
    assert sink.written == 1
    sink.close()


def test_retention_and_size_cap(tmp_path):
    now = [1_000_000.0]
    store = EventStore(tmp_path / "t.sqlite3", clock=lambda: now[0]).open()
    store.write([{"ts": now[0] - 100 * 86400, "kind": "typed", "data": "{}"}] * 5)
    store.write([{"ts": now[0], "kind": "typed", "data": "{}"}] * 3)
    assert store.prune(retention_days=90, max_mb=100) == 5
    assert len(list(store.events())) == 3
    store.write([{"ts": now[0], "kind": "typed", "data": json.dumps({"x": "y" * 2000})}] * 2000)
    store.prune(retention_days=90, max_mb=1)
    assert store.size_bytes() <= 1024 * 1024
    assert store.integrity() == "ok"


def _writer_process(db: str, count: int, queue) -> None:  # runs in a child process
    sink = TelemetrySink(Path(db))
    for i in range(count):
        sink.emit(Typed(i))
    ok = sink.flush(timeout=60)
    queue.put((ok, sink.dropped, sink.written, sink.last_error))
    sink.close()


def test_eight_processes_write_together_without_errors(tmp_path):
    db = tmp_path / "shared.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(str(db), 1000, results)) for _ in range(8)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(ok and dropped == 0 and written == 1000 for ok, dropped, written, _ in outcomes), outcomes
    store = EventStore(db).open()
    assert store.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 8000
    assert store.integrity() == "ok"


WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from hearth_telemetry.store import EventStore
store = EventStore(Path(sys.argv[1])).open()
print("ready", flush=True)
while True:
    store.write([{"ts": time.time(), "kind": "typed", "data": "{}"}] * 20)
"""


def test_kill_9_during_writes_never_corrupts(tmp_path):
    db = tmp_path / "t.sqlite3"
    counts = []
    for cycle in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(db)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.02 * (cycle % 5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = EventStore(db).open()
        assert store.integrity() == "ok"
        counts.append(store.conn.execute("SELECT count(*) FROM events").fetchone()[0])
        store.close()
    assert counts == sorted(counts) and counts[-1] > 0


def test_export_into_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    store = EventStore(tmp_path / "telemetry.sqlite3").open()
    store.write([{"ts": 1.0 + n, "sid": f"s{n}", "kind": "requested", "data": "{}"} for n in range(20_000)])
    store.close()
    env = {**os.environ, "HEARTH_DATA_DIR": str(tmp_path)}
    export = subprocess.Popen([sys.executable, "-m", "hearth", "telemetry", "export"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert export.stdout is not None and export.stderr is not None
    assert export.stdout.readline().startswith(b"{")
    export.stdout.close()  # what `| head -1` does
    assert export.wait(60) == 0
    assert b"Traceback" not in export.stderr.read()


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_filed_by_the_enum(tmp_path, outcome):
    sink = TelemetrySink(tmp_path / "t.sqlite3")
    shown = outcome in (Outcome.SHOWN, Outcome.FIRST_LINE_SHOWN)
    rows = sink.rows(completion_event(outcome=outcome, shown=shown), 1.0)
    assert rows[-1]["kind"] == outcome.row_kind and json.loads(rows[-1]["data"])["outcome"] == outcome.value
    expected = {
        Outcome.SKIPPED_BY_FILTER: "skipped",
        Outcome.HIDDEN_BY_FILTER: "filtered",
        Outcome.PREFETCHED: "prefetched",
    }
    assert outcome.row_kind == ("offered" if shown else expected.get(outcome, "dropped"))


def test_rejections_are_stored_by_their_enum_value(tmp_path):
    sink = TelemetrySink(tmp_path / "t.sqlite3")
    row = sink.rows(Rejected("s1", Rejection.TYPED_OVER), 1.0)[0]
    assert json.loads(row["data"]) == {"reason": "typed_over"}


def test_a_database_written_before_the_enums_reads_the_same(tmp_path):
    """Rows of the old writer carried prose outcomes; readers go by the row kind, which is unchanged."""
    store = EventStore(tmp_path / "telemetry.sqlite3").open()
    old = [
        {"ts": 1.0, "sid": "a", "kind": "requested", "data": "{}"},
        {"ts": 1.0, "sid": "a", "kind": "offered", "data": json.dumps({"outcome": "shown", "chars": 5})},
        {
            "ts": 2.0,
            "sid": "a",
            "kind": "accepted",
            "data": json.dumps({"kind": "full", "accepted_chars": 5}),
        },
        {"ts": 3.0, "sid": "b", "kind": "requested", "data": "{}"},
        {"ts": 3.0, "sid": "b", "kind": "filtered", "data": json.dumps({"outcome": "filtered by stage 2"})},
        {"ts": 4.0, "sid": "c", "kind": "requested", "data": "{}"},
        {"ts": 4.0, "sid": "c", "kind": "skipped", "data": json.dumps({"outcome": "skipped by filter"})},
    ]
    store.write(old)
    figures = compute_stats(*load_suggestions(store))
    store.close()
    assert figures["offered"] == 1 and figures["accepted"] == 1
    assert figures["filtered_after_generation"] == 1 and figures["skipped_by_filter"] == 1


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_field_declares_what_it_may_reveal(event_type):
    for f in dataclasses.fields(event_type):
        assert isinstance(privacy_of(f), Privacy), f.name


def test_the_log_and_the_status_list_never_carry_code_or_paths(caplog):
    event = completion_event()
    recent = RecentSink()
    recent.emit(event)
    with caplog.at_level(logging.INFO, logger="hearth.events"):
        LogSink().emit(event)
    shared = json.dumps(recent.recent()) + caplog.text
    assert "zebra_canary_7741" not in shared and "walrus" not in shared
    assert recent.recent()[0]["id"] == "s1" and recent.recent()[0]["generated_tokens"] == 12
    assert recent.totals()["outcome:shown"] == 1 and recent.totals()["generated"] == 1


def test_stats_split_by_the_backend_and_model_that_generated(tmp_path):
    db = tmp_path / "t.sqlite3"
    sink = TelemetrySink(db)
    sink.emit(completion_event("a", backend="local", model="smollm2-135m-instruct"))
    sink.emit(
        completion_event("b", backend="llamacpp", model="qwen2.5-coder-7b.gguf", timings_ms={"total": 40.0})
    )
    sink.emit(
        completion_event("c", backend="llamacpp", model="qwen2.5-coder-7b.gguf", timings_ms={"total": 60.0})
    )
    sink.emit(Accepted("b", Acceptance.FULL, 10))
    assert sink.flush()
    store = EventStore(db).open()
    by_model = compute_stats(*load_suggestions(store))["by_model"]
    assert by_model["local/smollm2-135m-instruct"]["offered"] == 1
    engine = by_model["llamacpp/qwen2.5-coder-7b.gguf"]
    assert engine["offered"] == 2 and engine["accepted"] == 1 and engine["acceptance_rate"] == 0.5
    assert engine["latency_p50_ms"] == 60.0
    store.close()
    sink.close()
