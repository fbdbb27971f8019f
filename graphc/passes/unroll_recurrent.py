"""rnn / gru with a fixed sequence length -> their step-by-step decomposition (train steps only).

    y, h = gru(x, w_ih, w_hh, b_ih, b_hh)   ->   T steps of gemm, sigmoid, tanh, mul, add, concat

Their gradient rule differentiates that same decomposition, so the backward pass then reuses
the forward's gates and states instead of computing the sequence a second time (onnxruntime's
GRU op, then the unrolled copy). lstm stays one node: its hand-written gradient
(graphc/ops/recurrent.py) recomputes every step's gates in a few batched nodes from the op's
`y`, which beats the unrolled forward (bench/train.py).
"""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.ops import Builder
from graphc.ops.recurrent import unrolled
from graphc.passes.log import PassLog

NAME = "unroll_recurrent"
LEVEL = None  # not in the -O levels: training/step.py runs it on a train-step graph


def run(graph: Graph, log: PassLog) -> int:
    """Rewrite in place; returns how many nodes were unrolled."""
    count = 0
    for node in list(graph.nodes):
        if node.op not in ("rnn", "gru") or not isinstance(node.inputs[0].shape[1], int):
            continue
        start = len(graph.nodes)
        results = unrolled(Builder(graph, node.layer, node.loc), node.op, list(node.inputs), node.attrs)
        new = graph.detach_since(start)
        graph.take_over(node.outputs, results, readers=new)  # the old Values keep their names and users
        graph.splice(node, new)
        log(f"unrolled {node.op} {node.name} into {len(new)} nodes", node)
        count += 1
    return count
