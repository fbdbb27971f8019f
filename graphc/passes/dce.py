"""Dead code elimination: drop nodes no graph output depends on, and parameters nothing reads.

    y = relu(x); z = exp(x); return y   ->   y = relu(x); return y
"""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.passes.log import PassLog

NAME = "dce"
LEVEL = 1


def run(graph: Graph, log: PassLog) -> bool:
    before = list(graph.nodes)
    params_before = set(graph.params)
    graph.prune()
    kept = {id(n) for n in graph.nodes}
    for node in before:
        if id(node) not in kept:
            log(f"removed unused {node.op} {node.name}", node)
    for name in sorted(params_before - set(graph.params)):
        log(f"dropped unused parameter {name}")
    return len(before) != len(graph.nodes) or params_before != set(graph.params)
