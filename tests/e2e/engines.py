"""Real shared engines for the end-to-end tests: llama.cpp's own `llama-server`, and
llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`, a test extra).

It is in no package registry this machine can reach, but llama-cpp-python's
source distribution on PyPI carries llama.cpp (`vendor/llama.cpp`) with its
server. `llama_server()` finds a built one (HEARTH_LLAMA_SERVER, the PATH,
or the cache, keyed by the llama-cpp-python version installed) or builds it
once with CMake (about 7 minutes on two cores) and caches it. Run
`python -m tests.e2e.engines` to build it ahead of a test run.

The build downloads nothing but the sdist from PyPI: the web UI and its
prebuilt bundle are off, and so is HTTPS (the tests talk on loopback).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hearth.model.llama_defaults import cpu_uses_amx

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hearth-tests"
BUILD_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DGGML_NATIVE=ON",
)


class NoEngine(Exception):
    """llama-server could not be found or built here; the message says why."""


def llama_server() -> Path:
    """A llama-server binary: given, on the PATH, cached, or built now."""
    given = os.environ.get("HEARTH_LLAMA_SERVER")
    if given:
        return Path(given)
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    version = importlib.metadata.version("llama-cpp-python")
    target = CACHE / f"llama-server-{version}" / "llama-server"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a second waiter finds it done
        if not target.is_file():
            _build(version, target)
    return target


def _build(version: str, target: Path) -> None:
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise NoEngine(f"building llama-server needs {tool} (apt install cmake g++)")
    with tempfile.TemporaryDirectory(prefix="hearth-llama-server-") as work:
        where = Path(work)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={version}", "-d", str(where)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        sdist = next(where.glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
            archive.extractall(where, members=members, filter="data")
        source = next(where.glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = where / "build"
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "-S", str(source), "-B", str(build), *BUILD_FLAGS], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        built = next(build.rglob("llama-server"))
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        partial.replace(target)


OPENAI_SERVER = """
import runpy
from hearth.model.llama_defaults import llama_defaults
with llama_defaults():
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_llama_server(model: Path, *args: str, port: int | None = None) -> Iterator[str]:
    """llama-server on a free loopback port with `model`; yields its URL once it answers /health."""
    port = port or free_port()
    command = [str(llama_server()), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
               "--threads", "2", "--no-webui", *args]  # fmt: skip
    if cpu_uses_amx():  # built natively, as llama-cpp-python was: the same crash on AMX machines
        command.append("--no-repack")
    with _running(command, f"http://127.0.0.1:{port}", "/health") as url:
        yield url


@contextlib.contextmanager
def running_openai_server(
    model: Path, api_key: str, port: int | None = None, alias: str = ""
) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server (its `server` extra) on a free loopback port;
    `alias` is the model name it reports instead of the file's."""
    port = port or free_port()
    # llama-cpp-python's server, with the model parameter Hearth sets on AMX machines (where the
    # defaults crash at the first decode: hearth.model.llama_defaults).
    command = [sys.executable, "-c", OPENAI_SERVER, "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--api_key", api_key]  # fmt: skip
    if alias:
        command += ["--model_alias", alias]
    with _running(command, f"http://127.0.0.1:{port}", "/docs") as url:
        yield url


@contextlib.contextmanager
def _running(command: list[str], url: str, ready_path: str) -> Iterator[str]:
    """The engine process, until the block ends; its output is kept for the error if it dies."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(url, process, log, ready_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Any, path: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            log.seek(0)
            said = log.read()[-2000:].decode("utf-8", "replace")
            raise NoEngine(f"the engine exited with {process.returncode}: {said}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + path, timeout=2) as response:
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise NoEngine(f"the engine did not answer {path} within 120 s")
        time.sleep(0.2)


if __name__ == "__main__":
    started = time.monotonic()
    print(f"llama-server: {llama_server()} ({time.monotonic() - started:.0f} s)")
