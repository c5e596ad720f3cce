"""The replay benchmark's simulated developer: spans, keystrokes, pacing and matching."""

from __future__ import annotations

import random
import subprocess

import pytest

from hearth.bench.developer import (
    Match,
    Typist,
    keystroke_count,
    match_suggestion,
    next_keystroke,
    tasks_from_commits,
    tasks_from_files,
    tasks_top_down,
)

SOURCE = '''import os


def area(width, height):
    """Area of a rectangle."""
    if width < 0 or height < 0:
        raise ValueError("negative")
    return width * height


class Box:
    def __init__(self, size):
        self.size = size
        self.items = []
'''


@pytest.mark.parametrize(
    ("suggestion", "upcoming", "expected"),
    [
        ("return x", "return x\nnext", Match("full", 8)),
        ("return x  \n", "return x\nnext", Match("full", 8)),
        ("a = 1\nb = 2", "a = 1\nb = 3", Match("partial", 5)),
        ("a = 2", "a = 1", Match("none", 0)),
        ("   \n", "x", Match("none", 0)),
        ("x\n", "x", Match("full", 1)),
    ],
)
def test_match_suggestion(suggestion, upcoming, expected):
    assert match_suggestion(suggestion, upcoming) == expected


def test_enter_carries_the_auto_indent():
    span = "a = 1\n    b = 2"
    assert next_keystroke(span, 5) == "\n    "
    assert keystroke_count(span) == 5 + 1 + 5


def test_same_seed_same_keystroke_timing_and_different_seed_differs():
    keys = list("def f(x):\n    return x\n") * 3
    first = [Typist(3).delay(k) for k in keys]
    assert first == [Typist(3).delay(k) for k in keys]
    assert first != [Typist(4).delay(k) for k in keys]
    pace = sum(first) / len(first)
    assert 0.1 < pace < 0.6  # about 6 characters a second with pauses


def test_spans_are_block_bodies_with_the_rest_of_the_file_in_place(tmp_path):
    (tmp_path / "shapes.py").write_text(SOURCE)
    (tmp_path / "notes.txt").write_text(SOURCE)
    tasks = tasks_from_files(tmp_path, "*", random.Random(1), 10)
    assert tasks and all(t.path == "shapes.py" and t.language == "python" for t in tasks)
    for task in tasks:
        assert task.before + task.span + task.after == SOURCE
        assert task.before.endswith("    ") or task.before.endswith("        ")
    assert any(t.span.startswith('"""Area') for t in tasks)
    again = tasks_from_files(tmp_path, "*", random.Random(1), 10)
    assert again == tasks


def test_commit_mode_types_the_added_lines(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    git("add", ".")
    git("commit", "-qm", "one")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n\n\ndef g(x):\n    return x * 2\n")
    git("commit", "-qam", "two")
    tasks = tasks_from_commits(tmp_path, "HEAD~1..HEAD", "*.py")
    assert [t.span for t in tasks] == ["def g(x):\n    return x * 2"]
    assert tasks[0].before == "def f():\n    return 1\n\n\n"


def test_top_down_tasks_write_files_from_their_first_line(tmp_path):
    (tmp_path / "shapes.py").write_text(SOURCE)
    (tmp_path / "tiny.py").write_text("x = 1\n")  # too small to be a file worth writing
    tasks = tasks_top_down(tmp_path, "*", random.Random(1), count=5, lines=20)
    assert [t.path for t in tasks] == ["shapes.py"]
    task = tasks[0]
    assert task.before == "" and task.after == ""
    assert task.span == "\n".join(SOURCE.split("\n")[:20]).rstrip()


def test_the_typist_pauses_only_after_the_characters_it_is_given():
    with_pauses, without = Typist(3, pause_after=" "), Typist(3, pause_after="(")
    spaces = [with_pauses.delay(" ") for _ in range(200)]
    never = [without.delay(" ") for _ in range(200)]
    # Seeded: about 30% of the spaces get a 0.2-0.8 s pause on top of the same pace.
    assert sum(spaces) > sum(never) + 200 * 0.3 * 0.2
