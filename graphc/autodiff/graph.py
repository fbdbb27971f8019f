"""`gradients` over graphc's op table, and `grad_graph`: a model graph plus its gradient, as one
new graph (differentiable again)."""

from __future__ import annotations

from graphc.errors import SpecError, did_you_mean
from graphc.ir import reverse
from graphc.ir.graph import Graph, Value
from graphc.ir.types import is_float
from graphc.ops import OPS, Builder

GRAD_PREFIX = "grad."


def gradients(graph: Graph, ys: list[Value], cotangents: list[Value | None], wrt: list[Value]) -> list[Value | None]:
    """d(sum_i <ys_i, cotangents_i>)/d(wrt_j) for each j, as new nodes of `graph` (None where no
    path leads from `wrt_j` to the ys); see graphc/ir/reverse.py."""
    return reverse.gradients(graph, ys, cotangents, wrt, OPS)


def resolve_wrt(graph: Graph, wrt: str | list[str] | None) -> list[Value]:
    """`params` (trainable parameters), `inputs` (float inputs), or names (a list or 'a,b')."""
    if wrt is None or wrt == "params" or wrt == "inputs":
        return _group(graph, wrt or "params")
    names = [n.strip() for n in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
    known = {v.name: v for v in graph.inputs}
    known.update(graph.params)
    picked = []
    for name in names:
        if name in ("params", "inputs"):
            picked += [v for v in _group(graph, name) if v not in picked]
            continue
        if name not in known:
            raise SpecError(f"--wrt: '{name}' is not a parameter or input of {graph.name}",
                            hint=did_you_mean(name, known) or "use params, inputs or names from `graphc summary`")
        value = known[name]
        if not is_float(value.dtype):
            raise SpecError(f"--wrt: '{name}' has dtype {value.dtype}; only float values have gradients")
        if value not in picked:
            picked.append(value)
    return picked


def _group(graph: Graph, group: str) -> list[Value]:
    """`params`: the trainable float parameters; `inputs`: the float inputs."""
    if group == "params":
        return [p for p in graph.params.values() if p.trainable and is_float(p.dtype)]
    return [v for v in graph.inputs if is_float(v.dtype)]


def _loss_output(graph: Graph, loss: str) -> Value:
    outs = {v.name: v for v in graph.outputs}
    if loss not in outs:
        raise SpecError(f"--loss: '{loss}' is not an output of {graph.name}",
                        hint=did_you_mean(loss, outs) or f"outputs: {', '.join(outs)}")
    value = outs[loss]
    if len(value.shape) != 0 or not is_float(value.dtype):
        raise SpecError(f"--loss: output '{loss}' has type {value.type}; the loss must be a float scalar",
                        hint="reduce it with a mean or sum layer")
    return value


def grad_graph(graph: Graph, wrt: str | list[str] | None = "params", loss: str | None = None) -> Graph:
    """A copy of `graph` that also computes gradients.

    Inputs: the model inputs plus `grad.<output>` (a cotangent) for each float output, or, with
    `loss`, none: that scalar output's cotangent is 1. Outputs: the model outputs plus
    `grad.<name>` for each value in `wrt`. Parameters stay parameters.
    """
    g = graph.clone()
    targets = resolve_wrt(g, wrt)
    if loss is not None:
        ys, cots = [_loss_output(g, loss)], [None]
    else:
        ys = [v for v in g.outputs if is_float(v.dtype)]
        cots = [g.add_input(GRAD_PREFIX + y.name, y.type) for y in ys]
    results = gradients(g, ys, cots, targets)
    b = Builder(g)
    taken = {id(v) for v in g.outputs} | {id(v) for v in g.inputs}
    for w, r in zip(targets, results):
        if r is None:
            r = b.zeros_like(w)
            r.producer.role = "backward"
        b.output(r, GRAD_PREFIX + w.name, taken).producer.role = "backward"
    g.metadata = dict(g.metadata, **{"graphc.grad.wrt": ",".join(w.name for w in targets)})
    if loss is not None:
        g.metadata["graphc.grad.loss"] = loss
    return g
