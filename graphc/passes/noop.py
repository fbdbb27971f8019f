"""No-op elimination: ops that return their input unchanged are removed, their readers read the input.

    identity(x), dropout(x) (inference), cast(x, to=x.dtype), reparameterize(mu, logvar) (inference)
    reshape / flatten / squeeze / unsqueeze / reshape_as / expand_as to x's own shape
    transpose(x, perm=identity), slice covering all of x, concat of one input       ->  x
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ops.shape import _perm
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, can_replace

NAME = "noop"
LEVEL = 1

ALWAYS = ("identity", "dropout")
SAME_TYPE = ("reshape", "flatten", "squeeze", "unsqueeze", "reshape_as", "expand_as")


def is_noop(node: Node) -> bool:
    """True when the node's single output is its first input, element for element."""
    if len(node.outputs) != 1 or not node.inputs:
        return False
    x, y = node.inputs[0], node.outputs[0]
    if node.op in ALWAYS:
        return True
    if x.type != y.type:
        return False
    if node.op in SAME_TYPE or node.op == "cast":
        return True
    if node.op == "reparameterize":
        return len(node.inputs) == 2  # the inference form returns mu
    if node.op == "transpose":
        return _perm(x.type, node.attrs) == list(range(x.type.rank))
    if node.op == "slice":
        steps = node.attrs.get("steps")
        return steps is None or all(s == 1 for s in steps)  # same length with step 1: the whole axis
    if node.op == "concat":
        return len(node.inputs) == 1
    return False


def run(graph: Graph, log: PassLog) -> bool:
    ed = Editor(graph)
    for node in list(graph.nodes):
        if not is_noop(node):
            continue
        x, y = node.inputs[0], node.outputs[0]
        if not can_replace(graph, y, x):
            continue
        ed.replace(y, x)
        ed.remove(node)
        log(f"removed {node.op} {node.name}", node)
    return ed.commit()
