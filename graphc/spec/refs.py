"""Reference cycles among a scope's layers (`in:` naming a later layer), shown as a path."""

from __future__ import annotations

import networkx as nx


def reads_of(names: list[str], refs: list[object]) -> dict[str, list[str]]:
    """name -> the layer names it reads: its `in:` names (suffixes dropped), else the layer before."""
    result: dict[str, list[str]] = {}
    for i, (name, ref) in enumerate(zip(names, refs)):
        if ref is None:
            result[name] = [names[i - 1]] if i else []
        else:
            items = ref if isinstance(ref, list) else [ref]
            result[name] = [r.partition(".")[0] for r in items if isinstance(r, str)]
    return result


def cycle_path(reads: dict[str, list[str]], current: str, target: str) -> list[str] | None:
    """[current, target, ..., current] when `target` (directly or not) reads `current`, else None."""
    graph = nx.DiGraph()
    graph.add_edges_from((a, b) for a, bs in reads.items() for b in bs)
    if target not in graph or current not in graph:
        return None
    try:
        return [current] + nx.shortest_path(graph, target, current)
    except nx.NetworkXNoPath:
        return None
