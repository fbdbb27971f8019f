"""Sampling ops: the VAE `reparameterize` step and the Gaussian noise it draws in training.

`reparameterize(mu, logvar)` is deterministic inference (the PyTorch VAE convention): it returns
`mu`. `reparameterize(mu, logvar, eps)` is the training form, `mu + exp(0.5 * logvar) * eps`,
with `eps` either fed from outside (reproducible) or drawn by `random_normal_like(mu)`;
`enable_sampling(graph)` turns every inference form of a graph into the sampled one.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.graph import Graph
from graphc.ir.types import format_shape, np_dtype
from graphc.ops.common import need_float
from graphc.ops.registry import OpDef, register


def _reparam_infer(ts, a):
    mu = ts[0]
    need_float(mu, "reparameterize", "mu")
    for t, what in zip(ts[1:], ("logvar", "eps")):
        if t.dtype != mu.dtype or tuple(t.shape) != tuple(mu.shape):
            raise ShapeError(f"reparameterize: {what} is {format_shape(t.shape)} {t.dtype}, mu is "
                             f"{format_shape(mu.shape)} {mu.dtype}; they must match")
    return [mu]


def _reparam_ref(ins, a):
    if len(ins) == 2:
        return ins[0].copy()
    mu, logvar, eps = ins
    return (mu + np.exp(0.5 * logvar) * eps).astype(mu.dtype)


def _reparam_lower(ctx, n) -> None:
    if len(n.inputs) == 2:
        ctx.alias(n.outputs[0], n.inputs[0])
        return
    mu, logvar, eps = ctx.names(n.inputs)
    half = ctx.const(np.asarray(0.5, dtype=np_dtype(n.inputs[0].dtype)), f"{n.name}/half")
    scaled, std, noise = ctx.tmp(n, "half_logvar"), ctx.tmp(n, "std"), ctx.tmp(n, "noise")
    ctx.emit("Mul", [logvar, half], [scaled])
    ctx.emit("Exp", [scaled], [std])
    ctx.emit("Mul", [std, eps], [noise])
    ctx.emit("Add", [mu, noise], ctx.names(n.outputs))


def _reparam_vjp(b, n, g):
    if len(n.inputs) == 2:  # inference form: y = mu
        return [g[0], None]
    mu, logvar, eps = n.inputs
    std = b.exp(b.mul(logvar, 0.5))
    noise_g = b.mul(g[0], std)  # d y / d eps = std
    return [g[0], b.mul(b.mul(noise_g, eps), 0.5), noise_g]


register(OpDef("reparameterize", ("mu", "logvar", "eps"), _reparam_infer, _reparam_ref, _reparam_lower,
               min_inputs=2, vjp=_reparam_vjp, family="sampling", public=False,
               doc="VAE sampling: mu (inference form, 2 inputs) or mu + exp(0.5*logvar)*eps (3 inputs)"))


def _normal_ref(ins, a):
    rng = np.random.default_rng(a["seed"])
    return rng.standard_normal(ins[0].shape).astype(ins[0].dtype)


def _normal_lower(ctx, n) -> None:
    attrs = {} if n.attrs["seed"] is None else {"seed": float(n.attrs["seed"])}
    ctx.emit("RandomNormalLike", ctx.names(n.inputs), ctx.names(n.outputs), **attrs)


register(OpDef("random_normal_like", ("x",), lambda ts, a: [need_float(ts[0], "random_normal_like") or ts[0]],
               _normal_ref, _normal_lower, attrs={"seed": None}, vjp=lambda b, n, g: [None], family="sampling",
               public=False, doc="N(0, 1) noise of x's shape and dtype (numpy's and onnxruntime's streams differ)"))


def enable_sampling(graph: Graph, seed: int | None = None) -> int:
    """Give every 2-input `reparameterize` node a `random_normal_like` eps (training form), in place;
    returns how many nodes changed."""
    changed = 0
    for node in list(graph.nodes):
        if node.op != "reparameterize" or len(node.inputs) != 2:
            continue
        mu = node.inputs[0]
        noise = graph.add_node("random_normal_like", [mu], {"seed": seed}, [mu.type], f"{node.name}/eps",
                               node.layer, node.loc)
        graph.nodes.remove(noise)
        graph.nodes.insert(graph.nodes.index(node), noise)
        node.inputs.append(noise.outputs[0])
        changed += 1
    return changed
