"""One inline completion, from a document snapshot to the text to show.

Stages: policy (where and how much), debounce (cancellable), prompt layout,
model call (cancelled with the request), post-processing, and a last check
that the document has not moved on. Every outcome, shown or not, is one
`completion` event with the time spent in each stage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from hearth.completion.features import stage1_features, stage2_features
from hearth.completion.members import cut_unknown_members
from hearth.completion.policy import Cursor, Decision, decide
from hearth.completion.postprocess import align_to_cursor, clean_suggestion, split_trailing_space
from hearth.completion.prompt import Prompt, assemble, code_window
from hearth.completion.reuse import AnswerMemory, Entry, Found, continues
from hearth.completion.validity import keep_valid
from hearth.config import Settings
from hearth.context.engine import ContextBlock, ContextEngine, ContextRequest
from hearth.events import EventSink
from hearth.model.backend import (
    GenerationRequest,
    GenerationResult,
    ModelBackend,
    ModelState,
    ModelUnavailable,
    TextCallback,
    WorkerCrashed,
)
from hearth.model.catalog import PromptFormat
from hearth.model.stopping import StopSpec
from hearth.text.tokens import CHARS_PER_TOKEN
from hearth_telemetry.events import CompletionEvent, Continued, Generation
from hearth_telemetry.outcomes import Outcome, Source


@dataclass(frozen=True)
class DocumentSnapshot:
    uri: str
    language_id: str
    version: int | None
    text: str
    offset: int
    """Cursor position as an index into `text` (code points)."""
    path_hint: str = ""
    """Workspace-relative path shown to the model."""
    signals: dict[str, float] = field(default_factory=dict)
    """Typing rhythm and recent acceptance, from the editor session (filter features)."""


@dataclass
class CompletionOutcome:
    suggestion_id: str
    text: str
    """What to insert at the cursor; empty means show nothing."""
    reason: str
    """Why this outcome, for people: shown, or why nothing is shown. Nothing matches on it."""
    decision: str = "none"
    timings_ms: dict[str, float] = field(default_factory=dict)
    generation: GenerationResult | None = None
    features: dict[str, float] = field(default_factory=dict)
    post: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    """The filter's last acceptance estimate (stage 2 if it ran, else stage 1)."""
    context: ContextBlock = field(default_factory=ContextBlock)
    outcome: Outcome = Outcome.EMPTY
    """What became of the request: what telemetry, the filter and the benchmarks count."""
    source: Source = Source.MODEL
    continued: int | None = None
    """When the answer is the suggestion already on screen: how much of it the user typed."""
    alternatives: list[str] = field(default_factory=list)
    """Other suggestions to cycle through after `text` (explicit requests), best first."""

    def end(self, outcome: Outcome, reason: str) -> CompletionOutcome:
        self.outcome, self.reason = outcome, reason
        return self

    @property
    def shown(self) -> bool:
        return bool(self.text)


log = logging.getLogger(__name__)

CONTEXT_SHARE = 0.35
"""Share of the prompt budget set aside for repository context."""


class SuggestionFilter(Protocol):
    """The learned acceptance filter (hearth_telemetry.filter.FilterModel)."""

    def score(self, stage: int, features: Mapping[str, float]) -> float | None: ...

    def threshold(self, stage: int) -> float: ...


class NoFilter:
    def score(self, stage: int, features: Mapping[str, float]) -> float | None:
        return None

    def threshold(self, stage: int) -> float:
        return 0.0


class CompletionPipeline:
    def __init__(
        self,
        backend: ModelBackend,
        sink: EventSink,
        settings: Callable[[], Settings],
        prompt_format: Callable[[], PromptFormat],
        clock: Callable[[], float] = time.monotonic,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16],
        suggestion_filter: Callable[[], SuggestionFilter] = NoFilter,
        context: ContextEngine | None = None,
        open_suggestion: Callable[[str], tuple[str, int, str] | None] = lambda uri: None,
        memory: AnswerMemory[_Shaped] | None = None,
    ) -> None:
        """`open_suggestion(uri)`: the suggestion on screen there (its id), the cursor offset that
        typing along it gives, and what of it is left to show."""
        self._filter = suggestion_filter
        self._open_suggestion = open_suggestion
        self._memory: AnswerMemory[_Shaped] = memory if memory is not None else AnswerMemory()
        self._context = context
        self.chars_per_token = float(CHARS_PER_TOKEN)
        """Measured from the model's own token counts as requests complete."""
        self._backend = backend
        self._sink = sink
        self._settings = settings
        self._format = prompt_format
        self._clock = clock
        self._new_id = new_id

    async def complete(
        self,
        doc: DocumentSnapshot,
        automatic: bool = True,
        is_current: Callable[[], bool] = lambda: True,
        prefetch: bool = False,
    ) -> CompletionOutcome:
        """The suggestion at the snapshot's cursor.

        `prefetch`: made ahead for a request expected here (after an accepted
        suggestion): no debounce, and what it makes is kept, not shown.
        """
        settings = self._settings()
        started = self._clock()
        timings: dict[str, float] = {}
        outcome = CompletionOutcome(self._new_id(), "", "")
        trigger = "prefetch" if prefetch else "automatic" if automatic else "invoked"
        try:
            outcome = await self._run(doc, settings, automatic, is_current, outcome, timings, not prefetch)
            if prefetch and outcome.shown:
                outcome.text = ""
                outcome.end(Outcome.PREFETCHED, "made ahead")
        except asyncio.CancelledError:
            outcome.end(Outcome.CANCELLED, "cancelled")
            raise
        finally:
            timings["total"] = (self._clock() - started) * 1000
            outcome.timings_ms = timings
            self._report(doc, outcome, trigger)
        return outcome

    async def _run(
        self,
        doc: DocumentSnapshot,
        settings: Settings,
        automatic: bool,
        is_current: Callable[[], bool],
        outcome: CompletionOutcome,
        timings: dict[str, float],
        debounce: bool = True,
    ) -> CompletionOutcome:
        if not settings.language_enabled(doc.language_id):
            return outcome.end(Outcome.DISABLED, "disabled for this language")
        if len(doc.text) > settings.max_file_kb * 1024:
            return outcome.end(Outcome.TOO_LARGE, "document too large")
        offset = max(0, min(doc.offset, len(doc.text)))
        cursor = Cursor(doc.text[:offset], doc.text[offset:])
        model = self._backend.status()
        served = (model.backend, model.engine, model.model_name, model.model_path)
        self._memory.fit((answer_settings(settings), *served))
        # Before the debounce: an answer the server has is shown at once.
        found = self._memory.find(doc.uri, cursor.prefix, cursor.suffix) if settings.reuse else None
        reused = await self._reused(found, automatic, timings) if found is not None else None
        if found is None or reused is None:
            kept = await self._fresh(doc, cursor, settings, automatic, is_current, outcome, timings, debounce)
            if kept is None:
                return outcome
            return self._judged(kept, cursor, settings, automatic, is_current, outcome)
        kept, outcome.source = reused
        outcome.decision = kept.decision
        shown = self._open_suggestion(doc.uri)
        if shown is not None and shown[:2] == (found.entry.sid, offset) and shown[2].strip() and is_current():
            # The suggestion on screen, typed along (or asked for again): the rest of what was shown.
            outcome.suggestion_id, outcome.text = found.entry.sid, shown[2]
            outcome.source, outcome.continued = Source.TYPED_ALONG, len(found.typed)
            return outcome.end(Outcome.SHOWN, "the shown suggestion, continued")
        outcome.features = stage1_features(cursor, doc.language_id, kept.decision, automatic, doc.signals)
        outcome = self._judged(kept, cursor, settings, automatic, is_current, outcome)
        if outcome.shown:
            found.entry.sid = outcome.suggestion_id  # typing along from here continues this one
        return outcome

    async def _fresh(
        self,
        doc: DocumentSnapshot,
        cursor: Cursor,
        settings: Settings,
        automatic: bool,
        is_current: Callable[[], bool],
        outcome: CompletionOutcome,
        timings: dict[str, float],
        debounce: bool,
    ) -> _Shaped | None:
        """The model's answer for this cursor, or None when the outcome is already settled."""
        decision = decide(cursor, doc.language_id, settings.multiline, settings.max_lines)
        outcome.decision = decision.mode
        if decision.mode == "none":
            outcome.end(Outcome.NOT_HERE, decision.reason)
            return None
        outcome.features = stage1_features(cursor, doc.language_id, decision.mode, automatic, doc.signals)
        if self._filtered_out(1, outcome.features, outcome, settings, automatic):
            outcome.end(Outcome.SKIPPED_BY_FILTER, "skipped by filter")
            return None
        mark = self._clock()
        if automatic and debounce and settings.debounce_ms > 0:
            await asyncio.sleep(settings.debounce_ms / 1000)
        timings["debounce"] = (self._clock() - mark) * 1000
        if not is_current():
            outcome.end(Outcome.SUPERSEDED, "superseded")
            return None
        status = self._backend.status()
        if status.state is not ModelState.READY:
            outcome.end(Outcome.MODEL_UNAVAILABLE, f"model {status.state.value}")
            return None
        entry = self._memory.add(doc.uri, cursor.prefix, cursor.suffix, outcome.suggestion_id, automatic)
        entry.held_back = split_trailing_space(cursor.prefix)[1]
        # The answer (prompt, generation, checks) is the entry's, not this request's: a
        # request that types along while it is made waits for it instead of starting another.
        task = asyncio.ensure_future(self._answer(entry, doc, cursor, decision, settings, automatic))
        entry.task = task
        task.add_done_callback(lambda done: self._settle(entry, done))
        answer = await self._wait(entry)
        timings.update(answer.timings)
        outcome.generation = answer.result
        if isinstance(answer, _Failed):
            outcome.end(answer.outcome, answer.reason)
            return None
        outcome.context = answer.context
        return answer

    async def _answer(
        self,
        entry: Entry[_Shaped],
        doc: DocumentSnapshot,
        cursor: Cursor,
        decision: Decision,
        settings: Settings,
        automatic: bool,
    ) -> _Shaped | _Failed:
        started = mark = self._clock()
        timings: dict[str, float] = {}
        fmt = self._format()
        # Off the event loop: the context reads other open documents and may parse this one.
        prompt, held_back, context = await asyncio.to_thread(self.prompt_for, doc, cursor, settings)
        timings["context"] = (self._clock() - mark) * 1000
        request = GenerationRequest(
            prompt=prompt.text,
            control=prompt.control,
            max_tokens=settings.max_tokens,
            deadline_s=settings.deadline_ms / 1000,
            stop=_with_markers(after_lead(decision.stop, held_back), fmt.stop),
            use_prompt_cache=settings.prompt_cache,
            stream=True,
            # The model writes the held-back whitespace and the prompt's last token again; asked
            # for at a line start, it must then write code.
            lead=held_back,
            lead_then_code=not automatic and not cursor.line_before.strip(),
            heal=True,
            heal_at=prompt.cursor_at,
            candidates=1 if automatic else settings.candidates,
        )
        timings["prompt"] = (self._clock() - mark) * 1000
        # An explicit request gets a second try when the first one is useless.
        tries = [request] if automatic else [request, second_try(request)]
        kept: _Shaped | None = None
        for number, current in enumerate(tries):
            if number:
                timings["second_try"] = 1.0
                elapsed_s = self._clock() - started
                current = replace(current, deadline_s=max(0.5, current.deadline_s - elapsed_s), stream=False)
            result = await self._generate(current, entry.partial.append)
            if isinstance(result, _Failed):
                return result
            if result.prompt_tokens > 32:
                measured = len(prompt.text) / result.prompt_tokens
                self.chars_per_token = 0.8 * self.chars_per_token + 0.2 * measured
            timings["model"] = timings.get("model", 0.0) + result.prompt_ms + result.decode_ms
            timings["model_prompt"] = result.prompt_ms
            timings["model_decode"] = result.decode_ms
            timings["queue"] = result.queue_ms
            if result.cancelled:
                return _Failed(Outcome.CANCELLED, "cancelled", result, timings)
            shaped = [
                await self._shape(candidate, held_back, cursor, decision, fmt.stop, doc, settings, timings)
                for candidate in (result, *result.alternatives)
            ]
            best = ranked(shaped)
            # A useless second try does not hide why the first one was useless.
            if kept is None or (best.useful and not (kept.useful and best.filler)):
                kept = best
            if kept.useful and not kept.filler:
                break
        assert kept is not None  # tries is never empty
        return replace(kept, context=context)

    async def _wait(self, entry: Entry[_Shaped]) -> _Shaped | _Failed:
        """The entry's answer; the last request to stop waiting for it stops the model."""
        task = entry.task
        assert task is not None
        entry.waiters += 1
        try:
            answer = await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or current.cancelling():
                entry.waiters -= 1
                if entry.waiters == 0:
                    entry.abandoned = True
                    task.cancel()
                raise
            # The generation was stopped under this request (its last other waiter left first).
            entry.waiters -= 1
            return _Failed(Outcome.CANCELLED, "cancelled")
        entry.waiters -= 1
        assert answer is not None
        return answer

    def _settle(self, entry: Entry[_Shaped], task: asyncio.Future[_Shaped | _Failed]) -> None:
        answer = None if task.cancelled() or task.exception() is not None else task.result()
        if isinstance(answer, _Shaped):
            self._memory.settle(entry, answer, (answer.text, *(other.text for other in answer.others)))
        else:
            self._memory.settle(entry, None)

    async def _reused(
        self, found: Found[_Shaped], automatic: bool, timings: dict[str, float]
    ) -> tuple[_Shaped, Source] | None:
        """The found answer as this cursor's suggestion and where it came from, or None."""
        entry, typed = found.entry, found.typed
        mark = self._clock()
        source = Source.TYPED_ALONG if typed else Source.CACHE
        if entry.pending:
            source = Source.IN_FLIGHT
            if typed and not entry.agrees_so_far(typed):
                return None
            answer = await self._wait(entry)
            timings["in_flight"] = (self._clock() - mark) * 1000
            if isinstance(answer, _Failed):
                return None
            shaped = answer
        else:
            assert entry.value is not None
            shaped = entry.value
        if typed:
            after = shaped.after(typed) if shaped.useful else None
            if after is None:
                return None
            shaped = after
        elif not automatic and entry.automatic and not shaped.useful:
            return None  # the user asks where typing got nothing: that deserves a second try
        timings["reuse"] = (self._clock() - mark) * 1000
        return shaped, source

    def _judged(
        self,
        kept: _Shaped,
        cursor: Cursor,
        settings: Settings,
        automatic: bool,
        is_current: Callable[[], bool],
        outcome: CompletionOutcome,
    ) -> CompletionOutcome:
        """The last checks on an answer: syntax and members, the filter, the document."""
        result, outcome.text = kept.result, kept.text
        outcome.generation = result
        raw_end = kept.raw_end
        if outcome.text:
            outcome.post = {
                **stage2_features(outcome.text, result, cursor, raw_end),
                "cut_for_syntax": float(kept.validity == "cut"),
            }
        if kept.validity == "dropped":
            return outcome.end(Outcome.INVALID_SYNTAX, "would add a syntax error")
        if kept.members == "dropped":
            return outcome.end(Outcome.UNKNOWN_MEMBER, "uses a member its object does not have")
        if not outcome.text:
            return outcome.end(Outcome.EMPTY, "nothing useful generated")
        if self._filtered_out(
            2, {**outcome.features, **outcome.post}, outcome, settings, automatic
        ) and not self._first_line_passes(outcome, result, cursor, raw_end, settings):
            outcome.text = ""
            return outcome.end(Outcome.HIDDEN_BY_FILTER, "filtered by stage 2")
        if not is_current():
            outcome.text = ""
            return outcome.end(Outcome.DOCUMENT_CHANGED, "document changed")
        outcome.alternatives = [other.text for other in kept.others]
        if outcome.post.get("first_line_of_block"):
            return outcome.end(Outcome.FIRST_LINE_SHOWN, "first line shown")
        return outcome.end(Outcome.SHOWN, "shown")

    async def _shape(
        self,
        result: GenerationResult,
        held_back: str,
        cursor: Cursor,
        decision: Decision,
        markers: tuple[str, ...],
        doc: DocumentSnapshot,
        settings: Settings,
        timings: dict[str, float],
    ) -> _Shaped:
        """The model's text made into a suggestion, with what the checks said of it."""
        mark = self._clock()
        aligned = align_to_cursor(result.text, held_back, not cursor.line_before.strip())
        text = clean_suggestion(aligned, cursor, decision, markers)
        timings["postprocess"] = (self._clock() - mark) * 1000
        validity = members = "unchecked"
        if text and settings.validity:
            mark = self._clock()
            text, validity = keep_valid(doc.language_id, cursor.prefix, text, cursor.suffix)
            timings["validity"] = (self._clock() - mark) * 1000
        if (
            text
            and settings.member_check
            and doc.language_id == "python"
            and len(doc.text) < MEMBER_CHECK_MAX_CHARS
        ):
            mark = self._clock()
            text, members = await _checked_members(cursor.prefix, text, cursor.suffix)
            timings["members"] = (self._clock() - mark) * 1000
        return _Shaped(result, aligned, text, validity, members, decision.mode, timings)

    def estimate_tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text) / self.chars_per_token))

    def prompt_for(
        self, doc: DocumentSnapshot, cursor: Cursor, settings: Settings
    ) -> tuple[Prompt, str, ContextBlock]:
        """What the model is shown for this cursor: the prompt, the whitespace held back, the context."""
        fmt = self._format()
        prompt_prefix, held_back = split_trailing_space(cursor.prefix)
        with_context = self._context is not None and settings.context
        reserved = int(settings.context_budget * CONTEXT_SHARE) if with_context else 0
        window = code_window(
            prompt_prefix, cursor.suffix, doc.language_id, doc.path_hint, fmt,
            settings.context_budget, reserved,
        )  # fmt: skip
        context = ContextBlock()
        if with_context:
            # What the window shows needs no context: it starts where the window does.
            context = self._context_block(doc, len(prompt_prefix), len(window.before), reserved)
        return assemble(window, fmt, context.text), held_back, context

    def _context_block(self, doc: DocumentSnapshot, cursor: int, visible: int, budget: int) -> ContextBlock:
        assert self._context is not None
        request = ContextRequest(
            uri=doc.uri,
            language_id=doc.language_id,
            path=doc.path_hint,
            text=doc.text,
            offset=min(cursor, len(doc.text)),
            visible_from=cursor - visible,
        )
        try:
            return self._context.block(request, budget)
        except Exception:  # context is a help; a bug in it must not cost the suggestion
            log.exception("context extraction failed")
            return ContextBlock()

    def _filtered_out(
        self,
        stage: int,
        features: Mapping[str, float],
        outcome: CompletionOutcome,
        settings: Settings,
        automatic: bool,
    ) -> bool:
        # An explicit request (the user pressed the key) is always answered.
        if not (settings.filter and automatic):
            return False
        model = self._filter()
        score = model.score(stage, features)
        if score is None:
            return False
        outcome.score = score
        # The user's cut is for hiding; skipping before generation keeps the trained cut,
        # which is set to lose little because a skipped suggestion cannot be judged later.
        user_cut = settings.filter_threshold if stage == 2 else 0.0
        return score < (user_cut or model.threshold(stage))

    def _first_line_passes(
        self,
        outcome: CompletionOutcome,
        result: GenerationResult,
        cursor: Cursor,
        raw_end: int,
        settings: Settings,
    ) -> bool:
        """Whether the first line of a multi-line suggestion the filter hid may be shown alone.

        The filter judges a block as a whole, and a block is right less often
        than its first line; hiding it would also lose the line the user could
        have taken (with its own, separate score). On success the outcome shows
        that line, with its features.
        """
        first, newline, _rest = outcome.text.partition("\n")
        if not newline or not first.strip():
            return False
        rejected_score = outcome.score
        post = {
            **stage2_features(first, result, cursor, raw_end - len(outcome.text) + len(first)),
            "cut_for_syntax": outcome.post.get("cut_for_syntax", 0.0),
            "first_line_of_block": 1.0,
        }
        if self._filtered_out(2, {**outcome.features, **post}, outcome, settings, automatic=True):
            outcome.score = rejected_score
            return False
        outcome.text, outcome.post = first, post
        return True

    async def _generate(
        self, request: GenerationRequest, on_text: TextCallback
    ) -> GenerationResult | _Failed:
        try:
            handle = self._backend.submit(request, on_text)
        except ModelUnavailable as exc:
            return _Failed(Outcome.MODEL_UNAVAILABLE, f"model unavailable: {exc}")
        try:
            return await asyncio.wrap_future(handle.future)
        except asyncio.CancelledError:
            # Nobody waits for the answer any more: stop the model within one token.
            handle.cancel()
            raise
        except (WorkerCrashed, ModelUnavailable) as exc:
            return _Failed(Outcome.MODEL_UNAVAILABLE, f"model unavailable: {exc}")

    def forget(self, uri: str) -> None:
        """A closed document's answers go."""
        self._memory.forget(uri)

    def _report(self, doc: DocumentSnapshot, outcome: CompletionOutcome, trigger: str) -> None:
        if outcome.continued is not None:
            self._sink.emit(Continued(outcome.suggestion_id, outcome.continued))
            return
        # An answer reused from memory cost no generation; one waited for in flight did.
        result = outcome.generation if outcome.source in (Source.MODEL, Source.IN_FLIGHT) else None
        model = self._backend.status()
        self._sink.emit(
            CompletionEvent(
                id=outcome.suggestion_id,
                language=doc.language_id,
                path=doc.path_hint or doc.uri,
                trigger=trigger,
                outcome=outcome.outcome,
                shown=outcome.shown,
                decision=outcome.decision,
                score=outcome.score,
                chars=len(outcome.text),
                candidates=1 + len(outcome.alternatives) if outcome.shown else 0,
                lines=outcome.text.count("\n") + 1 if outcome.text else 0,
                features=dict(outcome.features),
                post=dict(outcome.post),
                timings_ms={k: round(v, 2) for k, v in outcome.timings_ms.items()},
                generation=None
                if result is None
                else Generation(
                    prompt_tokens=result.prompt_tokens,
                    reused_tokens=result.reused_tokens,
                    restored_tokens=result.restored_tokens,
                    evaluated_tokens=result.evaluated_tokens,
                    generated_tokens=result.generated_tokens,
                    stop_reason=result.stop_reason,
                    mean_logprob=result.mean_logprob,
                    min_logprob=result.min_logprob,
                ),
                source=outcome.source,
                backend=model.backend if result is not None else "",
                model=model.model_name if result is not None else "",
                # The event always carries the text; what may store it is the sink's business.
                text=outcome.text or None,
            )
        )


@dataclass(frozen=True)
class _Shaped:
    result: GenerationResult
    aligned: str
    """The model's text with the whitespace already at the cursor removed."""
    text: str
    """The suggestion."""
    validity: str
    members: str
    decision: str
    timings: Mapping[str, float]
    """The time each stage of the answer took (model, post-processing, checks)."""
    context: ContextBlock = field(default_factory=ContextBlock)
    others: tuple[_Shaped, ...] = ()
    """The other candidates to cycle through, best first (explicit requests)."""

    @property
    def useful(self) -> bool:
        return bool(self.text) and "dropped" not in (self.validity, self.members)

    @property
    def filler(self) -> bool:
        return self.text.strip() in FILLER

    @property
    def mean_logprob(self) -> float | None:
        """The mean log-probability of the tokens shown."""
        logprobs = self.result.logprobs_within(self.raw_end)
        return sum(logprobs) / len(logprobs) if logprobs else None

    @property
    def raw_end(self) -> int:
        """Where the suggestion ends in the model's text (what was cut from its front, then it)."""
        return len(self.result.text) - len(self.aligned) + len(self.text)

    def after(self, typed: str) -> _Shaped | None:
        """This answer once the user has typed `typed`: the candidates that start with it, less it
        (the best of them first), or None when none does."""
        agree = [c for c in (self, *self.others) if continues(c.text, typed)]
        if not agree:
            return None
        best, *others = (
            replace(c, aligned=c.aligned[len(typed) :], text=c.text[len(typed) :]) for c in agree
        )
        return replace(best, others=tuple(replace(other, others=()) for other in others))


@dataclass(frozen=True)
class _Failed:
    """A generation that gave no answer, and the outcome that says why."""

    outcome: Outcome
    reason: str
    result: GenerationResult | None = None
    timings: Mapping[str, float] = field(default_factory=dict)


def answer_settings(settings: Settings) -> tuple[object, ...]:
    """The settings that change what the model is asked or what is made of its answer."""
    return (
        settings.model, settings.context_size, settings.context_budget, settings.max_tokens,
        settings.max_lines, settings.multiline, settings.context, settings.validity, settings.member_check,
    )  # fmt: skip


def second_try(request: GenerationRequest) -> GenerationRequest:
    """What to ask the model when every candidate of an explicit request was useless: a sampled
    one (the greedy and forked ones were tried), from the same prompt and so the same cache."""
    return replace(request, temperature=0.7, seed=1, candidates=1)


FILLER = frozenset({"pass", "...", "return", "return;", "return None"})
"""Statements that do nothing: a suggestion of only this is no answer to a request for one."""


def ranked(shaped: list[_Shaped]) -> _Shaped:
    """The answer to show first, carrying the distinct others to cycle through.

    The first candidate is the model's greedy one; the others branched off it
    where it hesitated, and are ranked by their shown tokens' mean
    log-probability. Useless ones go, and filler where there is code; so does
    one that reads the same as another once whitespace is ignored.
    """
    first, *rest = shaped
    rest.sort(
        key=lambda candidate: -(candidate.mean_logprob if candidate.mean_logprob is not None else -99.0)
    )
    order = sorted([first, *rest], key=lambda c: (not c.useful, c.filler))  # stable: greedy first
    distinct: list[_Shaped] = []
    seen: set[str] = set()
    for candidate in order:
        key = " ".join(candidate.text.split())
        if candidate.useful and key not in seen:
            seen.add(key)
            distinct.append(candidate)
    if not distinct:
        return first
    best, *others = distinct
    if not best.filler:
        others = [other for other in others if not other.filler]
    return replace(best, others=tuple(others))


def after_lead(stop: StopSpec, held_back: str) -> StopSpec:
    """The stop rules for output that starts with the held-back whitespace: the line breaks in it
    are the cursor's own, not lines of the suggestion (a one-line suggestion on a line of its
    own starts with one)."""
    breaks = held_back.count("\n")
    if not breaks:
        return stop
    if stop.single_line:
        return replace(stop, single_line=False, max_lines=1 + breaks)
    return replace(stop, max_lines=stop.max_lines + breaks)


def _with_markers(stop: StopSpec, markers: tuple[str, ...]) -> StopSpec:
    return replace(stop, stop_strings=tuple(dict.fromkeys(stop.stop_strings + markers)))


MEMBER_CHECK_MAX_CHARS = 200_000
MEMBER_CHECK_S = 0.3
"""jedi's answer is waited for this long; a slower one lets the suggestion through unchecked."""


async def _checked_members(prefix: str, text: str, suffix: str) -> tuple[str, str]:
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(cut_unknown_members, prefix, text, suffix), timeout=MEMBER_CHECK_S
        )
    except TimeoutError:
        return text, "timeout"
