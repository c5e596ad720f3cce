"""User settings: one typed dataclass, parsed leniently from editor JSON.

Editors send `initializationOptions` and `workspace/didChangeConfiguration`
with camelCase keys. A bad value never stops the server: it is reported by
key, and that key keeps its default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

MULTILINE_MODES = ("auto", "always", "never")
BACKENDS = ("local", "llamacpp", "openai", "ollama")


@dataclass(frozen=True)
class Settings:
    model: str = ""
    """Catalog name or path to a GGUF file; empty means the embedded default."""
    backend: str = "local"
    """local: the model runs on this machine, in Hearth's own process; llamacpp: a llama.cpp
    server (`llama-server`) at `endpoint` generates; openai: any OpenAI-compatible /v1/completions
    (vLLM, llama-cpp-python's server); ollama: Ollama's /api/generate. Context, filter and
    telemetry stay here."""
    endpoint: str = ""
    """The shared engine's URL (http://host:8080); code is sent there."""
    remote_model: str = ""
    """The engine's model: the name it serves it under (openai), whose catalog family says the
    prompt format (a name containing qwen2.5-coder-1.5b gets its FIM markers); empty: the engine's
    first model, its format read the same way from the name the engine reports."""
    api_key_env: str = ""
    """Environment variable that holds the engine's API key (the key itself is never a setting)."""
    api_key_file: str = ""
    """Or a file that holds it, readable by you alone (chmod 600)."""
    tls_verify: bool = True
    """Check the engine's TLS certificate (https endpoints)."""
    connect_timeout_ms: int = 3000
    """How long to wait for the engine to accept a connection."""
    chat_backend: str = ""
    """The chat and edit model's backend when it is not the completion model's: local, llamacpp,
    openai or ollama (a small local FIM model completes, a large one on the team's engine chats)."""
    chat_endpoint: str = ""
    """Its engine's URL (empty: `endpoint`)."""
    chat_model: str = ""
    """Its model: a catalog name or GGUF path (local), or the name the engine serves (empty: the
    completion model's)."""
    remote_fallback: bool = False
    """While the engine cannot serve, the local model (`model`, by default the embedded one)
    answers, and the status says so."""
    context_size: int = 4096
    """Model context window in tokens (llama.cpp n_ctx)."""
    context_budget: int = 1024
    """Tokens of prompt context per completion (prefix, suffix and header)."""
    max_tokens: int = 64
    """Most tokens generated for one suggestion."""
    max_lines: int = 8
    """Most lines in one multi-line suggestion."""
    candidates: int = 3
    """Suggestions an explicit request offers to cycle through (Alt+] and Alt+[ in VS Code), made
    from one prompt; automatic requests offer one."""
    multiline: str = "auto"
    """auto: multi-line only where it does not push code around; always; never."""
    threads: int = 0
    """CPU threads for the model; 0 picks automatically."""
    debounce_ms: int = 100
    """Wait after a keystroke before generating; a newer keystroke cancels it."""
    deadline_ms: int = 4000
    """Wall-clock limit for one generation."""
    enabled: bool = True
    languages: dict[str, bool] = field(default_factory=dict)
    """Per-language switch, e.g. {"markdown": false}."""
    max_file_kb: int = 1024
    """AI features are off for documents larger than this."""
    prompt_cache: bool = True
    """Reuse the model's KV cache between requests (off only for benchmarks)."""
    reuse: bool = True
    """Answer from what the server already has: the suggestion typed along, a place revisited,
    a generation still running (off only to measure what it saves)."""
    prefetch: bool = True
    """After a suggestion is accepted, make the next one while the model is idle."""
    saved_states_mb: int = 256
    """Memory for the KV caches of places left behind, so that jumping back is not a cold prompt
    (0: keep none)."""
    context: bool = True
    """Add repository context (definitions, scopes, similar code) to prompts."""
    validity: bool = True
    """Cut a suggestion back (or drop it) where it would add a syntax error."""
    member_check: bool = False
    """Python: end a suggestion before an attribute jedi knows its object does not have (costs latency)."""
    filter: bool = True
    """Let the learned acceptance filter skip or hide suggestions likely to be rejected."""
    filter_threshold: float = 0.0
    """Acceptance estimate below which a generated suggestion is hidden; 0 uses the cut chosen in
    training (the skip before generation always does)."""
    telemetry: bool = True
    """Log suggestion outcomes to the local database (never sent anywhere; DO_NOT_TRACK=1 also stops it)."""
    telemetry_capture_code: bool = False
    """Also store suggestion text, with secrets redacted (off: only features and numbers are stored)."""
    telemetry_retention_days: int = 90
    telemetry_max_mb: int = 200
    chat_max_tokens: int = 512
    """Most tokens in one chat answer."""
    chat_context_tokens: int = 700
    """Tokens of repository context added to a chat question or an edit."""
    agent_max_attempts: int = 3
    """Drafts the edit agent may make, each told why the last one failed."""
    agent_test_command: str = ""
    """Run after an edit on a temporary copy of the workspace ("python -m pytest -x -q"); empty: none."""
    agent_test_timeout_s: int = 120

    def language_enabled(self, language_id: str) -> bool:
        return self.enabled and self.languages.get(language_id, True)


_LIMITS: dict[str, tuple[int, int]] = {
    "context_size": (256, 131072),
    "connect_timeout_ms": (100, 60000),
    "context_budget": (64, 65536),
    "max_tokens": (1, 1024),
    "max_lines": (1, 200),
    "candidates": (1, 4),
    "threads": (0, 256),
    "saved_states_mb": (0, 65536),
    "debounce_ms": (0, 5000),
    "deadline_ms": (100, 120000),
    "max_file_kb": (1, 1048576),
    "telemetry_retention_days": (1, 3650),
    "telemetry_max_mb": (1, 100000),
    "chat_max_tokens": (16, 8192),
    "chat_context_tokens": (0, 65536),
    "agent_max_attempts": (1, 10),
    "agent_test_timeout_s": (1, 3600),
}
_FLOAT_LIMITS: dict[str, tuple[float, float]] = {"filter_threshold": (0.0, 1.0)}


def snake_case(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from editor JSON, and one message per rejected key.

    Accepts the keys at the top level or under a `hearth` section.
    """
    settings = base or Settings()
    if raw is None:
        return settings, []
    if not isinstance(raw, dict):
        return settings, [f"settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get("hearth"), dict):
        raw = raw["hearth"]
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = snake_case(key)
        if name not in known:
            problems.append(f"unknown setting {key!r} ignored")
            continue
        default = getattr(Settings(), name)
        error = _check(name, value, default)
        if error:
            problems.append(f"setting {key!r}: {error}; using {getattr(settings, name)!r}")
        else:
            changes[name] = dict(value) if isinstance(value, dict) else value
            if isinstance(default, float):
                changes[name] = float(value)
    return replace(settings, **changes), problems


def _check(name: str, value: Any, default: Any) -> str | None:
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        low_f, high_f = _FLOAT_LIMITS[name]
        return None if low_f <= value <= high_f else f"must be between {low_f} and {high_f}"
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected a whole number"
        low, high = _LIMITS[name]
        return None if low <= value <= high else f"must be between {low} and {high}"
    if isinstance(default, str):
        if not isinstance(value, str):
            return "expected a string"
        if name == "multiline" and value not in MULTILINE_MODES:
            return f"must be one of {', '.join(MULTILINE_MODES)}"
        if name == "backend" and value not in BACKENDS:
            return f"must be one of {', '.join(BACKENDS)}"
        if name == "chat_backend" and value and value not in BACKENDS:
            return f"must be empty or one of {', '.join(BACKENDS)}"
        return None
    if isinstance(default, dict):
        ok = isinstance(value, dict) and all(isinstance(v, bool) for v in value.values())
        return None if ok else "expected an object of language ids to true/false"
    return None
