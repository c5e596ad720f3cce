"""Python names resolved by jedi to their definitions, off the request path.

jedi can take from milliseconds to many seconds (the first use of a
library loads its stubs), so resolution runs on one background thread and
a request uses whatever is known within a short wait; what it asked for is
there for the next one.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolved:
    name: str
    module: str
    signature: str
    doc: str


JEDI_LOCK = threading.RLock()
"""jedi is not thread-safe, and its inference subprocess is shared by the whole process: two
threads asking at once (the resolver, the member check, an edit's rename) desynchronise that
pipe and both wait for ever. Every use of jedi holds this lock."""


def locked(function: Callable[..., T]) -> Callable[..., T]:
    """`function` run while holding JEDI_LOCK."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> T:
        with JEDI_LOCK:
            return function(*args, **kwargs)

    return run


def jedi_project(root: Path | str | None) -> Any:
    """A jedi project that nothing in the repository configures.

    `jedi.Script` without a project, and `jedi.get_default_project`, read
    `.jedi/project.json` from the file's folder upwards (or from the working
    directory), and its `environment_path` names a Python that jedi then runs.
    A project built here takes the environment of this process (or the user's
    `VIRTUAL_ENV`), and never loads compiled extensions from the workspace.
    """
    import jedi

    folder = Path(root) if root else _empty_folder()
    return jedi.Project(str(folder), load_unsafe_extensions=False)


@functools.cache
def _empty_folder() -> Path:
    """The project folder where there is none: private and empty, so jedi finds nothing in it
    (not the shared /tmp, which is large and anyone's)."""
    return Path(tempfile.mkdtemp(prefix="hearth-jedi-"))


@dataclass(frozen=True)
class Lookup:
    found: list[Resolved]
    complete: bool
    """Whether every name asked for has its answer (found or not): nothing is still pending."""


MAX_KNOWN = 4096
"""Resolutions kept in memory (a long session over a large repository asks about many names)."""


class JediResolver:
    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-jedi")
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], Resolved | None] = {}
        self._pending: dict[tuple[str, str], Future[None]] = {}

    def lookup(self, path: str, text: str, names: dict[str, tuple[int, int]], wait_s: float = 0.0) -> Lookup:
        """Resolutions for `names` (name -> 1-based line, column) known within `wait_s`; the rest
        stay scheduled.

        A caller off the event loop may wait: jedi answers in milliseconds once a library is
        loaded, and an answer in this lookup saves a context change (a cold prompt) later.
        """
        keys = [(path, name) for name in names]
        with self._lock:
            missing = {name: where for name, where in names.items() if (path, name) not in self._known}
            new = {name: where for name, where in missing.items() if (path, name) not in self._pending}
            if new:
                future = self._pool.submit(self._resolve, path, text, new)
                self._pending.update({(path, name): future for name in new})
            waiting = {self._pending[(path, name)] for name in missing if (path, name) in self._pending}
        if waiting and wait_s > 0:
            wait(waiting, timeout=wait_s)
        with self._lock:
            found = [value for key in keys if (value := self._known.get(key)) is not None]
            complete = all(key in self._known for key in keys)
        return Lookup(found, complete)

    @locked
    def _resolve(self, path: str, text: str, names: dict[str, tuple[int, int]]) -> None:
        results: dict[tuple[str, str], Resolved | None] = {}
        try:
            import jedi

            folder = self._root or (Path(path).parent if path else None)
            script = jedi.Script(code=text, path=path or None, project=jedi_project(folder))
            for name, (line, column) in names.items():
                results[(path, name)] = _first(script.goto(line, column, follow_imports=True), name, path)
        except Exception as exc:  # jedi on broken code may raise anything
            log.debug("jedi could not resolve %s: %s", list(names), exc)
        with self._lock:
            for name in names:
                key = (path, name)
                self._known[key] = results.get(key)
                self._pending.pop(key, None)
            while len(self._known) > MAX_KNOWN:  # oldest answers first: dicts keep insertion order
                del self._known[next(iter(self._known))]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _first(definitions: list, name: str, path: str) -> Resolved | None:
    for definition in definitions:
        module = str(definition.module_path or "")
        if module and path and Path(module) == Path(path):
            return None  # defined in this file: the syntax tree already has it
        if definition.type not in ("function", "class", "instance", "statement", "module"):
            continue
        signatures = [s.to_string() for s in definition.get_signatures()][:1]
        if definition.type == "class":
            signature = f"class {definition.name}" + (f"  # {signatures[0]}" if signatures else "")
        elif signatures:
            signature = f"def {signatures[0]}"
        else:
            signature = definition.description
        doc = definition.docstring(raw=True).strip().split("\n\n")[0].replace("\n", " ")[:200]
        return Resolved(name, definition.module_name or module, signature[:240], doc)
    return None
