"""The model worker's engine on the embedded GGUF: what it reports about each generation."""

from __future__ import annotations

import math
import re
import time
from multiprocessing import Value
from pathlib import Path

import pytest

from hearth.model.backend import GenerationRequest
from hearth.model.catalog import resolve_model
from hearth.model.ipc import Evaluated, Generate, Text
from hearth.model.stopping import loop_cut
from hearth.model.worker import MIN_GAIN_TOKENS, PREFILL_CHUNK, WorkerConfig, _Engine

# The deadline is not what these tests are about: one that a loaded machine's cold prompt and
# decoding can reach cuts an answer short, and the comparisons below would read that as a bug.
NO_DEADLINE_S = 3600.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    model = resolve_model(None, tmp_path_factory.mktemp("data"))
    return _Engine(WorkerConfig(str(model.path), n_ctx=512))


def generate(engine, prompt: str):
    job = Generate(1, time.time(), GenerationRequest(prompt, max_tokens=8, deadline_s=NO_DEADLINE_S))
    return engine.generate(job, Value("i", 0))


def test_token_log_probabilities_come_from_the_model(engine):
    # The acceptance filter learns from these; llama-cpp-python hands stopping
    # criteria zeros unless every logit is kept, which once made each of them
    # log(1 / vocabulary size) for every token of every suggestion.
    uniform = -math.log(engine._llm.n_vocab())
    easy = generate(engine, "for i in range(10):\n    print(")
    hard = generate(engine, "x = qzv_ plork(")
    for result in (easy, hard):
        assert result.generated_tokens > 0
        assert result.min_logprob is not None and result.mean_logprob is not None
        assert uniform + 1 < result.min_logprob <= result.mean_logprob <= 0.0
    # The model is surer of a loop's print( than of made-up names.
    assert easy.mean_logprob > hard.mean_logprob


def test_an_over_long_chat_keeps_its_system_turn_and_its_question(engine):
    from hearth.agent.chat import chatml, first_turn_end
    from hearth.agent.conversations import Message

    filler = "def f():\n    return 1\n" * 400  # far more than the 512-token context
    text, control = chatml([Message("system", "You are Hearth."), Message("user", filler + "Question: why?")])
    request = GenerationRequest(text, control=control, keep_head=first_turn_end(control), max_tokens=4,
                                deadline_s=NO_DEADLINE_S)  # fmt: skip
    result = engine.generate(Generate(1, time.time(), request), Value("i", 0))
    evaluated = list(engine._llm.eval_tokens)[: result.prompt_tokens]
    shown = engine._llm.detokenize(evaluated, special=True).decode("utf-8", errors="replace")
    assert len(evaluated) < 512
    assert shown.startswith("<|im_start|>system\nYou are Hearth.<|im_end|>\n")
    assert shown.endswith("Question: why?<|im_end|>\n<|im_start|>assistant\n")
    # Positive control: without a head to keep, the cut takes the system turn away.
    plain = GenerationRequest(text, control=control, max_tokens=4, deadline_s=NO_DEADLINE_S)
    cut = engine.generate(Generate(2, time.time(), plain), Value("i", 0))
    evaluated = list(engine._llm.eval_tokens)[: cut.prompt_tokens]
    assert "You are Hearth." not in engine._llm.detokenize(evaluated, special=True).decode("utf-8", "replace")


def test_a_real_generation_never_ends_in_a_loop(engine):
    """A prompt that is itself a loop: greedy decoding tends to go on with it (the embedded model
    does, and stops after 30 tokens with stop_reason "repetition"). Whatever the model writes,
    the answer holds no loop, and what was streamed begins with it."""
    line = "The function adds up the prices of the items and applies the discount.\n"
    request = GenerationRequest(line * 4, max_tokens=120, deadline_s=NO_DEADLINE_S, stream=True)
    sent: list[Text | Evaluated] = []
    result = engine.generate(Generate(3, time.time(), request), Value("i", 0), sent.append)
    assert result.generated_tokens > 0
    assert loop_cut(result.text) is None
    assert "".join(m.text for m in sent if isinstance(m, Text)).startswith(result.text)


def test_the_worker_reports_how_far_it_has_read_the_prompt(engine):
    engine._llm.reset()
    request = GenerationRequest(_function("summed", 30), max_tokens=4, deadline_s=NO_DEADLINE_S)
    sent: list[Text | Evaluated] = []
    result = engine.generate(Generate(7, time.time(), request), Value("i", 0), sent.append)
    progress = [m for m in sent if isinstance(m, Evaluated)]
    assert result.prompt_tokens > 2 * PREFILL_CHUNK  # read in several chunks, each reported
    assert len(progress) >= 3 and {m.id for m in progress} == {7}
    assert {m.prompt_tokens for m in progress} == {result.prompt_tokens}
    read = [m.tokens for m in progress]
    assert read[0] == 0 and read == sorted(read) and read[-1] == result.prompt_tokens - 1


def _function(name: str, body_lines: int) -> str:
    lines = [f"def {name}(values):", f'    """Sum of the {name} values."""', "    total = 0"]
    lines += [f"    total += values[{i}] * {i + 1}  # step {i}" for i in range(body_lines)]
    return "\n".join(lines) + "\n    return"


def test_coming_back_to_a_place_restores_its_kv_cache_and_answers_the_same(engine):
    first, other = _function("weighted", 14), _function("scaled", 14)

    def job(n: int, prompt: str, cache: bool = True) -> Generate:
        request = GenerationRequest(prompt, max_tokens=12, deadline_s=NO_DEADLINE_S, use_prompt_cache=cache)
        return Generate(n, time.time(), request)

    there = engine.generate(job(1, first), Value("i", 0))
    assert there.prompt_tokens >= 2 * MIN_GAIN_TOKENS and there.restored_tokens == 0
    elsewhere = engine.generate(job(2, other), Value("i", 0))
    assert elsewhere.restored_tokens == 0 and elsewhere.reused_tokens < MIN_GAIN_TOKENS
    back = engine.generate(job(3, first), Value("i", 0))
    # Nearly all of the prompt came from the saved cache instead of a cold evaluation.
    assert back.restored_tokens >= back.prompt_tokens - there.generated_tokens - 1
    assert back.reused_tokens == back.restored_tokens
    # Greedy decoding from a restored cache is decoding from a cold one.
    cold = engine.generate(job(4, first, cache=False), Value("i", 0))
    assert back.text == there.text == cold.text
    assert engine._saved.bytes <= engine.info.saved_states_mb << 20 and len(engine._saved) >= 1
    assert engine.info.kv_bytes_per_token > 0


COPIED = (Path(__file__).parents[2] / "server" / "hearth" / "completion" / "reuse.py").read_text()
CLASS = COPIED[COPIED.index("class AnswerMemory") :][:1500]


def _agree_until_a_near_tie(plain, drafted):
    """Greedy decoding with lookup drafts is greedy decoding: the same tokens, except that a
    batch of several tokens may tip a near tie of logits the other way (and all after it)."""
    for number, ((end_a, logprob_a), (end_b, logprob_b)) in enumerate(
        zip(plain.token_logprobs, drafted.token_logprobs, strict=False)
    ):
        if end_a != end_b or plain.text[:end_a] != drafted.text[:end_b]:
            # Each run chose its token as the most likely one: at a tie both are about as likely.
            assert abs(logprob_a - logprob_b) < 0.35, (number, plain.text[:end_a], drafted.text[:end_b])
            return number
    assert plain.text == drafted.text
    return len(plain.token_logprobs)


def test_lookup_decoding_drafts_from_the_text_and_decodes_as_greedy_does(engine):
    prompt = CLASS + "\n\n\n# A copy of the class above, unchanged:\n" + CLASS[:120]
    job = lambda n, lookup, grammar="": Generate(  # noqa: E731
        n, time.time(),
        GenerationRequest(prompt, max_tokens=48, deadline_s=NO_DEADLINE_S, lookup=lookup, grammar=grammar),
    )  # fmt: skip
    plain = engine.generate(job(1, False), Value("i", 0))
    drafted = engine.generate(job(2, True), Value("i", 0))
    assert plain.drafted_tokens == 0 and drafted.drafted_tokens > 0
    # The output copies the class: the model agrees with drafted tokens.
    assert drafted.draft_accepted_tokens > 0
    _agree_until_a_near_tie(plain, drafted)
    # Under a grammar every choice, drafted or not, is one the grammar allows.
    grammar = "root ::= [a-z_ =:(),.\\n]*\n"
    constrained = engine.generate(job(3, True, grammar), Value("i", 0))
    assert constrained.generated_tokens > 0 and re.fullmatch(r"[a-z_ =:(),.\n]*", constrained.text)
    _agree_until_a_near_tie(engine.generate(job(4, False, grammar), Value("i", 0)), constrained)


def _request(prompt: str, **fields) -> Generate:
    request = GenerationRequest(prompt, max_tokens=24, deadline_s=NO_DEADLINE_S, **fields)
    return Generate(1, time.time(), request)


FUNCTION = 'import json\n\ndef load(path):\n    """Read the settings file at path."""\n'


def test_candidates_share_one_prompt_the_first_is_the_greedy_answer_and_they_differ(engine):
    prompt = FUNCTION + "    with open(path) as handle:\n        "
    plain = engine.generate(_request(prompt), Value("i", 0))
    branched = engine.generate(_request(prompt, candidates=3), Value("i", 0))
    # Sequence 0 decodes alone until a fork, then in a batch with the others: up to a near tie,
    # the first candidate is the answer decoding without candidates gives.
    _agree_until_a_near_tie(plain, branched)
    texts = [branched.text, *(alternative.text for alternative in branched.alternatives)]
    # Here the model hesitates early (its second token's runner-up is about 25% likely, far above
    # the 8% a fork needs), so there is more than one.
    assert 2 <= len(texts) <= 3 and len(set(texts)) == len(texts)
    for alternative in branched.alternatives:
        assert alternative.generated_tokens > 0 and alternative.stop_reason in (
            "eos",
            "stop",
            "max_tokens",
            "repetition",
        )
        assert len(alternative.token_logprobs) == alternative.generated_tokens
        # It ends with the line it forked on: no line break after the text it shares with the first.
        first, other = branched.text, alternative.text
        pairs = zip(first, other, strict=False)
        shared = next((at for at, (a, b) in enumerate(pairs) if a != b), min(len(first), len(other)))
        assert other.count("\n") <= other[:shared].count("\n"), (first, other)
    # The prompt was read once, and the cache holds it for the next request (the other sequences
    # are gone: a request that follows finds the first candidate's cells only).
    again = engine.generate(_request(prompt, candidates=3), Value("i", 0))
    assert again.reused_tokens >= again.prompt_tokens - 1 and again.text == branched.text


def test_token_healing_writes_the_prompts_last_token_again_and_returns_what_follows_it(engine):
    prompt = FUNCTION + "    with open(path) as handle:\n        return json.lo"
    healed = engine.generate(_request(prompt, heal=True), Value("i", 0))
    assert healed.healed.endswith("lo") and prompt.endswith(healed.healed) and healed.generated_tokens > 0
    # Cut after "lo", the prompt ends on a token the model rarely sees there ("load" is one
    # token): unhealed, this model writes "json.loade(handle)". Healed, it may choose "load"
    # again, and what it returns is what follows the cursor.
    assert re.match(r"ads?\(", healed.text), healed.text


def test_an_explicit_start_at_a_line_start_writes_the_indentation_then_code(engine):
    # After a docstring and a blank line the small model likes to end the function or dedent;
    # the lead makes it write the held-back line break and indentation, then a non-blank character.
    prompt = FUNCTION.rstrip("\n") + "\n"
    for candidates in (1, 3):
        result = engine.generate(
            _request(prompt, lead="\n    ", lead_then_code=True, heal=True, candidates=candidates),
            Value("i", 0),
        )
        for text in [result.text, *(alternative.text for alternative in result.alternatives)]:
            assert re.match(r"\n    \S", text), text


def test_llama_defaults_are_hearths_inside_and_llamas_outside():
    """Several sequences in one unified cache, and no AMX weight buffers where llama.cpp would use
    them (its AMX path crashes the first decode on some machines; the engine fixture above then
    decodes on every machine the suite runs on)."""
    import llama_cpp.llama_cpp as bindings

    from hearth.model.llama_defaults import cpu_uses_amx, llama_defaults

    plain_context = bindings.llama_context_default_params()
    plain_model = bindings.llama_model_default_params()
    with llama_defaults(3):
        context, model = bindings.llama_context_default_params(), bindings.llama_model_default_params()
    assert (context.n_seq_max, context.kv_unified) == (3, True)
    assert model.use_extra_bufts is (plain_model.use_extra_bufts and not cpu_uses_amx())
    with llama_defaults():
        assert bindings.llama_context_default_params().n_seq_max == plain_context.n_seq_max
    assert bindings.llama_context_default_params().n_seq_max == plain_context.n_seq_max
    assert bindings.llama_model_default_params().use_extra_bufts == plain_model.use_extra_bufts
