"""Forward correctness of every op in the registry, against independent oracles.

For each op and each of its sample cases (table `CASES` below) this checks:

(a) the shape rule: `opdef.infer` gives the shape and dtype that the op really produces;
(b) the numpy reference `opdef.ref` against an oracle written without graphc (PyTorch, or
    plain numpy where PyTorch has no such function);
(c) the ONNX lowering: a one-node graph exported with `to_onnx`, passing the full checker, run on
    onnxruntime and on `onnx.reference.ReferenceEvaluator`, against the same oracle.

Cases marked `batched` are also built with a symbolic batch dim `N` on axis 0 of the batched
inputs and fed batch 1 and 7. Every op of the registry, internal ones included, must have cases:
a new op fails `test_every_op_has_cases` until it adds some here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx.reference import ReferenceEvaluator
from prng_oracle import dropout_mask_oracle as _dropout_mask_oracle
from prng_oracle import hash_normal as _hash_normal

from graphc.export.onnx_export import to_onnx
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType, dtype_of_array
from graphc.ops import Builder
from graphc.ops import OPS
from graphc.ops.float64 import DECOMPOSITION_OPS
from graphc.ops.registry import FLOAT64_DECOMPOSED, as_list

torch.set_num_threads(1)

RTOL, ATOL = 1e-5, 1e-5
_RNG = np.random.default_rng(1234)


def rand(*shape, low=-2.0, high=2.0, dtype=np.float32) -> np.ndarray:
    return _RNG.uniform(low, high, size=shape).astype(dtype)


def pos(*shape) -> np.ndarray:
    return rand(*shape, low=0.2, high=3.0)


def ints(*shape, low=-5, high=6) -> np.ndarray:
    return _RNG.integers(low, high, size=shape).astype(np.int64)


def nonzero_ints(*shape) -> np.ndarray:
    x = ints(*shape, low=1, high=5)
    return x * np.where(_RNG.random(shape) < 0.5, -1, 1)


def small_ints_f(*shape) -> np.ndarray:
    """Integer-valued floats: comparisons get ties."""
    return _RNG.integers(-2, 3, size=shape).astype(np.float32)


@dataclass
class Case:
    inputs: list[np.ndarray]
    attrs: dict = field(default_factory=dict)
    batched: tuple[int, ...] = ()  # inputs whose axis 0 becomes the symbolic dim N
    id: str = ""
    rtol: float = RTOL
    atol: float = ATOL
    no_reference_evaluator: str = ""  # why onnx.reference cannot run this case (its own bug)
    no_onnxruntime: str = ""  # why stock onnxruntime cannot run this case (a kernel it lacks)
    stochastic: bool = False  # random output: compare shape, dtype and moments, not values


def C(*inputs, batched=(), rtol=RTOL, atol=ATOL, id="", no_ref="", no_ort="", stochastic=False, **attrs) -> Case:
    return Case(list(inputs), attrs, tuple(batched), id, rtol, atol, no_ref, no_ort, stochastic)


# -- oracles: torch (or plain numpy) only, never graphc -----------------------------------
def T(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


def N(t) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _unary(fn):
    return lambda ins, a: [N(fn(T(ins[0]), a))]


def _binary(fn):
    return lambda ins, a: [N(fn(T(ins[0]), T(ins[1])))]


def _dims(axis, rank):
    if axis is None:
        return list(range(rank))
    return [axis] if isinstance(axis, int) else list(axis)


def _reduce(fn):
    def oracle(ins, a):
        x = T(ins[0])
        if a.get("axis") == []:  # graphc (as numpy): an empty axis list reduces nothing
            return [N(x)]
        return [N(fn(x, dim=_dims(a.get("axis"), x.ndim), keepdim=bool(a.get("keepdims", False))))]
    return oracle


def _conv_oracle(ins, a):
    x, w = T(ins[0]), T(ins[1])
    bias = T(ins[2]) if len(ins) > 2 else None
    nd = x.ndim - 2
    pads = a["pads"]
    pad_arg = []
    for i in reversed(range(nd)):  # F.pad takes the last axis first
        pad_arg += [pads[i], pads[i + nd]]
    x = F.pad(x, pad_arg)
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    return [N(fn(x, w, bias, stride=a["strides"], dilation=a["dilations"], groups=a.get("group", 1)))]


def _conv_transpose_oracle(ins, a):
    x, w = T(ins[0]), T(ins[1])
    bias = T(ins[2]) if len(ins) > 2 else None
    nd = x.ndim - 2
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    y = fn(x, w, bias, stride=a["strides"], padding=0, output_padding=a["output_padding"],
           groups=a.get("group", 1), dilation=a["dilations"])
    pads = a["pads"]  # crop: torch only has symmetric padding, cropping also covers the asymmetric case
    index = (slice(None), slice(None)) + tuple(slice(pads[i], y.shape[2 + i] - pads[i + nd]) for i in range(nd))
    return [N(y[index])]


def _pool_pad(x, pads, nd, value):
    pad_arg = []
    for i in reversed(range(nd)):
        pad_arg += [pads[i], pads[i + nd]]
    return F.pad(x, pad_arg, value=value)


def _maxpool_oracle(ins, a):
    x = T(ins[0])
    nd = x.ndim - 2
    x = _pool_pad(x, a["pads"], nd, -float("inf"))
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    return [N(fn(x, a["kernel"], a["strides"]))]


def _avgpool_oracle(ins, a):
    x = T(ins[0])
    nd = x.ndim - 2
    pads = a["pads"]
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    if pads[:nd] == pads[nd:]:
        return [N(fn(x, a["kernel"], a["strides"], padding=pads[:nd],
                     count_include_pad=bool(a.get("count_include_pad", 1))))]
    raise AssertionError("asymmetric avgpool cases need a hand oracle")


def _layernorm_oracle(ins, a):
    x = T(ins[0])
    axis = a.get("axis", -1) % x.ndim
    shape = x.shape[axis:]
    w = T(ins[1]) if len(ins) > 1 else None
    b = T(ins[2]) if len(ins) > 2 else None
    return [N(F.layer_norm(x, shape, w, b, eps=a.get("eps", 1e-5)))]


def _batchnorm_oracle(ins, a):
    x, scale, bias, mean, var = map(T, ins)
    return [N(F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("eps", 1e-5)))]


def _gemm_oracle(ins, a):
    A, B = T(ins[0]), T(ins[1])
    A = A.T if a.get("trans_a") else A
    B = B.T if a.get("trans_b") else B
    y = a.get("alpha", 1.0) * (A @ B)
    if len(ins) > 2:
        y = y + a.get("beta", 1.0) * T(ins[2])
    return [N(y)]


def _slice_oracle(ins, a):
    x = ins[0]  # plain python slicing, the documented semantics (ONNX clamps like Python)
    axes = a.get("axes") or list(range(len(a["starts"])))
    steps = a.get("steps") or [1] * len(a["starts"])
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(a["starts"], a["ends"], axes, steps):
        index[ax] = slice(s, e, st)
    return [x[tuple(index)].copy()]


def _gather_oracle(ins, a):
    x, idx = T(ins[0]), T(ins[1])
    axis = a.get("axis", 0) % x.ndim
    flat = torch.index_select(x, axis, (idx % x.shape[axis]).reshape(-1))
    return [N(flat.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:]))]


def _split_oracle(ins, a):
    x = T(ins[0])
    axis = a.get("axis", -1)
    if a.get("sizes") is not None:
        return [N(p) for p in torch.split(x, list(a["sizes"]), dim=axis)]
    return [N(p) for p in torch.chunk(x, a.get("num", 2), dim=axis)]


def _squeeze_oracle(ins, a):
    x = T(ins[0])
    if a.get("axes") is None:
        return [N(torch.squeeze(x))]
    return [N(torch.squeeze(x, tuple(a["axes"])))]


def _unsqueeze_oracle(ins, a):
    x = T(ins[0])
    rank = x.ndim + len(a["axes"])
    for ax in sorted(ax % rank for ax in a["axes"]):
        x = x.unsqueeze(ax)
    return [N(x)]


def _reshape_oracle(ins, a):
    x = T(ins[0])
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(a["shape"])]
    return [N(x.reshape(shape))]


def _gru_reset_first_oracle(ins, a):
    """GRU with linear_before_reset=0 (ONNX's default; torch.nn.GRU has only 1), step by step in torch
    from the ONNX operator's equations: n = tanh(x W_n^T + b_in + (r * h) R_n^T + b_hn)."""
    x = T(ins[0])
    ys, hs = [], []
    for d in range(len(ins) // 4):
        w_ih, w_hh, b_ih, b_hh = (T(v) for v in ins[1 + 4 * d: 5 + 4 * d])
        hidden = w_hh.shape[1]
        h = torch.zeros(x.shape[0], hidden, dtype=x.dtype)
        steps = range(x.shape[1]) if d == 0 else reversed(range(x.shape[1]))
        out = [None] * x.shape[1]
        for t in steps:
            xr, xz, xn = (x[:, t] @ w_ih.T + b_ih).chunk(3, dim=-1)
            r = torch.sigmoid(xr + h @ w_hh[:hidden].T + b_hh[:hidden])
            z = torch.sigmoid(xz + h @ w_hh[hidden:2 * hidden].T + b_hh[hidden:2 * hidden])
            n = torch.tanh(xn + (r * h) @ w_hh[2 * hidden:].T + b_hh[2 * hidden:])
            h = (1 - z) * n + z * h
            out[t] = h
        ys.append(torch.stack(out, dim=1))
        hs.append(h)
    return [N(torch.cat(ys, dim=-1)), N(torch.cat(hs, dim=-1))]


def _mod_oracle(ins, a):
    """torch.fmod (fmod: 1, the dividend's sign) or torch.remainder (fmod: 0, the divisor's sign)."""
    fn = torch.fmod if a.get("fmod") else torch.remainder
    return [N(fn(T(ins[0]), T(ins[1])))]


def _recurrent_oracle(kind: str):
    def oracle(ins, a):
        if kind == "gru" and a.get("linear_before_reset", 1) == 0:
            return _gru_reset_first_oracle(ins, a)
        x = T(ins[0])
        bidir = len(ins) == 9
        hidden = ins[2].shape[1]
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        extra = {"nonlinearity": a.get("activation", "tanh")} if kind == "rnn" else {}
        module = cls(x.shape[2], hidden, batch_first=True, bidirectional=bidir, **extra).to(x.dtype)
        names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
        names += [f"{k}_reverse" for k in names] if bidir else []
        module.load_state_dict({k: T(v) for k, v in zip(names, ins[1:])})
        with torch.no_grad():
            y, state = module(x)
        states = state if kind == "lstm" else (state,)
        # [D, N, H] -> [N, D*H]
        return [N(y)] + [N(st.permute(1, 0, 2).reshape(x.shape[0], -1)) for st in states]
    return oracle


def _maxpool_grad_oracle(ins, a):
    x = T(ins[0]).requires_grad_(True)
    nd = x.ndim - 2
    y = {1: F.max_pool1d, 2: F.max_pool2d}[nd](_pool_pad(x, a["pads"], nd, -float("inf")), a["kernel"], a["strides"])
    y.backward(T(ins[1]))
    return [N(x.grad)]


def _maxpool_gather_oracle(ins, a):
    x, h = T(ins[0]), T(ins[1])
    nd = x.ndim - 2
    pads = a["pads"]
    assert pads[:nd] == pads[nd:], "torch pools with symmetric padding only"
    fn = {1: F.max_pool1d, 2: F.max_pool2d}[nd]
    y, idx = fn(x, a["kernel"], a["strides"], padding=pads[:nd], return_indices=True)  # flat over spatial
    picked = torch.gather(h.flatten(2), 2, idx.flatten(2))
    return [N(picked.reshape(y.shape))]


def _slice_grad_oracle(ins, a):
    like = T(ins[1]).requires_grad_(True)
    axes = a.get("axes") or list(range(len(a["starts"])))
    steps = a.get("steps") or [1] * len(a["starts"])
    index = [slice(None)] * like.ndim
    for s_, e, ax, st in zip(a["starts"], a["ends"], axes, steps):
        index[ax] = slice(s_, e, st)
    like[tuple(index)].backward(T(ins[0]))
    return [N(like.grad)]


def _gather_grad_oracle(ins, a):
    like = T(ins[2]).requires_grad_(True)
    (y,) = _gather_oracle_t(like, T(ins[1]), a.get("axis", 0))
    y.backward(T(ins[0]))
    return [N(like.grad)]


def _gather_oracle_t(x, idx, axis):
    axis = axis % x.ndim
    flat = torch.index_select(x, axis, (idx % x.shape[axis]).reshape(-1))
    return [flat.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]


def _causal_mask_oracle(ins, a):
    x = T(ins[0])
    t, s = x.shape[-2:]
    return [N(x.masked_fill(torch.triu(torch.ones(t, s, dtype=torch.bool), diagonal=1), a.get("fill", -float("inf"))))]


def _reparameterize_oracle(ins, a):
    mu = T(ins[0])
    if len(ins) == 2:
        return [N(mu)]
    return [N(mu + torch.exp(0.5 * T(ins[1])) * T(ins[2]))]


_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                 "int32": torch.int32, "int64": torch.int64, "bool": torch.bool}

_SELU = (1.6732632423543772, 1.0507009873554805)

ORACLES: dict[str, Callable] = {
    "add": _binary(torch.add),
    "sub": _binary(torch.sub),
    "mul": _binary(torch.mul),
    "div": _binary(lambda a, b: torch.div(a, b, rounding_mode="trunc") if not a.is_floating_point()
                   else torch.div(a, b)),
    "pow": _binary(torch.pow),
    "maximum": _binary(torch.maximum),
    "minimum": _binary(torch.minimum),
    "equal": _binary(torch.eq),
    "greater": _binary(torch.gt),
    "less": _binary(torch.lt),
    "greater_equal": _binary(torch.ge),
    "less_equal": _binary(torch.le),
    "where": lambda ins, a: [N(torch.where(T(ins[0]), T(ins[1]), T(ins[2])))],
    "neg": _unary(lambda x, a: torch.neg(x)),
    "exp": _unary(lambda x, a: torch.exp(x)),
    "log": _unary(lambda x, a: torch.log(x)),
    "sqrt": _unary(lambda x, a: torch.sqrt(x)),
    "abs": _unary(lambda x, a: torch.abs(x)),
    "sign": _unary(lambda x, a: torch.sign(x)),
    "reciprocal": _unary(lambda x, a: torch.reciprocal(x)),
    "erf": _unary(lambda x, a: torch.erf(x)),
    "identity": _unary(lambda x, a: x),
    "relu": _unary(lambda x, a: F.relu(x)),
    "clip": _unary(lambda x, a: torch.clamp(x, a.get("min"), a.get("max"))),
    "hardswish": _unary(lambda x, a: F.hardswish(x)),
    "sigmoid": _unary(lambda x, a: torch.sigmoid(x)),
    "tanh": _unary(lambda x, a: torch.tanh(x)),
    "gelu": _unary(lambda x, a: F.gelu(x)),
    "elu": _unary(lambda x, a: F.elu(x, alpha=a.get("alpha", 1.0))),
    "selu": _unary(lambda x, a: F.selu(x)),
    "softplus": _unary(lambda x, a: F.softplus(x)),
    "leaky_relu": _unary(lambda x, a: F.leaky_relu(x, a.get("alpha", 0.01))),
    "softmax": _unary(lambda x, a: F.softmax(x, dim=a.get("axis", -1))),
    "log_softmax": _unary(lambda x, a: F.log_softmax(x, dim=a.get("axis", -1))),
    "matmul": _binary(torch.matmul),
    "gemm": _gemm_oracle,
    "conv": _conv_oracle,
    "conv_transpose": _conv_transpose_oracle,
    "maxpool": _maxpool_oracle,
    "avgpool": _avgpool_oracle,
    "global_avgpool": _unary(lambda x, a: torch.mean(x, dim=tuple(range(2, x.ndim)), keepdim=True)),
    "batchnorm": _batchnorm_oracle,
    "layernorm": _layernorm_oracle,
    "dropout": _unary(lambda x, a: F.dropout(x, a.get("rate", 0.5), training=False)),
    "upsample": _unary(lambda x, a: F.interpolate(x, scale_factor=a.get("scale", 2), mode="nearest")),
    "sum": _reduce(torch.sum),
    "mean": _reduce(torch.mean),
    "max": _reduce(torch.amax),
    "min": _reduce(torch.amin),
    "argmax": _unary(lambda x, a: torch.argmax(x, dim=a.get("axis", -1), keepdim=bool(a.get("keepdims", False)))),
    "transpose": _unary(lambda x, a: x.permute(*(a["perm"] if a.get("perm") is not None
                                                 else range(x.ndim - 1, -1, -1)))),
    "reshape": _reshape_oracle,
    "flatten": _unary(lambda x, a: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1)),
    "reshape_as": lambda ins, a: [N(T(ins[0]).reshape(ins[1].shape))],
    "unsqueeze": _unsqueeze_oracle,
    "squeeze": _squeeze_oracle,
    "expand_as": lambda ins, a: [N(T(ins[0]).expand(torch.broadcast_shapes(ins[0].shape, ins[1].shape)))],
    "expand": lambda ins, a: [N(T(ins[0]).expand(torch.broadcast_shapes(ins[0].shape, tuple(a["shape"]))))],
    "shape_size": lambda ins, a: [np.array(int(np.prod([ins[0].shape[i] for i in a["axes"]])),
                                           dtype=a.get("dtype", "float32"))],
    "zeros_like": _unary(lambda x, a: torch.zeros_like(x)),
    "concat": lambda ins, a: [N(torch.cat([T(x) for x in ins], dim=a.get("axis", -1)))],
    "split": _split_oracle,
    "slice": _slice_oracle,
    "gather": _gather_oracle,
    "one_hot": lambda ins, a: [N(F.one_hot(T(ins[0]), a["depth"]).to(_TORCH_DTYPES[a.get("dtype", "float32")]))],
    "cast": _unary(lambda x, a: x.to(_TORCH_DTYPES[a["to"]])),
    "constant": lambda ins, a: [np.array(a["value"], dtype=a.get("dtype", "float32"))],
    "rnn": _recurrent_oracle("rnn"),
    "lstm": _recurrent_oracle("lstm"),
    "gru": _recurrent_oracle("gru"),
    "maxpool_grad": _maxpool_grad_oracle,
    "maxpool_gather": _maxpool_gather_oracle,
    "slice_grad": _slice_grad_oracle,
    "gather_grad": _gather_grad_oracle,
    "causal_mask": _causal_mask_oracle,
    "reparameterize": _reparameterize_oracle,
    "random_normal_like": lambda ins, a: [_hash_normal(ins[0], a.get("seed") or 0, a.get("salt", 0))],
    "normal_from_seed": lambda ins, a: [_hash_normal(ins[0], int(ins[1]), a.get("salt", 0))],
    "dropout_mask": _dropout_mask_oracle,
    "sin": _unary(lambda x, a: torch.sin(x)),
    "cos": _unary(lambda x, a: torch.cos(x)),
    "einsum": lambda ins, a: [N(torch.einsum("".join(a["equation"].split()), *[T(x) for x in ins]))],
    "floor": _unary(lambda x, a: torch.floor(x)),
    "ceil": _unary(lambda x, a: torch.ceil(x)),
    "round": _unary(lambda x, a: torch.round(x)),
    "mod": _mod_oracle,
}


# -- sample cases -------------------------------------------------------------------------
def _binary_cases(make=rand, second=rand) -> list[Case]:
    return [
        C(make(3, 4), second(3, 4), id="same"),
        C(make(2, 3, 4), second(4), id="bcast_trailing"),
        C(make(2, 1, 4), second(3, 1), id="bcast_both"),
        C(make(5), second(), id="scalar"),
        C(make(7, 5), second(7, 5), batched=(0, 1), id="batchN"),
        C(make(7, 3, 4), second(1, 4), batched=(0,), id="batchN_bcast"),
        C(make(2, 3).astype(np.float64), second(3).astype(np.float64), id="float64"),
    ]


_NO_F64 = "onnxruntime's CPU provider has no float64 kernel for this op"


def _seed(value: int) -> np.ndarray:
    return np.array(value, dtype=np.int64)


# Box-Muller in float32 (graphc) vs float64 (the oracle): cos near its zeros and the radius near
# u1 = 1 differ by a few float32 ulps times the radius (< 6)
_BM = {"rtol": 1e-5, "atol": 2e-5}


def _unary_cases(make=rand) -> list[Case]:
    return [C(make(3, 4), id="2d"), C(make(2, 3, 4, 5), id="4d"), C(make(6), id="1d"),
            C(make(3, 4).astype(np.float64), id="float64"), C(make(7, 5), batched=(0,), id="batchN")]


def _compare_cases() -> list[Case]:
    return _binary_cases(small_ints_f, small_ints_f)


_REF_RNN_RELU = "onnx.reference's RNN knows only the Tanh activation"


def _rec(kind: str, n: int, t: int, c: int, h: int, bidir: bool = False, batched: bool = False, id: str = "",
         no_ref: str = "", **attrs) -> Case:
    rows = {"rnn": 1, "lstm": 4, "gru": 3}[kind] * h
    params = [rand(rows, c, low=-0.6, high=0.6), rand(rows, h, low=-0.6, high=0.6), rand(rows, low=-0.3, high=0.3),
              rand(rows, low=-0.3, high=0.3)]
    if bidir:
        params += [rand(rows, c, low=-0.6, high=0.6), rand(rows, h, low=-0.6, high=0.6),
                   rand(rows, low=-0.3, high=0.3), rand(rows, low=-0.3, high=0.3)]
    return C(rand(n, t, c), *params, batched=(0,) if batched else (), id=id, no_ref=no_ref, **attrs)


def _rec_cases(kind: str) -> list[Case]:
    return [_rec(kind, 2, 5, 3, 4, id="forward"), _rec(kind, 3, 4, 2, 3, bidir=True, id="bidirectional"),
            _rec(kind, 2, 1, 3, 2, id="one_step"), _rec(kind, 7, 3, 3, 4, batched=True, id="batchN"),
            _rec(kind, 7, 3, 2, 3, bidir=True, batched=True, id="batchN_bidirectional")]


def _gru_reset_first_cases() -> list[Case]:
    """linear_before_reset=0: ONNX's default GRU."""
    return [_rec("gru", 2, 5, 3, 4, id="reset_first", linear_before_reset=0),
            _rec("gru", 3, 4, 2, 3, bidir=True, id="reset_first_bidirectional", linear_before_reset=0),
            _rec("gru", 2, 1, 3, 2, id="reset_first_one_step", linear_before_reset=0),
            _rec("gru", 7, 3, 3, 4, batched=True, id="reset_first_batchN", linear_before_reset=0)]


CASES: dict[str, list[Case]] = {
    "add": _binary_cases() + [C(ints(3, 4), ints(4), id="int64")],
    "sub": _binary_cases() + [C(ints(3, 4), ints(3, 4), id="int64")],
    "mul": _binary_cases() + [C(ints(3, 4), ints(1, 4), id="int64")],
    "div": _binary_cases(rand, pos) + [C(ints(4, 5), nonzero_ints(4, 5), id="int64_trunc")],
    "pow": _binary_cases(pos, rand) + [C(rand(3, 4), np.array(2.0, np.float32), id="square_negative_base")],
    "maximum": _binary_cases(small_ints_f, small_ints_f),
    "minimum": _binary_cases(small_ints_f, small_ints_f),
    "equal": _compare_cases() + [C(ints(3, 4, low=-2, high=3), ints(4, low=-2, high=3), id="int64")],
    "greater": _compare_cases(),
    "less": _compare_cases(),
    "greater_equal": _compare_cases(),
    "less_equal": _compare_cases(),
    "where": [C(rand(3, 4) > 0, rand(3, 4), rand(3, 4), id="same"),
              C(rand(3, 1) > 0, rand(1, 4), rand(4), id="bcast"),
              C(rand(7, 4) > 0, rand(7, 4), rand(4), batched=(0, 1), id="batchN")],
    "neg": _unary_cases() + [C(ints(3, 4), id="int64")],
    "exp": _unary_cases(),
    "log": _unary_cases(pos),
    "sqrt": _unary_cases(pos),
    "abs": _unary_cases() + [C(ints(3, 4), id="int64")],
    "sign": _unary_cases(small_ints_f) + [C(ints(3, 4), id="int64")],
    "reciprocal": _unary_cases(pos) + [C(-pos(3, 4), id="negative")],
    "erf": _unary_cases(),
    "identity": _unary_cases() + [C(ints(3, 4), id="int64")],
    "relu": _unary_cases() + [C(small_ints_f(4, 5), id="zeros")],
    "clip": [C(rand(3, 4), min=-0.5, max=0.7, id="both"), C(rand(2, 3, 4), min=0.0, id="min_only"),
             C(rand(6).astype(np.float64), max=0.3, id="float64_max"), C(rand(7, 5), min=-1.0, max=1.0,
                                                                         batched=(0,), id="batchN")],
    "hardswish": _unary_cases(lambda *s: rand(*s, low=-5.0, high=5.0)),
    "sigmoid": _unary_cases() + [C(rand(4, 5, low=-30, high=30), id="wide")],
    "tanh": _unary_cases() + [C(rand(4, 5, low=-20, high=20), id="wide")],
    "gelu": _unary_cases() + [C(rand(4, 5, low=-8, high=8), id="wide")],
    "elu": _unary_cases() + [C(rand(3, 4), alpha=0.5, id="alpha")],
    "selu": _unary_cases(),
    "softplus": _unary_cases() + [C(rand(4, 5, low=-15, high=15), id="wide")],
    "leaky_relu": _unary_cases() + [C(rand(3, 4), alpha=0.2, id="alpha")],
    "softmax": [C(rand(3, 5), id="last"), C(rand(2, 3, 4), axis=1, id="axis1"), C(rand(4, 3), axis=0, id="axis0"),
                C(rand(2, 6, low=-50, high=50), id="wide"), C(rand(7, 10), batched=(0,), id="batchN")],
    "log_softmax": [C(rand(3, 5), id="last"), C(rand(2, 3, 4), axis=1, id="axis1"),
                    C(rand(2, 6, low=-50, high=50), id="wide"), C(rand(7, 10), batched=(0,), id="batchN")],
    "matmul": [C(rand(3, 4), rand(4, 5), id="2d"), C(rand(2, 3, 4), rand(4, 5), id="batch_lhs"),
               C(rand(2, 3, 4), rand(2, 4, 5), id="batch_both"), C(rand(2, 1, 3, 4), rand(3, 4, 5), id="bcast"),
               C(rand(4), rand(4, 5), id="vec_mat"), C(rand(3, 4), rand(4), id="mat_vec"),
               C(rand(4), rand(4), id="dot"),
               C(rand(7, 4), rand(4, 5), batched=(0,), id="batchN"),
               C(rand(3, 4).astype(np.float64), rand(4, 2).astype(np.float64), id="float64"),
               C(rand(7, 3, 4), rand(4, 2), batched=(0,), id="batchN_3d")],
    "gemm": [C(rand(3, 4), rand(5, 4), rand(5), trans_b=1, id="transB_bias"),
             C(rand(4, 3), rand(4, 5), trans_a=1, id="transA"),
             C(rand(3, 4), rand(4, 5), rand(3, 5), alpha=0.5, beta=2.0, id="alpha_beta"),
             C(rand(7, 4), rand(6, 4), rand(6), trans_b=1, batched=(0,), id="batchN")],
    "conv": [
        C(rand(2, 3, 10), rand(4, 3, 3), strides=[2], pads=[1, 1], dilations=[1], id="1d"),
        C(rand(2, 3, 9, 8), rand(6, 3, 3, 3), rand(6), strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1],
          id="2d_bias_pad"),
        C(rand(2, 3, 9, 8), rand(4, 3, 3, 2), strides=[2, 1], pads=[1, 0, 2, 1], dilations=[1, 2],
          id="2d_stride_dilation_asym_pad"),
        C(rand(2, 6, 7, 7), rand(9, 2, 3, 3), rand(9), strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1],
          group=3, id="groups"),
        C(rand(2, 4, 6, 6), rand(4, 1, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 1], group=4,
          id="depthwise"),
        C(rand(1, 2, 5, 5, 5), rand(3, 2, 2, 2, 2), strides=[1, 1, 1], pads=[0] * 6, dilations=[1, 1, 1], id="3d"),
        C(rand(7, 3, 8, 8), rand(5, 3, 3, 3), rand(5), strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1],
          batched=(0,), id="batchN"),
        C(rand(1, 2, 5, 5).astype(np.float64), rand(3, 2, 3, 3).astype(np.float64), strides=[1, 1],
          pads=[1, 1, 1, 1], dilations=[1, 1], id="float64", no_ort=_NO_F64),
    ],
    "conv_transpose": [
        C(rand(2, 4, 5, 5), rand(4, 3, 3, 3), rand(3), strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 1],
          output_padding=[1, 1], id="stride_pad_outpad"),
        C(rand(2, 4, 4, 5), rand(4, 2, 3, 2), strides=[1, 2], pads=[0, 0, 0, 0], dilations=[2, 1],
          output_padding=[0, 0], group=2, id="groups_dilation",
          no_ref="onnx.reference ConvTranspose assumes one output channel per group"),
        C(rand(2, 3, 4, 4), rand(3, 2, 3, 3), strides=[2, 2], pads=[1, 0, 0, 1], dilations=[1, 1],
          output_padding=[0, 0], id="asym_pad"),
        C(rand(2, 3, 6), rand(3, 2, 4), strides=[3], pads=[0, 0], dilations=[1], output_padding=[0], id="1d"),
        C(rand(7, 4, 3, 3), rand(4, 2, 2, 2), rand(2), strides=[2, 2], pads=[0, 0, 0, 0], dilations=[1, 1],
          output_padding=[0, 0], batched=(0,), id="batchN"),
        C(rand(1, 2, 3, 3).astype(np.float64), rand(2, 3, 2, 2).astype(np.float64), strides=[2, 2],
          pads=[0, 0, 0, 0], dilations=[1, 1], output_padding=[0, 0], id="float64", no_ort=_NO_F64),
    ],
    "maxpool": [
        C(rand(2, 3, 8, 8), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="2x2"),
        C(rand(2, 3, 9, 7), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id="3x3_s2_p1"),
        C(rand(2, 3, 9, 8), kernel=[3, 2], strides=[1, 2], pads=[1, 0, 0, 1], id="rect_asym"),
        C(-pos(1, 2, 5, 5), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id="negative_pad_is_minus_inf"),
        C(rand(2, 3, 10), kernel=[3], strides=[2], pads=[0, 0], id="1d"),
        C(rand(7, 2, 6, 6), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], batched=(0,), id="batchN"),
        C(rand(1, 2, 4, 4).astype(np.float64), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="float64"),
    ],
    "avgpool": [
        C(rand(2, 3, 8, 8), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="2x2"),
        C(rand(2, 3, 9, 7), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id="pad_counted"),
        C(rand(2, 3, 9, 7), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0,
          id="pad_not_counted"),
        C(rand(2, 3, 10), kernel=[4], strides=[3], pads=[1, 1], id="1d"),
        C(rand(7, 2, 6, 6), kernel=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0], batched=(0,), id="batchN"),
        C(rand(1, 2, 4, 4).astype(np.float64), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="float64",
          no_ort=_NO_F64),
    ],
    "global_avgpool": [C(rand(2, 3, 4, 5), id="2d"), C(rand(2, 3, 7), id="1d"), C(rand(1, 2, 2, 3, 4), id="3d"),
                       C(rand(7, 3, 4, 4), batched=(0,), id="batchN"),
                       C(rand(1, 2, 3, 3).astype(np.float64), id="float64")],
    "batchnorm": [
        C(rand(2, 3, 4, 4), rand(3), rand(3), rand(3), pos(3), id="4d"),
        C(rand(5, 4), rand(4), rand(4), rand(4), pos(4), eps=1e-3, id="2d_eps"),
        C(rand(2, 3, 6), rand(3), rand(3), rand(3), pos(3), id="3d"),
        C(rand(7, 3, 2, 2), rand(3), rand(3), rand(3), pos(3), batched=(0,), id="batchN"),
        C(*(a.astype(np.float64) for a in (rand(2, 3, 2), rand(3), rand(3), rand(3), pos(3))), id="float64"),
    ],
    "layernorm": [
        C(rand(2, 3, 8), rand(8), rand(8), id="last"),
        C(rand(2, 3, 8), rand(3, 8), rand(3, 8), axis=-2, id="two_axes"),
        C(rand(4, 6), rand(6), eps=1e-3, id="no_bias"),
        C(rand(4, 6), id="no_params"),
        C(rand(7, 5, 6), rand(6), rand(6), batched=(0,), id="batchN"),
        C(rand(3, 4).astype(np.float64), rand(4).astype(np.float64), rand(4).astype(np.float64), id="float64"),
    ],
    "dropout": [C(rand(3, 4), id="default"), C(rand(7, 4), rate=0.25, batched=(0,), id="batchN")],
    "upsample": [C(rand(2, 3, 4, 5), id="2d"), C(rand(2, 3, 6), scale=3, id="1d_x3"),
                 C(rand(7, 2, 3, 3), batched=(0,), id="batchN")],
    "sum": [C(rand(3, 4, 5), id="all"), C(rand(3, 4, 5), axis=1, id="axis1"),
            C(rand(3, 4, 5), axis=[0, 2], keepdims=True, id="list_keep"), C(rand(3, 4, 5), axis=-1, id="neg"),
            C(rand(3, 4), axis=[], id="no_axes"),
            C(rand(7, 4), axis=1, batched=(0,), id="batchN")],
    "mean": [C(rand(3, 4, 5), id="all"), C(rand(3, 4, 5), axis=[1, 2], id="list"),
             C(rand(3, 4, 5), axis=0, keepdims=True, id="keep"), C(rand(7, 4), axis=-1, batched=(0,), id="batchN")],
    "max": [C(rand(3, 4, 5), id="all"), C(rand(3, 4, 5), axis=1, id="axis1"),
            C(rand(3, 4, 5), axis=[0, 2], keepdims=True, id="list_keep"),
            C(rand(7, 4), axis=-1, batched=(0,), id="batchN")],
    "min": [C(rand(3, 4, 5), id="all"), C(rand(3, 4, 5), axis=2, id="axis2"),
            C(rand(3, 4, 5), axis=[0, 1], keepdims=True, id="list_keep"),
            C(rand(7, 4), axis=1, batched=(0,), id="batchN")],
    "argmax": [C(rand(3, 5), id="last"), C(rand(3, 4, 5), axis=1, keepdims=True, id="keep"),
               C(rand(4, 3), axis=0, id="axis0"), C(rand(7, 10), batched=(0,), id="batchN")],
    "transpose": [C(rand(2, 3, 4), id="reverse"), C(rand(2, 3, 4), perm=[0, 2, 1], id="perm"),
                  C(rand(2, 3, 4, 5), perm=[-1, 0, 2, 1], id="negative_axis"),
                  C(rand(7, 3, 4), perm=[0, 2, 1], batched=(0,), id="batchN")],
    "reshape": [C(rand(2, 3, 4), shape=[6, 4], id="static"), C(rand(2, 3, 4), shape=[0, -1], id="keep_infer"),
                C(rand(2, 3, 4), shape=[4, -1, 2], id="infer_middle"),
                C(rand(7, 3, 4), shape=[0, 12], batched=(0,), id="batchN_keep"),
                C(rand(7, 3, 4), shape=[-1, 4], batched=(0,), id="batchN_infer"),
                C(rand(7, 12), shape=[0, 3, 2, 2], batched=(0,), id="batchN_split")],
    "flatten": [C(rand(2, 3, 4, 5), id="axis1"), C(rand(2, 3, 4, 5), axis=2, id="axis2"),
                C(rand(2, 3, 4), axis=0, id="axis0"), C(rand(2, 3, 4), axis=-1, id="axis_negative"),
                C(rand(2, 3, 4), axis=3, id="axis_rank"), C(rand(7, 2, 3, 3), batched=(0,), id="batchN")],
    "reshape_as": [C(rand(3, 4), rand(2, 6), id="2d"), C(rand(12), ints(2, 3, 2), id="int_like"),
                   C(rand(7, 6), rand(7, 2, 3), batched=(0, 1), id="batchN")],
    "unsqueeze": [C(rand(3, 4), axes=[0], id="front"), C(rand(3, 4), axes=[1, 3], id="two"),
                  C(rand(3, 4), axes=[-1], id="negative"), C(rand(7, 4), axes=[1], batched=(0,), id="batchN")],
    "squeeze": [C(rand(3, 1, 4, 1), id="all"), C(rand(3, 1, 4, 1), axes=[1], id="one"),
                C(rand(1, 3, 1), axes=[0, -1], id="list"), C(rand(7, 1, 4), axes=[1], batched=(0,), id="batchN")],
    "expand": [C(rand(3, 1), shape=[2, 3, 4], id="bcast"), C(rand(2, 3, 4), shape=[3, 1], id="ones_keep")],
    "expand_as": [C(rand(3, 1), rand(2, 3, 4), id="bcast"), C(rand(4), ints(3, 4), id="int_like"),
                  C(rand(1, 4), rand(7, 4), batched=(1,), id="batchN")],
    "shape_size": [C(rand(2, 3, 4), axes=[0, 2], id="static"), C(rand(2, 3, 4), axes=[1], dtype="int64", id="int64"),
                   C(rand(7, 3, 4), axes=[0, 1], batched=(0,), id="batchN")],
    "zeros_like": [C(rand(3, 4), id="float"), C(ints(2, 3), id="int64"), C(rand(7, 3), batched=(0,), id="batchN")],
    "concat": [C(rand(2, 3), rand(2, 5), id="last"), C(rand(1, 3), rand(2, 3), rand(4, 3), axis=0, id="three"),
               C(ints(2, 2), ints(2, 3), axis=1, id="int64"),
               C(rand(7, 2, 3), rand(7, 1, 3), axis=1, batched=(0, 1), id="batchN")],
    "split": [C(rand(3, 4), id="halves"), C(rand(4, 3), axis=0, sizes=[1, 3], id="sizes"),
              C(rand(2, 6), num=3, id="thirds"), C(rand(7, 6), sizes=[2, 4], batched=(0,), id="batchN")],
    "slice": [C(rand(5, 6), starts=[1], ends=[4], id="axis0"),
              C(rand(5, 6), starts=[0, 1], ends=[5, 6], axes=[0, 1], steps=[2, 2], id="steps"),
              C(rand(5, 6), starts=[-1], ends=[-1000], axes=[1], steps=[-1], id="reverse"),
              C(rand(5, 6), starts=[2], ends=[2**40], axes=[-1], id="past_end"),
              C(rand(5, 6), starts=[-3], ends=[-1], axes=[0], id="negative"),
              C(rand(7, 6), starts=[1], ends=[4], axes=[1], batched=(0,), id="batchN"),
              C(rand(7, 6), starts=[1], ends=[2**40], axes=[0], batched=(0,), id="batchN_on_N")],
    "gather": [C(rand(5, 3), ints(2, 4, low=0, high=5), id="axis0"),
               C(rand(2, 5, 3), ints(4, low=-5, high=5), axis=1, id="axis1_negative_idx"),
               C(rand(10, 4), ints(7, 3, low=0, high=10), batched=(1,), id="batchN_ids")],
    "one_hot": [C(ints(4, low=0, high=5), depth=5, id="1d"),
                C(ints(2, 3, low=0, high=4), depth=4, dtype="int64", id="2d_int"),
                C(ints(7, low=0, high=3), depth=3, batched=(0,), id="batchN")],
    "cast": [C(rand(3, 4), to="int64", id="f2i"), C(ints(3, 4), to="float32", id="i2f"),
             C(rand(3, 4), to="float64", id="f2d"), C(small_ints_f(3, 4), to="bool", id="f2b"),
             C(rand(7, 2), to="int32", batched=(0,), id="batchN")],
    "constant": [C(value=[[1, 2], [3, 4]], id="matrix"), C(value=3, dtype="int64", id="scalar_int"),
                 C(value=[0.5, -1.5], dtype="float64", id="f64")],
    # -- recurrent (graphc/ops/recurrent.py) against torch.nn.RNN / LSTM / GRU ------------------
    "rnn": _rec_cases("rnn") + [_rec("rnn", 2, 4, 3, 3, activation="relu", id="relu", no_ref=_REF_RNN_RELU),
                                _rec("rnn", 2, 3, 3, 2, bidir=True, activation="relu", id="relu_bidirectional",
                                     no_ref=_REF_RNN_RELU)],
    "lstm": _rec_cases("lstm"),
    "gru": _rec_cases("gru") + _gru_reset_first_cases(),
    # -- internal ops that gradient rules emit (graphc/ops/gradops.py), against torch autograd ---
    "maxpool_grad": [
        C(rand(2, 3, 6, 6), rand(2, 3, 3, 3), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="2x2"),
        C(rand(1, 2, 5, 5), rand(1, 2, 3, 3), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id="overlap_pad"),
        C(rand(1, 2, 5, 6), rand(1, 2, 5, 3), kernel=[2, 2], strides=[1, 2], pads=[1, 0, 0, 0], id="asym_pad"),
        C(rand(2, 3, 8), rand(2, 3, 3), kernel=[3], strides=[2], pads=[0, 0], id="1d"),
        C(rand(7, 2, 4, 4), rand(7, 2, 2, 2), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], batched=(0, 1),
          id="batchN"),
    ],
    "maxpool_gather": [
        C(rand(2, 3, 6, 6), rand(2, 3, 6, 6), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], id="2x2"),
        C(rand(1, 2, 5, 5), rand(1, 2, 5, 5), kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id="overlap_pad"),
        C(rand(2, 3, 8), rand(2, 3, 8), kernel=[3], strides=[2], pads=[1, 1], id="1d"),
        C(rand(7, 2, 4, 4), rand(7, 2, 4, 4), kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], batched=(0, 1),
          id="batchN"),
    ],
    "slice_grad": [
        C(rand(3, 6), rand(5, 6), starts=[1], ends=[4], id="axis0"),
        C(rand(3, 3), rand(5, 6), starts=[0, 1], ends=[5, 6], axes=[0, 1], steps=[2, 2], id="steps"),
        C(rand(5, 4), rand(5, 6), starts=[2], ends=[2**40], axes=[-1], id="past_end"),
        C(rand(2, 6), rand(5, 6), starts=[-3], ends=[-1], axes=[0], id="negative"),
        C(rand(7, 3), rand(7, 6), starts=[1], ends=[4], axes=[1], batched=(0, 1), id="batchN"),
    ],
    "gather_grad": [
        C(rand(2, 4, 3), ints(2, 4, low=0, high=5), rand(5, 3), id="axis0_repeats"),
        C(rand(2, 4, 3), ints(4, low=-5, high=5), rand(2, 5, 3), axis=1, id="axis1_negative"),
        C(rand(6, 2), np.array([0, 3, 3, -1, 2, 0]), rand(4, 2), id="repeats_negative"),
        C(rand(7, 3, 4), ints(7, 3, low=0, high=10), rand(10, 4), batched=(0, 1), id="batchN_ids"),
    ],
    # -- attention and sampling ------------------------------------------------------------------
    "causal_mask": [C(rand(2, 4, 4), id="square"), C(rand(3, 5), id="wide"), C(rand(2, 2, 5, 3), id="tall"),
                    C(rand(4, 4), fill=-1e9, id="finite_fill"), C(rand(7, 3, 3), batched=(0,), id="batchN")],
    "reparameterize": [C(rand(3, 4), rand(3, 4), id="inference_mu"),
                       C(rand(3, 4), rand(3, 4), rand(3, 4), id="with_eps"),
                       C(rand(7, 4), rand(7, 4), rand(7, 4), batched=(0, 1, 2), id="batchN")],
    # -- the hash PRNG (graphc/ops/sampling.py) against the hand re-implementation above -----------
    "random_normal_like": [C(rand(20, 50), seed=5, id="seeded", **_BM),
                           C(rand(40, 3), id="default_seed", **_BM),
                           C(rand(3, 4).astype(np.float64), seed=1, salt=99, id="float64", **_BM),
                           C(rand(7, 30), seed=2**40 + 3, batched=(0,), id="batchN_big_seed", **_BM)],
    "normal_from_seed": [C(rand(20, 50), _seed(9), salt=3, id="2d", **_BM),
                         C(rand(2, 3, 4), _seed(-1), id="negative_seed", **_BM),
                         C(rand(3, 4).astype(np.float64), _seed(7), salt=2**31 + 5, id="float64", **_BM),
                         C(rand(7, 30), _seed(123456789), salt=1, batched=(0,), id="batchN", **_BM)],
    "dropout_mask": [C(rand(30, 40), _seed(42), rate=0.3, salt=5, id="rate03"),
                     C(rand(2, 3, 4), _seed(0), id="default_rate"),
                     C(rand(50, 20), _seed(3), rate=0.0, id="rate0_keeps_all"),
                     C(rand(50, 20), _seed(3), rate=0.999999, id="rate_near_1"),
                     C(rand(7, 9), _seed(11), rate=0.25, salt=3, id="odd_size"),
                     C(rand(3, 4).astype(np.float64), _seed(11), rate=0.5, salt=1, id="float64"),
                     C(rand(7, 30), _seed(8), rate=0.25, batched=(0,), id="batchN")],
    "sin": _unary_cases() + [C(rand(4, 5, low=-40, high=40), id="wide")],
    "cos": _unary_cases() + [C(rand(4, 5, low=-40, high=40), id="wide")],
    "einsum": [C(rand(3, 4), rand(4, 5), equation="ij,jk->ik", id="matmul"),
               C(rand(3, 4), rand(4, 5), equation="ij,jk", id="implicit"),
               C(rand(7, 2, 3), rand(7, 3, 4), equation="bij, bjk -> bik", batched=(0, 1), id="batchN_spaces"),
               C(rand(4, 4), equation="ii->i", id="diagonal"), C(rand(4, 4), equation="ii", id="trace"),
               C(rand(3, 5, 5), equation="...ii->...i", id="batch_diagonal"),
               C(rand(3, 4), equation="ij->i", id="sum"), C(rand(3, 4), equation="ij->ji", id="transpose"),
               C(rand(3), rand(4), equation="i,j->ij", id="outer"), C(rand(5), rand(5), equation="i,i", id="inner"),
               C(np.array(1.5, np.float32), equation="->", id="scalar"),
               C(rand(2, 1, 3, 4), rand(5, 4, 2), equation="...ij,...jk->...ik", id="ellipsis_broadcast"),
               C(rand(2, 3), rand(3, 4), rand(4, 5), equation="ab,bc,cd->ad", id="three"),
               C(rand(3, 4), rand(4, 6), equation="ij,jk->i", id="summed_alone"),
               C(rand(3, 3, 2), rand(2), equation="iij,j->ij", id="diagonal_and_product"),
               C(rand(2, 3), rand(4), equation="ba,B", id="implicit_upper"),
               C(rand(7, 3, 4), rand(4), equation="nij,j->ni", batched=(0,), id="batchN_vec"),
               C(rand(7, 3), rand(3, 3), equation="ni,ii->n", batched=(0,), id="batchN_diag_other"),
               C(rand(3, 4).astype(np.float64), rand(4, 2).astype(np.float64), equation="ij,jk->ik", id="float64"),
               C(ints(3, 4), ints(4, 2), equation="ij,jk->ik", id="int64")],
    "floor": _unary_cases() + [C(small_ints_f(3, 4), id="integers")],
    "ceil": _unary_cases() + [C(small_ints_f(3, 4), id="integers")],
    "round": _unary_cases(lambda *s: rand(*s, low=-4, high=4)) + [
        C(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997], np.float32), id="halves_to_even")],
    "mod": [C(rand(3, 4, low=-6, high=6), pos(3, 4), fmod=1, id="fmod"),
            C(rand(2, 3, 4, low=-6, high=6), -pos(4), fmod=1, id="fmod_bcast_negative_divisor"),
            C(rand(7, 5, low=-6, high=6), pos(5), fmod=1, batched=(0,), id="fmod_batchN"),
            C(rand(3, 4, low=-6, high=6).astype(np.float64), pos(3, 4).astype(np.float64), fmod=1, id="float64"),
            C(ints(3, 4, low=-9, high=10), nonzero_ints(3, 4), id="int64_divisor_sign"),
            C(ints(3, 4, low=-9, high=10), nonzero_ints(3, 4), fmod=1, id="int64_fmod"),
            C(rand(3, 4, low=-6, high=6), rand(3, 4, low=0.5, high=3) * np.where(rand(3, 4) > 0, 1, -1).astype(
                np.float32), id="float_divisor_sign"),
            C(rand(7, 4, low=-6, high=6), -pos(4), batched=(0,), id="float_divisor_sign_batchN"),
            C(np.array([-4.0, 4.0, -3.0, 0.0, -0.0], np.float32), np.array([2.0, -2.0, 1.5, -1.0, 1.0], np.float32),
              id="float_exact_multiples")],
}


def _all_cases():
    for op, cases in CASES.items():
        for i, case in enumerate(cases):
            yield pytest.param(op, case, id=f"{op}-{case.id or i}")


def _batch_sizes(case: Case) -> list[int | None]:
    return [1, 7] if case.batched else [None]


def _inputs_for(case: Case, batch: int | None) -> list[np.ndarray]:
    if batch is None:
        return list(case.inputs)
    return [x[:batch] if i in case.batched else x for i, x in enumerate(case.inputs)]


def _oracle(op: str, ins: list[np.ndarray], attrs: dict) -> list[np.ndarray]:
    return [np.asarray(r) for r in ORACLES[op](ins, attrs)]


def _assert_close(got, want, case: Case, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, oracle {want.shape}"
    if case.stochastic:  # N(0, 1) samples: the dtype, and the moments of a large sample
        assert got.dtype == want.dtype and np.all(np.isfinite(got)), what
        if got.size >= 1000:
            assert abs(got.mean()) < 0.1 and abs(got.std() - 1) < 0.1, f"{what}: mean {got.mean()}, std {got.std()}"
        return
    if want.dtype == np.bool_ or np.issubdtype(want.dtype, np.integer):
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, oracle {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, oracle {want.dtype}"
        np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol, err_msg=what)


def _eval_dim(d, env: dict[str, int]) -> int:
    """A symbolic dim expression (`N`, `(N-3)//2+1`, `N*12`) evaluated for concrete sizes."""
    return d if isinstance(d, int) else int(eval(str(d), {"__builtins__": {}}, dict(env)))  # noqa: S307


def _one_node_graph(op: str, case: Case, symbolic: bool) -> Graph:
    graph = Graph(f"test_{op}")
    b = Builder(graph)
    values = []
    for i, x in enumerate(case.inputs):
        shape = tuple(x.shape)
        if symbolic and i in case.batched:
            shape = ("N",) + shape[1:]
        values.append(graph.add_input(f"in{i}", TensorType(dtype_of_array(x), shape)))
    node = b.emit_node(op, *values, **case.attrs)
    graph.outputs = list(node.outputs)
    return graph


# -- the tests ----------------------------------------------------------------------------
def test_every_op_has_cases():
    missing = sorted(set(OPS) - set(CASES))
    assert not missing, f"ops without forward test cases in tests/test_ops_forward.py: {missing}"
    assert not sorted(set(OPS) - set(ORACLES)), "every op needs an oracle"
    unknown = sorted(set(CASES) - set(OPS))
    assert not unknown, f"cases for ops that are not registered: {unknown}"


@pytest.mark.parametrize("op,case", list(_all_cases()))
def test_shape_rule_and_reference(op: str, case: Case):
    """(a) infer agrees with what the op produces, (b) the numpy reference agrees with the oracle."""
    opdef = OPS[op]
    full = opdef.full_attrs(case.attrs)
    types = [TensorType(dtype_of_array(x), tuple(x.shape)) for x in case.inputs]
    out_types = opdef.infer(types, full)
    want = _oracle(op, case.inputs, full)
    got = [np.asarray(r) for r in as_list(opdef.ref(list(case.inputs), full))]
    assert len(out_types) == len(want) == len(got)
    for k, (t, w, g) in enumerate(zip(out_types, want, got)):
        assert t.shape == tuple(w.shape), f"output {k}: infer gives {t.shape}, the oracle {w.shape}"
        assert np.dtype(t.dtype) == w.dtype, f"output {k}: infer gives {t.dtype}, the oracle {w.dtype}"
        _assert_close(g, w, case, f"{op} ref output {k}")
    if case.batched:  # the symbolic shape rule, evaluated for the batch sizes we feed
        sym = [TensorType(t.dtype, (("N",) + t.shape[1:]) if i in case.batched else t.shape)
               for i, t in enumerate(types)]
        sym_out = opdef.infer(sym, full)
        for batch in (1, 7):
            want_b = _oracle(op, _inputs_for(case, batch), full)
            for t, w in zip(sym_out, want_b):
                assert tuple(_eval_dim(d, {"N": batch}) for d in t.shape) == w.shape, \
                    f"symbolic shape {t.shape} at N={batch} vs oracle {w.shape}"


@pytest.mark.parametrize("op,case", list(_all_cases()))
def test_onnx_lowering(op: str, case: Case):
    """(c) one-node graph: full checker, onnxruntime and the ONNX reference evaluator match the oracle."""
    symbolic = bool(case.batched)
    graph = _one_node_graph(op, case, symbolic)
    model = to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    emitted = {n.op_type for n in model.graph.node}
    declared = set(OPS[op].onnx_ops)
    if OPS[op].float64 == FLOAT64_DECOMPOSED and any(x.dtype == np.float64 for x in case.inputs):
        declared |= set(DECOMPOSITION_OPS)
    assert emitted <= declared, f"{op} emits {sorted(emitted)}, OpDef.onnx_ops says {OPS[op].onnx_ops}"
    if symbolic:
        dims = [d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim if d.dim_param]
        assert "N" in dims, "a symbolic batch dim must stay a dim_param"
    for out, value in zip(model.graph.output, graph.outputs):  # declared output shapes are the IR's
        declared = tuple(d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim)
        assert declared == tuple(value.shape), f"ONNX output {out.name}: {declared}, IR {value.shape}"
    data = model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = None
    f64 = any(x.dtype == np.float64 for x in case.inputs)
    if f64:  # OpDef.float64 says whether onnxruntime runs it: checked against onnxruntime itself
        assert bool(case.no_onnxruntime) == bool(OPS[op].float64_unsupported), OPS[op].float64
    if case.no_onnxruntime:  # keep the marker honest: it must still fail there
        with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
            ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    else:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    reference = None if case.no_reference_evaluator else ReferenceEvaluator(model)
    full = OPS[op].full_attrs(case.attrs)
    out_names = [o.name for o in model.graph.output]
    for batch in _batch_sizes(case):
        ins = _inputs_for(case, batch)
        feeds = {f"in{i}": x for i, x in enumerate(ins)}
        want = _oracle(op, ins, full)
        got_ort = session.run(out_names, feeds) if session is not None else None
        got_ref = reference.run(out_names, feeds) if reference is not None else None
        assert len(out_names) == len(want)
        for k, w in enumerate(want):
            if got_ort is not None:
                _assert_close(got_ort[k], w, case, f"{op} onnxruntime output {k} (batch {batch})")
            if got_ref is not None:
                _assert_close(got_ref[k], w, case, f"{op} ReferenceEvaluator output {k} (batch {batch})")


def _run_one_node(op: str, inputs: list[np.ndarray], **attrs) -> np.ndarray:
    """A one-node graph of `op` exported to ONNX and run on onnxruntime."""
    graph = _one_node_graph(op, C(*inputs, **attrs), symbolic=False)
    session = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {f"in{i}": x for i, x in enumerate(inputs)})[0]


def test_hash_prng_statistics():
    """The hash PRNG as lowered to ONNX: keep-rate, mean and variance of large draws, independent
    streams for different seeds and salts, the same numbers for the same (seed, salt)."""
    x = np.zeros((200, 500), np.float32)  # 100k draws: standard errors ~ 0.0015 (rate), 0.003 (mean)
    for rate in (0.1, 0.5, 0.8):
        mask = _run_one_node("dropout_mask", [x, _seed(17)], rate=rate, salt=2)
        keep = mask > 0
        assert abs(keep.mean() - (1 - rate)) < 0.01, (rate, keep.mean())
        np.testing.assert_allclose(mask[keep], 1.0 / (1.0 - rate), rtol=1e-6)
        assert abs(mask.mean() - 1.0) < 0.03  # inverted dropout keeps the expectation
        # no stuck rows or columns (row of 500: sd 0.022; column of 200: sd 0.035)
        assert keep.mean(axis=1).min() > (1 - rate) - 0.15 and keep.mean(axis=0).min() > (1 - rate) - 0.25
        flat = keep.ravel().astype(np.float64)  # the two halves share hashes (low / high 16 bits)
        assert abs(np.corrcoef(flat[:50000], flat[50000:])[0, 1]) < 0.02
    z = _run_one_node("normal_from_seed", [x, _seed(5)], salt=0).ravel().astype(np.float64)
    assert abs(z.mean()) < 0.015 and abs(z.var() - 1.0) < 0.02, (z.mean(), z.var())
    assert abs(np.mean(np.abs(z) < 1.0) - 0.6827) < 0.01  # the N(0, 1) mass within one sigma
    assert abs(np.mean(z ** 3)) < 0.05 and abs(np.mean(z ** 4) - 3.0) < 0.1  # skew 0, kurtosis 3
    lag = np.corrcoef(z[:-1], z[1:])[0, 1]
    other_salt = _run_one_node("normal_from_seed", [x, _seed(5)], salt=1).ravel()
    other_seed = _run_one_node("normal_from_seed", [x, _seed(6)], salt=0).ravel()
    for w in (other_salt, other_seed):
        assert abs(np.corrcoef(z, w)[0, 1]) < 0.02
    assert abs(lag) < 0.02
    again = _run_one_node("normal_from_seed", [x, _seed(5)], salt=0).ravel()
    np.testing.assert_array_equal(again, z.astype(np.float32))
    like = _run_one_node("random_normal_like", [x], seed=5, salt=0).ravel()
    np.testing.assert_array_equal(like, z.astype(np.float32))  # the constant-seed form draws the same stream


# float64 decompositions (graphc/ops/float64.py) against 50-digit mpmath, elementwise relative error
_F64_GRID = np.concatenate([np.linspace(-9.0, 9.0, 1801), [-40.0, -27.0, -1e-3, -1e-9, -1e-300, 0.0, 1e-300, 1e-9,
                                                           1e-3, 1.9999999, 2.0, 2.0000001, 27.0, 40.0, 800.0]])


def _mp_oracle(op: str, alpha: float | None):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    selu_a, selu_s = mpmath.mpf("1.6732632423543772848170429916717"), mpmath.mpf("1.0507009873554804934193349852946")

    def f(x):
        x = mpmath.mpf(float(x))
        if op == "erf":
            return mpmath.erf(x)
        if op == "gelu":
            return x * mpmath.ncdf(x)
        if op == "softplus":
            return mpmath.log1p(mpmath.exp(x))
        if op == "elu":
            return x if x > 0 else alpha * mpmath.expm1(x)
        if op == "selu":
            return selu_s * (x if x > 0 else selu_a * mpmath.expm1(x))
        return x if x > 0 else alpha * x  # leaky_relu
    return f


@pytest.mark.parametrize("op,attrs,tol", [("erf", {}, 4e-15), ("gelu", {}, 1e-13), ("softplus", {}, 4e-15),
                                          ("elu", {"alpha": 0.7}, 4e-15), ("selu", {}, 4e-15),
                                          ("leaky_relu", {"alpha": 0.03}, 1e-15)])
def test_float64_decompositions_are_accurate(op, attrs, tol):
    """onnxruntime has no float64 kernel for these: the float64 lowering decomposes them into ops it
    has, keeping float64 precision (never a cast to float32)."""
    got = _run_one_node(op, [_F64_GRID], **attrs)
    assert got.dtype == np.float64
    oracle = _mp_oracle(op, attrs.get("alpha"))
    want = np.array([float(oracle(x)) for x in _F64_GRID])
    tiny = np.finfo(np.float64).tiny
    err = np.abs(got - want) / np.maximum(np.abs(want), tiny)
    worst = int(np.argmax(err))
    assert err[worst] <= tol, f"{op}({_F64_GRID[worst]!r}) = {got[worst]!r}, mpmath {want[worst]!r}"
    nan = _run_one_node(op, [np.array([np.nan])], **attrs)
    assert np.isnan(nan).all()
    model = to_onnx(_one_node_graph(op, C(_F64_GRID, **attrs), symbolic=False))
    assert all(t.data_type == onnx.TensorProto.DOUBLE for t in model.graph.initializer), "no float32 casts"
    assert not any(n.op_type == "Cast" for n in model.graph.node)


def test_float64_conv_warns_at_check_and_compile(tmp_path):
    """Float64 conv/avgpool exports but onnxruntime's CPU provider cannot run it: `graphc check`
    and `compile` say so early, in one stderr line, and still succeed; float32 stays silent."""
    import subprocess
    import sys

    spec = ("graphc: 1\nname: m\ninputs: {x: {shape: [N, 1, 8, 8], dtype: DTYPE}}\nlayers:\n"
            "  - conv2d: {filters: 2, kernel: 3, activation: gelu}\n  - avgpool2d: {size: 2}\n"
            "  - global_avgpool: {}\n")
    for dtype in ("float64", "float32"):
        path = tmp_path / f"m_{dtype}.yaml"
        path.write_text(spec.replace("DTYPE", dtype))
        for cmd in (["check", path.name], ["compile", path.name, "-o", f"m_{dtype}.onnx"]):
            r = subprocess.run([sys.executable, "-m", "graphc", *cmd], cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == 0, r.stderr
            if dtype == "float32":
                assert r.stderr == ""
                continue
            lines = r.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"{path.name}:5:5: warning: "), r.stderr
            assert "float64" in lines[0] and "convolution" in lines[0] and "average pooling" in lines[0]
            assert "conv2d_1" in lines[0] and "avgpool2d_1" in lines[0]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):  # the warning stays true while it is
        ort.InferenceSession(str(tmp_path / "m_float64.onnx"), options, providers=["CPUExecutionProvider"])
