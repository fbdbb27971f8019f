"""Layer definitions: composite spec layers that own parameters and expand into primitive ops."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.builder import Builder
from graphc.ir.graph import Value
from graphc.ir.types import format_shape, is_float, np_dtype
from graphc.limits import check_shape, placeholder, reserve_param
from graphc.ops.registry import REQUIRED


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
        elif init == "uniform":
            data = param_rng(self.seed, key).uniform(-bound, bound, size=shape)
        elif init == "normal":
            data = param_rng(self.seed, key).standard_normal(size=shape)
        elif init == "zeros":
            data = np.zeros(shape)
        elif init == "ones":
            data = np.ones(shape)
        else:
            data = init(param_rng(self.seed, key), shape)
        value = self.b.graph.add_param(full, np.asarray(data, dtype=dtype), trainable)
        self.params.append(value.name)
        return value

    def expect_rank(self, x: Value, ranks, layout: str, hint: str | None = None, index: int = 0) -> None:
        ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
        if x.type.rank not in ranks:
            raise ShapeError(f"input {self.input_names[index]} has shape {format_shape(x.shape)}, "
                             f"{self.op} needs {layout}", hint=hint)

    def expect_static(self, dim, what: str) -> int:
        if not isinstance(dim, int):
            raise ShapeError(f"{self.op}: {what} must be a fixed size to create parameters, got symbolic {dim}")
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
    from graphc.errors import did_you_mean
    from graphc.ops.elementwise import ACTIVATIONS

    if name is not None and name not in ACTIVATIONS and name != "none":
        raise ShapeError(f"unknown activation '{name}'", hint=did_you_mean(str(name), ACTIVATIONS)
                         or f"one of {', '.join(ACTIVATIONS)}")


__all__ = ["LAYERS", "LayerCtx", "LayerDef", "REQUIRED", "activation", "check_activation", "layer"]
