"""Answers reused instead of computed again: typing along, revisits, generations in flight.

The memory is tested on its own; the pipeline with a scripted backend, counting
model calls (the real model and server are tested in e2e/).
"""

import asyncio
import contextlib
from dataclasses import dataclass, field

from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot
from hearth.completion.reuse import AnswerMemory
from hearth.config import Settings
from hearth.events import RecentSink
from hearth.model.backend import ModelState, ModelStatus
from hearth.model.catalog import PromptFormat
from tests.fakes import ScriptedBackend

# -- the memory ---------------------------------------------------------------


def remembered(memory, uri, prefix, suffix, text, sid="a"):
    entry = memory.add(uri, prefix, suffix, sid, automatic=True)
    memory.settle(entry, text, (text,))
    return entry


def test_the_same_text_is_a_revisit_and_text_typed_from_an_answer_is_typing_along():
    memory = AnswerMemory()
    entry = remembered(memory, "u", "x = ", "\n", "compute(a, b)")
    assert memory.find("u", "x = ", "\n").entry is entry
    along = memory.find("u", "x = comp", "\n")
    assert along.entry is entry and along.typed == "comp"
    assert memory.find("u", "x = cost", "\n") is None  # typed something else
    assert memory.find("u", "x = compute(a, b)", "\n") is None  # nothing left to show
    assert memory.find("u", "x = comp", "\nmore") is None  # the text after the cursor changed
    assert memory.find("u", "y = comp", "\n") is None  # the text before the answer's cursor changed
    assert memory.find("other", "x = ", "\n") is None


def test_memory_is_bounded_per_document_in_entries_and_in_bytes_and_fits_its_fingerprint():
    memory = AnswerMemory(per_document=2, max_entries=3, max_bytes=10_000)
    for n in range(3):
        remembered(memory, "u", f"v{n} = ", "", "value")
    assert len(memory) == 2 and memory.find("u", "v0 = ", "") is None
    for n in range(3):
        remembered(memory, f"w{n}", "a = ", "", "value")
    assert len(memory) == 3
    remembered(memory, "big", "b = ", "", "x" * 5000)
    assert memory.bytes <= 10_000 and memory.find("big", "b = ", "") is not None
    memory.fit(("settings", "model"))
    assert len(memory) == 0 and memory.bytes == 0
    remembered(memory, "u", "a = ", "", "value")
    memory.fit(("settings", "model"))
    assert len(memory) == 1
    memory.forget("u")
    assert len(memory) == 0


def test_an_answer_that_gave_nothing_to_keep_is_forgotten():
    memory = AnswerMemory()
    entry = memory.add("u", "a = ", "", "a", automatic=True)
    memory.settle(entry, None)
    assert memory.find("u", "a = ", "") is None


# -- the pipeline ----------------------------------------------------------------


@dataclass
class Screen:
    """What the editor shows: the open suggestion and where typing along it puts the cursor."""

    shown: dict[str, tuple[str, int, str]] = field(default_factory=dict)

    def show(self, uri, sid, offset, rest):
        self.shown[uri] = (sid, offset, rest)


def pipeline_for(backend, screen=None, settings=None):
    sink = RecentSink()
    current = {"settings": settings or Settings(debounce_ms=60_000)}
    pipeline = CompletionPipeline(
        backend,
        sink,
        lambda: current["settings"],
        lambda: PromptFormat(stop=("<|im_end|>",)),
        open_suggestion=(screen or Screen()).shown.get,
    )
    return pipeline, sink, current


def at(text, version=1):
    prefix, suffix = text.split("|")
    return DocumentSnapshot("file:///m.py", "python", version, prefix + suffix, len(prefix), "m.py")


async def first_answer(pipeline, text="def f(x):\n    return |\n"):
    outcome = await pipeline.complete(at(text), automatic=False)
    assert outcome.shown
    return outcome


async def test_typing_the_shown_suggestion_continues_it_without_the_model_or_the_debounce():
    backend = ScriptedBackend(["x + 1"])
    screen = Screen()
    pipeline, sink, _ = pipeline_for(backend, screen)
    first = await first_answer(pipeline)
    start = len("def f(x):\n    return ")
    screen.show("file:///m.py", first.suggestion_id, start + 3, " 1")  # "x +" was typed along
    outcome = await pipeline.complete(at("def f(x):\n    return x +|\n", version=4))
    assert outcome.text == " 1" and outcome.suggestion_id == first.suggestion_id
    assert len(backend.requests) == 1 and "debounce" not in outcome.timings_ms
    # The same suggestion continuing: no new completion, a `continued` event for it.
    assert len(sink.recent("completion")) == 1
    assert sink.recent("continued") == [{"event": "continued", "id": first.suggestion_id, "typed_chars": 3}]


async def test_typing_along_an_answer_that_is_not_on_screen_is_a_new_suggestion_from_it():
    backend = ScriptedBackend(["x + 1"])
    pipeline, sink, _ = pipeline_for(backend)
    first = await first_answer(pipeline)
    outcome = await pipeline.complete(at("def f(x):\n    return x|\n", version=2))
    assert outcome.text == " + 1" and outcome.suggestion_id != first.suggestion_id
    assert len(backend.requests) == 1
    event = sink.recent("completion")[-1]
    assert event["source"] == "typed_along" and event["shown"]


async def test_typing_something_else_asks_the_model():
    backend = ScriptedBackend(["x + 1", "y * 2"])
    pipeline, _, current = pipeline_for(backend)
    current["settings"] = Settings(debounce_ms=0)
    await first_answer(pipeline)
    outcome = await pipeline.complete(at("def f(x):\n    return y|\n", version=2))
    assert len(backend.requests) == 2 and outcome.source.value == "model"


async def test_a_revisit_is_answered_from_the_cache_until_the_settings_or_the_model_change():
    backend = ScriptedBackend(["x + 1", "x - 1", "x * 1"])
    pipeline, sink, current = pipeline_for(backend)
    await first_answer(pipeline)
    again = await pipeline.complete(at("def f(x):\n    return |\n", version=7), automatic=False)
    assert again.text == "x + 1" and len(backend.requests) == 1
    assert sink.recent("completion")[-1]["source"] == "cache"
    current["settings"] = Settings(debounce_ms=50_000, filter=False)  # not what the model is asked
    assert (await first_answer(pipeline)).text == "x + 1" and len(backend.requests) == 1
    current["settings"] = Settings(debounce_ms=60_000, max_tokens=32)
    assert (await first_answer(pipeline)).text == "x - 1"
    backend.status = lambda: ModelStatus(ModelState.READY, model_path="/models/other.gguf")
    assert (await first_answer(pipeline)).text == "x * 1"
    assert len(backend.requests) == 3


async def test_an_explicit_request_where_typing_got_nothing_asks_the_model_again():
    backend = ScriptedBackend(["", "x + 1"])
    pipeline, _, current = pipeline_for(backend)
    current["settings"] = Settings(debounce_ms=0)
    automatic = await pipeline.complete(at("total = |\n"), automatic=True)
    assert not automatic.shown
    # Typing again where the model had nothing is answered from memory: still nothing.
    assert not (await pipeline.complete(at("total = |\n"), automatic=True)).shown
    assert len(backend.requests) == 1
    explicit = await pipeline.complete(at("total = |\n"), automatic=False)
    assert explicit.text == "x + 1" and len(backend.requests) == 2


async def wait_for_handles(backend, count):
    while len(backend.handles) < count:
        await asyncio.sleep(0.01)


async def superseding(pipeline, earlier, snapshot):
    """What the server does for a keystroke: the new request cancels the one running, then runs."""
    earlier.cancel()
    return await pipeline.complete(snapshot)


async def test_a_keystroke_that_agrees_with_the_generation_in_flight_waits_for_it():
    backend = ScriptedBackend([], hold=True)
    pipeline, sink, current = pipeline_for(backend)
    current["settings"] = Settings(debounce_ms=0)
    earlier = asyncio.ensure_future(pipeline.complete(at("def f(x):\n    return |\n")))
    await wait_for_handles(backend, 1)
    handle = backend.handles[0]
    handle.stream("x")
    later = asyncio.ensure_future(superseding(pipeline, earlier, at("def f(x):\n    return x|\n", 2)))
    with contextlib.suppress(asyncio.CancelledError):
        await earlier
    await asyncio.sleep(0.05)
    assert not handle.cancelled and not later.done()
    handle.finish("x + 1")
    outcome = await later
    assert outcome.text == " + 1" and outcome.shown and len(backend.requests) == 1
    assert "in_flight" in outcome.timings_ms
    assert [e["outcome"] for e in sink.recent("completion")] == ["cancelled", "shown"]
    assert sink.recent("completion")[-1]["source"] == "in_flight"


async def test_a_keystroke_that_disagrees_with_the_generation_in_flight_stops_it():
    backend = ScriptedBackend([], hold=True)
    pipeline, _, current = pipeline_for(backend)
    current["settings"] = Settings(debounce_ms=0)
    earlier = asyncio.ensure_future(pipeline.complete(at("def f(x):\n    return |\n")))
    await wait_for_handles(backend, 1)
    backend.handles[0].stream("y")
    later = asyncio.ensure_future(superseding(pipeline, earlier, at("def f(x):\n    return x|\n", 2)))
    await wait_for_handles(backend, 2)
    assert backend.handles[0].cancelled
    backend.handles[1].finish(" + 1")
    assert (await later).text == " + 1"


async def test_a_request_that_finds_a_generation_being_stopped_asks_the_model_itself():
    # The earlier request's cancellation is handled before the later one looks: nothing to wait for.
    backend = ScriptedBackend([], hold=True)
    pipeline, _, current = pipeline_for(backend)
    current["settings"] = Settings(debounce_ms=0)
    earlier = asyncio.ensure_future(pipeline.complete(at("def f(x):\n    return |\n")))
    await wait_for_handles(backend, 1)
    earlier.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await earlier
    later = asyncio.ensure_future(pipeline.complete(at("def f(x):\n    return x|\n", 2)))
    await wait_for_handles(backend, 2)
    assert backend.handles[0].cancelled
    backend.handles[1].finish(" + 1")
    assert (await later).text == " + 1"


async def test_an_answer_from_memory_reports_no_generation():
    backend = ScriptedBackend(["x + 1"])
    pipeline, sink, _ = pipeline_for(backend)
    await first_answer(pipeline)
    await first_answer(pipeline)
    model, cached = sink.recent("completion")
    assert model["source"] == "model" and "generated_tokens" in model
    assert cached["source"] == "cache" and "generated_tokens" not in cached
    assert sink.totals()["generated"] == 1
