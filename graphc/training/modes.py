"""Training-mode rewrites of a forward graph: dropout draws masks from a seed, VAE sampling draws
its noise from the same seed (reproducible, unlike RandomNormalLike), batch norm uses batch
statistics and updates its running statistics (as torch's `model.train()`)."""

from __future__ import annotations

from dataclasses import dataclass

from graphc.ir.builder import Builder
from graphc.ir.graph import Graph, Node, Value


@dataclass
class RunningUpdate:
    """A non-trainable parameter (batch-norm running statistic) and its value after the step."""

    param: Value
    new: Value


def _replace(graph: Graph, node: Node, build) -> list[Node]:
    """Nodes computing `node`'s output another way: `build(b)` returns the replacement Value,
    which takes over the original output Value (so every user keeps reading it)."""
    start = len(graph.nodes)
    b = Builder(graph, node.layer, node.loc)
    result = build(b)
    new = graph.nodes[start:]
    del graph.nodes[start:]
    last = result.producer
    out = node.outputs[0]
    last.outputs[last.outputs.index(result)] = out
    out.producer = last
    return new


def needs_seed(graph: Graph) -> bool:
    """Whether training mode draws random numbers (dropout, VAE sampling)."""
    return any((n.op == "dropout" and float(n.attrs["rate"]) > 0) or n.op in ("reparameterize", "random_normal_like")
               for n in graph.nodes)


def to_training_mode(graph: Graph, seed: Value | None,
                     shard: tuple[Value, Value] | None = None) -> list[RunningUpdate]:
    """Rewrite dropout and batch-norm nodes in place; returns the running-statistics updates.
    `shard` = (row0, rows): the batch is rows row0.. of a global batch of `rows` rows, and masks and
    noise are drawn by global row (data-parallel training: the draw does not depend on the split)."""
    by_row = list(shard) if shard else []
    nodes: list[Node] = []
    updates: list[RunningUpdate] = []
    salt = 0
    for node in list(graph.nodes):
        if node.op == "dropout" and float(node.attrs["rate"]) > 0:
            salt += 1
            rate, k = float(node.attrs["rate"]), salt
            x = node.inputs[0]
            nodes += _replace(graph, node, lambda b: b.mul(x, b.dropout_mask(x, seed, *by_row, rate=rate, salt=k)))
        elif node.op == "reparameterize" and len(node.inputs) == 2:
            salt += 1
            mu, logvar, k = node.inputs[0], node.inputs[1], salt
            nodes += _replace(graph, node, lambda b: b.reparameterize(
                mu, logvar, b.normal_from_seed(mu, seed, *by_row, salt=k)))
        elif node.op == "random_normal_like":
            salt += 1
            x, k = node.inputs[0], salt
            nodes += _replace(graph, node, lambda b: b.normal_from_seed(x, seed, *by_row, salt=k))
        elif node.op == "batchnorm":
            extra: list = []
            nodes += _replace(graph, node, lambda b: _batchnorm_train(b, graph, node, extra))
            nodes += extra[0]
            updates += extra[1]
        else:
            nodes.append(node)
    graph.nodes = nodes
    return updates


def _batchnorm_train(b: Builder, graph: Graph, node: Node, extra: list) -> Value:
    x, scale, bias, rmean, rvar = node.inputs
    eps = float(node.attrs["eps"])
    info = graph.layer(node.layer)
    momentum = float((info.attrs if info else {}).get("momentum", 0.1))
    axes = [0] + list(range(2, x.type.rank))
    c = x.shape[1]
    bshape = [1, c] + [1] * (x.type.rank - 2)
    mu = b.mean(x, axis=axes, keepdims=True)
    d = b.sub(x, mu)
    var = b.mean(b.mul(d, d), axis=axes, keepdims=True)
    y = b.add(b.mul(b.div(d, b.sqrt(b.add(var, eps))), b.reshape(scale, shape=bshape)), b.reshape(bias, shape=bshape))
    # running statistics (unbiased variance, as torch); not differentiated: built after y
    start = len(graph.nodes)
    sb = Builder(graph, node.layer, node.loc)
    count = sb.shape_size(x, axes=axes, dtype=x.dtype)
    unbiased = sb.mul(sb.reshape(var, shape=[c]), sb.div(count, sb.sub(count, 1.0)))
    new_mean = sb.add(sb.mul(rmean, 1.0 - momentum), sb.mul(sb.reshape(mu, shape=[c]), momentum))
    new_var = sb.add(sb.mul(rvar, 1.0 - momentum), sb.mul(unbiased, momentum))
    stats_nodes = graph.nodes[start:]
    del graph.nodes[start:]
    # y's own nodes were appended before `start`; `_replace` collects them, the stats go after
    extra.extend([stats_nodes, [RunningUpdate(rmean, new_mean), RunningUpdate(rvar, new_var)]])
    return y


__all__ = ["RunningUpdate", "needs_seed", "to_training_mode"]
