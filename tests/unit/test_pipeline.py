"""Control flow of the pipeline with a scripted backend (the real model is tested in e2e/)."""

import asyncio
import contextlib

from hearth.completion.pipeline import CompletionPipeline, DocumentSnapshot
from hearth.config import Settings
from hearth.events import RecentSink
from hearth.model.backend import GenerationResult, ModelState
from hearth.model.catalog import PromptFormat
from tests.fakes import ScriptedBackend


def make(backend, **settings):
    sink = RecentSink()
    values = Settings(debounce_ms=0, **settings)
    return CompletionPipeline(backend, sink, lambda: values, lambda: PromptFormat(stop=("<|im_end|>",))), sink


def doc(text, language="python"):
    prefix, suffix = text.split("|")
    return DocumentSnapshot("file:///m.py", language, 1, prefix + suffix, len(prefix), "m.py")


async def test_block_suggestion_is_cleaned_and_reported():
    backend = ScriptedBackend(["\n    return x + 1\n<|im_end|>garbage"])
    pipeline, sink = make(backend)
    outcome = await pipeline.complete(doc("def f(x):|"))
    assert outcome.text == "\n    return x + 1"
    assert backend.requests[0].prompt.endswith("def f(x):")
    event = sink.recent("completion")[0]
    assert event["shown"] and event["decision"] == "block" and "total" in event["timings_ms"]


async def test_no_model_call_where_a_suggestion_cannot_help():
    backend = ScriptedBackend(["x"])
    pipeline, _ = make(backend)
    outcome = await pipeline.complete(doc("# comment|"))
    assert not outcome.shown and outcome.reason == "inside a comment"
    assert backend.requests == []


async def test_loading_model_gives_an_empty_answer_at_once():
    pipeline, _ = make(ScriptedBackend([], state=ModelState.LOADING))
    outcome = await pipeline.complete(doc("def f(x):|"))
    assert outcome.reason == "model loading" and not outcome.shown


async def test_disabled_language_and_huge_document():
    pipeline, _ = make(ScriptedBackend(["x"]), languages={"python": False})
    assert (await pipeline.complete(doc("def f(x):|"))).reason == "disabled for this language"
    pipeline, _ = make(ScriptedBackend(["x"]), max_file_kb=1)
    assert (await pipeline.complete(doc("x = 1\n" * 400 + "def f(x):|"))).reason == "document too large"


async def test_document_moved_on_drops_the_suggestion():
    pipeline, _ = make(ScriptedBackend(["\n    pass"]))
    outcome = await pipeline.complete(doc("def f(x):|"), is_current=lambda: False)
    assert not outcome.shown and outcome.reason in ("superseded", "document changed")


async def test_cancelling_the_request_cancels_the_generation():
    backend = ScriptedBackend([], hold=True)
    pipeline, sink = make(backend)
    task = asyncio.ensure_future(pipeline.complete(doc("def f(x):|")))
    while not backend.handles:
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert backend.handles[0].cancelled
    assert sink.recent("completion")[0]["outcome"] == "cancelled"


async def test_context_goes_first_and_stays_while_typing_in_one_scope():
    from hearth.context.engine import ContextEngine

    other = "def helper_total(items):\n    return sum(item.price for item in items)\n"
    engine = ContextEngine(open_documents=lambda: [("file:///o.py", "o.py", other * 3)])
    backend = ScriptedBackend(["x", "x"])
    pipeline = CompletionPipeline(
        backend, RecentSink(), lambda: Settings(debounce_ms=0), lambda: PromptFormat(), context=engine
    )
    text = "def total(items):\n    return sum(item.price for item in "
    doc = DocumentSnapshot("file:///n.py", "python", 1, text, len(text), path_hint="n.py")
    first = await pipeline.complete(doc, automatic=False)
    prompt = backend.requests[0].prompt
    assert prompt.startswith("# Context (Hearth):\n# [snippet] o.py:1")
    assert prompt.index("# Path: n.py") > prompt.index("[snippet]")
    assert first.context.parts and first.context.parts[0].source == "snippet"
    typed = DocumentSnapshot("file:///n.py", "python", 2, text + "i", len(text) + 1, path_hint="n.py")
    await pipeline.complete(typed, automatic=False)
    second = backend.requests[1].prompt
    # Only the end changed: the context and header are a shared prefix (KV cache reuse).
    assert second.startswith(prompt)


async def test_member_check_cuts_a_suggestion_at_an_attribute_jedi_says_cannot_exist(monkeypatch):
    from hearth.completion import pipeline

    monkeypatch.setattr(pipeline, "MEMBER_CHECK_S", 30.0)  # jedi's first look at os is slow
    document = doc("import os\n\ndef f():\n    p = os.getcwd()\n    |")
    raw = "\n    x = os.path.join(p, 'a')\n    return x.uper()"
    checked, _ = make(ScriptedBackend([raw]), member_check=True)
    outcome = await checked.complete(document, automatic=False)
    assert outcome.text == "x = os.path.join(p, 'a')" and "members" in outcome.timings_ms
    unchecked, _ = make(ScriptedBackend([raw]))  # off by default: it costs latency
    assert (await unchecked.complete(document, automatic=False)).text == raw.removeprefix("\n    ")
    dropped, _ = make(ScriptedBackend(["os.path.joinpath('a')"]), member_check=True)
    outcome = await dropped.complete(doc("import os\npath = |"), automatic=False)
    assert outcome.text == "" and outcome.reason == "uses a member its object does not have"


FUNCTION_START = 'def area(w, h):\n    """The area of a w by h rectangle."""\n\n    |\n'


async def test_an_explicit_request_at_a_line_start_must_write_code_there_and_tries_again_sampled():
    # The model writes the held-back line break and indentation, then code (the worker masks the
    # first tokens); an answer that still goes back to column 0 is useless at this cursor, and a
    # sampled try from the same prompt follows.
    backend = ScriptedBackend(["def other():\n", "\n    return w * h\n"])
    pipeline, sink = make(backend)
    outcome = await pipeline.complete(doc(FUNCTION_START), automatic=False)
    assert outcome.text == "return w * h" and outcome.shown
    first, second = backend.requests
    assert (first.lead, first.lead_then_code, first.heal, first.candidates) == ("\n    ", True, True, 3)
    assert first.heal_at == -1 and first.temperature == 0  # the embedded model's prompt ends at the cursor
    assert second.temperature > 0 and second.candidates == 1
    assert second.prompt == first.prompt  # the same prompt: its KV cache is reused
    assert "second_try" in sink.recent("completion")[-1]["timings_ms"]


def _result(text: str, logprob: float, *alternatives: GenerationResult) -> GenerationResult:
    return GenerationResult(text, "eos", token_logprobs=((len(text), logprob),), alternatives=alternatives)


async def test_an_explicit_request_offers_distinct_candidates_greedy_first_then_by_likelihood():
    answer = _result(
        "\n    total = w * h\n",
        -1.5,
        _result("\n    pass\n", -0.1),  # does nothing: no answer
        _result("\n    total =  w * h\n", -0.2),  # the first again, but for a space
        _result("\n    return w*h\n", -0.9),
        _result("\n    return (w * h\n", -0.3),  # a syntax error
        _result("\n    area = w * h\n", -0.5),
    )
    backend = ScriptedBackend([answer])
    pipeline, sink = make(backend)
    outcome = await pipeline.complete(doc("def area(w, h):\n    |\n"), automatic=False)
    assert outcome.text == "total = w * h"
    assert outcome.alternatives == ["area = w * h", "return w*h"]
    assert sink.recent("completion")[-1]["candidates"] == 3
    # Asked again at the same place, the answer is remembered whole.
    again = await pipeline.complete(doc("def area(w, h):\n    |\n"), automatic=False)
    assert (again.text, again.alternatives, len(backend.requests)) == (outcome.text, outcome.alternatives, 1)
    # Typed along, the candidates that agree with what was typed stay.
    typed = await pipeline.complete(doc("def area(w, h):\n    re|\n"), automatic=False)
    assert (typed.text, typed.alternatives) == ("turn w*h", [])


async def test_filler_is_no_answer_while_a_candidate_with_code_exists_and_automatic_requests_ask_for_one():
    backend = ScriptedBackend([_result("\n    pass\n", -0.1, _result("\n    return w * h\n", -0.8))])
    pipeline, _ = make(backend)
    outcome = await pipeline.complete(doc(FUNCTION_START), automatic=False)
    assert (outcome.text, outcome.alternatives) == ("return w * h", [])
    automatic = ScriptedBackend(["return w * h\n"])
    pipeline, _ = make(automatic)
    await pipeline.complete(doc(FUNCTION_START), automatic=True)
    (request,) = automatic.requests
    assert (
        request.candidates == 1 and request.lead == "\n    " and not request.lead_then_code and request.heal
    )


async def test_automatic_requests_never_pay_for_a_second_try():
    backend = ScriptedBackend(["def other():\n", "    return w * h\n"])
    pipeline, _ = make(backend)
    outcome = await pipeline.complete(doc(FUNCTION_START), automatic=True)
    assert outcome.text == "" and outcome.reason == "nothing useful generated" and len(backend.requests) == 1


async def test_a_useless_second_try_keeps_the_first_reason_and_mid_line_samples_instead():
    pipeline, _ = make(ScriptedBackend(["", ""]))
    outcome = await pipeline.complete(doc("total = |\n"), automatic=False)
    assert outcome.text == "" and outcome.reason == "nothing useful generated"
    backend = ScriptedBackend(["", "sum(values)"])
    pipeline, _ = make(backend)
    assert (await pipeline.complete(doc("total = |\n"), automatic=False)).text == "sum(values)"
    assert backend.requests[1].temperature > 0


async def test_a_one_line_suggestion_on_a_line_of_its_own_is_not_cut_at_the_cursors_own_line_break():
    # Text right of the cursor makes it one line; the output starts with the held-back line break
    # and indentation, which is not the suggestion's first line.
    backend = ScriptedBackend(["\n    return x\n    more()\n"])
    pipeline, _ = make(backend)
    outcome = await pipeline.complete(doc("def f(x):\n    |  # note\n"), automatic=False)
    assert outcome.decision == "line" and outcome.text == "return x"
    (request,) = backend.requests
    assert not request.stop.single_line and request.stop.max_lines == 2
