"""The model's own token counts, from its vocabulary alone (no weights, no context).

Prompt budgets are in tokens; a characters-per-token estimate is only right
on average. Loading just the GGUF's vocabulary takes a fraction of a second
and a few MB, so the server and `hearth context` count exactly. The server
loads it only after the worker has loaded the same file: a GGUF that would
crash llama.cpp has been found out by then, in the worker's process.
"""

from __future__ import annotations

from collections.abc import Callable

from hearth.model.backend import Spans

Tokenize = Callable[..., list[int]]
"""llama_cpp.Llama.tokenize: (bytes, add_bos=..., special=...) -> token ids."""


def prompt_tokens(tokenize: Tokenize, text: str, control: Spans = ()) -> list[int]:
    """Token ids of `text`, parsing special tokens only inside the `control` spans.

    llama.cpp splits text at special tokens before it runs BPE on the pieces
    in between, so tokenizing piece by piece gives the same ids as one call
    would for Hearth's own markers, while the same marker written in a file
    stays ordinary text.
    """
    tokens: list[int] = []
    at = 0
    for start, end in (*control, (len(text), len(text))):
        if start > at:
            tokens += tokenize(text[at:start].encode("utf-8"), add_bos=False, special=False)
        if end > start:
            tokens += tokenize(text[start:end].encode("utf-8"), add_bos=False, special=True)
        at = max(at, end)
    return tokens


def fit_context(tokens: list[int], n_ctx: int, max_tokens: int, head: Callable[[], list[int]]) -> list[int]:
    """An over-long prompt cut to leave room for the answer.

    The end is kept (the text at the cursor, the question), and the start of
    `head()` where the request names one (a chat's system turn).
    """
    room = max(16, n_ctx - max_tokens - 1)
    if len(tokens) <= room:
        return tokens
    kept = head()[: room // 2]
    return kept + tokens[len(tokens) - (room - len(kept)) :]


def model_tokenizer(model_path: str) -> Callable[[str], int]:
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    return lambda text: len(prompt_tokens(vocab.tokenize, text))
