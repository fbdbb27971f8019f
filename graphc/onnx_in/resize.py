"""ONNX Resize (and the old Upsample) as graphc ops, for fixed scales or sizes.

Resize is separable: along each resized axis, every output position is a fixed weighted sum of
input positions (nearest: one weight of 1; linear: two; cubic: four; antialias: a wider window),
so resizing an axis of fixed length n to m is a product with a constant [m, n] interpolation
matrix. That is exact (up to the float rounding of the weights) and differentiable by the
matmul / einsum gradient rules (the transpose). The weights follow the operator's definition:
each coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside, antialias,
keep_aspect_ratio_policy, axes, and tf_crop_and_resize with its extrapolation_value (an added
constant where the source lies outside the input).

Nearest resizing by one integer factor on every spatial axis stays graphc's `upsample` op (one
node). The matrices need the resized axes' lengths fixed; scales, sizes and roi must be
constants. A weight of 0 times an inf or NaN input gives NaN where ONNX would copy a value.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir.types import is_float
from graphc.onnx_in.context import NodeContext
from graphc.onnx_in.decompose import DECOMPOSITIONS

MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
# (coordinate_transformation_mode, nearest_mode) pairs that graphc's upsample op computes
_UPSAMPLE = {("asymmetric", "floor"), ("asymmetric", "round_prefer_floor"), ("half_pixel", "round_prefer_floor")}


def source_coords(mode: str, n: int, m: int, scale: float, roi: tuple[float, float] | None) -> np.ndarray:
    """Input coordinate of each of the m output positions along an axis of length n."""
    y = np.arange(m, dtype=np.float64)
    width = scale * n  # the unrounded output length
    if mode == "align_corners":
        return np.zeros(m) if width == 1 else y * (n - 1) / (width - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        x = np.full(m, (end - start) * (n - 1) / 2) if width == 1 else y * (end - start) * (n - 1) / (width - 1)
        return x + start * (n - 1)
    if mode == "pytorch_half_pixel":
        return np.full(m, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = n / 2 * (1 - m / width)
        return offset + (y + 0.5) / scale - 0.5
    raise ValueError(mode)


def _weights(mode: str, ratio: float, scale: float, a: dict) -> np.ndarray:
    """The kernel's weights at fractional position `ratio` in (0, 1] (ONNX prefers the left pixel)."""
    if mode == "nearest":
        if ratio == 1:
            return np.array([0.0, 1.0])
        rule = a["nearest_mode"]
        right = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5, "floor": False,
                 "ceil": True}[rule]
        return np.array([0.0, 1.0]) if right else np.array([1.0, 0.0])
    if mode == "linear":
        if not a["antialias"]:
            return np.array([1 - ratio, ratio])
        s = min(scale, 1.0)
        start = int(math.floor(-1 / s) + 1)
        w = np.clip(1 - np.abs((np.arange(start, 2 - start) - ratio) * s), 0, 1)
        return w / w.sum()
    A = a["cubic_coeff_a"]
    if not a["antialias"]:
        r, q = ratio, 1 - ratio
        return np.array([((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
                         ((A + 2) * r - (A + 3)) * r * r + 1,
                         ((A + 2) * q - (A + 3)) * q * q + 1,
                         ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A])
    s = min(scale, 1.0)
    start = int(math.floor(-2 / s) + 1)

    def keys(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return (A + 2) * t ** 3 - (A + 3) * t ** 2 + 1
        return A * t ** 3 - 5 * A * t ** 2 + 8 * A * t - 4 * A if t < 2 else 0.0
    w = np.array([keys(s * (i - ratio)) for i in range(start, 2 - start)])
    return w / w.sum()


def matrix(mode: str, n: int, m: int, scale: float, a: dict, roi: tuple[float, float] | None = None
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """([m, n] interpolation weights, mask of the output positions that take the extrapolation
    value (tf_crop_and_resize), or None)."""
    x = source_coords(a["coordinate_transformation_mode"], n, m, scale, roi)
    M = np.zeros((m, n))
    outside = None
    if a["coordinate_transformation_mode"] == "tf_crop_and_resize":
        outside = (x < 0) | (x > n - 1)
    for i, xi in enumerate(x):
        if outside is not None and outside[i]:
            continue
        base = math.floor(xi)
        ratio = 1.0 if xi == base else xi - base
        w = _weights(mode, ratio, scale, a)
        k = len(w)
        # the k source positions nearest to xi, ties to the left: a window starting here
        start = (base - k // 2 if xi == base else base - k // 2 + 1) if k % 2 == 0 else \
            base - (k - 1) // 2 + (0 if xi - base <= 0.5 else 1)
        idx = np.arange(start, start + k)
        if a["exclude_outside"]:
            w = np.where((idx < 0) | (idx >= n), 0.0, w)
            w = w / (w.sum() or 1.0)
        for j, wj in zip(np.clip(idx, 0, n - 1), w):
            M[i, j] += wj
    return M, outside


def _attrs(ctx: NodeContext) -> dict:
    if ctx.op_type == "Upsample":
        ctx.only("mode", "scales")
        mode = ctx.attr("mode", "nearest")
        return {"mode": mode, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor",
                "cubic_coeff_a": -0.75, "exclude_outside": 0, "antialias": 0, "extrapolation_value": 0.0,
                "keep_aspect_ratio_policy": "stretch", "axes": None}
    ctx.only("mode", "nearest_mode", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
             "antialias", "extrapolation_value", "keep_aspect_ratio_policy", "axes")
    a = {k: ctx.attr(k) for k in ("mode", "nearest_mode", "coordinate_transformation_mode", "cubic_coeff_a",
                                  "exclude_outside", "antialias", "extrapolation_value", "keep_aspect_ratio_policy")}
    a["axes"] = ctx.attr("axes", None)
    defaults = {"mode": "nearest", "nearest_mode": "round_prefer_floor", "coordinate_transformation_mode": "half_pixel",
                "cubic_coeff_a": -0.75, "exclude_outside": 0, "antialias": 0, "extrapolation_value": 0.0,
                "keep_aspect_ratio_policy": "stretch"}
    a = {k: (defaults[k] if v is None and k in defaults else v) for k, v in a.items()}
    for key, allowed in (("mode", MODES), ("coordinate_transformation_mode", COORDINATE_MODES),
                         ("nearest_mode", NEAREST_MODES), ("keep_aspect_ratio_policy", ("stretch", "not_larger",
                                                                                        "not_smaller"))):
        if a[key] not in allowed:
            raise ctx.unsupported(f"{key}={a[key]!r} is not supported ({', '.join(allowed)})")
    if a["antialias"] and a["mode"] == "nearest":
        raise ctx.unsupported("antialias=1 with mode=nearest is not defined")
    return a


def _plan(ctx: NodeContext, a: dict) -> tuple[list[float], list, list[tuple[float, float]] | None]:
    """(scale per axis, output size per axis, roi per axis or None), all axes of x."""
    x = ctx.x(0)
    rank = x.type.rank
    axes = [ax % rank for ax in a["axes"]] if a["axes"] is not None else list(range(rank))
    if ctx.op_type == "Upsample":
        given = ctx.const(1, "scales") if ctx.has(1) else ctx.attr("scales")
        scales_in, sizes_in = [float(s) for s in np.asarray(given).reshape(-1)], None
    else:
        if ctx.has(3):
            sizes_in, scales_in = ctx.ints(3, "sizes"), None
        elif ctx.has(2) and np.asarray(ctx.const(2, "scales")).size:
            scales_in, sizes_in = [float(s) for s in np.asarray(ctx.const(2, "scales")).reshape(-1)], None
        else:
            raise ctx.unsupported("needs scales or sizes")
    count = len(sizes_in if sizes_in is not None else scales_in)
    if count != len(axes):
        raise ctx.unsupported(f"{count} scales/sizes for {len(axes)} axes")
    scales, sizes = [1.0] * rank, list(x.shape)
    if scales_in is not None:
        for ax, s in zip(axes, scales_in):
            if s != 1.0:
                n = _fixed(ctx, x, ax)
                scales[ax], sizes[ax] = s, int(s * n)
    else:
        for ax, m in zip(axes, sizes_in):
            if isinstance(m, str) or m == x.shape[ax]:
                if m != x.shape[ax]:
                    raise ctx.unsupported(f"size {m} of axis {ax} is symbolic and differs from the input's")
                continue
            scales[ax] = m / _fixed(ctx, x, ax)
        if a["keep_aspect_ratio_policy"] != "stretch":
            ratios = [scales[ax] for ax in axes]
            scale = min(ratios) if a["keep_aspect_ratio_policy"] == "not_larger" else max(ratios)
            for ax in axes:
                scales[ax] = scale
                sizes[ax] = int(scale * _fixed(ctx, x, ax) + 0.5)
        else:
            for ax, m in zip(axes, sizes_in):
                if not isinstance(m, str):
                    sizes[ax] = m
    roi = None
    if a["coordinate_transformation_mode"] == "tf_crop_and_resize":
        values = [float(v) for v in np.asarray(ctx.const(1, "roi")).reshape(-1)]
        if len(values) != 2 * len(axes):
            raise ctx.unsupported(f"roi has {len(values)} values for {len(axes)} axes")
        roi = [(0.0, 1.0)] * rank
        for i, ax in enumerate(axes):
            roi[ax] = (values[i], values[len(axes) + i])
    return scales, sizes, roi


def _fixed(ctx: NodeContext, x, axis: int) -> int:
    n = x.shape[axis]
    if not isinstance(n, int):
        raise ctx.unsupported(f"resizing axis {axis} of symbolic size {n} is not supported (it needs a fixed size)")
    return n


def _apply(b, y, M: np.ndarray, axis: int):
    """y with `axis` multiplied by the [m, n] matrix M: a MatMul on the last two axes, else an einsum."""
    rank = y.type.rank
    w = b.const(M.T if axis == rank - 1 else M, y.dtype, name="resize/weights")
    if axis == rank - 1:
        return b.matmul(y, w)
    if axis == rank - 2:
        return b.matmul(w, y)
    letters = "abcdefghijklmnopqrstuvwxy"[:rank]
    out = letters[:axis] + "z" + letters[axis + 1:]
    return b.einsum(y, w, equation=f"{letters},z{letters[axis]}->{out}")


def resize(ctx: NodeContext):
    """ONNX Resize / Upsample with constant scales or sizes (see the module docstring)."""
    a = _attrs(ctx)
    x = ctx.x(0)
    scales, sizes, roi = _plan(ctx, a)
    b = ctx.b
    resized = [ax for ax in range(x.type.rank) if scales[ax] != 1.0 or sizes[ax] != x.shape[ax]
               or (roi is not None and roi[ax] != (0.0, 1.0))]
    if not resized:
        return b.identity(x)
    factors = {scales[ax] for ax in resized}
    if a["mode"] == "nearest" and (a["coordinate_transformation_mode"], a["nearest_mode"]) in _UPSAMPLE \
            and resized == list(range(2, x.type.rank)) and len(factors) == 1 and float(factors.copy().pop()).is_integer() \
            and all(sizes[ax] == x.shape[ax] * scales[ax] for ax in resized) and x.type.rank >= 3:
        return b.upsample(x, scale=int(factors.pop()))
    if not is_float(x.dtype):
        raise ctx.unsupported(f"mode={a['mode']} of a {x.dtype} tensor is only supported as nearest resizing by one "
                              "integer factor on every spatial axis")
    y = x
    for ax in resized:
        M, outside = matrix(a["mode"], _fixed(ctx, x, ax), int(sizes[ax]), scales[ax], a,
                            roi[ax] if roi is not None else None)
        y = _apply(b, y, M, ax)
        if outside is not None and outside.any() and a["extrapolation_value"]:
            shape = [1] * x.type.rank
            shape[ax] = len(outside)
            fill = np.where(outside, float(a["extrapolation_value"]), 0.0).reshape(shape)
            y = b.add(y, b.const(fill, y.dtype, name="resize/extrapolation"))
    return y


DECOMPOSITIONS["Resize"] = resize
DECOMPOSITIONS["Upsample"] = resize
