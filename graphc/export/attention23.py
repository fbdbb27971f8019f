"""From ONNX opset 23 on: the standard `Attention` op in place of multi-head attention's core.

The `attention` layer is a composite of primitives (graphc/layers/sequence.py); lowered, its core
is `MatMul(q, Transpose(k, [0, 2, 3, 1]))` -> `Softmax(axis=-1)` -> `MatMul(., v)` over
[N, heads, T, d_head] tensors, with q already scaled by 1/sqrt(d_head). Where that chain stands
alone (each intermediate read once: an inference graph, not a gradient or train step, which read
the probabilities again), it becomes `Attention(q, Transpose(k, [0, 2, 1, 3]), v, scale=1)`.
onnxruntime, OpenVINO and tract all run opset 23's Attention (docs/runtimes.md). A causal
attention keeps its mask and the decomposed form.
"""

from __future__ import annotations

import onnx
from onnx import helper


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def fuse_attention(nodes: list[onnx.NodeProto]) -> int:
    """Rewrite every standalone attention core in `nodes` (in place); returns how many."""
    producer = {o: n for n in nodes for o in n.output}
    readers: dict[str, int] = {}
    for n in nodes:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    dead: set[int] = set()
    count = 0
    for out_mm in nodes:
        if out_mm.op_type != "MatMul":
            continue
        softmax = producer.get(out_mm.input[0])
        if softmax is None or softmax.op_type != "Softmax" or _attr(softmax, "axis", -1) not in (-1, 3):
            continue
        scores = producer.get(softmax.input[0])
        if scores is None or scores.op_type != "MatMul":
            continue
        k_t = producer.get(scores.input[1])
        if k_t is None or k_t.op_type != "Transpose" or list(_attr(k_t, "perm", [])) != [0, 2, 3, 1]:
            continue
        if any(readers.get(name, 0) != 1 for name in (softmax.output[0], scores.output[0], k_t.output[0])):
            continue
        k_t.attribute.remove(next(a for a in k_t.attribute if a.name == "perm"))
        k_t.attribute.append(helper.make_attribute("perm", [0, 2, 1, 3]))
        k_t.output[0] = k_t.output[0] + "/bhsd"
        q, v = scores.input[0], out_mm.input[1]
        fused = helper.make_node("Attention", [q, k_t.output[0], v], list(out_mm.output), name=out_mm.name, scale=1.0)
        out_mm.CopyFrom(fused)
        dead.update((id(softmax), id(scores)))
        count += 1
    nodes[:] = [n for n in nodes if id(n) not in dead]
    return count
