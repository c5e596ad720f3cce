"""Supervises the llama.cpp worker process: start, restart with back-off, newest wins.

`LlamaWorkerBackend` implements `ModelBackend`. It never blocks the caller
on the model: `submit` sends a job down a pipe and returns a handle whose
future a reader thread resolves. When the worker dies (kill -9, OOM, a
llama.cpp abort), every pending request fails with `WorkerCrashed`, the
status goes to RESTARTING with a message, and a new worker starts after a
growing delay. A model that cannot load three times running is FAILED until
`restart()` is called (a settings change, or the user's command).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from hearth.model.backend import (
    GenerationRequest,
    GenerationResult,
    ModelBusy,
    ModelState,
    ModelStatus,
    ModelUnavailable,
    PromptProgress,
    StatusBoard,
    TextCallback,
    WorkerCrashed,
)
from hearth.model.catalog import ResolvedModel, check_gguf_file
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
from hearth.model.worker import SAVED_STATES, WorkerConfig, worker_main

log = logging.getLogger(__name__)

MAX_LOAD_FAILURES = 3


@dataclass
class _Job:
    future: Future[Any]
    generation: bool
    on_text: TextCallback | None = None
    exclusive: bool = False
    evaluating: PromptProgress | None = None


class WorkerHandle:
    def __init__(self, backend: LlamaWorkerBackend, job_id: int, future: Future[Any]) -> None:
        self._backend = backend
        self._job_id = job_id
        self._future = future

    @property
    def job_id(self) -> int:
        return self._job_id

    @property
    def future(self) -> Future[GenerationResult]:
        return self._future

    def cancel(self) -> None:
        self._backend.cancel(self._job_id)


class LlamaWorkerBackend:
    def __init__(
        self,
        model: ResolvedModel,
        n_ctx: int = 2048,
        n_threads: int = 0,
        saved_states_mb: int = 256,
        backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
    ) -> None:
        self._model = model
        self._config = WorkerConfig(
            model_path=str(model.path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            saved_states=SAVED_STATES if saved_states_mb > 0 else 0,
            saved_states_mb=saved_states_mb,
        )
        self._backoff = backoff
        self._ctx = multiprocessing.get_context("spawn")
        self._cancel_below = self._ctx.Value("q", 0, lock=False)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._jobs: dict[int, _Job] = {}
        self._process: Any = None
        self._conn: Connection | None = None
        self._closed = False
        self._load_failures = 0
        self._restarts = 0
        self._generation = 0  # bumps on every (re)start so stale threads stand down
        self._board = StatusBoard(
            ModelStatus(
                ModelState.STARTING,
                model_path=str(model.path),
                model_name=model.name,
                prompt_format=model.prompt_format,
            )
        )
        self._last_fatal = ""
        """What the worker said before it died while loading (a readable error beats an exit code)."""

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the worker in the background; returns at once."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        threading.Thread(
            target=self._run_worker, args=(generation,), name="hearth-model", daemon=True
        ).start()

    def restart(self) -> None:
        with self._lock:
            self._load_failures = 0
            self._stop_process()
        self.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._board.closed = True
            self._generation += 1
            self._stop_process()
            self._fail_pending(ModelUnavailable("model stopped"))
        self._set_status(ModelState.STOPPED)

    def _stop_process(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(Exit())
        process = self._process
        if process is not None and process.is_alive():
            process.join(timeout=0.5)
            if process.is_alive():
                process.kill()
                process.join(timeout=2)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def _run_worker(self, generation: int) -> None:
        problem = check_gguf_file(self._model.path)
        if problem is not None:
            self._set_status(ModelState.FAILED, problem)
            return
        self._set_status(ModelState.LOADING)
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(child_conn, self._cancel_below, self._config),
            name="hearth-model-worker",
            daemon=True,
        )
        with self._lock:
            if generation != self._generation or self._closed:
                return
            self._process, self._conn = process, parent_conn
            process.start()
        child_conn.close()
        loaded = self._read_loop(parent_conn, generation)
        with self._lock:
            if generation != self._generation or self._closed:
                return
            self._conn = None
            self._fail_pending(WorkerCrashed("the model worker stopped"))
        process.join(timeout=1)
        self._after_exit(loaded, process.exitcode, generation)

    def _read_loop(self, conn: Connection, generation: int) -> bool:
        loaded = False
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return loaded
            match message:
                case Loaded(load_seconds=seconds):
                    loaded = True
                    self._load_failures = 0
                    self._set_status(ModelState.READY, load_seconds=seconds)
                    log.info("model ready: %s (%.2fs)", self._model.path, seconds)
                case Fatal(message=why):
                    self._last_fatal = why
                case Text(id=job_id, text=text):
                    with self._lock:
                        job = self._jobs.get(job_id)
                    if job is not None and job.on_text is not None and not job.future.done():
                        try:
                            job.on_text(text)
                        except Exception:
                            log.exception("streamed text listener failed")
                case Evaluated(id=job_id, tokens=tokens, prompt_tokens=prompt_tokens):
                    with self._lock:
                        job = self._jobs.get(job_id)
                        if job is not None:
                            job.evaluating = PromptProgress(tokens, prompt_tokens)
                case Done(id=job_id) | Failed(id=job_id):
                    with self._lock:
                        job = self._jobs.pop(job_id, None) if job_id is not None else None
                    # The caller may have cancelled its future (asyncio.wrap_future does
                    # that); the result is then dropped, and the reader must live on.
                    if job is not None and not job.future.done():
                        if isinstance(message, Done):
                            job.future.set_result(message.result)
                        else:
                            job.future.set_exception(RuntimeError(message.message))
                case _:
                    log.warning(
                        "ignoring an unknown message from the model worker: %s", type(message).__name__
                    )
            if generation != self._generation:
                return loaded

    def _after_exit(self, loaded: bool, exitcode: int | None, generation: int) -> None:
        fatal, self._last_fatal = self._last_fatal, ""
        if not loaded:
            self._load_failures += 1
            why = fatal or f"the model worker exited with code {exitcode} while loading"
            if self._load_failures >= MAX_LOAD_FAILURES:
                self._set_status(
                    ModelState.FAILED,
                    f"Cannot load model {self._model.path}: {why}. "
                    "Check the file (hearth doctor) or pick another model (hearth models list).",
                )
                return
            message = f"model failed to load ({why}); retrying"
        else:
            message = f"the model worker stopped (exit code {exitcode}); restarting"
        delay = self._backoff[min(self._restarts, len(self._backoff) - 1)]
        self._restarts += 1
        log.warning("%s in %.1fs", message, delay)
        self._set_status(ModelState.RESTARTING, message)
        time.sleep(delay)
        with self._lock:
            if generation != self._generation or self._closed:
                return
        self.start()

    # -- requests ----------------------------------------------------------

    def submit(self, request: GenerationRequest, on_text: TextCallback | None = None) -> WorkerHandle:
        with self._lock:
            if not request.exclusive and any(
                job.exclusive and not job.future.done() for job in self._jobs.values()
            ):
                raise ModelBusy("the model is answering a chat or edit request")
            job_id, future = self._send(
                lambda job_id: Generate(job_id, time.time(), request), generation=True
            )
            self._jobs[job_id].on_text = on_text
            self._jobs[job_id].exclusive = request.exclusive
            # Newest wins: every older job stops within one token.
            self._raise_cancel_below(job_id)
        return WorkerHandle(self, job_id, future)

    def count_tokens(self, text: str) -> Future[int]:
        return self._send(lambda job_id: CountTokens(job_id, text), generation=False)[1]

    def measure_speed(self) -> Future[Speed]:
        return self._send(MeasureSpeed, generation=False)[1]

    def cancel(self, job_id: int) -> None:
        self._raise_cancel_below(job_id + 1)

    def _raise_cancel_below(self, value: int) -> None:
        with self._lock:
            if self._cancel_below.value < value:
                self._cancel_below.value = value

    def _send(self, job: Callable[[int], Job], generation: bool) -> tuple[int, Future[Any]]:
        with self._lock:
            current = self._board.current
            if current.state is not ModelState.READY or self._conn is None:
                raise ModelUnavailable(current.message or f"model is {current.state.value}")
            job_id = next(self._ids)
            future: Future[Any] = Future()
            self._jobs[job_id] = _Job(future, generation)
            try:
                self._conn.send(job(job_id))
            except (OSError, ValueError) as exc:
                self._jobs.pop(job_id, None)
                raise ModelUnavailable(f"model worker unreachable: {exc}") from exc
        return job_id, future

    def _fail_pending(self, error: Exception) -> None:
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            if not job.future.done():
                job.future.set_exception(error)

    # -- status ------------------------------------------------------------

    def status(self) -> ModelStatus:
        with self._lock:
            # The worker runs one job at a time: the one that reported its prompt and is not done.
            reading = [job.evaluating for job in self._jobs.values()]
        return self._board.with_progress(reading)

    def add_listener(self, listener: Callable[[ModelStatus], None]) -> None:
        self._board.add_listener(listener)

    def _set_status(self, state: ModelState, message: str = "", **changes: Any) -> None:
        self._board.set(state, message, restarts=self._restarts, **changes)
