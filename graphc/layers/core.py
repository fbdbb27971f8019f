"""Feed-forward and convolutional layers: dense, conv, pooling, normalization, reshaping."""

from __future__ import annotations

import math

from graphc.errors import ShapeError, did_you_mean
from graphc.ir.types import format_shape
from graphc.layers.base import REQUIRED, LayerCtx, activation, check_activation, layer
from graphc.ops.shape import reshape_shape


# -- attribute checks -----------------------------------------------------------------------
def positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        close = "" if not isinstance(value, float) or not math.isfinite(value) or value <= 0 else \
            f", like {math.floor(value)} or {math.floor(value) + 1}" if value >= 1 else ", like 1"
        raise ShapeError(f"{what} must be a positive integer, got {value!r}", hint=f"use a whole number of 1 or more{close}")
    return value


def non_negative_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ShapeError(f"{what} must be a non-negative integer, got {value!r}", hint="use a whole number of 0 or more")
    return value


def per_axis(value, nd: int, what: str, check=positive_int) -> list[int]:
    """An int for every spatial axis, or a list of nd ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != nd:
            raise ShapeError(f"{what} needs {nd} value(s), got {list(value)}",
                             hint=f"give one number for every axis, or a list of {nd}")
        return [check(v, what) for v in value]
    return [check(value, what)] * nd


def positive_number(value, what: str, example: str = "1e-05") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ShapeError(f"{what} must be a positive number, got {value!r}",
                         hint=f"use a small positive number, like {example}, the default")
    return float(value)


def rate(value, what: str = "rate") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ShapeError(f"{what} must be a number in [0, 1), got {value!r}",
                         hint="use a fraction of at least 0 and below 1, like 0.5")
    return float(value)


def conv_pads(padding, nd: int, kernel: list[int], strides: list[int], dilations: list[int], spatial) -> list[int]:
    """Spec padding (n, [h, w], [begins..., ends...], same, valid) as ONNX pads [begins..., ends...]."""
    if padding == "valid":
        return [0] * (2 * nd)
    if padding == "same":
        begins, ends = [], []
        for i in range(nd):
            span = dilations[i] * (kernel[i] - 1) + 1
            if strides[i] == 1:
                total = span - 1
            elif isinstance(spatial[i], int):
                out = -(-spatial[i] // strides[i])
                total = max((out - 1) * strides[i] + span - spatial[i], 0)
            else:
                raise ShapeError("padding: same with stride > 1 needs fixed spatial sizes",
                                 hint="give explicit padding, or fixed H and W in the input shape")
            begins.append(total // 2)
            ends.append(total - total // 2)
        return begins + ends
    if isinstance(padding, str):
        raise ShapeError(f"padding must be an integer, a list, 'same' or 'valid', got '{padding}'",
                         hint=did_you_mean(padding, ("same", "valid")) or "use a number, a list, same or valid")
    if isinstance(padding, (list, tuple)) and len(padding) == 2 * nd and nd > 1:
        return [non_negative_int(p, "padding") for p in padding]
    pads = per_axis(padding, nd, "padding", non_negative_int)
    return pads + pads


# -- dense ----------------------------------------------------------------------------------
@layer("dense", {"units": REQUIRED, "bias": True, "activation": None},
       doc="y = x @ weight.T + bias on the last axis (as PyTorch Linear): [..., in] -> [..., units]",
       param_doc="weight [units, in], bias [units]; U(-1/sqrt(in), 1/sqrt(in)) as PyTorch")
def dense(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    units = positive_int(a["units"], "units")
    check_activation(a["activation"])
    ctx.use_dtype_of(x)
    if x.type.rank < 1:
        raise ShapeError(f"input {ctx.input_names[0]} is a scalar, dense needs [..., features]")
    fan_in = ctx.expect_static(x.shape[-1], "the last axis (features)")
    bound = 1.0 / math.sqrt(fan_in)
    w = ctx.param("weight", (units, fan_in), "uniform", bound)
    bias = ctx.param("bias", (units,), "uniform", bound) if a["bias"] else None
    b = ctx.b
    if x.type.rank == 2:
        y = b.gemm(x, w, bias, trans_b=1) if bias is not None else b.gemm(x, w, trans_b=1)
    else:
        y = b.matmul(x, b.transpose(w, perm=[1, 0]))
        if bias is not None:
            y = b.add(y, bias)
    return [activation(b, y, a["activation"], axis=-1)]


# -- convolution ----------------------------------------------------------------------------
def _conv_layer(nd: int, name: str, layout: str):
    @layer(name, {"filters": REQUIRED, "kernel": REQUIRED, "stride": 1, "padding": 0, "dilation": 1, "groups": 1,
                  "bias": True, "activation": None},
           doc=f"{nd}-D convolution over {layout} (as PyTorch Conv{nd}d); padding: n, a list, same or valid",
           param_doc=f"weight [filters, in/groups, {', '.join(['k'] * nd)}], bias [filters]; "
                     "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch")
    def build(ctx: LayerCtx, inputs, a):
        x = inputs[0]
        hint = "add a reshape layer before it?" if x.type.rank < nd + 2 else None
        ctx.expect_rank(x, nd + 2, layout, hint)
        ctx.use_dtype_of(x)
        filters = positive_int(a["filters"], "filters")
        groups = positive_int(a["groups"], "groups")
        kernel = per_axis(a["kernel"], nd, "kernel")
        strides = per_axis(a["stride"], nd, "stride")
        dilations = per_axis(a["dilation"], nd, "dilation")
        check_activation(a["activation"])
        cin = ctx.expect_static(x.shape[1], "the channel axis")
        if cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} must divide the input channels ({cin}) and filters ({filters})",
                         hint="use groups that divide both, like groups: 1")
        pads = conv_pads(a["padding"], nd, kernel, strides, dilations, x.shape[2:])
        fan_in = cin // groups * math.prod(kernel)
        bound = 1.0 / math.sqrt(fan_in)
        w = ctx.param("weight", (filters, cin // groups, *kernel), "uniform", bound)
        ins = [x, w] + ([ctx.param("bias", (filters,), "uniform", bound)] if a["bias"] else [])
        y = ctx.b.conv(*ins, strides=strides, pads=pads, dilations=dilations, group=groups)
        return [activation(ctx.b, y, a["activation"], axis=1)]
    return build


_conv_layer(1, "conv1d", "[N, C, L]")
_conv_layer(2, "conv2d", "[N, C, H, W]")


@layer("conv_transpose2d", {"filters": REQUIRED, "kernel": REQUIRED, "stride": 1, "padding": 0,
                            "output_padding": 0, "dilation": 1, "groups": 1, "bias": True, "activation": None},
       doc="2-D transposed convolution over [N, C, H, W] (as PyTorch ConvTranspose2d)",
       param_doc="weight [in, filters/groups, kh, kw], bias [filters]")
def conv_transpose2d(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    ctx.expect_rank(x, 4, "[N, C, H, W]", "add a reshape layer before it?" if x.type.rank < 4 else None)
    ctx.use_dtype_of(x)
    filters, groups = positive_int(a["filters"], "filters"), positive_int(a["groups"], "groups")
    kernel = per_axis(a["kernel"], 2, "kernel")
    strides = per_axis(a["stride"], 2, "stride")
    dilations = per_axis(a["dilation"], 2, "dilation")
    out_pad = per_axis(a["output_padding"], 2, "output_padding", non_negative_int)
    for p, s, d in zip(out_pad, strides, dilations):
        if p >= s and p >= d:  # as PyTorch: the extra rows must fall inside one stride (or dilation) step
            raise ShapeError(f"output_padding {out_pad} must be smaller than the stride {strides} or the "
                             f"dilation {dilations} along each axis, as in PyTorch",
                             hint=f"use output_padding: {max(max(s, d) - 1, 0)}, or a larger stride")
    check_activation(a["activation"])
    if a["padding"] in ("same", "valid"):
        raise ShapeError("conv_transpose2d: padding must be an integer or a list",
                         hint="use a number or a list: same and valid are for conv layers")
    pads = conv_pads(a["padding"], 2, kernel, strides, dilations, x.shape[2:])
    cin = ctx.expect_static(x.shape[1], "the channel axis")
    if cin % groups or filters % groups:
        raise ShapeError(f"groups={groups} must divide the input channels ({cin}) and filters ({filters})",
                         hint="use groups that divide both, like groups: 1")
    bound = 1.0 / math.sqrt(filters // groups * math.prod(kernel))
    w = ctx.param("weight", (cin, filters // groups, *kernel), "uniform", bound)
    ins = [x, w] + ([ctx.param("bias", (filters,), "uniform", bound)] if a["bias"] else [])
    y = ctx.b.conv_transpose(*ins, strides=strides, pads=pads, dilations=dilations, group=groups,
                             output_padding=out_pad)
    return [activation(ctx.b, y, a["activation"], axis=1)]


# -- pooling --------------------------------------------------------------------------------
def _pool_layer(name: str, op: str):
    @layer(name, {"size": REQUIRED, "stride": None, "padding": 0}, family="pool",
           doc=f"{'max' if op == 'maxpool' else 'average'} pooling over [N, C, H, W]; stride defaults to size")
    def build(ctx: LayerCtx, inputs, a):
        x = inputs[0]
        ctx.expect_rank(x, 4, "[N, C, H, W]", "add a reshape layer before it?" if x.type.rank < 4 else None)
        kernel = per_axis(a["size"], 2, "size")
        strides = per_axis(a["stride"], 2, "stride") if a["stride"] is not None else kernel
        if a["padding"] in ("same", "valid"):
            pads = conv_pads(a["padding"], 2, kernel, strides, [1, 1], x.shape[2:])
        else:
            pads = per_axis(a["padding"], 2, "padding", non_negative_int) * 2
        # padding: same follows Keras, whose average leaves the padded cells out; numbers follow PyTorch
        extra = {"count_include_pad": 0} if op == "avgpool" and a["padding"] == "same" else {}
        return [ctx.b.emit(op, x, kernel=kernel, strides=strides, pads=pads, **extra)]
    return build


_pool_layer("maxpool2d", "maxpool")
_pool_layer("avgpool2d", "avgpool")


@layer("global_avgpool", {"keepdims": False}, family="pool",
       doc="mean over all spatial axes: [N, C, ...] -> [N, C] ([N, C, 1, 1] with keepdims: true)")
def global_avgpool(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    ctx.expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
    y = ctx.b.global_avgpool(x)
    return [y if a["keepdims"] else ctx.b.flatten(y, axis=1)]


# -- reshaping ------------------------------------------------------------------------------
@layer("flatten", {}, family="shape", doc="keep axis 0, flatten the rest in C, H, W order")
def flatten(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    if x.type.rank < 2:
        raise ShapeError(f"input {ctx.input_names[0]} has shape {format_shape(x.shape)}, flatten needs rank >= 2")
    return [ctx.b.flatten(x, axis=1)]


@layer("reshape", {"shape": REQUIRED}, family="shape",
       doc="new shape; 0 keeps a dim, -1 infers one (as ONNX); a symbolic name keeps that input dim")
def reshape(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    target = a["shape"]
    if not isinstance(target, (list, tuple)) or not target:
        raise ShapeError(f"shape must be a list of sizes, got {target!r}")
    spec = []
    dims_text = ", ".join(str(d) for d in x.shape)
    for i, d in enumerate(target):
        if isinstance(d, str):
            if d not in x.shape:
                raise ShapeError(f"reshape: shape {format_shape(target)} names '{d}', which is not a dim of the "
                                 f"input {format_shape(x.shape)} (its dims: {dims_text})",
                                 hint="use -1 to infer a size, or one of the input's dim names: a name in shape "
                                      "keeps that input dim")
            if i < x.type.rank and x.shape[i] == d:
                spec.append(0)
            else:
                spec.append(-1)
        elif isinstance(d, bool) or not isinstance(d, int) or d < -1:
            raise ShapeError(f"shape: bad size {d!r}; sizes are positive, 0 (keep) or -1 (infer)",
                             hint="use a positive size, 0, -1 or a dim name of the input")
        else:
            spec.append(d)
    if spec.count(-1) > 1:
        inferred = [str(d) for d, sp in zip(target, spec) if sp == -1]
        raise ShapeError(f"reshape: shape {format_shape(target)} leaves {len(inferred)} sizes to infer "
                         f"({', '.join(inferred)}), at most one can be; the input is {format_shape(x.shape)}",
                         hint="use transpose to reorder axes, or -1 for at most one size: a symbolic name is kept "
                              "only at its own position in the input")
    out = reshape_shape(x.shape, spec)
    for i, d in enumerate(target):
        if isinstance(d, str) and out[i] != d:
            raise ShapeError(f"reshape: symbolic dim {d} at position {i} would be {out[i]}",
                             hint="use -1 there, or a name only where the input has it")
    return [ctx.b.reshape(x, shape=spec)]


@layer("dropout", {"rate": REQUIRED}, family="regularization",
       doc="zeroes a `rate` fraction in training (rescaling the rest); identity at inference")
def dropout(ctx: LayerCtx, inputs, a):
    return [ctx.b.dropout(inputs[0], rate=rate(a["rate"]))]


@layer("upsample", {"scale": 2}, family="pool", doc="nearest-neighbour upsampling by an integer scale")
def upsample(ctx: LayerCtx, inputs, a):
    ctx.expect_rank(inputs[0], (3, 4, 5), "[N, C, spatial...]")
    return [ctx.b.upsample(inputs[0], scale=positive_int(a["scale"], "scale"))]


# -- normalization --------------------------------------------------------------------------
@layer("batchnorm", {"eps": 1e-5, "momentum": 0.1}, family="norm",
       doc="batch normalization over axis 1 (running statistics at inference)",
       param_doc="weight, bias, running_mean, running_var [C] (running_* not trainable)")
def batchnorm(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    positive_number(a["eps"], "eps")
    if isinstance(a["momentum"], bool) or not isinstance(a["momentum"], (int, float)) or not 0 <= a["momentum"] <= 1:
        raise ShapeError(f"momentum must be a number in [0, 1], got {a['momentum']!r}",
                         hint="use a number like 0.1, PyTorch's default: the weight of the batch statistics in "
                              "the running ones")
    ctx.expect_rank(x, (2, 3, 4, 5), "[N, C, ...]")
    ctx.use_dtype_of(x)
    c = ctx.expect_static(x.shape[1], "the channel axis")
    params = [ctx.param("weight", (c,), "ones"), ctx.param("bias", (c,), "zeros"),
              ctx.param("running_mean", (c,), "zeros", trainable=False),
              ctx.param("running_var", (c,), "ones", trainable=False)]
    return [ctx.b.batchnorm(x, *params, eps=float(a["eps"]))]


@layer("layernorm", {"eps": 1e-5}, family="norm", doc="layer normalization over the last axis",
       param_doc="weight [D] (ones), bias [D] (zeros)")
def layernorm(ctx: LayerCtx, inputs, a):
    x = inputs[0]
    positive_number(a["eps"], "eps")
    ctx.use_dtype_of(x)
    d = ctx.expect_static(x.shape[-1] if x.type.rank else None, "the last axis")
    w, bias = ctx.param("weight", (d,), "ones"), ctx.param("bias", (d,), "zeros")
    return [ctx.b.layernorm(x, w, bias, axis=-1, eps=float(a["eps"]))]


@layer("embedding", {"vocab": REQUIRED, "dim": REQUIRED}, family="nn",
       doc="integer ids [...] -> vectors [..., dim]", param_doc="weight [vocab, dim], N(0, 1) as PyTorch")
def embedding(ctx: LayerCtx, inputs, a):
    ids = inputs[0]
    if ids.dtype not in ("int32", "int64"):
        raise ShapeError(f"input {ctx.input_names[0]} has dtype {ids.dtype}, embedding needs int64 or int32 ids",
                         hint="add a cast layer before it, cast: {to: int64}, or give the input dtype: int64")
    vocab, dim = positive_int(a["vocab"], "vocab"), positive_int(a["dim"], "dim")
    w = ctx.param("weight", (vocab, dim), "normal")
    return [ctx.b.gather(w, ids, axis=0)]


@layer("linear", {}, family="activation", doc="identity (the `linear` activation)")
def linear(ctx: LayerCtx, inputs, a):
    return [ctx.b.identity(inputs[0])]


