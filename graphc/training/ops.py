"""Internal ops used only by training graphs: dropout masks from a seed input, and cosine.

Dropout masks come from a counter-based hash PRNG written with standard integer ONNX ops
(uint32 `Mul`, `BitShift`, `BitwiseXor`): element i of a mask drawn with seed s and
salt k keeps its value when `u(i) >= rate`, where

    key  = hash32(hash32(s ^ k)),   h = hash32(i * 0x9E3779B9 ^ key),   u = (h >> 8) / 2**24

and `hash32` is the "lowbias32" integer mixer. Any ONNX runtime gives the same bits, the numpy
reference below reproduces them exactly, and the same (seed, salt) always gives the same mask.
(`RandomUniformLike` takes its seed as an attribute, so it cannot vary per step.)
"""

from __future__ import annotations

import math

import numpy as np

from onnx import TensorProto

from graphc.ir.types import np_dtype
from graphc.ops.common import infer_float_same, need_float, onnx_node
from graphc.ops.registry import OPS, OpDef, register

_GOLDEN, _M1, _M2 = 0x9E3779B9, 0x7FEB352D, 0x846CA68B


def hash32(x: np.ndarray) -> np.ndarray:
    """lowbias32 on uint32 arrays (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(_M1)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(_M2)
    return x ^ (x >> np.uint32(16))


def uniform_bits(n: int, seed: int, salt: int) -> np.ndarray:
    """The float32 uniforms in [0, 1) behind a mask of n elements (numpy reference)."""
    with np.errstate(over="ignore"):
        key = hash32(hash32(np.uint32(int(seed) % 2**32) ^ np.uint32(salt % 2**32)))
        idx = np.arange(n, dtype=np.uint32)
        h = hash32((idx * np.uint32(_GOLDEN)) ^ key)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


def _mask_ref(ins, a):
    x, seed = ins
    u = uniform_bits(x.size, int(seed), int(a["salt"])).reshape(x.shape)
    scale = 1.0 / (1.0 - a["rate"])
    return np.where(u >= np.float32(a["rate"]), scale, 0.0).astype(x.dtype)


def _mask_infer(ts, a):
    need_float(ts[0], "dropout_mask")
    if ts[1].dtype != "int64" or ts[1].rank != 0:
        from graphc.errors import ShapeError

        raise ShapeError(f"dropout_mask: seed must be an int64 scalar, got {ts[1]}")
    return [ts[0]]


def _emitter(ctx, n):
    """(emit(op, inputs, **attrs) -> fresh output name, u32(value) -> uint32 constant name) for `n`."""
    def emit(op, ins, **attrs):
        out = ctx.tmp(n, op.lower())
        ctx.emit(op, ins, [out], **attrs)
        return out

    return emit, lambda v: ctx.const(np.asarray(v, dtype=np.uint32), f"{n.name}/c")


def _hash_lower(ctx, n, x_name: str, seed_name: str, salt: int) -> tuple[str, str]:
    """ONNX nodes for the flat uint32 hashes h behind `uniform_bits`; returns (h, shape of x)."""
    emit, u32 = _emitter(ctx, n)

    def mix(v):
        v = emit("BitwiseXor", [v, emit("BitShift", [v, u32(16)], direction="RIGHT")])
        v = emit("Mul", [v, u32(_M1)])
        v = emit("BitwiseXor", [v, emit("BitShift", [v, u32(15)], direction="RIGHT")])
        v = emit("Mul", [v, u32(_M2)])
        return emit("BitwiseXor", [v, emit("BitShift", [v, u32(16)], direction="RIGHT")])

    shape = emit("Shape", [x_name])
    count = emit("ReduceProd", [shape], keepdims=0)
    zero, one = ctx.const(np.asarray(0, np.int64), f"{n.name}/zero"), ctx.const(np.asarray(1, np.int64), f"{n.name}/one")
    idx = emit("Cast", [emit("Range", [zero, count, one])], to=TensorProto.UINT32)
    key = mix(mix(emit("BitwiseXor", [emit("Cast", [seed_name], to=TensorProto.UINT32), u32(salt % 2**32)])))
    return mix(emit("BitwiseXor", [emit("Mul", [idx, u32(_GOLDEN)]), key])), shape


def _uniform_lower(ctx, n, x_name: str, seed_name: str, salt: int) -> tuple[str, str]:
    """ONNX nodes for the flat float32 uniforms of `uniform_bits`; returns (uniforms, shape of x)."""
    h, shape = _hash_lower(ctx, n, x_name, seed_name, salt)
    emit, u32 = _emitter(ctx, n)

    u = emit("Mul", [emit("Cast", [emit("BitShift", [h, u32(8)], direction="RIGHT")], to=TensorProto.FLOAT),
                     ctx.const(np.asarray(2.0 ** -24, np.float32), f"{n.name}/scale24")])
    return u, shape


def _mask_lower(ctx, n) -> None:
    x, seed = n.inputs
    keep = ctx.tmp(n, "keep")
    # u >= rate with u = (h >> 8) / 2**24  <=>  h >= ceil(rate * 2**24) * 256: one uint32 compare
    steps = math.ceil(float(np.float32(n.attrs["rate"])) * 2.0 ** 24)
    if steps < 2 ** 24:
        h, shape = _hash_lower(ctx, n, ctx.name(x), ctx.name(seed), int(n.attrs["salt"]))
        ctx.emit("GreaterOrEqual", [h, ctx.const(np.asarray(steps * 256, np.uint32), f"{n.name}/threshold")], [keep])
    else:
        u, shape = _uniform_lower(ctx, n, ctx.name(x), ctx.name(seed), int(n.attrs["salt"]))
        ctx.emit("GreaterOrEqual", [u, ctx.const(np.asarray(n.attrs["rate"], np.float32), f"{n.name}/rate")], [keep])
    dtype = np_dtype(x.dtype)
    flat = ctx.tmp(n, "mask")
    ctx.emit("Where", [keep, ctx.const(np.asarray(1.0 / (1.0 - n.attrs["rate"]), dtype), f"{n.name}/keep"),
                       ctx.const(np.asarray(0.0, dtype), f"{n.name}/drop")], [flat])
    ctx.emit("Reshape", [flat, shape], ctx.names(n.outputs))


def normal_from_uniforms(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Box-Muller: sqrt(-2 log(1 - u1)) * cos(2 pi u2) (1 - u1 lies in (0, 1])."""
    return (np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


_SECOND_STREAM = 0x5BD1E995  # salt offset of the second uniform stream of a normal draw


def _normal_ref(ins, a):
    x, seed = ins
    u1 = uniform_bits(x.size, int(seed), int(a["salt"]))
    u2 = uniform_bits(x.size, int(seed), int(a["salt"]) ^ _SECOND_STREAM)
    return normal_from_uniforms(u1, u2).reshape(x.shape).astype(x.dtype)


def _normal_lower(ctx, n) -> None:
    x, seed = n.inputs
    salt = int(n.attrs["salt"])
    u1, shape = _uniform_lower(ctx, n, ctx.name(x), ctx.name(seed), salt)
    u2, _ = _uniform_lower(ctx, n, ctx.name(x), ctx.name(seed), salt ^ _SECOND_STREAM)
    f32 = lambda v, tag: ctx.const(np.asarray(v, np.float32), f"{n.name}/{tag}")  # noqa: E731

    emit, _ = _emitter(ctx, n)

    radius = emit("Sqrt", [emit("Mul", [emit("Log", [emit("Sub", [f32(1.0, "one"), u1])]), f32(-2.0, "m2")])])
    angle = emit("Cos", [emit("Mul", [u2, f32(2.0 * np.pi, "twopi")])])
    flat = emit("Mul", [radius, angle])
    if x.dtype != "float32":
        from graphc.ir.types import onnx_dtype

        cast = ctx.tmp(n, "cast")
        ctx.emit("Cast", [flat], [cast], to=onnx_dtype(x.dtype))
        flat = cast
    ctx.emit("Reshape", [flat, shape], ctx.names(n.outputs))


def register_training_ops() -> None:
    """Register the training-only ops once (idempotent)."""
    if "dropout_mask" not in OPS:
        register(OpDef("dropout_mask", ("x", "seed"), _mask_infer, _mask_ref, _mask_lower,
                       attrs={"rate": 0.5, "salt": 0}, vjp=lambda b, n, g: [None, None], family="regularization",
                       public=False, doc="dropout keep-mask (0 or 1/(1-rate)) of x's shape from a seed (hash PRNG)"))
    if "normal_from_seed" not in OPS:
        register(OpDef("normal_from_seed", ("x", "seed"), _mask_infer, _normal_ref, _normal_lower, attrs={"salt": 0},
                       vjp=lambda b, n, g: [None, None], family="sampling", public=False,
                       doc="N(0, 1) noise of x's shape from a seed (hash PRNG + Box-Muller), reproducible"))
    if "cos" not in OPS:
        register(OpDef("cos", ("x",), infer_float_same("cos"), lambda ins, a: np.cos(ins[0]).astype(ins[0].dtype),
                       onnx_node("Cos"), no_grad="used on the step count only", public=False, doc="cosine (learning-rate schedules)"))


register_training_ops()
