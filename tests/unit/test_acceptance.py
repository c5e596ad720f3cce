"""What became of a suggestion, inferred from edits and editor reports (plain data, fake clock)."""

from __future__ import annotations

from hearth.completion.acceptance import AcceptanceTracker, retention_similarity
from hearth.events import RecentSink
from hearth.text.documents import Edit

URI = "file:///a.py"


class Harness:
    def __init__(self) -> None:
        self.now = 100.0
        self.sink = RecentSink()
        self.scheduled: list[tuple[float, object]] = []
        self.text = ""
        self.tracker = AcceptanceTracker(
            self.sink,
            clock=lambda: self.now,
            schedule=lambda delay, call: self.scheduled.append((delay, call)),
            document_text=lambda uri: self.text if uri == URI else None,
        )

    def events(self, name: str | None = None) -> list[dict]:
        return self.sink.recent(name)


def test_editor_inserting_the_suggestion_then_its_command_counts_once():
    h = Harness()
    h.tracker.offered("s1", URI, "return x", 10)
    h.tracker.changed(URI, [Edit(10, 10, "return x")])
    assert not h.tracker.accepted("s1")  # the command after the edit is not a second accept
    accepted = h.events("accepted")
    assert accepted == [
        {"event": "accepted", "id": "s1", "kind": "full", "accepted_chars": 8, "candidate": 0}
    ]


def test_completion_item_replacing_the_word_is_an_acceptance():
    h = Harness()
    h.tracker.offered("s1", URI, "rn x", 14)  # the user typed "retu"
    h.tracker.changed(URI, [Edit(10, 14, "return x", replaced="retu")])
    assert h.events("accepted")[0]["kind"] == "full"


def test_typing_along_keeps_it_open_and_typing_over_rejects():
    h = Harness()
    h.tracker.offered("s1", URI, "return x", 10)
    h.tracker.changed(URI, [Edit(10, 10, "r")])
    h.tracker.changed(URI, [Edit(11, 11, "e")])
    assert not h.events("rejected")
    h.tracker.changed(URI, [Edit(12, 12, "s")])
    assert h.events("rejected") == [{"event": "rejected", "id": "s1", "reason": "typed_over"}]
    assert not h.tracker.accepted("s1")  # settled


def test_new_request_supersedes_or_notes_the_cursor_moved():
    h = Harness()
    h.tracker.offered("s1", URI, "abc", 10)
    h.tracker.offered("s2", URI, "abd", 10)
    h.tracker.offered("s3", URI, "zzz", 50)
    assert [e["reason"] for e in h.events("rejected")] == ["superseded", "cursor_moved"]


def test_partial_accept_and_retention_checks():
    h = Harness()
    h.tracker.offered("s1", URI, "value = compute(a, b)\nreturn value", 0)
    assert h.tracker.partially_accepted("s1", 21)
    assert h.events("accepted")[0] == {
        "event": "accepted",
        "id": "s1",
        "kind": "partial",
        "accepted_chars": 21,
        "candidate": 0,
    }
    assert [delay for delay, _ in h.scheduled] == [30.0, 120.0, 600.0]
    h.text = "value = compute(a, b)\n"
    h.scheduled[0][1]()
    h.text = "result = other()\n"
    h.scheduled[1][1]()
    retained = h.events("retained")
    assert retained[0]["retained"] is True and retained[0]["similarity"] == 1.0
    assert retained[1]["retained"] is False


def test_retention_similarity_tolerates_small_edits_and_moves():
    accepted = "for item in items:\n    total += item.price\n"
    assert retention_similarity(accepted, "# header\n" + accepted, 0) == 1.0
    edited = accepted.replace("price", "cost")
    assert 0.8 < retention_similarity(accepted, edited, 0) < 1.0
    assert retention_similarity(accepted, "print('hello')\n", 0) < 0.5


def test_signals_follow_typing_and_history():
    h = Harness()
    for i in range(10):
        h.now += 0.1
        h.tracker.changed(URI, [Edit(i, i, "x")])
    signals = h.tracker.signals(URI)
    assert signals["chars_per_s_5s"] == 2.0
    assert signals["recent_count"] == 0
    h.tracker.offered("s1", URI, "abc", 10)
    h.tracker.accepted("s1")
    h.tracker.offered("s2", URI, "abc", 13)
    h.tracker.changed(URI, [Edit(13, 13, "q")])
    assert h.tracker.signals(URI)["recent_accept_rate"] == 0.5


def test_typed_characters_are_reported_in_batches():
    h = Harness()
    for i in range(150):
        h.tracker.changed(URI, [Edit(i, i, "x")])
    assert h.events("typed") == [{"event": "typed", "chars": 100}]
    h.tracker.flush_typed()
    assert h.events("typed")[-1]["chars"] == 50


def test_a_suggestion_typed_along_and_offered_again_stays_one_suggestion():
    h = Harness()
    h.tracker.offered("s1", URI, "return x", 10)
    h.tracker.shown("s1")
    h.tracker.changed(URI, [Edit(10, 10, "ret")])
    assert h.tracker.open_at(URI) == ("s1", 13, "urn x")
    h.tracker.offered("s1", URI, "urn x", 13)  # the server continued it
    h.tracker.shown("s1")  # the editor shows the rest: the same suggestion, shown once
    assert h.events("shown") == [{"event": "shown", "id": "s1"}] and not h.events("rejected")
    h.text = "0123456789return x"
    assert h.tracker.accepted("s1")
    # What the editor inserted is what the suggestion saved: the user typed the rest.
    assert h.events("accepted") == [
        {"event": "accepted", "id": "s1", "kind": "full", "accepted_chars": 5, "candidate": 0}
    ]
    assert h.tracker.open_at(URI) is None
    h.scheduled[0][1]()
    assert h.events("retained")[0]["similarity"] == 1.0


def test_a_partial_accept_after_typing_along_counts_against_the_rest():
    h = Harness()
    h.tracker.offered("s1", URI, "return x", 10)
    h.tracker.changed(URI, [Edit(10, 10, "ret")])
    h.tracker.partially_accepted("s1", 5)
    assert h.events("accepted")[0]["kind"] == "full" and h.events("accepted")[0]["accepted_chars"] == 5


def test_the_candidate_taken_is_the_one_reported_and_typing_along_follows_the_one_typed():
    h = Harness()
    h.tracker.offered("s1", URI, "total = w * h", 10, ("return w * h", "area = w * h"))
    assert h.tracker.accepted("s1", candidate=2)
    assert h.events("accepted") == [
        {"event": "accepted", "id": "s1", "kind": "full", "accepted_chars": 12, "candidate": 2}
    ]
    h = Harness()
    h.tracker.offered("s2", URI, "total = w * h", 10, ("return w * h",))
    h.tracker.changed(URI, [Edit(10, 10, "ret")])  # the second candidate, typed along
    assert h.tracker.open_at(URI) == ("s2", 13, "urn w * h")
    assert h.events("rejected") == []
    assert h.tracker.partially_accepted("s2", 4)  # the editor took "urn " of it
    assert h.events("accepted")[0]["candidate"] == 1
    h = Harness()
    h.tracker.offered("s3", URI, "total = w * h", 10, ("return w * h",))
    h.tracker.shown("s3", candidate=1)  # cycled to the second; the editor inserts it whole
    h.tracker.changed(URI, [Edit(10, 10, "return w * h")])
    assert h.events("accepted")[0]["candidate"] == 1 and len(h.events("shown")) == 1
    h.tracker.offered("s4", URI, "x", 30, ("y",))
    assert h.tracker.accepted("s4", candidate=7)  # a candidate the server never offered: the first
    assert h.events("accepted")[-1] == {
        "event": "accepted",
        "id": "s4",
        "kind": "full",
        "accepted_chars": 1,
        "candidate": 0,
    }
