"""Batch-norm folding: inference batch norm right after a conv or a dense (gemm) is folded into
that layer's weight and bias.

    y = batchnorm(conv(x, W, b), g, beta, mean, var)
        ->  y = conv(x, W * s, (b - mean) * s + beta)        with s = g / sqrt(var + eps)

The same holds for gemm(x, W, b) (a `dense` on [N, features]), whose output axis 1 is the
batch-norm channel axis. This changes parameters, so it is an -O2 pass for inference graphs: the
original `<layer>.<param>` initializers are replaced by new ones named after both layers,
`conv2d_1.weight+batchnorm_1` and `conv2d_1.bias+batchnorm_1`, so a tool that swaps weights by
name in the exported file finds no stale `conv2d_1.weight` to overwrite. To keep the plain names
(to swap weights in the ONNX file), export with -O1 or without this pass. Graphs that feed
parameters as inputs (train steps) are left alone: only initializers are folded.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph, Node, Value
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor

NAME = "fold-batchnorm"
LEVEL = 2


def _array(v: Value | None) -> np.ndarray | None:
    return v.data if v is not None and v.kind in ("param", "const") and v.data is not None else None


def _folded_name(v: Value | None, producer: Node, bn: Node, what: str) -> str:
    base = v.name if v is not None else f"{producer.layer or producer.name}.{what}"
    return f"{base}+{bn.layer or bn.name}"


def _new_value(graph: Graph, like: Value | None, data: np.ndarray, name: str) -> Value:
    if like is not None and like.kind == "const":
        return graph.add_const(data, name)
    return graph.add_param(name, data, trainable=like.trainable if like is not None else True)


def fold(graph: Graph, bn: Node, ed: Editor) -> tuple[Node, Node] | None:
    """Fold `bn` into its producer; returns (new node, old producer) or None when it does not apply."""
    x = bn.inputs[0]
    prod = x.producer
    if prod is None or prod.op not in ("conv", "gemm") or not ed.single_use(x):
        return None
    stats = [_array(v) for v in bn.inputs[1:]]
    w, b = prod.inputs[1], prod.inputs[2] if len(prod.inputs) > 2 else None
    wd, bd = _array(w), _array(b)
    if any(s is None for s in stats) or wd is None or (b is not None and bd is None):
        return None
    scale, beta, mean, var = (s.astype(np.float64).reshape(-1) for s in stats)
    s = scale / np.sqrt(var + float(bn.attrs["eps"]))
    channels = s.shape[0]
    if prod.op == "gemm":
        if prod.attrs["alpha"] != 1.0 or prod.attrs["beta"] != 1.0 or wd.ndim != 2:
            return None
        if bd is not None and not (bd.size == 1 or (bd.size == channels and bd.shape[-1] == channels)):
            return None  # a bias that varies along rows is not a per-channel bias
        bias = np.zeros(channels) if bd is None else np.broadcast_to(bd.astype(np.float64).reshape(-1), (channels,))
        new_w = wd * (s[:, None] if prod.attrs["trans_b"] else s[None, :])
    else:
        bias = np.zeros(channels) if bd is None else bd.astype(np.float64)
        new_w = wd * s.reshape((-1,) + (1,) * (wd.ndim - 1))
    new_b = (bias - mean) * s + beta
    dtype = wd.dtype
    w2 = _new_value(graph, w, new_w.astype(dtype), _folded_name(w, prod, bn, "weight"))
    b2 = _new_value(graph, b, new_b.astype(dtype), _folded_name(b, prod, bn, "bias"))
    new = ed.emit_before(bn, prod.op, [prod.inputs[0], w2, b2], prod.attrs, sources=[prod])
    if new is None or new.outputs[0].type != bn.outputs[0].type:
        if new is not None:
            ed.remove(new)
        graph.params.pop(w2.name, None)
        graph.params.pop(b2.name, None)
        return None
    return new, prod


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        result = fold(graph, bn, ed)
        if result is None:
            continue
        new, prod = result
        new.layer, new.loc = prod.layer, prod.loc  # the folded node is the conv/dense, with bn as a source
        new.sources = tuple(l for l in dict.fromkeys([*prod.sources, bn.layer, *bn.sources]) if l and l != prod.layer)
        ed.replace(bn.outputs[0], new.outputs[0], take_name=True)
        ed.remove(bn)
        ed.remove(prod)
        new.name = prod.name  # the conv/dense keeps its node name
        log(f"folded batchnorm {bn.name} into {prod.op} {prod.name}", prod, bn)
    if ed.commit():
        graph.prune()
        return True
    return False
