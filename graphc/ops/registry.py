"""The op registry: every op is defined once, with all of its parts together.

An `OpDef` holds an op's signature (inputs, attributes with defaults, outputs), its shape and
dtype rule (`infer`), its numpy reference (`ref`), its ONNX lowering (`lower`), and its
gradient rule (`vjp`, written with graphc ops) or the reason it has none (`no_grad`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from graphc.errors import ShapeError, did_you_mean
from graphc.ir.types import TensorType

REQUIRED = object()  # attribute default meaning "must be given"

InferFn = Callable[[list[TensorType], dict], list[TensorType]]
RefFn = Callable[[list[np.ndarray], dict], list[np.ndarray]]
LowerFn = Callable[["Any", "Any"], None]  # (LowerCtx, Node)
VjpFn = Callable[["Any", "Any", list], list]  # (Builder, Node, output cotangents) -> input cotangents


@dataclass
class OpDef:
    name: str
    inputs: tuple[str, ...]  # a trailing "*" on the last name makes it variadic
    infer: InferFn
    ref: RefFn
    lower: LowerFn
    attrs: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("y",)
    vjp: VjpFn | None = None
    no_grad: str | None = None  # why the op has no gradient (integer outputs, ...)
    family: str = "math"  # for colors in views: math, activation, nn, shape, reduce, ...
    public: bool = True  # usable as a spec layer under its own name
    doc: str = ""
    min_inputs: int | None = None  # for ops with optional trailing inputs

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[-1].endswith("*")

    def check_arity(self, n: int) -> None:
        if self.variadic:
            if n < max(1, len(self.inputs) - 1):
                raise ShapeError(f"{self.name} needs at least {len(self.inputs) - 1 or 1} inputs, got {n}")
            return
        low = len(self.inputs) if self.min_inputs is None else self.min_inputs
        if not low <= n <= len(self.inputs):
            want = f"{len(self.inputs)}" if low == len(self.inputs) else f"{low} to {len(self.inputs)}"
            names = ", ".join(self.inputs)
            raise ShapeError(f"{self.name} takes {want} input(s) ({names}), got {n}")

    def full_attrs(self, given: dict) -> dict:
        """Attributes with defaults filled in; unknown or missing ones are ShapeErrors."""
        for key in given:
            if key not in self.attrs:
                raise ShapeError(f"{self.name} has no attribute '{key}'", hint=did_you_mean(key, self.attrs))
        result = {}
        for key, default in self.attrs.items():
            if key in given:
                result[key] = given[key]
            elif default is REQUIRED:
                raise ShapeError(f"{self.name} needs the attribute '{key}'")
            else:
                result[key] = default
        return result


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in OPS:
        raise ValueError(f"op {opdef.name} registered twice")
    OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    return OPS[name]


def as_list(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def evaluate(op: str, inputs: Sequence[np.ndarray], attrs: dict | None = None) -> list[np.ndarray]:
    """Run an op's numpy reference (attributes defaulted)."""
    opdef = OPS[op]
    return [np.asarray(r) for r in as_list(opdef.ref(list(inputs), opdef.full_attrs(attrs or {})))]
