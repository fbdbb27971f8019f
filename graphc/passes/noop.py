"""No-op elimination: ops that return their input unchanged are removed, their readers read the input.

Each op says when it is a no-op (`OpDef.noop`, rules in graphc/ops/common.py), for example:

    identity(x), dropout(x) (inference), cast(x, to=x.dtype), reparameterize(mu, logvar) (inference)
    reshape / flatten / squeeze / unsqueeze / reshape_as / expand_as to x's own shape
    transpose(x, perm=identity), slice covering all of x, concat of one input       ->  x
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ops import OPS
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, can_replace

NAME = "noop"
LEVEL = 1


def is_noop(node: Node) -> bool:
    """True when the node's single output is its first input, element for element."""
    if len(node.outputs) != 1 or not node.inputs:
        return False
    opdef = OPS.get(node.op)
    return opdef is not None and opdef.noop is not None and opdef.noop(node)


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
