"""Sequence layers: rnn, lstm, gru, multi-head attention, and the VAE's reparameterize step.

Recurrent parameter names follow PyTorch's `nn.RNN/LSTM/GRU` state_dict: with `layers: 1` and one
direction they are `<layer>.weight_ih`, `.weight_hh`, `.bias_ih`, `.bias_hh` (PyTorch's `_l0`
dropped, as the spec contract says); with more layers or `bidirectional: true` every name carries
PyTorch's full suffix (`weight_ih_l0`, `weight_ih_l1`, `weight_ih_l0_reverse`, ...), so a
PyTorch state_dict loads one to one.
"""

from __future__ import annotations

import math

from graphc.errors import ShapeError
from graphc.ir.graph import Value
from graphc.layers.base import REQUIRED, LayerCtx, layer
from graphc.layers.core import positive_int
from graphc.ops.recurrent import GATES, RNN_ACTIVATIONS
from graphc.ops.sampling import name_salt


def _flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ShapeError(f"{what} must be true or false, got {value!r}")
    return value


def recurrent_param_suffix(level: int, reverse: bool, single: bool) -> str:
    """'' for a one-layer one-direction network, else PyTorch's `_l<k>[_reverse]`."""
    return "" if single else f"_l{level}" + ("_reverse" if reverse else "")


# -- rnn / lstm / gru -----------------------------------------------------------------------
def _recurrent_layer(kind: str):
    attrs = {"hidden": REQUIRED, "layers": 1, "bidirectional": False}
    if kind == "rnn":
        attrs["activation"] = "tanh"
    gates = GATES[kind]
    outputs = ("y", "h", "c") if kind == "lstm" else ("y", "h")

    @layer(kind, attrs, outputs=outputs, family="recurrent",
           doc=f"{kind.upper()} over [N, T, C] (batch first, zero initial state, as PyTorch batch_first=True): "
               f"outputs .y [N, T, D*hidden], .h [N, D*hidden] (last layer's final hidden state)"
               + (", .c (final cell state)" if kind == "lstm" else "") + "; D = 2 when bidirectional",
           param_doc=f"weight_ih [{gates}*hidden, in], weight_hh [{gates}*hidden, hidden], bias_ih, bias_hh "
                     f"[{gates}*hidden]; with layers > 1 or bidirectional, PyTorch's suffixes _l<k>[_reverse]; "
                     "U(-1/sqrt(hidden), 1/sqrt(hidden)) as PyTorch")
    def build(ctx: LayerCtx, inputs, a):
        x = inputs[0]
        ctx.expect_rank(x, 3, "[N, T, C] (batch first)",
                        "add a reshape layer before it?" if x.type.rank < 3 else None)
        ctx.use_dtype_of(x)
        hidden = positive_int(a["hidden"], "hidden")
        levels = positive_int(a["layers"], "layers")
        bidirectional = _flag(a["bidirectional"], "bidirectional")
        op_attrs = {}
        if kind == "rnn":
            if a["activation"] not in RNN_ACTIVATIONS:
                raise ShapeError(f"rnn: activation must be {' or '.join(RNN_ACTIVATIONS)}, got {a['activation']!r}")
            op_attrs["activation"] = a["activation"]
        width = ctx.expect_static(x.shape[2], "the feature axis (C)")
        single = levels == 1 and not bidirectional
        bound = 1.0 / math.sqrt(hidden)
        outs: list[Value] = []
        for level in range(levels):
            params = []
            for reverse in ([False, True] if bidirectional else [False]):
                sfx = recurrent_param_suffix(level, reverse, single)
                params += [ctx.param(f"weight_ih{sfx}", (gates * hidden, width), "uniform", bound),
                           ctx.param(f"weight_hh{sfx}", (gates * hidden, hidden), "uniform", bound),
                           ctx.param(f"bias_ih{sfx}", (gates * hidden,), "uniform", bound),
                           ctx.param(f"bias_hh{sfx}", (gates * hidden,), "uniform", bound)]
            outs = ctx.b.emit(kind, x, *params, **op_attrs)
            x = outs[0]
            width = hidden * (2 if bidirectional else 1)
        return list(outs)
    return build


for _kind in ("rnn", "lstm", "gru"):
    _recurrent_layer(_kind)


# -- attention ------------------------------------------------------------------------------
def _project(b, v: Value, weight: Value, bias: Value | None) -> Value:
    """v @ weight.T + bias on the last axis (PyTorch Linear)."""
    y = b.matmul(v, b.transpose(weight, perm=[1, 0]))
    return b.add(y, bias) if bias is not None else y


def multi_head_attention(b, x: Value, context: Value, params: dict, heads: int, causal: bool) -> Value:
    """softmax(Q K^T / sqrt(d_head) [+ causal mask]) V over `heads` heads, as a composite of
    primitives (its gradient is theirs). x [N, T, *], context [N, S, *] -> [N, T, dim].
    `params` maps q/k/v/out to (weight, bias or None) in PyTorch Linear layout."""
    dim = int(params["q"][0].shape[0])
    d_head = dim // heads
    q = b.mul(_project(b, x, *params["q"]), 1.0 / math.sqrt(d_head))
    q = b.transpose(b.reshape(q, shape=[0, 0, heads, d_head]), perm=[0, 2, 1, 3])  # [N, h, T, d]
    k = b.transpose(b.reshape(_project(b, context, *params["k"]), shape=[0, 0, heads, d_head]),
                    perm=[0, 2, 3, 1])  # [N, h, d, S]
    v = b.transpose(b.reshape(_project(b, context, *params["v"]), shape=[0, 0, heads, d_head]),
                    perm=[0, 2, 1, 3])  # [N, h, S, d]
    scores = b.matmul(q, k)  # [N, h, T, S]
    if causal:
        scores = b.causal_mask(scores)
    out = b.matmul(b.softmax(scores, axis=-1), v)  # [N, h, T, d]
    out = b.reshape(b.transpose(out, perm=[0, 2, 1, 3]), shape=[0, 0, dim])
    return _project(b, out, *params["out"])


@layer("attention", {"heads": REQUIRED, "dim": None, "causal": False, "bias": True}, inputs=("x", "context*"),
       family="attention",
       doc="multi-head attention over [N, T, D] (as torch.nn.MultiheadAttention, batch_first=True): "
           "self-attention, or cross-attention with in: [x, context] (keys and values from context [N, S, Dc]); "
           "causal: true masks key positions after the query's",
       param_doc="q.weight [dim, D], k.weight and v.weight [dim, Dc] (Dc = D for self-attention), out.weight "
                 "[dim, dim], and .bias [dim] of each; weights xavier-uniform as PyTorch's in_proj (out: "
                 "U(-1/sqrt(dim), 1/sqrt(dim))), biases zero")
def attention(ctx: LayerCtx, inputs, a):
    if len(inputs) > 2:
        raise ShapeError(f"attention takes 1 input (self-attention) or 2 (x, context), got {len(inputs)}")
    x = inputs[0]
    context = inputs[1] if len(inputs) == 2 else x
    for i, v in enumerate((x, context)[: len(inputs)]):
        ctx.expect_rank(v, 3, "[N, T, D]", "add a reshape layer before it?" if v.type.rank < 3 else None, index=i)
    ctx.use_dtype_of(x)
    if context.dtype != x.dtype:
        raise ShapeError(f"attention: context has dtype {context.dtype}, x has {x.dtype}",
                         hint=f"add a cast layer, cast: {{to: {x.dtype}}}, before one of them")
    width = ctx.expect_static(x.shape[2], "the feature axis (D) of x")
    ctx_width = ctx.expect_static(context.shape[2], "the feature axis of the context")
    heads = positive_int(a["heads"], "heads")
    dim = positive_int(a["dim"], "dim") if a["dim"] is not None else width
    if dim % heads:
        fits = [h for h in range(2, min(dim, 64) + 1) if dim % h == 0][:2] or [1]
        raise ShapeError(f"attention: dim {dim} does not divide into heads={heads}",
                         hint=f"use heads that divide {dim}, like {' or '.join(map(str, fits))}, "
                              f"or a dim that is a multiple of {heads}")
    causal, use_bias = _flag(a["causal"], "causal"), _flag(a["bias"], "bias")
    in_bound = math.sqrt(6.0 / (width + 3 * dim))  # xavier_uniform_ of PyTorch's [3*dim, D] in_proj_weight
    params = {}
    for proj, fan_in in (("q", width), ("k", ctx_width), ("v", ctx_width), ("out", dim)):
        bound = in_bound if proj != "out" else 1.0 / math.sqrt(dim)
        weight = ctx.param(f"{proj}.weight", (dim, fan_in), "uniform", bound)
        params[proj] = (weight, ctx.param(f"{proj}.bias", (dim,), "zeros") if use_bias else None)
    return [multi_head_attention(ctx.b, x, context, params, heads, causal)]


# -- reparameterize -------------------------------------------------------------------------
@layer("reparameterize", {"sample": False, "seed": None}, inputs=("mu", "logvar"), family="sampling",
       doc="VAE sampling z = mu + exp(0.5*logvar) * eps, eps ~ N(0, 1). The exported (inference) graph returns mu "
           "(deterministic, the PyTorch VAE convention) unless sample: true, which draws eps with graphc's "
           "counter-based hash PRNG from the constant seed (default 0; the same seed gives the same eps in "
           "every runtime). Training graphs sample with a fresh seed per step.")
def reparameterize(ctx: LayerCtx, inputs, a):
    mu, logvar = inputs
    for i, v in enumerate(inputs):
        if not isinstance(v, Value):
            raise ShapeError(f"reparameterize: input {ctx.input_names[i]} must be a layer or an input")
    ctx.use_dtype_of(mu)
    if a["seed"] is not None and (isinstance(a["seed"], bool) or not isinstance(a["seed"], int)):
        raise ShapeError(f"seed must be an integer, got {a['seed']!r}")
    if _flag(a["sample"], "sample"):
        eps = ctx.b.random_normal_like(mu, seed=a["seed"], salt=name_salt(ctx.name))
        return [ctx.b.reparameterize(mu, logvar, eps)]
    return [ctx.b.reparameterize(mu, logvar)]


__all__ = ["multi_head_attention", "recurrent_param_suffix"]
