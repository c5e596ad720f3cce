"""The model's own token counts, from its vocabulary alone (no weights, no context).

Prompt budgets are in tokens; a characters-per-token estimate is only right
on average. Loading just the GGUF's vocabulary takes a fraction of a second
and a few MB, so the server and `hearth context` count exactly. The server
loads it only after the worker has loaded the same file: a GGUF that would
crash llama.cpp has been found out by then, in the worker's process.
"""

from __future__ import annotations

from collections.abc import Callable


def model_tokenizer(model_path: str) -> Callable[[str], int]:
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
