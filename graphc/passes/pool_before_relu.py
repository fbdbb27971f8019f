"""maxpool(relu(x)) -> relu(maxpool(x)) where the relu feeds only the pool (train steps only).

    r = relu(x); m = maxpool(r)   ->   p = maxpool(x); m = relu(p)

The values are identical (relu is monotone, so it commutes with max), the relu and its gradient
mask then touch the pooled tensor (4x smaller for 2x2 windows), and the gradient differs from
the original order only where a window's maximum is tied at or below zero, where both are valid
subgradients (every such entry is 0 in both orders).
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Value
from graphc.passes.log import PassLog

NAME = "pool_before_relu"
LEVEL = None  # not in the -O levels: training/step.py runs it on a train-step graph


def run(graph: Graph, log: PassLog) -> int:
    """Rewrite in place; returns how many relu/maxpool pairs were swapped."""
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    count = 0
    for relu in list(graph.nodes):
        r = relu.outputs[0]
        readers = users.get(id(r), [])
        if relu.op != "relu" or id(r) in outputs or len(readers) != 1 or readers[0].op != "maxpool":
            continue
        pool = readers[0]
        m = pool.outputs[0]
        pooled = Value(graph.fresh_name(f"{pool.name}_pre_relu"), m.type, producer=pool)
        pool.inputs[0], pool.outputs[0] = relu.inputs[0], pooled
        relu.inputs[0], relu.outputs[0] = pooled, m
        m.producer = relu
        graph.swap(relu, pool)
        log(f"moved {pool.name} before {relu.name}", pool, relu)
        count += 1
    return count
