"""Constant folding: a node whose inputs are all constants is evaluated with its op's numpy
reference and replaced by the resulting constant; `constant` nodes become initializers.

    c = transpose(const [2, 3]); y = add(x, c)   ->   y = add(x, const' [3, 2])

Parameters are never folded (they stay initializers named `<layer>.<param>`, so weights can be
swapped), random ops are never evaluated, graph outputs stay computed, and a result larger than
FOLD_LIMIT elements is left to the runtime so a huge constant is never materialized.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph
from graphc.ir.types import np_dtype
from graphc.ops import evaluate
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, is_output, is_pure, static_size

NAME = "constfold"
LEVEL = 2
FOLD_LIMIT = 1 << 18  # elements (1 MiB of float32)


def foldable(graph: Graph, node) -> bool:
    if not is_pure(node.op) or any(is_output(graph, v) for v in node.outputs):
        return False
    if node.op != "constant" and (not node.inputs or any(v.kind != "const" for v in node.inputs)):
        return False
    sizes = [static_size(v.shape) for v in node.outputs]
    return all(s is not None and s <= FOLD_LIMIT for s in sizes)


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for node in list(graph.nodes):
        if not foldable(graph, node):
            continue
        try:
            results = evaluate(node.op, [v.data for v in node.inputs], node.attrs)
        except Exception:  # noqa: BLE001 - a reference that cannot run leaves the node to the runtime
            continue
        if len(results) != len(node.outputs) or any(tuple(np.shape(r)) != tuple(v.shape)
                                                    for r, v in zip(results, node.outputs)):
            continue
        for out, r in zip(node.outputs, results):
            graph._names.discard(out.name)  # the constant takes the folded value's name
            const = graph.add_const(np.asarray(r, dtype=np_dtype(out.dtype)), out.name)
            ed.replace(out, const)
        ed.remove(node)
        log(f"folded {node.op} {node.name} into a constant", node)
    return ed.commit()
