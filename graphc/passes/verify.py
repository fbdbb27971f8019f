"""The graph checker the pass manager runs after every pass in debug mode (GRAPHC_DEBUG=1, tests).

It checks what every pass must keep true: nodes in topological order, every input produced
before it is read (graph input, parameter, constant or an earlier node), unique names, and
each node's output types equal to what its op's shape rule infers from its inputs.
"""

from __future__ import annotations

from graphc.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.ops import OPS


class InvalidGraph(AssertionError):
    """A pass broke the graph: a bug in graphc, not in the spec."""


def verify_graph(graph: Graph, after: str = "") -> None:
    """Raise InvalidGraph naming the node and the pass when the graph is not well formed."""
    where = f"after pass {after}: " if after else ""

    def fail(msg: str) -> None:
        raise InvalidGraph(f"{where}{msg}")

    available: set[int] = set()
    names: set[str] = set()

    def claim(name: str, what: str) -> None:
        if name in names:
            fail(f"two values are named {name} ({what})")
        names.add(name)

    input_ids = {id(v) for v in graph.inputs}
    for v in graph.inputs:
        if v.kind != "input":
            fail(f"graph input {v.name} has kind {v.kind}")
        claim(v.name, "input")
        available.add(id(v))
    for key, p in graph.params.items():
        if p.kind != "param" or key != p.name or p.data is None:
            fail(f"parameter {key} is malformed (kind {p.kind}, name {p.name})")
        if tuple(p.data.shape) != tuple(p.shape):
            fail(f"parameter {key} holds an array of shape {p.data.shape}, typed {p.type}")
        claim(p.name, "parameter")
        available.add(id(p))
    consts: set[int] = set()
    node_names: set[str] = set()
    for node in graph.nodes:
        if node.op not in OPS:
            fail(f"node {node.name} has unknown op {node.op}")
        if node.name in node_names:
            fail(f"two nodes are named {node.name}")
        node_names.add(node.name)
        for v in node.inputs:
            if v.kind == "const":
                if v.data is None or tuple(v.data.shape) != tuple(v.shape):
                    fail(f"constant {v.name} read by {node.name} has no data of its type {v.type}")
                if id(v) not in consts:
                    claim(v.name, "constant")
                    consts.add(id(v))
            elif v.kind == "param" and graph.params.get(v.name) is not v:
                fail(f"node {node.name} reads parameter {v.name}, which is not in graph.params")
            elif v.kind == "input" and id(v) not in input_ids:
                fail(f"node {node.name} reads {v.name}, which is not a graph input")
            elif v.kind == "node" and id(v) not in available:
                fail(f"node {node.name} reads {v.name} before it is produced (not in topological order)")
        opdef = OPS[node.op]
        try:
            opdef.check_arity(len(node.inputs))
            inferred = opdef.infer([v.type for v in node.inputs], node.attrs)
        except GraphcError as e:
            fail(f"node {node.name} ({node.op}) fails its shape rule: {e}")
        actual = [v.type for v in node.outputs]
        if list(inferred) != actual:
            fail(f"node {node.name} ({node.op}) has output types {[str(t) for t in actual]}, its op infers "
                 f"{[str(t) for t in inferred]}")
        for out in node.outputs:
            if out.producer is not node or out.kind != "node":
                fail(f"output {out.name} of {node.name} does not point back to its producer")
            claim(out.name, f"output of {node.name}")
            available.add(id(out))
    for v in graph.outputs:
        if id(v) not in available:
            fail(f"graph output {v.name} is not produced")
    if len({v.name for v in graph.outputs}) != len(graph.outputs):
        fail("two graph outputs have the same name")
