"""Liveness of a graph's tensors over its schedule: the peak memory of what is live at once.

The schedule is the graph's node order (a topological order: what the exporter writes and
onnxruntime's sequential executor runs), taken through the dataflow DAG that networkx builds;
a node output is live from the step that produces it to the last step that reads it (graph
outputs to the end). At a step the node's inputs and its new outputs are live together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from graphc.ir.graph import Graph, Node
from graphc.ir.types import TensorType


@dataclass
class Peak:
    bytes: int  # the most node-output bytes live at one step
    node: Node | None  # the step where it happens (None for a graph without nodes)


def schedule(graph: Graph) -> list[Node]:
    """The nodes in execution order: the topological order of the dataflow DAG closest to the graph's."""
    import networkx as nx  # lazy: only summary's memory needs it (see docs/architecture.md)

    position = {id(n): k for k, n in enumerate(graph.nodes)}
    producer = {id(o): n for n in graph.nodes for o in n.outputs}
    dag = nx.DiGraph()
    dag.add_nodes_from(position)
    dag.add_edges_from((id(producer[id(v)]), id(n)) for n in graph.nodes for v in n.inputs if id(v) in producer)
    by_id = {id(n): n for n in graph.nodes}
    return [by_id[k] for k in nx.lexicographical_topological_sort(dag, key=position.__getitem__)]


def peak_memory(graph: Graph, size: Callable[[TensorType], int]) -> Peak:
    """The peak over the schedule of the `size` of live node outputs (inputs and parameters excluded)."""
    order = schedule(graph)
    step = {id(n): k for k, n in enumerate(order)}
    end = len(order)
    last: dict[int, int] = {}
    for n in order:
        for o in n.outputs:
            last[id(o)] = step[id(n)]  # an output nothing reads dies where it is made
    for n in order:
        for v in n.inputs:
            if id(v) in last:
                last[id(v)] = max(last[id(v)], step[id(n)])
    for v in graph.outputs:
        if id(v) in last:
            last[id(v)] = end
    delta = [0] * (end + 2)  # bytes allocated at step k, freed after step last
    for n in order:
        for o in n.outputs:
            b = size(o.type)
            delta[step[id(n)]] += b
            delta[last[id(o)] + 1] -= b
    best, at, live = 0, None, 0
    for k, n in enumerate(order):
        live += delta[k]
        if live > best:
            best, at = live, n
    return Peak(best, at)
