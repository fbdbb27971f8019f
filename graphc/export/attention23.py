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


def fuse_attention(nodes) -> int:
    """Rewrite every standalone attention core in `nodes` (a list or a GraphProto's repeated node
    field), in place; returns how many."""
    producer = {o: k for k, n in enumerate(nodes) for o in n.output}
    readers: dict[str, int] = {}
    for n in nodes:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1

    def made_by(name: str, op_type: str):
        k = producer.get(name)
        return (k, nodes[k]) if k is not None and nodes[k].op_type == op_type else (None, None)

    dead: list[int] = []
    for out_mm in nodes:
        if out_mm.op_type != "MatMul":
            continue
        k_softmax, softmax = made_by(out_mm.input[0], "Softmax")
        if softmax is None or _attr(softmax, "axis", -1) not in (-1, 3):
            continue
        k_scores, scores = made_by(softmax.input[0], "MatMul")
        if scores is None:
            continue
        _, k_t = made_by(scores.input[1], "Transpose")
        if k_t is None or list(_attr(k_t, "perm", [])) != [0, 2, 3, 1]:
            continue
        if any(readers.get(name, 0) != 1 for name in (softmax.output[0], scores.output[0], k_t.output[0])):
            continue
        del k_t.attribute[:]
        k_t.attribute.append(helper.make_attribute("perm", [0, 2, 1, 3]))
        k_t.output[0] = k_t.output[0] + "/bhsd"
        out_mm.CopyFrom(helper.make_node("Attention", [scores.input[0], k_t.output[0], out_mm.input[1]],
                                         list(out_mm.output), name=out_mm.name, scale=1.0))
        dead += [k_softmax, k_scores]
    for k in sorted(dead, reverse=True):
        del nodes[k]
    return len(dead) // 2
