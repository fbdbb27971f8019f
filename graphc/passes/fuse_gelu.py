"""Gelu fusion: the exact (erf) GELU written out with primitives becomes one `gelu` (ONNX Gelu,
opset 20).

    0.5 * x * (1 + erf(x / sqrt(2)))      (any association and operand order of the products,
    x * 0.5 * (1 + erf(x * 0.7071...)))    x / 1.4142... or x * 0.7071...)   ->  gelu(x)
"""

from __future__ import annotations

import math

from graphc.ir.graph import Graph, Node, Value
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, const_equals, single_use

NAME = "fuse-gelu"
LEVEL = 2
RTOL = 1e-6  # constants as printed by PyTorch / numpy in float32


def _other(node: Node, v: Value) -> Value | None:
    if node.op != "mul":
        return None
    if node.inputs[0] is v:
        return node.inputs[1]
    if node.inputs[1] is v:
        return node.inputs[0]
    return None


def _reader(graph: Graph, v: Value, users: dict) -> Node | None:
    readers = users.get(id(v), [])
    return readers[0] if len(readers) == 1 and single_use(graph, v, users) else None


def _erf_input(erf: Node) -> Value | None:
    """x when erf's input is x / sqrt(2) or x * (1 / sqrt(2))."""
    u = erf.inputs[0].producer
    if u is None:
        return None
    if u.op == "div" and const_equals(u.inputs[1], math.sqrt(2.0), RTOL):
        return u.inputs[0]
    if u.op == "mul":
        for side in (0, 1):
            if const_equals(u.inputs[side], 1.0 / math.sqrt(2.0), RTOL):
                return u.inputs[1 - side]
    return None


def _is_half_x(v: Value, x: Value) -> bool:
    n = v.producer
    return n is not None and n.op == "mul" and (
        (n.inputs[0] is x and const_equals(n.inputs[1], 0.5)) or (n.inputs[1] is x and const_equals(n.inputs[0], 0.5)))


def match(graph: Graph, erf: Node, users: dict) -> tuple[Value, list[Node]] | None:
    """(x, nodes of the pattern, the last one producing the result) for a Gelu ending above `erf`."""
    if erf.op != "erf":
        return None
    x = _erf_input(erf)
    scale = erf.inputs[0].producer
    if x is None or not single_use(graph, erf.inputs[0], users):
        return None
    add = _reader(graph, erf.outputs[0], users)
    if add is None or add.op != "add":
        return None
    one = add.inputs[1] if add.inputs[0] is erf.outputs[0] else add.inputs[0]
    if not const_equals(one, 1.0):
        return None
    t = add.outputs[0]
    m1 = _reader(graph, t, users)
    if m1 is None or m1.op != "mul":
        return None
    o1 = _other(m1, t)
    nodes = [scale, erf, add, m1]
    if o1 is x or const_equals(o1, 0.5):
        m2 = _reader(graph, m1.outputs[0], users)
        o2 = _other(m2, m1.outputs[0]) if m2 is not None else None
        if o2 is None or not ((o1 is x and const_equals(o2, 0.5)) or (o2 is x and const_equals(o1, 0.5))):
            return None
        nodes.append(m2)
    elif _is_half_x(o1, x) and single_use(graph, o1, users):
        nodes.insert(0, o1.producer)
    else:
        return None
    if nodes[-1].outputs[0].type != x.type:
        return None
    return x, nodes


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for node in list(graph.nodes):
        if ed.is_dead(node):
            continue
        m = match(graph, node, ed.users)
        if m is None:
            continue
        x, nodes = m
        new = ed.fuse(nodes, "gelu", [x])
        if new is None:
            continue
        log(f"{'/'.join(n.op for n in nodes)} -> gelu {new.name}", *nodes)
    if ed.commit():
        graph.prune()
        return True
    return False
