"""LayerNormalization fusion: the mean / sub / pow / add / sqrt / div pattern becomes one
`layernorm` (ONNX LayerNormalization, opset 17), with the following scale and shift absorbed.

    mu = mean(x, axes, keepdims); d = x - mu; var = mean(d ** 2 | d * d, axes, keepdims)
    y = d / sqrt(var + eps) [* gamma] [+ beta]          ->  layernorm(x, gamma, beta, axis, eps)

The axes must be the trailing ones (axis..rank-1), eps a scalar constant, and gamma / beta
exactly the normalized shape (as LayerNormalization needs).
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node, Value
from graphc.ops.common import axes_list
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, const_data, const_equals, is_output, single_use

NAME = "fuse-layernorm"
LEVEL = 2


def _prod(v: Value, op: str) -> Node | None:
    n = v.producer
    return n if n is not None and n.op == op else None


def _trailing_axes(node: Node) -> int | None:
    """The first normalized axis when a keepdims mean reduces exactly the trailing axes."""
    rank = node.inputs[0].type.rank
    if not node.attrs.get("keepdims") or rank == 0:
        return None
    axes = axes_list(node.attrs["axis"], rank, "mean")
    return axes[0] if axes == list(range(axes[0], rank)) else None


def match(graph: Graph, div: Node, users: dict) -> dict | None:
    """The parts of the pattern ending at `div`, or None."""
    if div.op != "div":
        return None
    d, s = div.inputs
    sub, sqrt = _prod(d, "sub"), _prod(s, "sqrt")
    if sub is None or sqrt is None or not single_use(graph, s, users):
        return None
    x, mu = sub.inputs
    mean1 = _prod(mu, "mean")
    add = _prod(sqrt.inputs[0], "add")
    if mean1 is None or mean1.inputs[0] is not x or add is None or not single_use(graph, mu, users):
        return None
    var, eps = add.inputs
    if _prod(var, "mean") is None:
        var, eps = eps, var
    mean2 = _prod(var, "mean")
    eps_data = const_data(eps)
    if mean2 is None or eps_data is None or eps_data.size != 1 or not single_use(graph, var, users):
        return None
    sq = mean2.inputs[0].producer
    if sq is None or not single_use(graph, sq.outputs[0], users):
        return None
    if sq.op == "pow" and sq.inputs[0] is d and const_equals(sq.inputs[1], 2.0):
        pass
    elif sq.op == "mul" and sq.inputs[0] is d and sq.inputs[1] is d:
        pass
    else:
        return None
    axis = _trailing_axes(mean1)
    if axis is None or _trailing_axes(mean2) != axis or not single_use(graph, sqrt.inputs[0], users):
        return None
    # d is read by the square and the division only
    if is_output(graph, d) or len(users.get(id(d), [])) != (2 if sq.op == "pow" else 3):
        return None
    return {"x": x, "axis": axis - x.type.rank, "eps": float(eps_data.reshape(-1)[0]),
            "nodes": [mean1, sub, sq, mean2, add, sqrt, div]}


def _affine(graph: Graph, v: Value, op: str, norm_shape: tuple, users: dict) -> tuple[Node, Value] | None:
    """The single reader of `v` when it is `op` with an operand of exactly the normalized shape."""
    readers = users.get(id(v), [])
    if len(readers) != 1 or not single_use(graph, v, users) or readers[0].op != op:
        return None
    node = readers[0]
    other = node.inputs[1] if node.inputs[0] is v else node.inputs[0]
    if other is v or tuple(other.shape) != tuple(norm_shape) or other.dtype != v.dtype:
        return None
    if node.outputs[0].type != v.type:
        return None
    return node, other


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for node in list(graph.nodes):
        if ed.is_dead(node):
            continue
        m = match(graph, node, ed.users)
        if m is None:
            continue
        x = m["x"]
        norm_shape = tuple(x.shape[m["axis"]:])
        nodes, inputs, root = list(m["nodes"]), [x], node
        scale = _affine(graph, root.outputs[0], "mul", norm_shape, ed.users)
        if scale is not None:
            nodes.append(scale[0])
            inputs.append(scale[1])
            root = scale[0]
            shift = _affine(graph, root.outputs[0], "add", norm_shape, ed.users)
            if shift is not None:
                nodes.append(shift[0])
                inputs.append(shift[1])
                root = shift[0]
        new = ed.fuse(nodes, "layernorm", inputs, {"axis": m["axis"], "eps": m["eps"]})
        if new is None:
            continue
        log(f"{'/'.join(n.op for n in nodes)} -> layernorm {new.name}", *nodes)
    if ed.commit():
        graph.prune()
        return True
    return False
