"""Training mode of a forward graph: every node whose op has a training form (`OpDef.train`) is
rewritten by it, in graph order. The forms live on the ops: dropout draws masks from the step's
seed, VAE sampling draws its noise from the same seed (reproducible, unlike RandomNormalLike),
batch norm uses batch statistics and updates its running statistics (as torch's `model.train()`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from graphc.ir.builder import Builder
from graphc.ir.graph import Graph, Node, Value
from graphc.ops import OPS


@dataclass
class RunningUpdate:
    """A non-trainable parameter (batch-norm running statistic) and its value after the step."""

    param: Value
    new: Value


class TrainCtx:
    """What a training form may use (see `graphc.ops.registry.TrainForm`)."""

    def __init__(self, graph: Graph, seed: Value | None):
        self.graph, self.seed = graph, seed
        self.updates: list[RunningUpdate] = []
        self._salt = 0
        self._after: list[Node] = []

    def salt(self) -> int:
        """The next random stream number (1, 2, ... in graph order)."""
        self._salt += 1
        return self._salt

    def after(self, node: Node, build: Callable[[Builder], object]):
        """Build nodes that go after the replacement of `node` (not part of its value)."""
        start = len(self.graph.nodes)
        result = build(Builder(self.graph, node.layer, node.loc))
        self._after += self.graph.nodes[start:]
        del self.graph.nodes[start:]
        return result

    def update(self, param: Value, new: Value) -> None:
        self.updates.append(RunningUpdate(param, new))

    def take_after(self) -> list[Node]:
        nodes, self._after = self._after, []
        return nodes


def _replace(graph: Graph, node: Node, build) -> list[Node] | None:
    """Nodes computing `node`'s output another way: `build(b)` returns the replacement Value,
    which takes over the original output Value (so every user keeps reading it), or None."""
    start = len(graph.nodes)
    result = build(Builder(graph, node.layer, node.loc))
    if result is None:
        assert len(graph.nodes) == start, f"{node.op}: a training form returning None must build nothing"
        return None
    new = graph.nodes[start:]
    del graph.nodes[start:]
    last = result.producer
    out = node.outputs[0]
    last.outputs[last.outputs.index(result)] = out
    out.producer = last
    return new


def _form(node: Node):
    opdef = OPS.get(node.op)
    return opdef.train if opdef is not None else None


def needs_seed(graph: Graph) -> bool:
    """Whether training mode draws random numbers (dropout, VAE sampling)."""
    return any(form.draws(n) for n in graph.nodes if (form := _form(n)) is not None)


def to_training_mode(graph: Graph, seed: Value | None) -> list[RunningUpdate]:
    """Rewrite the nodes with a training form in place; returns the running-statistics updates."""
    ctx = TrainCtx(graph, seed)
    nodes: list[Node] = []
    for node in list(graph.nodes):
        form = _form(node)
        new = None if form is None else _replace(graph, node, lambda b, f=form, n=node: f.rewrite(b, n, ctx))
        nodes += [node] if new is None else new + ctx.take_after()
    graph.nodes = nodes
    return ctx.updates


__all__ = ["RunningUpdate", "TrainCtx", "needs_seed", "to_training_mode"]
