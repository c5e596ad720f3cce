"""What Hearth changes in llama.cpp's default parameters before llama-cpp-python uses them.

llama-cpp-python builds its context and model parameters from llama.cpp's
defaults and exposes only some of them; the rest are set here, while a
`Llama` is made, by handing it defaults of Hearth's own.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def llama_defaults(sequences: int | None = None) -> Iterator[None]:
    """Llama contexts and models made inside get Hearth's defaults.

    Contexts (unless `sequences` is None) hold `sequences` sequences in one
    unified KV cache (llama-cpp-python sets the number only for embedding
    models): unified, each sequence may use the whole context, and a copied
    sequence shares its cells instead of copying them.

    Models keep their weights in plain CPU buffers where llama.cpp's CPU
    backend would repack them for Intel AMX: decoding on AMX buffers crashes
    the process at its first batch on some machines (seen here on a Sapphire
    Rapids virtual machine; llama.cpp issues #11115 and #20824 report the
    same), and the plain kernels are what every other CPU runs.
    """
    import llama_cpp.llama_cpp as bindings

    context_defaults = bindings.llama_context_default_params
    model_defaults = bindings.llama_model_default_params

    def context() -> Any:
        params = context_defaults()
        params.n_seq_max = sequences
        params.kv_unified = True
        return params

    def model() -> Any:
        params = model_defaults()
        if cpu_uses_amx():
            params.use_extra_bufts = False
        return params

    if sequences is not None:
        bindings.llama_context_default_params = context
    bindings.llama_model_default_params = model
    try:
        yield
    finally:
        bindings.llama_context_default_params = context_defaults
        bindings.llama_model_default_params = model_defaults


@functools.cache
def cpu_uses_amx() -> bool:
    """Whether the installed llama.cpp CPU backend was built for Intel AMX (it is built for the
    machine it is installed on: a source build is native)."""
    import llama_cpp

    for library in sorted((Path(llama_cpp.__file__).parent / "lib").glob("*ggml-cpu*")):
        try:
            return bool(ctypes.CDLL(str(library)).ggml_cpu_has_amx_int8())
        except (OSError, AttributeError):
            continue
    return False
