"""Which tree-sitter grammar serves which LSP language id, and what its definitions look like.

Grammars come from the official per-language wheels, loaded on first use;
a language without one (or whose wheel fails to load) gets plain-text
context and nothing fails.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageSpec:
    module: str
    function: str
    definitions: frozenset[str]
    """Node types that define a named thing (function, class, method, type...)."""
    scopes: frozenset[str]
    """Definitions that enclose code: their signatures head the chain of scopes."""
    imports: frozenset[str]


def _spec(module: str, function: str, definitions: str, scopes: str, imports: str) -> LanguageSpec:
    return LanguageSpec(
        module,
        function,
        frozenset(definitions.split()),
        frozenset(scopes.split()),
        frozenset(imports.split()),
    )


_JS_DEFS = (
    "function_declaration generator_function_declaration class_declaration method_definition "
    "interface_declaration type_alias_declaration enum_declaration abstract_class_declaration"
)
_JS_SCOPES = "function_declaration generator_function_declaration class_declaration method_definition"
SPECS: dict[str, LanguageSpec] = {
    "python": _spec("tree_sitter_python", "language", "function_definition class_definition",
                    "function_definition class_definition",
                    "import_statement import_from_statement future_import_statement"),
    "javascript": _spec("tree_sitter_javascript", "language", _JS_DEFS, _JS_SCOPES, "import_statement"),
    "typescript": _spec("tree_sitter_typescript", "language_typescript", _JS_DEFS, _JS_SCOPES,
                        "import_statement"),
    "typescriptreact": _spec("tree_sitter_typescript", "language_tsx", _JS_DEFS, _JS_SCOPES,
                             "import_statement"),
    "go": _spec("tree_sitter_go", "language", "function_declaration method_declaration type_spec",
                "function_declaration method_declaration", "import_declaration package_clause"),
    "rust": _spec("tree_sitter_rust", "language",
                  "function_item struct_item enum_item trait_item impl_item mod_item type_item",
                  "function_item impl_item trait_item mod_item", "use_declaration"),
    "java": _spec("tree_sitter_java", "language",
                  "class_declaration interface_declaration enum_declaration record_declaration "
                  "method_declaration constructor_declaration",
                  "class_declaration interface_declaration enum_declaration method_declaration "
                  "constructor_declaration",
                  "import_declaration package_declaration"),
    "c": _spec("tree_sitter_c", "language",
               "function_definition struct_specifier enum_specifier type_definition",
               "function_definition", "preproc_include"),
    "cpp": _spec("tree_sitter_cpp", "language",
                 "function_definition class_specifier struct_specifier enum_specifier namespace_definition",
                 "function_definition class_specifier struct_specifier namespace_definition",
                 "preproc_include using_declaration"),
}  # fmt: skip
ALIASES = {
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "tsx": "typescriptreact",
    "h": "c",
    "hpp": "cpp",
}


def canonical(language_id: str) -> str:
    return ALIASES.get(language_id, language_id)


@functools.cache
def grammar(language_id: str) -> Any | None:
    """The tree_sitter.Language for a language id, or None (plain-text context)."""
    spec = SPECS.get(canonical(language_id))
    if spec is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(spec.module)
        return tree_sitter.Language(getattr(module, spec.function)())
    except Exception as exc:  # a broken grammar wheel must not break completions
        log.warning("tree-sitter grammar for %s unavailable: %s", language_id, exc)
        return None


def spec_for(language_id: str) -> LanguageSpec | None:
    return SPECS.get(canonical(language_id))


EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescriptreact", ".go": "go", ".rs": "rust",
    ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
}  # fmt: skip


def language_of(path: str) -> str | None:
    """The LSP language id for a file name, for the languages Hearth indexes."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())
