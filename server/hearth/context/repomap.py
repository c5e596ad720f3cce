"""A ranked map of the repository: the signatures that matter most, within a token budget.

Files are ranked by PageRank over the reference graph (a file that uses a
name defined in another file links to it, weighted by how often), as Aider
does; a definition's score is its file's rank times how often other files
use its name. The map lists the best signatures, grouped by file, for chat
and edits, where the model needs the shape of the whole repository.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from hearth.context.index import RepoIndex, Symbol

DAMPING = 0.85


def pagerank(
    nodes: list[str], edges: Iterable[tuple[str, str, float]], iterations: int = 50
) -> dict[str, float]:
    """Rank of each node; edges are (from, to, weight). Dangling nodes spread evenly."""
    if not nodes:
        return {}
    position = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    weights = np.zeros((n, n))
    for source, target, weight in edges:
        if source in position and target in position and source != target:
            weights[position[target], position[source]] += weight
    out = weights.sum(axis=0)
    dangling = out == 0
    transition = np.divide(weights, out, out=np.zeros_like(weights), where=~dangling)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        spread = rank[dangling].sum() / n
        new = (1 - DAMPING) / n + DAMPING * (transition @ rank + spread)
        if np.abs(new - rank).sum() < 1e-9:
            rank = new
            break
        rank = new
    return {node: float(rank[i]) for i, node in enumerate(nodes)}


def ranked_definitions(symbols: list[Symbol], refs: list[tuple[str, str, int]]) -> list[tuple[float, Symbol]]:
    defined_in: dict[str, set[str]] = defaultdict(set)
    for symbol in symbols:
        defined_in[symbol.name].add(symbol.path)
    files = sorted({s.path for s in symbols} | {path for path, _, _ in refs})
    edges = [
        (path, target, float(count))
        for path, name, count in refs
        for target in defined_in.get(name, ())
        if target != path
    ]
    file_rank = pagerank(files, edges)
    uses: dict[str, int] = defaultdict(int)
    for path, name, count in refs:
        if path not in defined_in.get(name, ()):
            uses[name] += count

    def score(symbol: Symbol) -> float:
        # A name defined in many places (args, run, __init__) says little about any one of them.
        ambiguity = len(defined_in[symbol.name])
        private = 0.1 if symbol.name.startswith("_") else 1.0
        return file_rank.get(symbol.path, 0.0) * math.log1p(uses.get(symbol.name, 0)) * private / ambiguity

    scored = [(score(s), s) for s in symbols]
    scored.sort(key=lambda item: (-item[0], item[1].path, item[1].line))
    return scored


def repository_map(index: RepoIndex, budget_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The best-ranked signatures, grouped by file in path order, within `budget_tokens`."""
    symbols, refs = index.graph()
    chosen: dict[str, list[Symbol]] = defaultdict(list)
    used = 0
    for _score, symbol in ranked_definitions(symbols, refs):
        cost = (
            count_tokens(symbol.signature)
            + 2
            + (0 if symbol.path in chosen else count_tokens(symbol.path) + 1)
        )
        if used + cost > budget_tokens:
            continue
        chosen[symbol.path].append(symbol)
        used += cost
    lines = []
    for path in sorted(chosen):
        lines.append(f"{path}:")
        for symbol in sorted(chosen[path], key=lambda s: s.line):
            lines.append(f"  {symbol.line + 1}: {symbol.signature}")
    return "\n".join(lines)
