"""`OpDef.onnx_import` of the graphc ops whose ONNX form needs more than an attribute renaming.

Ops lowered 1:1 by `onnx_node` import by the inverse renaming on their own (ops/registry.py);
the entries here add a `convert` hook: attributes that are inputs in ONNX (Reshape's shape,
Slice's starts), ONNX defaults that graphc requires (Conv strides), `auto_pad`, gate orders.
Every attribute a hook does not handle is refused by `ctx.only(...)`, never ignored.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.types import DTYPES, np_dtype
from graphc.onnx_in.context import NodeContext
from graphc.ops.registry import OPS, OnnxImport
from graphc.ir.types import TensorType
from graphc.ir.graph import Value

_ONNX_DTYPES = {code: name for name, (_, code) in DTYPES.items()}


def declare(op: str, op_types: tuple[str, ...], opsets: tuple[int, int] = (1, 99), **attrs):
    """Decorator: `fn` is the import hook of graphc op `op` for `op_types`."""
    def deco(fn):
        OPS[op].onnx_import = OnnxImport(op_types, opsets=opsets, attrs=attrs, convert=fn)
        return fn
    return deco


def _spatial(ctx: NodeContext, x, kernel: list[int]) -> tuple[list, list, list]:
    """strides, pads (ONNX [begins..., ends...]) and dilations with defaults and auto_pad applied."""
    nd = len(kernel)
    strides = list(ctx.attr("strides", None) or [1] * nd)
    dilations = list(ctx.attr("dilations", None) or [1] * nd)
    pads = list(ctx.attr("pads", None) or [0] * (2 * nd))
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nd)
        for i in range(nd):
            size = x.shape[2 + i]
            if not isinstance(size, int):
                raise ctx.unsupported(f"auto_pad={auto} needs fixed spatial sizes, got {list(x.shape)}")
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + nd] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    return strides, pads, dilations


@declare("conv", ("Conv",))
def _conv(ctx: NodeContext):
    ctx.only("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad")
    x, w = ctx.x(0), ctx.x(1)
    kernel = list(ctx.attr("kernel_shape", None) or w.shape[2:])
    strides, pads, dilations = _spatial(ctx, x, kernel)
    inputs = [v for v in ctx.inputs[:3] if v is not None]
    return ctx.b.conv(*inputs, strides=strides, pads=pads, dilations=dilations, group=ctx.attr("group", 1))


@declare("conv_transpose", ("ConvTranspose",))
def _conv_transpose(ctx: NodeContext):
    ctx.only("kernel_shape", "strides", "pads", "dilations", "group", "output_padding", "auto_pad", "output_shape")
    w = ctx.x(1)
    kernel = list(ctx.attr("kernel_shape", None) or w.shape[2:])
    nd = len(kernel)
    strides = list(ctx.attr("strides", None) or [1] * nd)
    dilations = list(ctx.attr("dilations", None) or [1] * nd)
    pads = list(ctx.attr("pads", None) or [0] * (2 * nd))
    out_pad = list(ctx.attr("output_padding", None) or [0] * nd)
    auto = ctx.attr("auto_pad", "NOTSET")
    if ctx.attr("output_shape", None) or auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = _conv_transpose_pads(ctx, ctx.x(0), kernel, strides, dilations, out_pad, auto)
    elif auto not in ("NOTSET", "VALID"):
        raise ctx.unsupported(f"auto_pad={auto} is not supported for ConvTranspose")
    inputs = [v for v in ctx.inputs[:3] if v is not None]
    return ctx.b.conv_transpose(*inputs, strides=strides, pads=pads, dilations=dilations,
                                group=ctx.attr("group", 1), output_padding=out_pad)


def _conv_transpose_pads(ctx: NodeContext, x, kernel, strides, dilations, out_pad, auto: str) -> list[int]:
    """ConvTranspose pads from `output_shape` (or, for auto_pad SAME_*, input size * stride), as the
    operator defines them: the total padding split with the odd pixel at the end (SAME_UPPER: at
    the start)."""
    nd = len(kernel)
    sizes = x.shape[2:]
    if not all(isinstance(d, int) for d in sizes):
        raise ctx.unsupported(f"output_shape / auto_pad need fixed spatial sizes, got {list(x.shape)}")
    target = list(ctx.attr("output_shape", None) or [d * s for d, s in zip(sizes, strides)])[-nd:]
    pads = [0] * (2 * nd)
    for i in range(nd):
        total = strides[i] * (sizes[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - target[i]
        small, big = total // 2, total - total // 2
        pads[i], pads[i + nd] = (small, big) if auto == "SAME_UPPER" else (big, small)
        if pads[i] < 0:
            raise ctx.unsupported(f"output_shape {target} is larger than the full transposed convolution")
        if pads[i + nd] < 0:  # a larger output: the rows past the end, as output_padding adds them
            out_pad[i] -= pads[i + nd]
            pads[i + nd] = 0
    return pads


def _ceil_pads(ctx: NodeContext, op: str, x, kernel: list, strides: list, pads: list) -> None:
    """ceil_mode=1 as extra end padding (a partial last window), where that is exact."""
    nd = len(kernel)
    for i in range(nd):
        size = x.shape[2 + i]
        if not isinstance(size, int):
            raise ctx.unsupported("ceil_mode=1 needs fixed spatial sizes")
        span = size + pads[i] + pads[i + nd] - kernel[i]
        out = -(-span // strides[i]) + 1
        if out == span // strides[i] + 1 or (out - 1) * strides[i] >= size + pads[i]:
            continue  # no partial window (or ONNX drops one that starts in the end padding)
        if op == "avgpool":
            raise ctx.unsupported("ceil_mode=1 with a partial last window is not supported for AveragePool")
        extra = (out - 1) * strides[i] + kernel[i] - (size + pads[i] + pads[i + nd])
        if (pads[i + nd] + extra) * 2 > kernel[i]:
            raise ctx.unsupported("ceil_mode=1 with this window is not supported")
        pads[i + nd] += extra  # -inf padding: max over the partial window


def _pool(op: str):
    def convert(ctx: NodeContext):
        names = ["kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations"]
        if op == "avgpool":
            names.append("count_include_pad")
        ctx.only(*names, storage_order=0)
        ctx.max_outputs(1)
        x = ctx.x(0)
        kernel = list(ctx.attr("kernel_shape"))
        strides, pads, dilations = _spatial(ctx, x, kernel)
        if any(d != 1 for d in dilations):
            raise ctx.unsupported(f"dilations={dilations} are not supported for pooling")
        if ctx.attr("ceil_mode", 0):
            _ceil_pads(ctx, op, x, kernel, strides, pads)
        attrs = dict(kernel=kernel, strides=strides, pads=pads)
        if op == "avgpool":
            attrs["count_include_pad"] = ctx.attr("count_include_pad", 0)
        return ctx.b.emit(op, x, **attrs)
    return convert


declare("maxpool", ("MaxPool",))(_pool("maxpool"))
declare("avgpool", ("AveragePool",))(_pool("avgpool"))


@declare("global_avgpool", ("GlobalAveragePool",))
def _gap(ctx: NodeContext):
    return ctx.b.global_avgpool(ctx.x(0))


@declare("batchnorm", ("BatchNormalization",))
def _batchnorm(ctx: NodeContext):
    ctx.only("epsilon", "momentum", "training_mode", "spatial", training_mode=0, spatial=1)
    ctx.max_outputs(1)
    for v in ctx.inputs[3:5]:
        if v is not None and v.kind == "param":
            v.trainable = False  # running statistics
    return ctx.b.batchnorm(*ctx.inputs[:5], eps=ctx.attr("epsilon"))


@declare("layernorm", ("LayerNormalization",), opsets=(17, 99))
def _layernorm(ctx: NodeContext):
    ctx.only("axis", "epsilon", "stash_type")
    inputs = [v for v in ctx.inputs[:3] if v is not None]
    b, x = ctx.b, ctx.x(0)
    y = b.layernorm(*inputs, axis=ctx.attr("axis"), eps=ctx.attr("epsilon"))
    if not any(ctx.node.output[1:]):
        return y
    axes = list(range(ctx.attr("axis") % x.type.rank, x.type.rank))  # Mean and InvStdDev, kept dims
    mean = b.mean(x, axis=axes, keepdims=True)
    xc = b.sub(x, mean)
    var = b.mean(b.mul(xc, xc), axis=axes, keepdims=True)
    return [y, mean, b.reciprocal(b.sqrt(b.add(var, b.const(ctx.attr("epsilon"), x.dtype))))]


def _softmax(op: str):
    def convert(ctx: NodeContext):
        ctx.only("axis")
        return ctx.b.emit(op, ctx.x(0), axis=ctx.attr("axis"))
    return convert


declare("softmax", ("Softmax",), opsets=(13, 99))(_softmax("softmax"))
declare("log_softmax", ("LogSoftmax",), opsets=(13, 99))(_softmax("log_softmax"))


@declare("transpose", ("Transpose",))
def _transpose(ctx: NodeContext):
    ctx.only("perm")
    perm = ctx.attr("perm", None)
    return ctx.b.transpose(ctx.x(0), perm=list(perm) if perm else None)


def _reshape_target(ctx: NodeContext, x, target: list) -> list:
    """ONNX shape entries (ints, or symbolic dims from a folded Shape) as graphc reshape sizes."""
    out, unknown = [], 0
    for i, d in enumerate(target):
        if isinstance(d, str):
            if i < x.type.rank and x.shape[i] == d:
                out.append(0)
            else:
                out.append(-1)
                unknown += 1
        else:
            out.append(d)
    if out.count(-1) > 1:
        raise ctx.unsupported(f"shape {target} has more than one unknown size")
    return out


@declare("reshape", ("Reshape",))
def _reshape(ctx: NodeContext):
    ctx.only("allowzero")
    x, target = ctx.x(0), ctx.ints(1, "shape")
    if ctx.attr("allowzero", 0) and 0 in target:
        raise ctx.unsupported("allowzero=1 with a 0 in the shape (an empty tensor) is not supported")
    return ctx.b.reshape(x, shape=_reshape_target(ctx, x, target))


@declare("cast", ("Cast",))
def _cast(ctx: NodeContext):
    ctx.only("to", saturate=1)
    to = ctx.attr("to")
    if to not in _ONNX_DTYPES:
        raise ctx.unsupported(f"cast to element type {to} is not supported (supported: {', '.join(DTYPES)})")
    x, dtype = ctx.x(0), _ONNX_DTYPES[to]
    if x.kind == "const" and x.data is not None and x.data.dtype == object and dtype in ("int32", "int64"):
        # a shape with symbolic dims (tf2onnx casts shapes to int32 and back): the same dims, retyped
        return _symbolic(ctx, x.data, dtype)
    return ctx.b.cast(x, to=dtype)


def _axes(ctx: NodeContext, index: int = 1) -> list | None:
    if "axes" in ctx.attrs:
        return list(ctx.attrs["axes"])
    if ctx.has(index):
        return ctx.ints(index, "axes")
    return None


@declare("unsqueeze", ("Unsqueeze",))
def _unsqueeze(ctx: NodeContext):
    ctx.only("axes")
    return ctx.b.unsqueeze(ctx.x(0), axes=_axes(ctx))


@declare("squeeze", ("Squeeze",))
def _squeeze(ctx: NodeContext):
    ctx.only("axes")
    return ctx.b.squeeze(ctx.x(0), axes=_axes(ctx))


@declare("slice", ("Slice",))
def _slice(ctx: NodeContext):
    ctx.only("starts", "ends", "axes")
    x = ctx.x(0)
    if "starts" in ctx.attrs:
        starts, ends, axes, steps = ctx.attrs["starts"], ctx.attrs["ends"], ctx.attrs.get("axes"), None
    else:
        starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
        axes = ctx.ints(3, "axes") if ctx.has(3) else None
        steps = ctx.ints(4, "steps") if ctx.has(4) else None
    big = 2**62
    ends = [min(max(e, -big), big) for e in ends]
    starts = [min(max(s, -big), big) for s in starts]
    if x.kind == "const":  # shape arithmetic: folded here, where an empty result is allowed
        index = [slice(None)] * x.data.ndim
        for k, (s, e) in enumerate(zip(starts, ends)):
            index[(axes[k] if axes else k)] = slice(s, e, steps[k] if steps else 1)
        data = x.data[tuple(index)]
        if data.dtype == object:
            return ctx.b.graph.add_const(np.asarray(data.tolist() or [], dtype=np_dtype(x.dtype)), "slice") \
                if not any(isinstance(d, str) for d in data.reshape(-1)) else _symbolic(ctx, data, x.dtype)
        return ctx.b.graph.add_const(np.ascontiguousarray(data), f"{ctx.b.layer}/slice")
    return ctx.b.slice(x, starts=list(starts), ends=list(ends), axes=axes, steps=steps)


def _symbolic(ctx: NodeContext, data, dtype: str = "int64"):
    """A shape vector with symbolic dims as a constant of integer type `dtype`."""
    return Value(ctx.b.graph.fresh_name(f"{ctx.b.layer}/shape"), TensorType(dtype, data.shape), kind="const",
                 data=data)


@declare("split", ("Split",))
def _split(ctx: NodeContext):
    ctx.only("axis", "split", "num_outputs")
    x = ctx.x(0)
    axis = ctx.attr("axis", 0)
    sizes = ctx.attrs.get("split") or (ctx.ints(1, "split") if ctx.has(1) else None)
    n = len(ctx.node.output)
    if sizes is None:
        size = x.shape[axis]
        if not isinstance(size, int):
            raise ctx.unsupported(f"splitting a symbolic axis ({size}) needs explicit sizes")
        part = -(-size // n)
        sizes = [part] * (n - 1) + [size - part * (n - 1)]
    parts = ctx.b.emit("split", x, axis=axis, sizes=list(sizes))
    return parts if isinstance(parts, list) else [parts]


@declare("concat", ("Concat",))
def _concat(ctx: NodeContext):
    ctx.only("axis")
    return ctx.b.concat(*[v for v in ctx.inputs if v is not None], axis=ctx.attr("axis"))


@declare("gather", ("Gather",))
def _gather(ctx: NodeContext):
    ctx.only("axis")
    x, idx, axis = ctx.x(0), ctx.x(1), ctx.attr("axis", 0)
    if x.kind != "const" and idx.kind == "const" and idx.data.ndim == 0 and x.type.rank:
        # one index (x[:, i]): a slice and a squeeze, whose gradients need no scatter
        axis = axis % x.type.rank
        i, size = int(idx.data), x.shape[axis]
        if i < 0 and isinstance(size, int):
            i += size
        if i >= 0:
            part = ctx.b.slice(x, starts=[i], ends=[i + 1], axes=[axis])
            return ctx.b.squeeze(part, axes=[axis])
    return ctx.b.gather(x, idx, axis=axis)


@declare("flatten", ("Flatten",))
def _flatten(ctx: NodeContext):
    ctx.only("axis")
    return ctx.b.flatten(ctx.x(0), axis=ctx.attr("axis", 1))


def _reduce(op: str):
    def convert(ctx: NodeContext):
        ctx.only("axes", "keepdims", "noop_with_empty_axes")
        x = ctx.x(0)
        axes = _axes(ctx)
        if not axes:
            if ctx.attr("noop_with_empty_axes", 0):
                return ctx.b.identity(x)
            axes = None
        return ctx.b.emit(op, x, axis=axes, keepdims=bool(ctx.attr("keepdims", 1)))
    return convert


for _op, _onnx in (("sum", "ReduceSum"), ("mean", "ReduceMean"), ("max", "ReduceMax"), ("min", "ReduceMin")):
    declare(_op, (_onnx,))(_reduce(_op))


@declare("argmax", ("ArgMax",))
def _argmax(ctx: NodeContext):
    ctx.only("axis", "keepdims", "select_last_index")
    x, axis, keep = ctx.x(0), ctx.attr("axis", 0), bool(ctx.attr("keepdims", 1))
    if not ctx.attr("select_last_index", 0):
        return ctx.b.argmax(x, axis=axis, keepdims=keep)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise ctx.unsupported("select_last_index=1 needs a fixed size along the axis")
    flipped = ctx.b.slice(x, starts=[-1], ends=[-(2**62)], axes=[axis], steps=[-1])  # last max = first of the reverse
    first = ctx.b.argmax(flipped, axis=axis, keepdims=keep)
    return ctx.b.sub(ctx.b.const(np.asarray(size - 1, np.int64), "int64"), first)


@declare("gemm", ("Gemm",))
def _gemm(ctx: NodeContext):
    ctx.only("alpha", "beta", "transA", "transB")
    inputs = [v for v in ctx.inputs[:3] if v is not None]
    return ctx.b.gemm(*inputs, alpha=float(ctx.attr("alpha", 1.0)), beta=float(ctx.attr("beta", 1.0)),
                      trans_a=int(ctx.attr("transA", 0)), trans_b=int(ctx.attr("transB", 0)))


@declare("expand", ("Expand",))
def _expand(ctx: NodeContext):
    x = ctx.x(0)
    target = ctx.ints(1, "shape")
    rank = max(len(target), x.type.rank)
    xs = (1,) * (rank - x.type.rank) + tuple(x.shape)
    padded = [1] * (rank - len(target)) + target
    shape = [1 if isinstance(d, str) and (d == xs[i] or x.kind == "const") else d for i, d in enumerate(padded)]
    if any(isinstance(d, str) for d in shape):
        raise ctx.unsupported(f"expanding to a symbolic shape {target} that differs from the input's")
    return ctx.b.expand(x, shape=shape)


@declare("gelu", ("Gelu",), opsets=(20, 99))
def _gelu(ctx: NodeContext):
    """Gelu; approximate='tanh' as its definition, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    ctx.only("approximate")
    approximate, x, b = ctx.attr("approximate", "none"), ctx.x(0), ctx.b
    if approximate == "none":
        return b.gelu(x)
    if approximate != "tanh":
        raise ctx.unsupported(f"approximate={approximate!r} is not supported (none, tanh)")
    c = lambda v: b.const(v, x.dtype)  # noqa: E731
    inner = b.mul(b.add(x, b.mul(b.mul(b.mul(x, x), x), c(0.044715))), c(float(np.sqrt(2.0 / np.pi))))
    return b.mul(b.mul(x, c(0.5)), b.add(b.tanh(inner), c(1.0)))


@declare("elu", ("Elu",))
def _elu(ctx: NodeContext):
    ctx.only("alpha")
    return ctx.b.elu(ctx.x(0), alpha=float(ctx.attr("alpha")))


@declare("leaky_relu", ("LeakyRelu",))
def _leaky(ctx: NodeContext):
    ctx.only("alpha")
    return ctx.b.leaky_relu(ctx.x(0), alpha=float(ctx.attr("alpha")))


_SELU_ALPHA, _SELU_GAMMA = 1.6732632423543772, 1.0507009873554805


@declare("selu", ("Selu",))
def _selu(ctx: NodeContext):
    """Selu; other alpha / gamma than the standard ones as gamma * elu(x, alpha), exactly."""
    ctx.only("alpha", "gamma")
    alpha, gamma = float(ctx.attr("alpha", _SELU_ALPHA)), float(ctx.attr("gamma", _SELU_GAMMA))
    x = ctx.x(0)
    if abs(alpha - _SELU_ALPHA) <= 1e-6 and abs(gamma - _SELU_GAMMA) <= 1e-6:
        return ctx.b.selu(x)
    return ctx.b.mul(ctx.b.elu(x, alpha=alpha), ctx.b.const(gamma, x.dtype))


@declare("clip", ("Clip",))
def _clip(ctx: NodeContext):
    ctx.only("min", "max")
    runtime = [i for i in (1, 2) if ctx.has(i) and ctx.x(i).data is None]
    if runtime:  # bounds computed at run time: maximum / minimum, exactly Clip (max wins when min > max)
        x = ctx.x(0)
        if ctx.has(1):
            x = ctx.b.maximum(x, ctx.x(1))
        if ctx.has(2):
            x = ctx.b.minimum(x, ctx.x(2))
        return x
    lo = ctx.const(1, "min") if ctx.has(1) else ctx.attr("min", None)
    hi = ctx.const(2, "max") if ctx.has(2) else ctx.attr("max", None)
    as_float = lambda v: None if v is None else float(np.asarray(v).reshape(-1)[0])
    return ctx.b.clip(ctx.x(0), min=as_float(lo), max=as_float(hi))


@declare("hardswish", ("HardSwish",), opsets=(14, 99))
def _hardswish(ctx: NodeContext):
    return ctx.b.hardswish(ctx.x(0))


# -- recurrent --------------------------------------------------------------------------------
_GATES = {"LSTM": ("lstm", 4, [0, 2, 3, 1]), "GRU": ("gru", 3, [1, 0, 2]), "RNN": ("rnn", 1, [0])}
_REVERSE_T = {"starts": [-1], "ends": [-(2**62)], "axes": [1], "steps": [-1]}  # [N, T, ...] back to front


def _all_equal(ctx: NodeContext, i: int, value) -> bool:
    """Input i is a constant whose every element is `value`."""
    data = ctx.x(i).data  # a constant's, or an initializer's (a parameter's initial value)
    return data is not None and data.dtype != object and bool(np.all(np.asarray(data) == value))


def _recurrent_checks(ctx: NodeContext, kind: str, steps) -> None:
    """Refuse, naming the attribute or input, what graphc's recurrent ops cannot compute exactly."""
    fixed = {"input_forget": 0} if kind == "lstm" else {}
    ctx.only("hidden_size", "direction", "activations", "layout", *(("linear_before_reset",) if kind == "gru" else ()),
             **fixed)
    if ctx.attr("layout", 0) not in (0, 1):
        raise ctx.unsupported(f"layout={ctx.attr('layout')} is not an ONNX layout (0 or 1)")
    acts = ctx.attr("activations", None)
    default = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"], "rnn": ["Tanh"]}[kind]
    if acts and [a for a in acts[:len(default)]] != default and not (kind == "rnn" and acts[0] == "Relu"):
        raise ctx.unsupported(f"activations {acts} are not supported")
    if ctx.has(4) and not (isinstance(steps, int) and _all_equal(ctx, 4, steps)):
        raise ctx.unsupported("input sequence_lens (4) is supported only as a constant equal to the sequence "
                              f"length T={steps} for every batch entry")
    for i, what in ((5, "initial_h"), (6, "initial_c")):
        if ctx.has(i) and not (ctx.x(i).data is not None and not np.any(ctx.x(i).data)):
            raise ctx.unsupported(f"a non-zero initial state (input {what}) is not supported")
    if ctx.has(7) and not _all_equal(ctx, 7, 0):
        raise ctx.unsupported("peepholes (input P, non-zero) are not supported")


def _direction_part(v, d: int, dirs: int):
    """What an exporter unsqueezed (and concatenated) into direction d of v [D, ...], or None."""
    p = v.producer
    if p is not None and dirs == 2 and p.op == "concat" and p.attrs.get("axis") == 0 and len(p.inputs) == 2:
        p = p.inputs[d].producer
    elif dirs == 2:
        return None
    if p is not None and p.op == "unsqueeze" and list(p.attrs.get("axes") or []) == [0]:
        return p.inputs[0]
    return None


def _row_segments(v) -> list:
    """v's rows (axis 0) as (source, start, end) row ranges, through concat and slice along axis 0
    (concats of concats in order, on an explicit stack: no recursion)."""
    out, todo = [], [v]
    while todo:
        v = todo.pop()
        p = v.producer
        if p is not None and p.op == "concat" and p.attrs.get("axis") == 0:
            todo.extend(reversed(p.inputs))
        elif (p is not None and p.op == "slice" and list(p.attrs.get("axes") or [0]) == [0]
                and list(p.attrs.get("steps") or [1]) == [1] and isinstance(p.inputs[0].shape[0], int)):
            start, end, _ = slice(p.attrs["starts"][0], p.attrs["ends"][0]).indices(p.inputs[0].shape[0])
            out += [(p.inputs[0], start, end)] if end > start else []
        else:
            out.append((v, 0, v.shape[0]))
    return out


def _gate_source(segments: list, hidden: int):
    """(source, its gate order) when `segments`, rows in ONNX's gate order i, o, f, c, are whole gate
    chunks of one [4H, ...] source: an exporter's re-ordering of that source; else None."""
    if len({id(s) for s, _, _ in segments}) != 1 or segments[0][0].shape[0] != 4 * hidden:
        return None
    chunks = []
    for _, start, end in segments:
        if start % hidden or end % hidden:
            return None
        chunks += range(start // hidden, end // hidden)
    if sorted(chunks) != [0, 1, 2, 3]:
        return None
    order = [""] * 4
    for j, k in enumerate(chunks):
        order[k] = "iofg"[j]
    return segments[0][0], "".join(order)


def _halves(segments: list, rows: int) -> list | None:
    """Row segments split at row `rows` (B = [Wb, Rb]); None if a segment straddles it."""
    first, second, at = [], [], 0
    for seg in segments:
        n = seg[2] - seg[1]
        if at < rows < at + n:
            return None
        (first if at < rows else second).append(seg)
        at += n
    return [first, second]


def _lstm_sources(ctx: NodeContext, dirs: int, hidden: int):
    """The LSTM parameters an exporter built W, R, B from by re-ordering gate rows (torch.onnx
    writes PyTorch's weights so): ([w_ih, w_hh, b_ih, b_hh] per direction, their common gate order),
    or None to use W, R, B themselves in ONNX's order."""
    if not ctx.has(3):
        return None
    found = []
    for d in range(dirs):
        parts = [_direction_part(ctx.x(i), d, dirs) for i in (1, 2, 3)]
        if any(p is None for p in parts):
            return None
        halves = _halves(_row_segments(parts[2]), 4 * hidden)
        if halves is None:
            return None
        found += [_gate_source(_row_segments(parts[0]), hidden), _gate_source(_row_segments(parts[1]), hidden),
                  _gate_source(halves[0], hidden), _gate_source(halves[1], hidden)]
    if any(f is None for f in found) or len({order for _, order in found}) != 1:
        return None
    return [source for source, _ in found], found[0][1]


def _recurrent(ctx: NodeContext):
    """ONNX LSTM/GRU/RNN (zero initial state, layout 0 [T, N, C] or 1 [N, T, C], forward, reverse
    or bidirectional) as graphc's batch-first op: W, R, B sliced per direction; GRU and RNN gates
    re-ordered to PyTorch's by graphc ops; an LSTM keeps ONNX's gate order (`gate_order=iofg`), so
    that it re-exports with no re-ordering nodes, and where the exporter built W, R, B by re-ordering
the rows of PyTorch's weights (torch.onnx), the op takes those weights in their own gate order
(`_lstm_sources`), so they keep their names and the re-ordering is gone. direction=reverse runs the forward op on the
    time-reversed sequence and reverses its output back."""
    kind, gates, order = _GATES[ctx.op_type]
    layout = int(ctx.attr("layout", 0))
    steps = ctx.x(0).shape[layout]
    _recurrent_checks(ctx, kind, steps)
    b = ctx.b
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = int(ctx.attr("hidden_size"))
    x = ctx.x(0) if layout else b.transpose(ctx.x(0), perm=[1, 0, 2])  # [N, T, C]
    if direction == "reverse":
        x = _time_reversed(b, x)

    def reorder(w, axis):  # ONNX gate chunks -> PyTorch's order (the LSTM keeps ONNX's)
        if gates == 1 or kind == "lstm":
            return w
        parts = b.emit("split", w, axis=axis, num=gates)
        return b.concat(*[parts[i] for i in order], axis=axis)

    def pick(v, d):  # [D, ...] -> direction d's [...]
        return b.squeeze(v if dirs == 1 else b.slice(v, starts=[d], ends=[d + 1], axes=[0]), axes=[0])

    sources = _lstm_sources(ctx, dirs, hidden) if kind == "lstm" else None
    weights, gate_order = sources if sources else ([], "iofg")
    for d in range(dirs if not sources else 0):
        w_ih, w_hh = reorder(pick(ctx.x(1), d), 0), reorder(pick(ctx.x(2), d), 0)
        if ctx.has(3):
            bias = pick(ctx.x(3), d)
            b_ih = reorder(b.slice(bias, starts=[0], ends=[gates * hidden], axes=[0]), 0)
            b_hh = reorder(b.slice(bias, starts=[gates * hidden], ends=[2 * gates * hidden], axes=[0]), 0)
        else:
            zeros = b.const(np.zeros(gates * hidden, np.dtype(ctx.x(1).dtype)), ctx.x(1).dtype)
            b_ih = b_hh = zeros
        weights += [w_ih, w_hh, b_ih, b_hh]
    attrs = {"activation": (ctx.attr("activations", None) or ["Tanh"])[0].lower()} if kind == "rnn" else {}
    if kind == "lstm":
        attrs["gate_order"] = gate_order
    if kind == "gru":
        attrs["linear_before_reset"] = int(ctx.attr("linear_before_reset", 0))
    outs = b.emit(kind, x, *weights, **attrs)
    outs = outs if isinstance(outs, list) else [outs]
    y = outs[0] if direction != "reverse" else _time_reversed(b, outs[0])
    y = b.reshape(y, shape=[0, 0, dirs, hidden])  # [N, T, D, H]
    y = y if layout else b.transpose(y, perm=[1, 2, 0, 3])  # [T, D, N, H]
    states = [b.reshape(s, shape=[0, dirs, hidden]) for s in outs[1:]]  # [N, D, H]
    return [y] + (states if layout else [b.transpose(s, perm=[1, 0, 2]) for s in states])


def _time_reversed(b, v):
    """v [N, T, ...] with time reversed: a Gather of fixed indices when T is fixed (its gradient
    allows a symbolic batch, a strided slice's does not), else a Slice with step -1."""
    steps = v.shape[1]
    if isinstance(steps, int):
        return b.gather(v, b.const(np.arange(steps - 1, -1, -1), "int64"), axis=1)
    return b.slice(v, **_REVERSE_T)


for _kind, _onnx in (("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "RNN")):
    OPS[_kind].onnx_import = OnnxImport((_onnx,), convert=_recurrent)
