"""Layer definitions: composite spec layers that own parameters and expand into primitive ops."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from graphc.errors import ShapeError, did_you_mean
from graphc.ir.graph import Value
from graphc.ir.types import format_shape, is_float, np_dtype
from graphc.limits import check_shape, placeholder, reserve_param
from graphc.ops import Builder
from graphc.ops.registry import REQUIRED, activations, check_arity, full_attrs


@dataclass
class LayerDef:
    name: str
    attrs: dict[str, Any]
    build: Callable[["LayerCtx", list[Value], dict], list[Value]]
    outputs: tuple[str, ...] = ("y",)  # names usable as `layer.<name>`
    inputs: tuple[str, ...] = ("x",)  # a trailing "*" makes the layer variadic
    family: str = "nn"
    doc: str = ""
    param_doc: str = ""  # parameter names and shapes, for the reference

    def check_arity(self, n: int) -> None:
        check_arity(self.name, self.inputs, None, n)

    def full_attrs(self, given: dict, also=()) -> dict:
        """Attributes with defaults filled in; unknown or missing ones are ShapeErrors."""
        return full_attrs(self.name, self.attrs, given, also)


LAYERS: dict[str, LayerDef] = {}


def layer(name: str, attrs: dict, outputs=("y",), inputs=("x",), family="nn", doc="", param_doc=""):
    """Decorator registering a layer's build function."""
    def wrap(fn):
        if name in LAYERS:
            raise ValueError(f"layer {name} registered twice")
        LAYERS[name] = LayerDef(name, attrs, fn, tuple(outputs), tuple(inputs), family, doc, param_doc)
        return fn
    return wrap


def param_rng(seed: int, name: str) -> np.random.Generator:
    """One generator per (seed, parameter name): adding a layer never changes other weights."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


DRAW_CHUNK = 1 << 20  # values drawn at a time: float64 draws never need more than 8 MiB at once


def draw(rng: np.random.Generator, init: str, bound: float, shape: tuple, dtype) -> np.ndarray:
    """uniform(-bound, bound) or standard normal values of `dtype`, drawn in chunks straight into
    the result: the same values as one float64 draw cast to `dtype`, without its float64 copy."""
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, DRAW_CHUNK):
        n = min(DRAW_CHUNK, flat.size - start)
        flat[start:start + n] = rng.uniform(-bound, bound, n) if init == "uniform" else rng.standard_normal(n)
    return out


class LayerCtx:
    """What a layer's build function uses: a builder scoped to the layer, and parameter creation."""

    def __init__(self, builder: Builder, name: str, seed: int, op: str, input_names: list[str],
                 param_name: str | None = None, share: bool = False):
        self.b = builder
        self.name = name
        self.param_name = param_name or name  # prefix of this layer's parameter names
        self.share = share  # reuse existing parameters of the same name (a model used as a layer)
        self.seed = seed
        self.op = op
        self.input_names = input_names
        self.params: list[str] = []
        self.dtype = "float32"

    def param(self, pname: str, shape: tuple, init: str | Callable, bound: float = 0.0,
              trainable: bool = True) -> Value:
        """Create `<layer>.<pname>` initialized like PyTorch's default (seeded)."""
        full = f"{self.param_name}.{pname}"
        dtype = np_dtype(self.dtype)
        shape = tuple(int(s) for s in shape)
        check_shape(shape, f"parameter {full}")
        existing = self.b.graph.params.get(full)
        if self.share and existing is not None:
            if existing.shape != shape:
                raise ShapeError(f"shared parameter {full} has shape {list(existing.shape)}, this use needs "
                                 f"{list(shape)}")
            self.params.append(full)
            return existing
        # A model used as a layer (share) draws the same initial values as the model on its own.
        key = full.split(".", 1)[1] if self.share else full
        if not reserve_param(self.b.graph, full, shape, dtype, self.name, self.b.loc):
            data = placeholder(shape, dtype)  # over the memory limit: the build fails at its end
        elif init in ("uniform", "normal"):
            data = draw(param_rng(self.seed, key), init, bound, shape, dtype)
        elif init == "zeros":
            data = np.zeros(shape, dtype)
        elif init == "ones":
            data = np.ones(shape, dtype)
        else:
            data = np.asarray(init(param_rng(self.seed, key), shape), dtype=dtype)
        value = self.b.graph.add_param(full, data, trainable)
        self.params.append(value.name)
        return value

    def expect_rank(self, x: Value, ranks, layout: str, hint: str | None = None, index: int = 0) -> None:
        ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
        if x.type.rank not in ranks:
            if hint is None:
                hint = "add a reshape layer before it?" if x.type.rank < min(ranks) else \
                    "add a flatten or reshape layer before it?"
            raise ShapeError(f"input {self.input_names[index]} has shape {format_shape(x.shape)}, "
                             f"{self.op} needs {layout}", hint=hint)

    def expect_static(self, dim, what: str) -> int:
        if not isinstance(dim, int):
            raise ShapeError(f"{self.op}: {what} must be a fixed size to create parameters, got symbolic {dim}",
                             hint=f"give that axis a fixed size in the input shape, in place of {dim}")
        return dim

    def use_dtype_of(self, x: Value) -> None:
        if not is_float(x.dtype):
            raise ShapeError(f"{self.op}: input {self.input_names[0]} must be a float tensor, got {x.dtype}",
                             hint="add a cast layer: cast: {to: float32}")
        self.dtype = x.dtype


def activation(b: Builder, x: Value, name: str | None, axis: int = -1) -> Value:
    """Apply a named activation (`linear` or None: none)."""
    if name in (None, "linear", "none"):
        return x
    if name in ("softmax", "log_softmax"):
        return b.emit(name, x, axis=axis)
    return b.emit(name, x)


def check_activation(name: Any) -> None:
    names = activations()
    if name is not None and name not in names and name != "none":
        raise ShapeError(f"unknown activation '{name}'", hint=did_you_mean(str(name), names)
                         or f"use one of: {', '.join(names)}")


__all__ = ["LAYERS", "LayerCtx", "LayerDef", "REQUIRED", "activation", "check_activation", "layer"]
