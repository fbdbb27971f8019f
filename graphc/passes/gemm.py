"""MatMul + Add -> Gemm, and 2-D transposes absorbed into Gemm's trans_a / trans_b flags.

    add(matmul(A, B), C)             ->  gemm(A, B, C)           (A, B rank 2; C broadcasts to [M, N])
    add(gemm(A, B), C)               ->  gemm(A, B, C)           (a gemm without bias, alpha 1)
    matmul(A, transpose(B))          ->  gemm(A, B, trans_b=1)   (rank 2)
    gemm(transpose(A), B, ...)       ->  gemm(A, B, trans_a=1 - trans_a, ...)
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node, Value
from graphc.ops.shape import _perm
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Editor, single_use

NAME = "gemm"
LEVEL = 2


def _untranspose(graph: Graph, v: Value, users: dict) -> tuple[Value, bool, Node | None]:
    """(source, transposed?, transpose node) when `v` is a single-use 2-D transpose."""
    t = v.producer
    if t is not None and t.op == "transpose" and v.type.rank == 2 and single_use(graph, v, users):
        if _perm(t.inputs[0].type, t.attrs) == [1, 0]:
            return t.inputs[0], True, t
    return v, False, None


def _bias_fits(c: Value, out: Value) -> bool:
    """C unidirectionally broadcasts to the [M, N] output (as ONNX Gemm requires)."""
    if c.dtype != out.dtype or c.type.rank > 2:
        return False
    padded = (1,) * (2 - c.type.rank) + tuple(c.shape)
    return all(d == 1 or d == o for d, o in zip(padded, out.shape))


def _rewrite(graph: Graph, node: Node, ed: Editor) -> tuple[Node, list[Node], str] | None:
    """(new gemm, nodes it replaces, description) or None."""
    users = ed.users
    if node.op == "add":
        for side in (0, 1):
            mm, c = node.inputs[side].producer, node.inputs[1 - side]
            bias_free_gemm = mm is not None and mm.op == "gemm" and len(mm.inputs) == 2 and mm.attrs["alpha"] == 1.0
            if mm is None or not (mm.op == "matmul" or bias_free_gemm) or not single_use(graph, node.inputs[side], users):
                continue
            a, b = mm.inputs
            if a.type.rank != 2 or b.type.rank != 2 or not _bias_fits(c, node.outputs[0]):
                continue
            a, ta, t1 = _untranspose(graph, a, users)
            b, tb, t2 = _untranspose(graph, b, users)
            flags = {"trans_a": int(ta) ^ int(mm.attrs.get("trans_a", 0)),
                     "trans_b": int(tb) ^ int(mm.attrs.get("trans_b", 0))}
            new = ed.emit_before(node, "gemm", [a, b, c], flags, sources=[mm])
            if new is not None:
                return new, [n for n in (mm, t1, t2) if n is not None], f"{mm.op} {mm.name} + add {node.name} -> gemm"
        return None
    if node.op in ("matmul", "gemm"):
        a, b = node.inputs[0], node.inputs[1]
        if a.type.rank != 2 or b.type.rank != 2:
            return None
        a2, ta, t1 = _untranspose(graph, a, users)
        b2, tb, t2 = _untranspose(graph, b, users)
        if not (ta or tb):
            return None
        attrs = dict(node.attrs) if node.op == "gemm" else {}
        attrs["trans_a"] = int(attrs.get("trans_a", 0)) ^ int(ta)
        attrs["trans_b"] = int(attrs.get("trans_b", 0)) ^ int(tb)
        absorbed = [t for t in (t1, t2) if t is not None]
        new = ed.emit_before(node, "gemm", [a2, b2, *node.inputs[2:]], attrs, sources=absorbed)
        if new is not None:
            return new, absorbed, f"{node.op} {node.name} of a transpose -> gemm with trans flags"
    return None


def run(graph: Graph, log: PassLog) -> bool:
    changed = False
    while True:
        ed = Editor(graph)
        for node in list(graph.nodes):
            if ed.is_dead(node):
                continue
            result = _rewrite(graph, node, ed)
            if result is None:
                continue
            new, replaced, text = result
            if new.outputs[0].type != node.outputs[0].type:
                ed.remove(new)
                continue
            ed.replace(node.outputs[0], new.outputs[0], take_name=True)
            for dead in [node, *replaced]:
                ed.remove(dead)
            log(text, node, *replaced)
        if not ed.commit():
            return changed
        changed = True
