"""The model worker: the one process that holds a llama.cpp `Llama` object.

It runs in a child process because llama.cpp aborts the whole process on
some malformed GGUF files and an out-of-memory must not take the language
server down. It serves one request at a time from a pipe. A shared integer,
`cancel_below`, cancels every job whose id is below it; it is polled after
every token, so cancellation and "newest wins" take effect within one token.

This and `tokenizer.py` (vocabulary only) are the only modules that import `llama_cpp`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from hearth.model.backend import GenerationRequest, GenerationResult, Spans
from hearth.model.ipc import (
    CountTokens,
    Done,
    Evaluated,
    Exit,
    Failed,
    Fatal,
    Generate,
    Job,
    Loaded,
    MeasureSpeed,
    Speed,
    Text,
)
from hearth.model.lead import Lead, Vocabulary
from hearth.model.llama_defaults import llama_defaults
from hearth.model.stopping import Unfolding
from hearth.model.tokenizer import fit_context, prompt_tokens

SAVED_STATES = 6
"""Places whose KV cache is kept when the settings give it memory: a few functions and files."""


@dataclass(frozen=True)
class WorkerConfig:
    model_path: str
    n_ctx: int = 2048
    n_threads: int = 0
    """0: let the worker pick (physical cores, at most 4)."""
    saved_states: int = SAVED_STATES
    """KV caches of prompts left behind kept to come back to (0: none)."""
    saved_states_mb: int = 256


PREFILL_CHUNK = 64
"""Prompt tokens evaluated between two cancellation checks (about 0.3 s cold on 2 cores)."""


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def worker_main(conn: Connection, cancel_below: Any, config: WorkerConfig) -> None:
    """Entry point of the child process."""
    # Whatever llama.cpp or Python prints must never reach the protocol channel.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what it stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = _Engine(config)
    except Exception as exc:  # a readable error beats a dead pipe
        conn.send(Fatal(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(engine.info)
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            match job:
                case Generate(id=job_id):
                    conn.send(Done(job_id, engine.generate(job, cancel_below, conn.send)))
                case CountTokens(id=job_id, text=text):
                    conn.send(Done(job_id, engine.count(text)))
                case MeasureSpeed(id=job_id):
                    conn.send(Done(job_id, engine.speed()))
                case Exit():
                    return
                case _:
                    conn.send(Failed(getattr(job, "id", None), f"unknown job {type(job).__name__}"))
        except Exception as exc:
            conn.send(Failed(getattr(job, "id", None), f"{type(exc).__name__}: {exc}"))


class _Engine:
    def __init__(self, config: WorkerConfig) -> None:
        import llama_cpp

        started = time.monotonic()
        with llama_defaults(MAX_CANDIDATES):
            self._llm = llama_cpp.Llama(
                model_path=config.model_path,
                n_ctx=config.n_ctx,
                n_threads=config.n_threads or default_threads(),
                n_batch=512,
                verbose=False,
            )
        self._eos = self._llm.token_eos()
        self._vocabulary: Vocabulary | None = None
        self._grammars: dict[str, Any] = {}
        self._saved = SavedStates(config.saved_states, config.saved_states_mb << 20, spare=MIN_GAIN_TOKENS)
        metadata = dict(self._llm.metadata)
        self.info = Loaded(
            load_seconds=time.monotonic() - started,
            n_ctx=self._llm.n_ctx(),
            n_threads=config.n_threads or default_threads(),
            architecture=metadata.get("general.architecture", ""),
            model_name=metadata.get("general.name", ""),
            kv_bytes_per_token=_kv_bytes_per_token(self._llm),
            saved_states=config.saved_states,
            saved_states_mb=config.saved_states_mb,
        )

    def count(self, text: str) -> int:
        return len(self._tokens(text))

    def _tokens(self, text: str, control: Spans = ()) -> list[int]:
        """Plain text, but for the spans Hearth wrote as control tokens (see `compose`)."""
        return prompt_tokens(self._llm.tokenize, text, control)

    def _last_logits(self) -> Any:
        """The logits the last token was sampled from, read from the llama.cpp context.

        llama-cpp-python keeps no logits of its own unless built with
        `logits_all` (0.3 passes zeros to stopping criteria), so they are read
        where llama.cpp left them: the last output row of the last decode.
        """
        import llama_cpp
        import numpy as np

        row = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self._llm.n_vocab(),))

    def _grammar(self, text: str) -> Any:
        if not text:
            return None
        if text not in self._grammars:
            import llama_cpp

            if len(self._grammars) > 8:
                self._grammars.clear()
            self._grammars[text] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def generate(
        self, job: Generate, cancel_below: Any, send: Callable[[Text | Evaluated], None] | None = None
    ) -> GenerationResult:
        """Run one generation; `send` gets its streamed text and how far its prompt is read."""
        request, job_id, received = job.request, job.id, job.sent_at
        started = time.monotonic()
        queue_ms = max(0.0, (time.time() - received) * 1000)
        if job_id < cancel_below.value:
            return GenerationResult(text="", stop_reason="cancelled", queue_ms=queue_ms)
        deadline = started + request.deadline_s
        branching = _branching(request)
        prompt, healed = self._prompt(request, branching)
        prompt = fit_context(
            prompt,
            self._llm.n_ctx(),
            request.max_tokens * max(1, request.candidates if branching else 1),
            lambda: self._tokens(request.prompt[: request.keep_head], request.control),
        )
        if not request.use_prompt_cache:
            self._llm.reset()
        reused = _common_prefix(self._llm.eval_tokens, prompt)
        restored = 0
        if request.use_prompt_cache:
            reused, restored = self._come_back(prompt, reused)
        state = _DecodeState(job_id, cancel_below, deadline, self._last_logits)

        def evaluated(tokens: int) -> None:
            if send is not None:
                send(Evaluated(job_id, tokens, len(prompt)))

        if not self._prefill(prompt, reused, state, evaluated):
            ended = time.monotonic()
            return GenerationResult(
                text="",
                stop_reason=state.reason or "cancelled",
                prompt_tokens=len(prompt),
                reused_tokens=reused,
                restored_tokens=restored,
                queue_ms=queue_ms,
                prompt_ms=(ended - started) * 1000,
            )
        stream = (lambda text: send(Text(job_id, text))) if request.stream and send is not None else None
        if branching:
            decoded = BranchDecoder(self._llm, self.vocabulary(), request, healed, stream).run(prompt, state)
            ended = time.monotonic()
            first = decoded.first_token_at or ended
            main, *others = decoded.results
            return replace(
                main,
                prompt_tokens=len(prompt),
                reused_tokens=reused,
                restored_tokens=restored,
                queue_ms=queue_ms,
                prompt_ms=(first - started) * 1000,
                decode_ms=(ended - first) * 1000,
                alternatives=tuple(others),
                healed=healed.decode("utf-8", errors="replace"),
            )
        pieces: list[bytes] = []
        unfolding = Unfolding(request.stop, stream)
        stop_reason = "max_tokens"
        first_token_at: float | None = None
        import llama_cpp

        if request.temperature > 0:
            self._llm.set_seed(request.seed)
        lookup = request.lookup and request.temperature <= 0 and request.repeat_penalty == 1.0
        generator: Any
        if lookup:
            decoder = LookupDecoder(self._llm, request.grammar)
            generator = decoder.tokens(prompt, state)
            state.last_logits = decoder.logits
        else:
            generator = self._llm.generate(
                prompt,
                temp=request.temperature,
                top_k=1 if request.temperature <= 0 else 40,
                repeat_penalty=request.repeat_penalty,
                stopping_criteria=llama_cpp.StoppingCriteriaList([state.should_stop]),
                grammar=self._grammar(request.grammar),
            )
        try:
            for token in generator:
                if first_token_at is None:
                    first_token_at = time.monotonic()
                if token == self._eos:
                    stop_reason = "eos"
                    break
                pieces.append(self._llm.detokenize([token], special=True))
                text = b"".join(pieces).decode("utf-8", errors="ignore")
                state.record(token, len(text))
                ended_by = unfolding.grow(text)
                if ended_by is not None:
                    stop_reason = ended_by
                    break
                if len(pieces) >= request.max_tokens:
                    break
            else:
                stop_reason = state.reason or "max_tokens"
        finally:
            generator.close()
        if state.reason == "cancelled":
            stop_reason = "cancelled"
        text = unfolding.end(stop_reason)
        ended = time.monotonic()
        first = first_token_at or ended
        return GenerationResult(
            text=text,
            stop_reason=stop_reason,
            prompt_tokens=len(prompt),
            reused_tokens=reused,
            restored_tokens=restored,
            generated_tokens=len(pieces),
            queue_ms=queue_ms,
            prompt_ms=(first - started) * 1000,
            decode_ms=(ended - first) * 1000,
            token_logprobs=tuple(zip(state.ends, state.logprobs, strict=True)),
            drafted_tokens=decoder.drafted if lookup else 0,
            draft_accepted_tokens=decoder.accepted if lookup else 0,
        )

    def _prompt(self, request: GenerationRequest, heal: bool) -> tuple[list[int], bytes]:
        """The prompt's tokens, and the text of the one token healing took off (see `lead.py`)."""
        text, control = request.prompt, request.control
        at = len(text) if request.heal_at < 0 else min(request.heal_at, len(text))
        if not (heal and request.heal) or any(start < at <= end for start, end in control):
            return self._tokens(text, control), b""
        before = self._tokens(text[:at], tuple(span for span in control if span[1] <= at))
        after = self._tokens(text[at:], tuple((a - at, b - at) for a, b in control if a >= at))
        piece = self.vocabulary().pieces[before[-1]] if len(before) > 1 else b""
        if not piece:  # nothing to write again (a control token)
            return before + after, b""
        return before[:-1] + after, piece

    def vocabulary(self) -> Vocabulary:
        """Every token's bytes (read once: about 50 000 small calls)."""
        if self._vocabulary is None:
            import ctypes

            import llama_cpp

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            buffer = ctypes.create_string_buffer(256)
            pieces = []
            for token in range(self._llm.n_vocab()):
                size = llama_cpp.llama_token_to_piece(vocab, token, buffer, 256, 0, False)
                pieces.append(buffer.raw[: max(0, size)])
            self._vocabulary = Vocabulary(pieces)
        return self._vocabulary

    def _come_back(self, prompt: list[int], reused: int) -> tuple[int, int]:
        """Where the prompt's evaluation can start: the KV cache held now, or a saved one.

        A jump to another function or file changes the prompt near its start,
        and evaluating it cold costs seconds on a laptop CPU; coming back to a
        place costs only a copy when its KV cache was kept. The cache held now
        is saved before most of it would be thrown away, and a saved one that
        shares more of the prompt is restored. Returns (reused, restored) tokens.
        """
        held = self._llm.n_tokens
        best = self._saved.best(prompt)
        if best is not None and best[1] >= reused + MIN_GAIN_TOKENS:
            self._save_held(held)
            if self._restore(best[0]):
                self._saved.used(best[0])
                return best[1], best[1]
            return 0, 0  # the cache is empty now: evaluate cold
        if held - reused >= MIN_GAIN_TOKENS:
            self._save_held(held)
        return reused, 0

    def _save_held(self, held: int) -> None:
        if held < MIN_GAIN_TOKENS or not self._saved.enabled:
            return
        import ctypes

        import llama_cpp

        ctx = self._llm.ctx
        # Cells past what the context says it holds are leftovers of a cut prefill.
        self._llm._ctx.kv_cache_seq_rm(-1, held, -1)
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        tokens = tuple(int(t) for t in self._llm.input_ids[:held])
        self._saved.add(_Saved(tokens, ctypes.string_at(buffer, written)))

    def _restore(self, saved: _Saved) -> bool:
        import ctypes

        import llama_cpp

        self._llm._ctx.kv_cache_clear()
        buffer = (ctypes.c_uint8 * len(saved.data)).from_buffer_copy(saved.data)
        if llama_cpp.llama_state_seq_set_data(self._llm.ctx, buffer, len(saved.data), 0) == 0:
            self._llm.n_tokens = 0
            return False
        self._llm.input_ids[: len(saved.tokens)] = saved.tokens
        self._llm.n_tokens = len(saved.tokens)
        return True

    def _prefill(
        self, prompt: list[int], reused: int, state: _DecodeState, evaluated: Callable[[int], None]
    ) -> bool:
        """Evaluate all but the last prompt token in small chunks; False if stopped.

        llama.cpp cannot interrupt one `eval` call, and a cold 800-token prompt
        takes seconds on a laptop CPU. Chunks let a newer keystroke cancel it
        within about a chunk's time, and every chunk evaluated stays in the KV
        cache, so the request that supersedes this one starts from there.
        """
        keep = max(0, min(reused, len(prompt) - 1))
        self._llm.n_tokens = keep
        evaluated(keep)
        for start in range(keep, len(prompt) - 1, PREFILL_CHUNK):
            if state.should_stop(None, None):
                return False
            end = min(start + PREFILL_CHUNK, len(prompt) - 1)
            self._llm.eval(prompt[start:end])
            evaluated(end)
        return True

    def speed(self) -> Speed:
        """Cold prompt evaluation and decoding speed on this machine, in tokens/s."""
        self._llm.reset()
        prompt = self._tokens("def main():\n    " + "value = compute(value)\n    " * 40)[:256]
        started = time.monotonic()
        self._llm.eval(prompt)
        evaluated = time.monotonic() - started
        generated = 0
        started = time.monotonic()
        for _token in self._llm.generate(prompt, temp=0.0, top_k=1):
            generated += 1
            if generated >= 32:
                break
        decoded = time.monotonic() - started
        self._llm.reset()
        return Speed(
            prompt_tokens_per_s=len(prompt) / max(evaluated, 1e-9),
            decode_tokens_per_s=generated / max(decoded, 1e-9),
            kv_bytes_per_token=self.info.kv_bytes_per_token,
            saved_states=self.info.saved_states,
            saved_states_mb=self.info.saved_states_mb,
        )


class _DecodeState:
    """Per-generation bookkeeping, consulted by llama.cpp after every token."""

    def __init__(
        self, job_id: int, cancel_below: Any, deadline: float, last_logits: Callable[[], Any]
    ) -> None:
        self._job_id = job_id
        self._cancel_below = cancel_below
        self._deadline = deadline
        self.last_logits = last_logits
        """The logits the token being recorded was chosen from."""
        self.logprobs: list[float] = []
        self.ends: list[int] = []
        """Where each token ends in the generated text, in characters."""
        self.reason: str | None = None

    def should_stop(self, _input_ids: Any, _logits: Any) -> bool:
        if self._job_id < self._cancel_below.value:
            self.reason = "cancelled"
            return True
        if time.monotonic() > self._deadline:
            self.reason = "deadline"
            return True
        return False

    def record(self, token: int, text_end: int) -> None:
        self.logprobs.append(_logprob(self.last_logits(), token))
        self.ends.append(text_end)


def _exp_sum(logits: Any, top: float) -> float:
    import numpy as np

    return float(np.exp(logits - top).sum())


LOOKUP_NGRAMS = (3, 2)
"""Lengths of the token sequence at the end looked up earlier in the text, longest first."""
LOOKUP_DRAFT = 8
"""Tokens drafted at once: what follows the earlier occurrence."""
LOOKUP_QUIET = 4
"""Plain steps after a draft whose first token the model rejected."""


class LookupDecoder:
    """Greedy decoding that drafts from the text itself and checks the draft in one batch.

    Where the output copies its input (an edit's SEARCH block is file text, its
    REPLACE mostly is), the tokens after the last few generated ones are often
    those that followed them earlier in the prompt. They are evaluated together
    with the next token, with logits at every drafted position; each drafted
    token the model would have chosen itself is kept, the first it would not
    ends the draft, and the cache is cut back there. The output is the greedy
    output (a batch of several tokens can break a near tie of logits the other
    way). A grammar constrains every choice, drafted or not.
    """

    def __init__(self, llm: Any, grammar: str = "") -> None:
        self._llm = llm
        self._n_vocab = llm.n_vocab()
        self._grammar = grammar
        self._row: Any = None
        self.drafted = 0
        self.accepted = 0

    def logits(self) -> Any:
        return self._row

    def tokens(self, prompt: list[int], state: _DecodeState) -> Any:
        """The generated tokens, one at a time; `state.should_stop` is checked before each batch."""
        import ctypes

        import llama_cpp
        import numpy as np
        from llama_cpp._internals import LlamaTokenDataArray

        llm = self._llm
        sampler = None
        candidates = None
        if self._grammar:
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, self._grammar.encode("utf-8"), b"root")
            candidates = LlamaTokenDataArray(n_vocab=self._n_vocab)
        history = list(prompt)
        pending = [prompt[-1]]
        n_past = len(prompt) - 1
        llm.n_tokens = n_past
        quiet = 0
        try:
            while not state.should_stop(None, None):
                # After a draft the model rejected outright, a few plain steps: where the
                # output does not copy, drafting only costs the extra rows of logits.
                draft = _lookup(history, LOOKUP_NGRAMS, LOOKUP_DRAFT) if not quiet else []
                quiet = max(0, quiet - 1)
                batch = pending + draft
                llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
                llm._batch.set_batch(batch, n_past=n_past, logits_all=True)
                llm._ctx.decode(llm._batch)
                llm.input_ids[n_past : n_past + len(batch)] = batch
                llm.n_tokens = n_past + len(batch)
                self.drafted += len(draft)
                row_at = len(pending) - 1
                while True:
                    raw = llama_cpp.llama_get_logits_ith(llm.ctx, row_at)
                    # A view: it is read (the token's log-probability) before the next decode.
                    self._row = np.ctypeslib.as_array(raw, shape=(self._n_vocab,))
                    chosen = self._row
                    if sampler is not None and candidates is not None:
                        candidates.copy_logits(self._row)
                        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates.candidates))
                        chosen = candidates.candidates_data.logit
                    token = int(np.argmax(chosen))
                    if sampler is not None:
                        llama_cpp.llama_sampler_accept(sampler, token)
                    history.append(token)
                    yield token
                    drafted_at = row_at - (len(pending) - 1)
                    if drafted_at < len(draft) and draft[drafted_at] == token:
                        self.accepted += 1
                        row_at += 1
                        continue
                    if draft and drafted_at == 0:
                        quiet = LOOKUP_QUIET
                    break
                # Keep what was evaluated up to the last token the model agreed with.
                n_past += row_at + 1
                llm.n_tokens = n_past
                pending = [token]
        finally:
            if sampler is not None:
                llama_cpp.llama_sampler_free(sampler)


def _lookup(history: list[int], ngrams: tuple[int, ...], size: int) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the last n tokens."""
    for n in ngrams:
        if len(history) <= n:
            continue
        tail = history[-n:]
        for start in range(len(history) - n - 1, -1, -1):
            if history[start : start + n] == tail:
                return history[start + n : start + n + size]
    return []


MAX_CANDIDATES = 4
"""Sequences the llama.cpp context holds at once (one KV cache, shared where they agree)."""
FORK_MIN_LOGPROB = -2.5
"""A runner-up token at least this likely (about 8%) starts another candidate."""
FORK_WITHIN = 16
"""Forks are made in a candidate's first tokens: later ones differ only in what the user reads last."""
TOP_K = 40
ALT_GRACE = 4
"""Tokens the other candidates may still take once the first has ended."""


def _branching(request: GenerationRequest) -> bool:
    """Whether the request needs the branch decoder: several candidates, a lead, token healing."""
    wanted = request.candidates > 1 or bool(request.lead) or request.lead_then_code or request.heal
    return wanted and not request.grammar and not request.lookup and request.repeat_penalty == 1.0


@dataclass
class _Branch:
    seq: int
    lead: Lead
    unfolding: Unfolding
    next_pos: int
    """Where the branch's last token goes in its sequence."""
    last: int
    """The token to evaluate next (not in the KV cache yet)."""
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    raw: bytes = b""
    stop_reason: str = ""


@dataclass
class Decoded:
    results: list[GenerationResult]
    first_token_at: float | None


class BranchDecoder:
    """Decoding under a lead (token healing, held-back whitespace) into one or several candidates.

    All candidates share the prompt's KV cache: a fork copies its sequence
    (in a unified cache the cells are shared, not copied) and every step
    evaluates one token per live candidate in one batch. A candidate is forked
    where the model hesitated: a runner-up at least FORK_MIN_LOGPROB likely
    within its first FORK_WITHIN tokens, and it ends with the line it forked on
    (the one the model was unsure of). The first candidate is what decoding
    without branches gives; sequence 0 keeps it, so the next keystroke reuses it.
    """

    def __init__(
        self,
        llm: Any,
        vocabulary: Vocabulary,
        request: GenerationRequest,
        healed: bytes,
        stream: Callable[[str], None] | None,
    ) -> None:
        self._llm = llm
        self._vocabulary = vocabulary
        self._request = request
        self._healed = healed
        self._stream = stream
        self._n_vocab = llm.n_vocab()
        self._eos = llm.token_eos()
        self._wanted = max(1, min(request.candidates, MAX_CANDIDATES))
        self._rng: Any = None

    def run(self, prompt: list[int], state: _DecodeState) -> Decoded:
        import llama_cpp
        import numpy as np

        if self._request.temperature > 0:
            self._rng = np.random.default_rng(self._request.seed)
        llm = self._llm
        memory = llm._ctx.memory
        lead = Lead(self._healed + self._request.lead.encode("utf-8"), self._request.lead_then_code)
        unfolding = Unfolding(self._request.stop, self._stream)
        branches = [_Branch(0, lead, unfolding, len(prompt) - 1, prompt[-1])]
        first_token_at: float | None = None
        after_main = 0
        """Steps decoded since the first candidate ended."""
        try:
            while True:
                if branches[0].stop_reason:
                    after_main += 1
                    # The request waits for every candidate: the others get a few tokens to end
                    # their line, then stop, so that they cost what the first one takes.
                    for branch in branches[1:]:
                        if after_main > ALT_GRACE and not branch.stop_reason:
                            branch.stop_reason = "max_tokens"
                live = [branch for branch in branches if not branch.stop_reason]
                if not live:
                    break
                if state.should_stop(None, None):
                    for branch in live:
                        branch.stop_reason = state.reason or "cancelled"
                    break
                self._decode(live)
                for row_at, branch in enumerate(live):
                    raw = llama_cpp.llama_get_logits_ith(llm.ctx, row_at)
                    row = np.ctypeslib.as_array(raw, shape=(self._n_vocab,))
                    allowed = self._masked(row, branch.lead)
                    token = self._choose(allowed)
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    if len(branches) < self._wanted and branch.lead.done and len(branch.tokens) < FORK_WITHIN:
                        fork = self._fork(row, allowed, token, branch, len(branches), memory)
                        if fork is not None:
                            branches.append(fork)
                    # Under a lead, the token's likelihood among those the lead allows: a forced
                    # indentation the model would not have written itself is not its doubt about
                    # the code that follows (the filter reads these).
                    self._take(branch, token, allowed)
        finally:
            for branch in branches[1:]:
                llama_cpp.llama_memory_seq_rm(memory, branch.seq, -1, -1)
        main = branches[0]
        # Sequence 0 holds the prompt and every token of the first candidate but its last one.
        evaluated = prompt + main.tokens[:-1] if main.tokens else prompt[:-1]
        llm.input_ids[: len(evaluated)] = evaluated
        llm.n_tokens = len(evaluated)
        results: list[GenerationResult] = []
        for branch in branches:
            result = self._result(branch)
            if not any(result.text == kept.text for kept in results):
                results.append(result)
        return Decoded(results, first_token_at)

    def _decode(self, live: list[_Branch]) -> None:
        llm = self._llm
        batch = llm._batch.batch
        batch.n_tokens = len(live)
        for at, branch in enumerate(live):
            batch.token[at] = branch.last
            batch.pos[at] = branch.next_pos
            batch.seq_id[at][0] = branch.seq
            batch.n_seq_id[at] = 1
            batch.logits[at] = True
        if len(live) == 1:  # cells a generation before this one left past the prompt
            llm._ctx.kv_cache_seq_rm(live[0].seq, live[0].next_pos, -1)
        llm._ctx.decode(llm._batch)

    def _masked(self, row: Any, lead: Lead) -> Any:
        """The logits the next token is chosen from: under a lead, only the tokens it allows."""
        import numpy as np

        if lead.done:
            return row
        masked = np.full(self._n_vocab, -np.inf, dtype=np.float32)
        allowed = self._vocabulary.allowed(lead)
        masked[allowed] = row[allowed]
        return masked

    def _choose(self, logits: Any) -> int:
        import numpy as np

        if self._rng is None:
            return int(np.argmax(logits))
        top = np.argpartition(logits, -TOP_K)[-TOP_K:]
        scaled = (logits[top] - logits[top].max()) / self._request.temperature
        weights = np.exp(scaled)
        weights[~np.isfinite(weights)] = 0.0
        if weights.sum() <= 0:
            return int(np.argmax(logits))
        return int(self._rng.choice(top, p=weights / weights.sum()))

    def _fork(
        self, row: Any, allowed: Any, chosen: int, branch: _Branch, seq: int, memory: Any
    ) -> _Branch | None:
        """A new candidate that takes the runner-up token here, if the model gave it a real chance."""
        import llama_cpp
        import numpy as np

        pieces = self._vocabulary.pieces
        top = np.argpartition(allowed, -3)[-3:]
        for token in (int(t) for t in top[np.argsort(-allowed[top])]):
            if token in (chosen, self._eos) or not pieces[token] or not np.isfinite(allowed[token]):
                continue
            if pieces[token].startswith(pieces[chosen]) or pieces[chosen].startswith(pieces[token]):
                continue  # the same text cut into other tokens: it would write the same candidate
            if _logprob(row, token) < FORK_MIN_LOGPROB:
                continue
            # Its cells are the parent's up to here (shared, not copied, in a unified cache).
            llama_cpp.llama_memory_seq_cp(memory, branch.seq, seq, -1, -1)
            # It ends with the line it forked on: decoding on a CPU is bound by arithmetic, so
            # every live candidate costs about what the first does per token, and whole-length
            # alternatives to a block made the request 1.6-1.7x slower than one candidate.
            lines = branch.raw[len(self._healed) :].count(b"\n") + 1
            stop = self._request.stop
            fork = _Branch(
                seq,
                branch.lead,
                Unfolding(replace(stop, max_lines=min(stop.max_lines, lines))),
                branch.next_pos,
                branch.last,
                list(branch.tokens),
                list(branch.logprobs),
                list(branch.ends),
                branch.raw,
            )
            self._take(fork, token, row)
            return fork
        return None

    def _take(self, branch: _Branch, token: int, row: Any) -> None:
        """`token` is the branch's next: record it and see whether the branch is complete."""
        branch.tokens.append(token)
        branch.last = token
        branch.next_pos += 1
        branch.logprobs.append(_logprob(row, token))
        if token == self._eos:
            branch.stop_reason = "eos"
            branch.ends.append(branch.ends[-1] if branch.ends else 0)
            return
        branch.lead = branch.lead.after(self._vocabulary.pieces[token])
        branch.raw += self._vocabulary.pieces[token]
        visible = branch.raw[len(self._healed) :].decode("utf-8", errors="ignore")
        branch.ends.append(len(visible))
        ended_by = branch.unfolding.grow(visible)
        if ended_by is not None:
            branch.stop_reason = ended_by
        elif len(branch.tokens) >= self._request.max_tokens:
            branch.stop_reason = "max_tokens"

    def _result(self, branch: _Branch) -> GenerationResult:
        reason = branch.stop_reason or "max_tokens"
        text = branch.unfolding.end(reason)
        tokens = len(branch.tokens) - (1 if reason == "eos" else 0)
        logprobs = list(zip(branch.ends, branch.logprobs, strict=True))[:tokens]
        return GenerationResult(
            text=text, stop_reason=reason, generated_tokens=tokens, token_logprobs=tuple(logprobs)
        )


def _logprob(row: Any, token: int) -> float:
    top = float(row.max())
    return float(row[token]) - top - math.log(_exp_sum(row, top))


MIN_GAIN_TOKENS = 64
"""Tokens a saved KV cache must spare to be worth its copy (about 0.3 s cold on 2 cores)."""


@dataclass(frozen=True)
class _Saved:
    tokens: tuple[int, ...]
    data: bytes
    """The sequence's KV cells, as llama.cpp serializes them."""


class SavedStates:
    """KV caches of recent places, the most recently used last, bounded in number and in bytes.

    `spare`: a state that a new one holds all of but its last `spare` tokens
    (the suggestion made there, the cursor a character on) is the same place's
    older state, and is replaced, not kept beside it: otherwise every visit to
    a place would take a slot, and the places visited least recently would be
    pushed out by copies of the others.
    """

    def __init__(self, max_states: int, max_bytes: int, spare: int = 0) -> None:
        self._max_states = max_states
        self._max_bytes = max_bytes
        self._spare = spare
        self._states: list[_Saved] = []

    @property
    def enabled(self) -> bool:
        return self._max_states > 0

    @property
    def bytes(self) -> int:
        return sum(len(s.data) for s in self._states)

    def __len__(self) -> int:
        return len(self._states)

    def best(self, prompt: list[int]) -> tuple[_Saved, int] | None:
        """The saved state sharing the longest start with `prompt`, and that length."""
        scored = [(s, _common_prefix(s.tokens, prompt)) for s in self._states]
        return max(scored, key=lambda pair: pair[1], default=None)

    def add(self, saved: _Saved) -> None:
        if len(saved.data) > self._max_bytes:
            return
        for state in self._states:
            if _common_prefix(state.tokens, saved.tokens) == len(saved.tokens):
                self.used(state)  # a longer state holds all of it already
                return
        self._states = [
            s for s in self._states if _common_prefix(s.tokens, saved.tokens) < len(s.tokens) - self._spare
        ]
        self._states.append(saved)
        while len(self._states) > self._max_states or self.bytes > self._max_bytes:
            self._states.pop(0)

    def used(self, state: _Saved) -> None:
        """`state` was restored (or is what the cache holds again): the last to go."""
        kept = [s for s in self._states if s is not state]
        if len(kept) < len(self._states):
            self._states = [*kept, state]


def _kv_bytes_per_token(llm: Any) -> int:
    """What one token of context costs in the KV cache (f16 keys and values, every layer)."""
    import llama_cpp

    model = llm.model
    layers = llama_cpp.llama_model_n_layer(model)
    heads = max(1, llama_cpp.llama_model_n_head(model))
    kv_width = llama_cpp.llama_model_n_embd(model) // heads * llama_cpp.llama_model_n_head_kv(model)
    return int(layers * 2 * kv_width * 2)


def _common_prefix(cached: Sequence[int], prompt: Sequence[int]) -> int:
    count = 0
    for a, b in zip(cached, prompt, strict=False):
        if a != b:
            break
        count += 1
    return count
