"""Shape folding: computations on shapes that are known when the dims are static.

    shape_size(x, axes) with fixed dims      ->  a scalar constant
    zeros_like(x) with a fixed shape         ->  a constant
    reshape_as(x, like)                      ->  reshape(x, shape=[...])   (no runtime Shape node)
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.types import np_dtype
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, can_replace, is_output, reshape_spec, static_size

NAME = "shapes"
LEVEL = 2
FOLD_LIMIT = 1 << 18


def _constant_for(graph: Graph, node: Node):
    out = node.outputs[0]
    if node.op == "shape_size":
        x = node.inputs[0]
        sizes = [x.shape[a] for a in node.attrs["axes"]]
        if all(isinstance(d, int) for d in sizes):
            return np.asarray(np.prod(sizes, dtype=np.int64), dtype=np_dtype(node.attrs["dtype"]))
    if node.op == "zeros_like":
        size = static_size(out.shape)
        if size is not None and size <= FOLD_LIMIT:
            return np.zeros(out.shape, dtype=np_dtype(out.dtype))
    return None


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for node in list(graph.nodes):
        if len(node.outputs) != 1:
            continue
        out = node.outputs[0]
        data = _constant_for(graph, node)
        if data is not None and not is_output(graph, out):
            graph._names.discard(out.name)
            ed.replace(out, graph.add_const(data, out.name))
            ed.remove(node)
            log(f"folded {node.op} {node.name} into a constant", node)
            continue
        if node.op == "reshape_as":
            x = node.inputs[0]
            spec = reshape_spec(x.shape, out.shape)
            new = ed.emit_before(node, "reshape", [x], {"shape": spec}) if spec is not None else None
            if new is None:
                continue
            if not can_replace(graph, out, new.outputs[0]):
                ed.remove(new)
                continue
            ed.replace(out, new.outputs[0], take_name=True)
            ed.remove(node)
            log(f"reshape_as {node.name} -> reshape to {spec}", node)
    return ed.commit()
