"""The suggestion after an accepted one, made ahead (scripted backend: control flow only)."""

import asyncio

from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot
from hearth.completion.prefetch import Prefetcher
from hearth.config import Settings
from hearth.events import RecentSink
from hearth.model.catalog import PromptFormat
from tests.fakes import ScriptedBackend

URI = "file:///m.py"
TEXT = "def f(x):\n    y = x + 1\n    \n"
AFTER_ACCEPT = TEXT.index("\n    \n") + 5


def setup(outputs, hold=False, **settings):
    backend = ScriptedBackend(outputs, hold=hold)
    sink = RecentSink()
    values = Settings(debounce_ms=60_000, filter=False, **settings)
    pipeline = CompletionPipeline(backend, sink, lambda: values, lambda: PromptFormat())
    running: dict[str, asyncio.Task] = {}
    doc = {"version": 3}

    def snapshot(uri, offset):
        return DocumentSnapshot(uri, "python", doc["version"], TEXT, offset, "m.py")

    return Prefetcher(pipeline, snapshot, running, lambda: values), pipeline, backend, sink, running, snapshot


async def test_the_next_suggestion_is_made_ahead_and_the_request_there_gets_it_at_once():
    prefetcher, pipeline, backend, sink, running, snapshot = setup(["\n    return y"])
    task = prefetcher.accepted(URI, AFTER_ACCEPT)
    assert running[URI] is task
    made = await task
    assert not made.shown and made.outcome.value == "prefetched" and URI not in running
    event = sink.recent("completion")[-1]
    assert event["trigger"] == "prefetch" and "generated_tokens" in event  # the model made it
    # The editor asks there (automatic, with a debounce no test waits out): no model call.
    outcome = await pipeline.complete(snapshot(URI, AFTER_ACCEPT), automatic=True)
    assert outcome.text == "return y" and outcome.source.value == "cache" and len(backend.requests) == 1


async def test_a_request_that_comes_while_it_is_made_waits_for_it_and_a_different_one_cancels_it():
    prefetcher, pipeline, backend, _, running, snapshot = setup([], hold=True)
    task = prefetcher.accepted(URI, AFTER_ACCEPT)
    while not backend.handles:
        await asyncio.sleep(0.01)

    async def request(offset):
        running[URI].cancel()  # what the LSP layer does: the newest request supersedes
        return await pipeline.complete(snapshot(URI, offset), automatic=True)

    same = asyncio.ensure_future(request(AFTER_ACCEPT))
    await asyncio.sleep(0.05)
    assert task.done() and not backend.handles[0].cancelled
    backend.handles[0].finish("\n    return y")
    outcome = await same
    assert outcome.text == "return y" and outcome.source.value == "in_flight" and len(backend.requests) == 1

    prefetcher, pipeline, backend, _, running, snapshot = setup([], hold=True)
    prefetcher.accepted(URI, AFTER_ACCEPT)
    while not backend.handles:
        await asyncio.sleep(0.01)
    elsewhere = asyncio.ensure_future(request(3))  # the cursor moved: the made-ahead answer is no use
    await asyncio.sleep(0.05)
    assert backend.handles[0].cancelled
    elsewhere.cancel()


async def test_nothing_is_made_ahead_while_a_request_runs_or_when_it_is_off():
    prefetcher, _, backend, _, running, _ = setup(["x"])
    running["file:///other.py"] = asyncio.ensure_future(asyncio.sleep(10))
    assert prefetcher.accepted(URI, AFTER_ACCEPT) is None
    running.pop("file:///other.py").cancel()
    off, *_ = setup(["x"], prefetch=False)
    assert off.accepted(URI, AFTER_ACCEPT) is None
    assert backend.requests == []


def test_after_a_finished_statement_the_next_suggestion_is_for_the_line_an_enter_opens():
    from hearth.completion.prefetch import where_next

    text = "def f(x):\n    y = g(x)\n    return y\n"
    end_of_call = text.index("g(x)") + 4
    doc = DocumentSnapshot(URI, "python", 1, text, end_of_call, "m.py")
    nxt = where_next(doc)
    assert nxt.text == text[:end_of_call] + "\n    " + text[end_of_call:]
    assert nxt.offset == end_of_call + 5
    # Code to the right, or a line that opens a block: the cursor itself is the place.
    inside = DocumentSnapshot(URI, "python", 1, text, text.index("(x):") + 1, "m.py")
    assert where_next(inside) == inside
    opener = DocumentSnapshot(URI, "python", 1, text, text.index(":") + 1, "m.py")
    assert where_next(opener) == opener
