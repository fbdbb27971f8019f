"""Reverse mode over the IR: the gradient of a graph is more nodes of the same graph.

`gradients(graph, ys, cotangents, wrt, ops)` walks the nodes between `wrt` and `ys` backwards
(no recursion: graphs have thousands of nodes), calls each op's `vjp(builder, node, output
cotangents)` from the op table `ops`, sums the contributions of values used several times, and
appends the backward nodes to `graph` (role "backward", in the forward node's layer and spec
location). It sits in the IR, below the ops, so that a gradient rule can differentiate its op's
own decomposition (rnn, gru); `graphc.autodiff.gradients` is this loop over graphc's registry.
"""

from __future__ import annotations

from typing import Any, Mapping

from graphc.errors import ShapeError, SpecError
from graphc.ir.builder import Builder
from graphc.ir.graph import Graph, Node, Value
from graphc.ir.types import is_float


def _reaching(graph: Graph, wrt: list[Value]) -> set[int]:
    """ids of float values that depend on some `wrt` value."""
    live = {id(v) for v in wrt if is_float(v.dtype)}
    for node in graph.nodes:
        if any(id(v) in live for v in node.inputs):
            live.update(id(o) for o in node.outputs if is_float(o.dtype))
    return live


def _needed(graph: Graph, ys: list[Value]) -> set[int]:
    """ids of values that some `ys` value depends on."""
    live = {id(v) for v in ys}
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            live.update(id(v) for v in node.inputs)
    return live


def _where(node: Node) -> str:
    return f"layer '{node.layer}'" if node.layer else f"node '{node.name}'"


def _no_grad_error(node: Node, reason: str) -> SpecError:
    return SpecError(f"cannot differentiate through {node.op} ({_where(node)}): {reason}", node.loc)


def _check_cotangent(node: Node, k: int, x: Value, g: Value) -> None:
    if g.dtype != x.dtype or len(g.shape) != len(x.shape) or any(
            isinstance(a, int) and isinstance(c, int) and a != c for a, c in zip(g.shape, x.shape)):
        raise ShapeError(f"gradient rule of {node.op} gave {g.type} for input {k} of type {x.type} "
                         f"({_where(node)})")


def gradients(graph: Graph, ys: list[Value], cotangents: list[Value | None], wrt: list[Value],
              ops: Mapping[str, Any]) -> list[Value | None]:
    """d(sum_i <ys_i, cotangents_i>)/d(wrt_j) for each j, as new nodes of `graph`.

    A cotangent of None for a scalar y means 1. The result holds None where no path leads from
    a `wrt` value to a `ys` value (callers turn that into zeros). Integer and boolean values are
    not differentiated.
    """
    if len(ys) != len(cotangents):
        raise ValueError("gradients: ys and cotangents must have the same length")
    forward = list(graph.nodes)
    start = len(graph.nodes)
    reach = _reaching(graph, wrt)
    need = _needed(graph, ys)
    active = {id(v) for v in graph.values() if id(v) in reach and id(v) in need}
    active.update(id(v) for v in wrt if id(v) in reach and id(v) in need)

    b = Builder(graph, ops=ops)
    pending: dict[int, list[Value]] = {}
    for y, cot in zip(ys, cotangents):
        if id(y) not in active:
            continue
        if cot is None:
            if len(y.shape) != 0:
                raise ShapeError(f"gradients: output {y.name} has shape {y.type}; only a scalar output "
                                 "may omit its cotangent")
            cot = b.const(1.0, y.dtype, name="one")
        pending.setdefault(id(y), []).append(cot)

    def total(v: Value, builder: Builder) -> Value | None:
        parts = pending.pop(id(v), None)
        if not parts:
            return None
        acc = parts[0]
        for p in parts[1:]:
            acc = builder.add(acc, p)
        pending[id(v)] = [acc]
        return acc

    for node in reversed(forward):
        if not any(id(o) in active for o in node.outputs):
            continue
        nb = Builder(graph, node.layer, node.loc, ops=ops)
        gs = [total(o, nb) for o in node.outputs]
        if all(g is None for g in gs):
            continue
        opdef = ops[node.op]
        if opdef.vjp is None:
            raise _no_grad_error(node, opdef.no_grad or "the op has no gradient rule")
        first = len(graph.nodes)
        try:
            results = list(opdef.vjp(nb, node, gs))
        except ShapeError as e:
            raise SpecError(f"gradient of {node.op} ({_where(node)}): {e.message}", node.loc, e.hint) from e
        for new in graph.nodes[first:]:
            new.role = "backward"
        if len(results) != len(node.inputs):
            raise ShapeError(f"gradient rule of {node.op} returned {len(results)} cotangents for "
                             f"{len(node.inputs)} inputs")
        for k, (x, g) in enumerate(zip(node.inputs, results)):
            if g is None or id(x) not in active:
                continue
            _check_cotangent(node, k, x, g)
            pending.setdefault(id(x), []).append(g)

    results = [total(w, b) if id(w) in active else None for w in wrt]
    for new in graph.nodes[start:]:
        new.role = "backward"
    _drop_dead(graph, start, results)
    return results


def _drop_dead(graph: Graph, start: int, keep: list[Value | None]) -> None:
    """Remove backward nodes (those from index `start` on) that no result depends on."""
    live = {id(v) for v in keep if v is not None}
    kept: list[Node] = []
    for node in reversed(graph.nodes[start:]):
        if any(id(o) in live for o in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs)
    graph.nodes[start:] = kept[::-1]
