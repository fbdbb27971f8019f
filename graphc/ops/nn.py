"""Neural-network ops: matmul/gemm, convolution, pooling, normalization, dropout, resize."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dims
from graphc.ir.types import TensorType, format_shape, np_dtype
from graphc.ops import cost
from graphc.ops.common import int64, need_float, need_rank, noop_always, onnx_node, same_dtype
from graphc.ops.gradutil import unbroadcast
from graphc.ops.registry import FLOAT64_UNSUPPORTED, REQUIRED, OpDef, TrainForm, register

NN = "nn"
POOL = "pool"
NORM = "norm"


# -- matmul / gemm --------------------------------------------------------------------------
def _matmul_infer(ts, a):
    x, y = ts
    same_dtype(ts, "matmul")
    if x.rank == 0 or y.rank == 0:
        raise ShapeError("matmul: inputs must have rank >= 1")
    xs = x.shape if x.rank > 1 else (1,) + x.shape
    ys = y.shape if y.rank > 1 else y.shape + (1,)
    dims.unify(xs[-1], ys[-2], f"matmul: inner dims of {format_shape(x.shape)} @ {format_shape(y.shape)}",
               "make them equal, for example with a dense or transpose layer before one of the inputs")
    batch = dims.broadcast([xs[:-2], ys[:-2]], "matmul batch dims")
    out = batch + ((xs[-2],) if x.rank > 1 else ()) + ((ys[-1],) if y.rank > 1 else ())
    return [x.with_shape(out)]


def _swap_last(b, v):
    perm = list(range(v.type.rank))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return b.transpose(v, perm=perm)


def _matmul_vjp(b, n, g):
    x, y = n.inputs
    gy, x2, y2 = g[0], x, y
    if x.type.rank == 1 and y.type.rank == 1:  # vectors: work on [1, k] @ [k, 1]
        x2, y2, gy = b.unsqueeze(x, axes=[0]), b.unsqueeze(y, axes=[1]), b.unsqueeze(gy, axes=[0, 1])
    elif x.type.rank == 1:  # [k] @ [..., k, n]: x is a [1, k] row
        x2, gy = b.unsqueeze(x, axes=[0]), b.unsqueeze(gy, axes=[gy.type.rank - 1])
    elif y.type.rank == 1:  # [..., m, k] @ [k]: y is a [k, 1] column
        y2, gy = b.unsqueeze(y, axes=[1]), b.unsqueeze(gy, axes=[gy.type.rank])
    elif x.type.rank > 2 and y.type.rank == 2 and all(isinstance(d, int) for d in y.shape):
        # [..., m, k] @ [k, n] (dense on a sequence): dy as one [k, rows] @ [rows, n] product, not a
        # batched product summed over the batch axes (a [batch, k, n] temporary; 10-15% of a
        # transformer train step)
        k, cols = y.shape
        dy = b.matmul(_swap_last(b, b.reshape(x, shape=[-1, k])), b.reshape(gy, shape=[-1, cols]))
        return [b.matmul(gy, _swap_last(b, y)), dy]
    dx = unbroadcast(b, b.matmul(gy, _swap_last(b, y2)), x2)
    dy = unbroadcast(b, b.matmul(_swap_last(b, x2), gy), y2)
    return [dx if x2 is x else b.reshape_as(dx, x), dy if y2 is y else b.reshape_as(dy, y)]


register(OpDef("matmul", ("a", "b"), _matmul_infer, lambda ins, a: np.matmul(ins[0], ins[1]), onnx_node("MatMul"),
               vjp=_matmul_vjp, family=NN, doc="matrix product with numpy broadcasting of batch dims",
               onnx_ops=("MatMul",), cost=cost.matmul))


def _gemm_infer(ts, a):
    same_dtype(ts, "gemm")
    A, B = ts[0], ts[1]
    need_rank(A, "gemm", 2, what="input a")
    need_rank(B, "gemm", 2, what="input b")
    m, k = A.shape[::-1] if a["trans_a"] else A.shape
    k2, n = B.shape[::-1] if a["trans_b"] else B.shape
    dims.unify(k, k2, "gemm: inner dims")
    out = (m, n)
    if len(ts) == 3:
        dims.broadcast([out, ts[2].shape], "gemm bias")
    return [A.with_shape(out)]


def _gemm_ref(ins, a):
    A = ins[0].T if a["trans_a"] else ins[0]
    B = ins[1].T if a["trans_b"] else ins[1]
    y = a["alpha"] * (A @ B)
    if len(ins) == 3:
        y = y + a["beta"] * ins[2]
    return y.astype(ins[0].dtype)


def _gemm_vjp(b, n, g):
    A, B = n.inputs[0], n.inputs[1]
    ga = b.mul(g[0], n.attrs["alpha"]) if n.attrs["alpha"] != 1.0 else g[0]
    # Y = op(A) op(B): d op(A) = G op(B)^T, d op(B) = op(A)^T G
    if n.attrs["trans_a"]:
        dA = b.gemm(B, ga, trans_a=n.attrs["trans_b"], trans_b=1)
    else:
        dA = b.gemm(ga, B, trans_b=0 if n.attrs["trans_b"] else 1)
    if n.attrs["trans_b"]:
        dB = b.gemm(ga, A, trans_a=1, trans_b=n.attrs["trans_a"])
    else:
        dB = b.gemm(A, ga, trans_a=0 if n.attrs["trans_a"] else 1)
    grads = [dA, dB]
    if len(n.inputs) == 3:
        gc = b.mul(g[0], n.attrs["beta"]) if n.attrs["beta"] != 1.0 else g[0]
        grads.append(unbroadcast(b, gc, n.inputs[2]))
    return grads


register(OpDef("gemm", ("a", "b", "c"), _gemm_infer, _gemm_ref,
               onnx_node("Gemm", {"alpha": "alpha", "beta": "beta", "trans_a": "transA", "trans_b": "transB"}),
               attrs={"trans_a": 0, "trans_b": 0, "alpha": 1.0, "beta": 1.0}, min_inputs=2, vjp=_gemm_vjp,
               family=NN, public=False, doc="alpha * op(a) @ op(b) + beta * c (2-D, as ONNX Gemm)",
               onnx_ops=("Gemm",), cost=cost.gemm))


# -- convolution ----------------------------------------------------------------------------
def _spatial(x: TensorType) -> tuple:
    return x.shape[2:]


def conv_out_shape(x: TensorType, w: TensorType, a: dict, op: str = "conv") -> tuple:
    nd = x.rank - 2
    if nd < 1 or w.rank != x.rank:
        raise ShapeError(f"{op}: input {format_shape(x.shape)} and weight {format_shape(w.shape)} ranks do not fit")
    k = w.shape[2:]
    out = []
    for i in range(nd):
        size = dims.conv_out(x.shape[2 + i], k[i], a["strides"][i], a["pads"][i] + a["pads"][i + nd],
                             a["dilations"][i])
        if isinstance(size, int) and size < 1:
            raise ShapeError(f"{op}: kernel {list(k)} (dilation {list(a['dilations'])}, padding "
                             f"{list(a['pads'][:nd])}) is larger than the input {format_shape(x.shape)}",
                             hint="use a smaller kernel, padding, or a larger input")
        out.append(size)
    return tuple(out)


def _conv_infer(ts, a):
    x, w = ts[0], ts[1]
    same_dtype(ts, "conv")
    need_float(x, "conv")
    group = a["group"]
    cin = x.shape[1]
    if isinstance(cin, int) and isinstance(w.shape[1], int) and cin != w.shape[1] * group:
        raise ShapeError(f"conv: input has {cin} channels, the weight {format_shape(w.shape)} with groups={group} "
                         f"expects {w.shape[1] * group}")
    if isinstance(w.shape[0], int) and w.shape[0] % group:
        raise ShapeError(f"conv: {w.shape[0]} filters do not divide into groups={group}")
    if len(ts) == 3:
        dims.unify(ts[2].shape[0], w.shape[0], "conv: bias size")
    return [x.with_shape((x.shape[0], w.shape[0]) + conv_out_shape(x, w, a))]


def _window_slices(out_sp, kidx, strides, dilations):
    return tuple(slice(kidx[i] * dilations[i], kidx[i] * dilations[i] + strides[i] * (out_sp[i] - 1) + 1, strides[i])
                 for i in range(len(out_sp)))


def _pad_spatial(x, pads, value=0.0):
    nd = x.ndim - 2
    return np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)], constant_values=value)


def conv_ref(x, w, bias, a):
    """Direct N-d convolution (cross-correlation, as PyTorch and ONNX) in numpy."""
    nd = x.ndim - 2
    xp = _pad_spatial(x, a["pads"])
    kshape = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - a["dilations"][i] * (kshape[i] - 1) - 1) // a["strides"][i] + 1 for i in range(nd)]
    group = a["group"]
    cg, mg = x.shape[1] // group, w.shape[0] // group
    y = np.zeros((x.shape[0], w.shape[0], *out_sp), dtype=np.result_type(x, w, np.float32))  # fp16: fp32 sums
    for kidx in np.ndindex(*kshape):
        patch = xp[(slice(None), slice(None)) + _window_slices(out_sp, kidx, a["strides"], a["dilations"])]
        for gi in range(group):
            wk = w[(slice(gi * mg, (gi + 1) * mg), slice(None)) + kidx]
            y[:, gi * mg:(gi + 1) * mg] += np.einsum("nc...,mc->nm...", patch[:, gi * cg:(gi + 1) * cg], wk,
                                                        dtype=y.dtype)
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * nd)
    return y.astype(x.dtype)


def _static_spatial(v, op: str) -> list[int]:
    if not all(isinstance(d, int) for d in v.shape[2:]):
        raise ShapeError(f"{op}: the gradient needs fixed spatial sizes, got {format_shape(v.shape)}")
    return list(v.shape[2:])


def _sum_but_channels(b, g):
    return b.sum(g, axis=[0] + list(range(2, g.type.rank)), keepdims=False)


def _output_padding(in_sp, out_sp, kernel, a) -> list[int]:
    """ConvTranspose output_padding that maps a conv output of size out_sp back to in_sp."""
    nd = len(in_sp)
    return [in_sp[i] + a["pads"][i] + a["pads"][i + nd] - a["dilations"][i] * (kernel[i] - 1) - 1
            - (out_sp[i] - 1) * a["strides"][i] for i in range(nd)]


def _zero_pad(b, x, pads: list[int]):
    """x with zeros around its spatial axes (ONNX pads order: begins..., ends...), by Concat."""
    nd = x.type.rank - 2
    for i in range(nd):
        lo, hi = pads[i], pads[i + nd]
        parts = [x]
        if lo:
            parts.insert(0, b.zeros_like(b.slice(x, starts=[0], ends=[lo], axes=[2 + i])))
        if hi:
            parts.append(b.zeros_like(b.slice(x, starts=[0], ends=[hi], axes=[2 + i])))
        if len(parts) > 1:
            x = b.concat(*parts, axis=2 + i)
    return x


def _patches_weight_grad(b, inp, gout, kernel, a):
    """dW without padding, one MatMul per kernel offset k: dW[:, :, k] = sum over (n, o) of
    gout[n, m, o] * inp[n, c, o * stride + k * dilation], with batch and positions as the
    contraction axis ([group, C/group, N*P] @ [group, N*P, M/group]): temporaries of the input's
    size, for convs too large for `_im2col_weight_grad`. onnxruntime runs these about 1.5x faster
    than one Conv whose kernel is gout's spatial size (measured: Keras CNN)."""
    nd, group = len(kernel), a["group"]
    out_sp = _static_spatial(gout, "conv")
    spatial = list(range(2, nd + 2))
    cin, m = inp.shape[1], gout.shape[1]
    xt = b.transpose(inp, perm=[1, 0] + spatial)  # [C, N, *in]
    gt = b.transpose(b.reshape(b.transpose(gout, perm=[1, 0] + spatial), shape=[group, m // group, -1]),
                     perm=[0, 2, 1])  # [group, N*P, M/group]
    taps = []
    for k in np.ndindex(*kernel):
        starts = [k[i] * a["dilations"][i] for i in range(nd)]
        ends = [starts[i] + a["strides"][i] * (out_sp[i] - 1) + 1 for i in range(nd)]
        cols = b.reshape(b.slice(xt, starts=starts, ends=ends, axes=spatial, steps=list(a["strides"])),
                         shape=[group, cin // group, -1])  # [group, C/group, N*P]
        taps.append(b.unsqueeze(b.matmul(cols, gt), axes=[2]))  # [group, C/group, 1, M/group]
    r = b.concat(*taps, axis=2) if len(taps) > 1 else taps[0]
    return b.reshape(b.transpose(r, perm=[0, 3, 1, 2]), shape=[m, cin // group] + list(kernel))


def _im2col_weight_grad(b, inp, gout, kernel, a):
    """dW as one im2col Conv, one batched MatMul and one ReduceSum. A depthwise Conv of inp with
    one-hot kernels [C * K, 1, *kernel] (K kernel offsets; the conv's pads, strides, dilations)
    gives cols[n, c * K + k, o] = pad(inp)[n, c, o * stride + k * dilation] exactly; then
    dW = sum over n of gout[n] @ cols[n]^T, per group. Unlike one MatMul per kernel offset over
    Slices (a [C, M] output that onnxruntime computes on one thread, and Slices that copy on one
    thread), all three are kernels onnxruntime splits over threads, 3 nodes instead of ~45 for a
    3 x 3 kernel. Its temporaries are K times the input and N times the weight, so it is used
    up to IM2COL_SAMPLE_BYTES per sample (`_im2col_bytes`)."""
    group, out_sp = a["group"], _static_spatial(gout, "conv")
    cin, m = inp.shape[1], gout.shape[1]
    taps = int(np.prod(kernel))
    eye = np.tile(np.eye(taps, dtype=np_dtype(inp.dtype)), (cin, 1)).reshape([cin * taps, 1] + list(kernel))
    cols = b.conv(inp, b.const(eye, inp.dtype, "im2col"), strides=list(a["strides"]), pads=list(a["pads"]),
                  dilations=list(a["dilations"]), group=cin)  # [N, C * K, *out]
    rows = int(np.prod(out_sp))
    lead = [0] if group == 1 else [0, group]
    cols = b.reshape(cols, shape=lead + [cin // group * taps, rows])  # [N, (group,) C/group * K, P]
    g = b.reshape(gout, shape=lead + [m // group, rows])  # [N, (group,) M/group, P]
    r = b.sum(b.matmul(g, _swap_last(b, cols)), axis=[0], keepdims=False)  # [(group,) M/group, C/group * K]
    return b.reshape(r, shape=[m, cin // group] + list(kernel))


IM2COL_SAMPLE_BYTES = 4 << 20  # per-sample temporaries of the im2col weight gradient (x 64 rows: 256 MiB)


def _im2col_bytes(inp, gout, kernel, group: int) -> int:
    """Bytes per sample of the im2col weight gradient's temporaries: cols [C * K, P] and the
    per-sample products [M, C/group * K]."""
    taps, rows = int(np.prod(kernel)), int(np.prod(gout.shape[2:]))
    cin, m = int(inp.shape[1]), int(gout.shape[1])
    return (cin * taps * rows + m * cin // group * taps) * np.dtype(np_dtype(inp.dtype)).itemsize


def conv_weight_grad(b, inp, gout, kernel, a):
    """Cotangent of a conv weight [gout channels, inp channels / group, *kernel].

    dW[m, c, k] = sum_{n, o} gout[n, m, o] * pad(inp)[n, c, o * stride + k * dilation]: an im2col
    Conv and one batched MatMul (fixed channel counts, the usual case), one MatMul per kernel
    offset (large convs), or else a conv of inp (batch and channel axes swapped) with gout as the
    kernel, strides and dilations swapped.
    """
    nd, group = len(kernel), a["group"]
    sp = _static_spatial(inp, "conv")
    spatial = list(range(2, nd + 2))
    if isinstance(inp.shape[1], int) and isinstance(gout.shape[1], int):
        if _im2col_bytes(inp, gout, kernel, group) <= IM2COL_SAMPLE_BYTES:
            return _im2col_weight_grad(b, inp, gout, kernel, a)
        if all(p <= d for p, d in zip(a["pads"], sp + sp)):
            padded = _zero_pad(b, inp, list(a["pads"])) if any(a["pads"]) else inp
            return _patches_weight_grad(b, padded, gout, kernel, dict(a, pads=[0] * (2 * nd)))
    if group == 1:
        xt = b.transpose(inp, perm=[1, 0] + spatial)
    else:  # channel index of the swapped input is group * N + n, as a grouped conv reads it
        if not isinstance(inp.shape[1], int):
            raise ShapeError("conv: the gradient of a grouped conv needs a fixed channel count")
        cg = inp.shape[1] // group
        x5 = b.transpose(b.reshape(inp, shape=[0, group, cg] + sp), perm=[2, 1, 0] + list(range(3, nd + 3)))
        xt = b.reshape(x5, shape=[cg, -1] + sp)
    gt = b.transpose(gout, perm=[1, 0] + spatial)
    r = b.conv(xt, gt, strides=list(a["dilations"]), pads=list(a["pads"]), dilations=list(a["strides"]), group=group)
    if tuple(r.shape[2:]) != tuple(kernel):
        r = b.slice(r, starts=[0] * nd, ends=list(kernel), axes=spatial)
    return b.transpose(r, perm=[1, 0] + spatial)


def _conv_vjp(b, n, g):
    x, w = n.inputs[0], n.inputs[1]
    a, gy = n.attrs, g[0]
    kernel = list(w.shape[2:])
    pad_out = _output_padding(_static_spatial(x, "conv"), _static_spatial(gy, "conv"), kernel, a)
    dx = b.conv_transpose(gy, w, strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]),
                          group=a["group"], output_padding=pad_out)
    grads = [dx, conv_weight_grad(b, x, gy, kernel, a)]
    return grads + ([_sum_but_channels(b, gy)] if len(n.inputs) > 2 else [])


def _conv_transpose_vjp(b, n, g):
    x, w = n.inputs[0], n.inputs[1]
    a, gy = n.attrs, g[0]
    dx = b.conv(gy, w, strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]),
                group=a["group"])
    grads = [dx, conv_weight_grad(b, gy, x, list(w.shape[2:]), a)]
    return grads + ([_sum_but_channels(b, gy)] if len(n.inputs) > 2 else [])


CONV_ATTRS = {"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1}
_CONV_ONNX = {"strides": "strides", "pads": "pads", "dilations": "dilations", "group": "group"}

register(OpDef("conv", ("x", "weight", "bias"), _conv_infer,
               lambda ins, a: conv_ref(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a),
               onnx_node("Conv", _CONV_ONNX), attrs=dict(CONV_ATTRS), min_inputs=2, vjp=_conv_vjp, family=NN,
               public=False,
               doc="N-d convolution, weight [out, in/groups, *kernel], pads as ONNX [begins..., ends...]",
               onnx_ops=("Conv",), cost=cost.conv, float64=FLOAT64_UNSUPPORTED + "convolution"))


def conv_transpose_out_shape(x: TensorType, w: TensorType, a: dict) -> tuple:
    nd = x.rank - 2
    out = []
    for i in range(nd):
        k = w.shape[2 + i]
        extra = a["dilations"][i] * (k - 1) + a["output_padding"][i] + 1 - a["pads"][i] - a["pads"][i + nd]
        size = dims.add(dims.mul(dims.add(x.shape[2 + i], -1), a["strides"][i]), extra)
        if isinstance(size, int) and size < 1:
            raise ShapeError(f"conv_transpose: output size {size} along spatial axis {i} is not positive")
        out.append(size)
    return tuple(out)


def _conv_transpose_infer(ts, a):
    x, w = ts[0], ts[1]
    same_dtype(ts, "conv_transpose")
    if x.rank != w.rank or x.rank < 3:
        raise ShapeError(f"conv_transpose: input {format_shape(x.shape)} and weight {format_shape(w.shape)} "
                         "ranks do not fit")
    dims.unify(x.shape[1], w.shape[0], "conv_transpose: input channels vs weight axis 0")
    return [x.with_shape((x.shape[0], dims.mul(w.shape[1], a["group"])) + conv_transpose_out_shape(x, w, a))]


def conv_transpose_ref(x, w, bias, a):
    """Transposed convolution (the gradient of conv with respect to its input) in numpy."""
    nd = x.ndim - 2
    group = a["group"]
    cg, mg = x.shape[1] // group, w.shape[1]
    kshape = w.shape[2:]
    in_sp = x.shape[2:]
    full = [(in_sp[i] - 1) * a["strides"][i] + a["dilations"][i] * (kshape[i] - 1) + 1 + a["output_padding"][i]
            for i in range(nd)]
    y = np.zeros((x.shape[0], mg * group, *full), dtype=np.result_type(x, w))
    for kidx in np.ndindex(*kshape):
        sl = _window_slices(in_sp, kidx, a["strides"], a["dilations"])
        for gi in range(group):
            wk = w[(slice(gi * cg, (gi + 1) * cg), slice(None)) + kidx]
            y[(slice(None), slice(gi * mg, (gi + 1) * mg)) + sl] += np.einsum(
                "nc...,cm->nm...", x[:, gi * cg:(gi + 1) * cg], wk)
    crop = tuple(slice(a["pads"][i], full[i] - a["pads"][i + nd]) for i in range(nd))
    y = y[(slice(None), slice(None)) + crop]
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y.astype(x.dtype)


register(OpDef("conv_transpose", ("x", "weight", "bias"), _conv_transpose_infer,
               lambda ins, a: conv_transpose_ref(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a),
               onnx_node("ConvTranspose", dict(_CONV_ONNX, output_padding="output_padding")),
               attrs=dict(CONV_ATTRS, output_padding=REQUIRED), min_inputs=2, vjp=_conv_transpose_vjp, family=NN,
               public=False,
               doc="N-d transposed convolution, weight [in, out/groups, *kernel]",
               onnx_ops=("ConvTranspose",), cost=cost.conv_transpose,
               float64=FLOAT64_UNSUPPORTED + "transposed convolution"))


# -- pooling --------------------------------------------------------------------------------
def _pool_attrs_as_conv(a) -> dict:
    return {"strides": a["strides"], "pads": a["pads"], "dilations": [1] * len(a["kernel"])}


def _pool_infer(op):
    def infer(ts, a):
        x = ts[0]
        need_float(x, op)
        nd = len(a["kernel"])
        if x.rank != nd + 2:
            raise ShapeError(f"input has shape {format_shape(x.shape)}, {op} needs rank {nd + 2} (N, C, spatial...)")
        fake_w = TensorType(x.dtype, (1, 1) + tuple(a["kernel"]))
        for i in range(nd):
            if a["pads"][i] * 2 > a["kernel"][i] or a["pads"][i + nd] * 2 > a["kernel"][i]:
                raise ShapeError(f"{op}: padding {a['pads'][i]} is more than half the window {a['kernel'][i]}")
        return [x.with_shape(x.shape[:2] + conv_out_shape(x, fake_w, _pool_attrs_as_conv(a), op))]
    return infer


def pool_ref(x, a, reduce: str):
    nd = x.ndim - 2
    kshape, strides = a["kernel"], a["strides"]
    fill = -np.inf if reduce == "max" else 0.0
    xp = _pad_spatial(x, a["pads"], fill)
    out_sp = [(xp.shape[2 + i] - kshape[i]) // strides[i] + 1 for i in range(nd)]
    windows = [xp[(slice(None), slice(None)) + _window_slices(out_sp, k, strides, [1] * nd)] for k in np.ndindex(*kshape)]
    stack = np.stack(windows)
    if reduce == "max":
        return stack.max(axis=0).astype(x.dtype)
    if a.get("count_include_pad", 1):
        return (stack.sum(axis=0) / float(np.prod(kshape))).astype(x.dtype)
    ones = _pad_spatial(np.ones_like(x), a["pads"], 0.0)
    counts = np.stack([ones[(slice(None), slice(None)) + _window_slices(out_sp, k, strides, [1] * nd)]
                       for k in np.ndindex(*kshape)]).sum(axis=0)
    return (stack.sum(axis=0) / counts).astype(x.dtype)


def _avgpool_vjp(b, n, g):
    """Each window spreads g / count back over its cells: a depthwise ConvTranspose with a ones kernel."""
    x, a, gy = n.inputs[0], n.attrs, g[0]
    kernel, nd = list(a["kernel"]), len(a["kernel"])
    in_sp, out_sp = _static_spatial(x, "avgpool"), _static_spatial(gy, "avgpool")
    channels = x.shape[1]
    if not isinstance(channels, int):
        raise ShapeError("avgpool: the gradient needs a fixed channel count")
    dtype = np.dtype(x.dtype)
    if a.get("count_include_pad", 1):
        gy = b.mul(gy, 1.0 / float(np.prod(kernel)))
    else:
        ones = np.ones((1, 1) + tuple(in_sp))
        counts = pool_ref(ones, dict(a, count_include_pad=1), "avg") * float(np.prod(kernel))
        gy = b.div(gy, b.const(counts.astype(dtype), x.dtype))
    conv_a = dict(_pool_attrs_as_conv(a))
    weight = b.const(np.ones((channels, 1) + tuple(kernel), dtype), x.dtype)
    return [b.conv_transpose(gy, weight, strides=list(a["strides"]), pads=list(a["pads"]), dilations=[1] * nd,
                             group=channels, output_padding=_output_padding(in_sp, out_sp, kernel, conv_a))]


def _maxpool_vjp(b, n, g):
    return [b.maxpool_grad(n.inputs[0], g[0], kernel=n.attrs["kernel"], strides=n.attrs["strides"],
                           pads=n.attrs["pads"])]


POOL_ATTRS = {"kernel": REQUIRED, "strides": REQUIRED, "pads": REQUIRED}
_POOL_ONNX = {"kernel": "kernel_shape", "strides": "strides", "pads": "pads"}

register(OpDef("maxpool", ("x",), _pool_infer("maxpool"), lambda ins, a: pool_ref(ins[0], a, "max"),
               onnx_node("MaxPool", _POOL_ONNX), attrs=dict(POOL_ATTRS), vjp=_maxpool_vjp, family=POOL, public=False,
               doc="max over sliding windows (padding counts as -inf)",
               onnx_ops=("MaxPool",), cost=cost.window))
register(OpDef("avgpool", ("x",), _pool_infer("avgpool"), lambda ins, a: pool_ref(ins[0], a, "avg"),
               onnx_node("AveragePool", dict(_POOL_ONNX, count_include_pad="count_include_pad")),
               attrs=dict(POOL_ATTRS, count_include_pad=1), vjp=_avgpool_vjp, family=POOL, public=False,
               doc="mean over sliding windows (padding counted, as PyTorch's default)",
               onnx_ops=("AveragePool",), cost=cost.window, float64=FLOAT64_UNSUPPORTED + "average pooling"))


def _gap_infer(ts, a):
    x = ts[0]
    need_float(x, "global_avgpool")
    if x.rank < 3:
        raise ShapeError(f"input has shape {format_shape(x.shape)}, global_avgpool needs [N, C, spatial...]",
                         hint="add a reshape layer before it?")
    return [x.with_shape(x.shape[:2] + (1,) * (x.rank - 2))]


def _gap_vjp(b, n, g):
    x = n.inputs[0]
    count = b.shape_size(x, axes=list(range(2, x.type.rank)), dtype=x.dtype)
    return [b.div(b.expand_as(g[0], x), count)]


def _gap_lower(ctx, n):
    """GlobalAveragePool; for float64 (no onnxruntime CPU kernel) the same mean as a ReduceMean."""
    x = n.inputs[0]
    if x.dtype != "float64":
        ctx.emit("GlobalAveragePool", ctx.names(n.inputs), ctx.names(n.outputs))
        return
    axes = list(range(2, x.type.rank))
    if ctx.opset < 18:  # axes became an input in opset 18
        ctx.emit("ReduceMean", [ctx.name(x)], ctx.names(n.outputs), keepdims=1, axes=axes)
        return
    ctx.emit("ReduceMean", [ctx.name(x), ctx.const(int64(axes), f"{n.name}/axes")], ctx.names(n.outputs), keepdims=1)


register(OpDef("global_avgpool", ("x",), _gap_infer,
               lambda ins, a: ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True),
               _gap_lower, vjp=_gap_vjp, family=POOL, public=False,
               doc="mean over all spatial axes, keeping them as size 1",
               onnx_ops=("GlobalAveragePool", "ReduceMean"), cost=cost.per_input_element))


# -- normalization --------------------------------------------------------------------------
def _channel_shape(x: TensorType) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.rank - 2)


def _bn_infer(ts, a):
    x = ts[0]
    need_float(x, "batchnorm")
    if x.rank < 2:
        raise ShapeError(f"input has shape {format_shape(x.shape)}, batchnorm needs [N, C, ...]",
                         hint="add a reshape layer before it?")
    for t in ts[1:]:
        dims.unify(t.shape[0] if t.rank == 1 else None, x.shape[1], "batchnorm: parameter size vs channels")
    return [x]


def _bn_ref(ins, a):
    x, scale, bias, mean, var = ins
    shape = (1, -1) + (1,) * (x.ndim - 2)
    r = lambda v: v.reshape(shape)  # noqa: E731
    return ((x - r(mean)) / np.sqrt(r(var) + a["eps"]) * r(scale) + r(bias)).astype(x.dtype)


def _bn_vjp(b, n, g):
    """y = (x - mean) * inv * scale + bias with inv = 1 / sqrt(var + eps), per channel (axis 1)."""
    x, scale, bias, mean, var = n.inputs
    gy, rank = g[0], x.type.rank
    per_channel = lambda v: b.reshape(v, shape=[1, -1] + [1] * (rank - 2))  # noqa: E731
    inv = b.reciprocal(b.sqrt(b.add(var, n.attrs["eps"])))
    gsum = _sum_but_channels(b, gy)
    gxc = _sum_but_channels(b, b.mul(gy, b.sub(x, per_channel(mean))))
    scaled = b.mul(scale, inv)
    dvar = b.mul(b.mul(gxc, scale), b.mul(-0.5, b.mul(inv, b.mul(inv, inv))))
    return [b.mul(gy, per_channel(scaled)), b.mul(gxc, inv), gsum, b.neg(b.mul(gsum, scaled)), dvar]


def _bn_train(b, node, ctx):
    """Batch statistics (biased variance) for y; the running statistics move by the layer's
    `momentum` (unbiased variance, as torch), built after y and not differentiated."""
    x, scale, bias, rmean, rvar = node.inputs
    eps = float(node.attrs["eps"])
    info = ctx.graph.layer(node.layer)
    momentum = float((info.attrs if info else {}).get("momentum", 0.1))
    axes = [0] + list(range(2, x.type.rank))
    c = x.shape[1]
    bshape = [1, c] + [1] * (x.type.rank - 2)
    mu = b.mean(x, axis=axes, keepdims=True)
    d = b.sub(x, mu)
    var = b.mean(b.mul(d, d), axis=axes, keepdims=True)
    y = b.add(b.mul(b.div(d, b.sqrt(b.add(var, eps))), b.reshape(scale, shape=bshape)), b.reshape(bias, shape=bshape))

    def stats(sb):
        count = sb.shape_size(x, axes=axes, dtype=x.dtype)
        unbiased = sb.mul(sb.reshape(var, shape=[c]), sb.div(count, sb.sub(count, 1.0)))
        new_mean = sb.add(sb.mul(rmean, 1.0 - momentum), sb.mul(sb.reshape(mu, shape=[c]), momentum))
        new_var = sb.add(sb.mul(rvar, 1.0 - momentum), sb.mul(unbiased, momentum))
        ctx.update(rmean, new_mean)
        ctx.update(rvar, new_var)

    ctx.after(node, stats)
    return y


register(OpDef("batchnorm", ("x", "scale", "bias", "mean", "var"), _bn_infer, _bn_ref,
               onnx_node("BatchNormalization", {"eps": "epsilon"}), attrs={"eps": 1e-5}, vjp=_bn_vjp, family=NORM,
               public=False, onnx_ops=("BatchNormalization",), cost=cost.per_element(2), train=TrainForm(_bn_train),
               doc="inference batch norm over axis 1 with running statistics"))


def _ln_infer(ts, a):
    x = ts[0]
    need_float(x, "layernorm")
    axis = dims.normalize_axis(a["axis"], x.rank, "layernorm")
    for t in ts[1:]:
        if tuple(t.shape) != tuple(x.shape[axis:]):
            raise ShapeError(f"layernorm: parameter shape {format_shape(t.shape)} does not match normalized "
                             f"shape {format_shape(x.shape[axis:])}")
    if len(ts) == 1 and not all(isinstance(d, int) for d in x.shape[axis:]):
        raise ShapeError(f"layernorm without scale needs fixed normalized dims, got {format_shape(x.shape[axis:])}")
    return [x]


def _ln_ref(ins, a):
    x = ins[0]
    axes = tuple(range(a["axis"] % x.ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + a["eps"])
    if len(ins) > 1:
        y = y * ins[1]
    if len(ins) > 2:
        y = y + ins[2]
    return y.astype(x.dtype)


def _ln_lower(ctx, n):
    inputs = ctx.names(n.inputs)
    if len(inputs) == 1:  # ONNX needs Scale: ones over the normalized (static) shape
        x = n.inputs[0]
        shape = x.shape[dims.normalize_axis(n.attrs["axis"], x.type.rank, "layernorm"):]

        inputs.append(ctx.const(np.ones(shape, dtype=np_dtype(x.dtype)), f"{n.name}/scale"))
    ctx.emit("LayerNormalization", inputs, ctx.names(n.outputs), axis=n.attrs["axis"], epsilon=n.attrs["eps"])


def _ln_vjp(b, n, g):
    """dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)) over the normalized axes, gx = g * scale."""
    x, gy = n.inputs[0], g[0]
    axes = list(range(dims.normalize_axis(n.attrs["axis"], x.type.rank, "layernorm"), x.type.rank))
    xc = b.sub(x, b.mean(x, axis=axes, keepdims=True))
    rstd = b.reciprocal(b.sqrt(b.add(b.mean(b.mul(xc, xc), axis=axes, keepdims=True), n.attrs["eps"])))
    xhat = b.mul(xc, rstd)
    gx = b.mul(gy, n.inputs[1]) if len(n.inputs) > 1 else gy
    m1 = b.mean(gx, axis=axes, keepdims=True)
    m2 = b.mean(b.mul(gx, xhat), axis=axes, keepdims=True)
    grads = [b.mul(rstd, b.sub(b.sub(gx, m1), b.mul(xhat, m2)))]
    if len(n.inputs) > 1:
        grads.append(unbroadcast(b, b.mul(gy, xhat), n.inputs[1]))
    if len(n.inputs) > 2:
        grads.append(unbroadcast(b, gy, n.inputs[2]))
    return grads


register(OpDef("layernorm", ("x", "scale", "bias"), _ln_infer, _ln_ref,
               _ln_lower, attrs={"axis": -1, "eps": 1e-5}, vjp=_ln_vjp,
               min_inputs=1, family=NORM, public=False, doc="normalize over the axes from `axis` on, then scale and shift",
               onnx_ops=("LayerNormalization",), cost=cost.per_element(7)))


# -- dropout / resize -----------------------------------------------------------------------
def _dropout_lower(ctx, n):
    ctx.alias(n.outputs[0], n.inputs[0])


def _dropout_train(b, node, ctx):
    """x * a keep-mask drawn from the step's seed (one salt per dropout node)."""
    rate = float(node.attrs["rate"])
    if rate <= 0:
        return None
    x = node.inputs[0]
    return b.mul(x, b.dropout_mask(x, ctx.seed, *ctx.by_row, rate=rate, salt=ctx.salt()))


register(OpDef("dropout", ("x",), lambda ts, a: [ts[0]], lambda ins, a: ins[0], _dropout_lower,
               attrs={"rate": 0.5}, vjp=lambda b, n, g: [g[0]], family="regularization",
               onnx_ops=("Identity",), cost=cost.free, noop=noop_always,
               train=TrainForm(_dropout_train, draws=lambda n: float(n.attrs["rate"]) > 0),
               doc="identity at inference; in training graphs zeroes a `rate` fraction and rescales"))


def _resize_infer(ts, a):
    x = ts[0]
    if x.rank < 3:
        raise ShapeError(f"input has shape {format_shape(x.shape)}, upsample needs [N, C, spatial...]",
                         hint="add a reshape layer before it?")
    s = int(a["scale"])
    return [x.with_shape(x.shape[:2] + tuple(dims.mul(d, s) for d in x.shape[2:]))]


def _resize_ref(ins, a):
    y = ins[0]
    for axis in range(2, y.ndim):
        y = np.repeat(y, int(a["scale"]), axis=axis)
    return y


def _resize_lower(ctx, n):
    nd = n.inputs[0].type.rank - 2
    scales = np.asarray([1.0, 1.0] + [float(n.attrs["scale"])] * nd, dtype=np.float32)
    ctx.emit("Resize", [ctx.name(n.inputs[0]), "", ctx.const(scales, f"{n.name}/scales")], ctx.names(n.outputs),
             mode="nearest", nearest_mode="floor", coordinate_transformation_mode="asymmetric")


def _upsample_vjp(b, n, g):
    """Sum each scale x scale block: reshape [N, C, H, s, W, s] and sum the s axes."""
    x, s = n.inputs[0], int(n.attrs["scale"])
    shape = [0, 0]
    for d in x.shape[2:]:
        shape += [d if isinstance(d, int) else -1, s]
    if shape.count(-1) > 1:
        raise ShapeError(f"upsample: the gradient needs at most one symbolic spatial dim, got {format_shape(x.shape)}")
    blocks = b.reshape(g[0], shape=shape)
    return [b.sum(blocks, axis=[3 + 2 * i for i in range(x.type.rank - 2)], keepdims=False)]


register(OpDef("upsample", ("x",), _resize_infer, _resize_ref, _resize_lower, attrs={"scale": 2}, vjp=_upsample_vjp,
               family=POOL,
               doc="nearest-neighbour upsampling of every spatial axis by an integer `scale`",
               onnx_ops=("Resize",), cost=cost.free))
