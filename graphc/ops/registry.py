"""The op registry: every op is defined once, with all of its parts together.

An `OpDef` holds everything graphc knows about an op: its signature (inputs, attributes with
defaults, outputs), its shape and dtype rule (`infer`), its numpy reference (`ref`), its ONNX
lowering (`lower`) and the ONNX op types that lowering emits (`onnx_ops`), its gradient rule
(`vjp`, written with graphc ops) or the reason it has none (`no_grad`), its cost rule
(`cost`: MACs and FLOPs), whether it is a function of its inputs alone (`pure`), its
training-mode form (`train`), when it returns its input unchanged (`noop`), whether
onnxruntime's CPU provider runs it in float64 (`float64`), whether specs may name it as an
`activation:` (`activation`), and which inputs set the dtype of numbers in `in:`
(`data_from`). `missing_parts` lists what an op lacks; the completeness test runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from graphc.errors import ShapeError, did_you_mean
from graphc.ir.types import TensorType

REQUIRED = object()  # attribute default meaning "must be given"
ABSENT = object()  # attribute default meaning "left out unless given" (readers use attrs.get)

InferFn = Callable[[list[TensorType], dict], list[TensorType]]
RefFn = Callable[[list[np.ndarray], dict], list[np.ndarray]]
LowerFn = Callable[["Any", "Any"], None]  # (LowerCtx, Node)
VjpFn = Callable[["Any", "Any", list], list]  # (Builder, Node, output cotangents) -> input cotangents
ConvertFn = Callable[["Any"], Any]  # (graphc.onnx_in.context.NodeContext) -> output Value(s)


@dataclass(frozen=True)
class OnnxImport:
    """Which ONNX nodes import as this op (graphc.onnx_in): op types, domain, opset range
    (inclusive, of that domain), the ONNX -> graphc attribute names, and a `convert` hook for
    the cases a renaming cannot express (inputs that are attributes in graphc, defaults...)."""

    op_types: tuple[str, ...]
    domain: str = ""
    opsets: tuple[int, int] = (1, 99)
    attrs: dict[str, str] = field(default_factory=dict)
    convert: ConvertFn | None = None

CostFn = Callable[[list[TensorType], list[TensorType], dict], tuple[int, int]]  # (ins, outs, attrs) -> (MACs, FLOPs)
NoopFn = Callable[["Any"], bool]  # (Node) -> True when its single output is its first input, unchanged

FLOAT64_NATIVE = "native"  # onnxruntime's CPU provider has float64 kernels for what the lowering emits
FLOAT64_DECOMPOSED = "decomposed"  # float64 input lowers to ops it has kernels for (graphc/ops/float64.py)
FLOAT64_UNSUPPORTED = "unsupported: "  # prefix; the rest names the missing kernel ("convolution")


@dataclass(frozen=True)
class TrainForm:
    """An op's training-mode form (as torch's `model.train()`), applied to the forward graph of a
    train step. `rewrite(b, node, ctx)` builds the training computation of `node` with the
    Builder `b` and returns the Value replacing its output, or None to keep the node. `ctx` has
    `seed` (the step's int64 seed Value), `salt()` (the next stream number), `graph`,
    `after(node, build)` (nodes built after the replacement, not differentiated) and
    `update(param, new)` (a running statistic's value after the step). `draws(node)`: whether the
    node draws random numbers from the step's seed (so the step needs a seed input)."""

    rewrite: Callable[["Any", "Any", "Any"], "Any"]
    draws: Callable[["Any"], bool] = lambda node: False


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
    onnx_import: OnnxImport | None = None  # default: the inverse of a 1:1 `onnx_node` lowering
    onnx_ops: tuple[str, ...] = ()  # the ONNX op types `lower` emits (tests/test_ops_forward.py checks them)
    cost: CostFn | None = None  # MACs and FLOPs per example (graphc/ops/cost.py has the common rules)
    pure: bool = True  # False for ops whose result is not a function of their inputs alone (never fold/merge)
    train: TrainForm | None = None  # training-mode form (dropout masks, batch statistics); None: the same
    noop: NoopFn | None = None  # when the node returns its first input unchanged (passes/noop.py)
    float64: str = FLOAT64_NATIVE  # onnxruntime CPU float64 support: see FLOAT64_* above
    activation: bool = False  # usable as `activation:` of a layer (dense, conv2d, ...)
    data_from: int = 0  # numbers in `in:` take the dtype of the first tensor input from this index (where: 1)

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[-1].endswith("*")

    @property
    def float64_unsupported(self) -> str | None:
        """What onnxruntime's CPU provider cannot run in float64 ("convolution"), or None."""
        return self.float64[len(FLOAT64_UNSUPPORTED):] if self.float64.startswith(FLOAT64_UNSUPPORTED) else None

    def missing_parts(self) -> list[str]:
        """What this op lacks for every part of graphc to handle it (empty when complete)."""
        problems = []
        for part in ("infer", "ref", "lower", "cost"):
            if not callable(getattr(self, part)):
                problems.append(f"no {part} rule")
        if not self.doc:
            problems.append("no doc (the shape rule in words)")
        if not self.onnx_ops:
            problems.append("no onnx_ops (the ONNX op types its lowering emits)")
        if any(not (isinstance(t, str) and t[:1].isupper()) for t in self.onnx_ops):
            problems.append(f"onnx_ops must be ONNX op type names, got {self.onnx_ops!r}")
        if self.vjp is None and not self.no_grad:
            problems.append("neither vjp nor no_grad reason")
        if self.vjp is not None and self.no_grad:
            problems.append("both vjp and no_grad")
        if not isinstance(self.pure, bool):
            problems.append("pure must be True or False")
        if self.train is not None and not (isinstance(self.train, TrainForm) and callable(self.train.rewrite)):
            problems.append("train must be a TrainForm")
        if self.noop is not None and not callable(self.noop):
            problems.append("noop must be a rule (Node -> bool)")
        if self.float64 not in (FLOAT64_NATIVE, FLOAT64_DECOMPOSED) and not self.float64_unsupported:
            problems.append(f"float64 must be native, decomposed or 'unsupported: <what>', got {self.float64!r}")
        return problems

    def check_arity(self, n: int) -> None:
        check_arity(self.name, self.inputs, self.min_inputs, n)

    def full_attrs(self, given: dict, also: Sequence[str] = ()) -> dict:
        """Attributes with defaults filled in; unknown or missing ones are ShapeErrors."""
        return full_attrs(self.name, self.attrs, given, also)


def arity(inputs: Sequence[str], min_inputs: int | None = None) -> tuple[int, int | None]:
    """(fewest, most) inputs for an input list (a trailing `*` is variadic: no most)."""
    if inputs and inputs[-1].endswith("*"):
        return max(len(inputs) - 1, 1), None
    return (len(inputs) if min_inputs is None else min_inputs), len(inputs)


def check_arity(name: str, inputs: Sequence[str], min_inputs: int | None, n: int) -> None:
    """A ShapeError unless an op or layer with these inputs can take `n` of them."""
    low, high = arity(inputs, min_inputs)
    if n < low or (high is not None and n > high):
        want = f"at least {low}" if high is None else str(high) if low == high else f"{low} to {high}"
        shown = ", ".join(i.rstrip("*") for i in inputs) or "none"
        raise ShapeError(f"{name} takes {want} input(s) ({shown}), got {n}")


def full_attrs(name: str, declared: dict[str, Any], given: dict, also: Sequence[str] = ()) -> dict:
    """`given` with the defaults of `declared` filled in. An unknown or missing attribute is a
    ShapeError whose `attr` names it (`also`: other names a did-you-mean may suggest)."""
    for key in given:
        if key not in declared:
            raise ShapeError(f"{name} has no attribute '{key}'", attr=key,
                             hint=did_you_mean(str(key), list(declared) + list(also))
                             or (f"use one of: {', '.join(declared)}" if declared
                                 else f"remove it: {name} takes no attributes"))
    result = {}
    for key, default in declared.items():
        if key in given:
            result[key] = given[key]
        elif default is REQUIRED:
            raise ShapeError(f"{name} needs the attribute '{key}'", attr=key,
                             hint=f"add it, like '- {name}: {{{key}: ...}}'")
        elif default is not ABSENT:
            result[key] = default
    return result


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef, registry: dict[str, OpDef] | None = None) -> OpDef:
    """Add an op to `registry` (the global OPS by default)."""
    registry = OPS if registry is None else registry
    if opdef.name in registry:
        raise ValueError(f"op {opdef.name} registered twice")
    renames = getattr(opdef.lower, "onnx_attrs", None)  # set by onnx_node (and its float64 wrapper)
    if opdef.onnx_import is None and renames is not None and len(opdef.onnx_ops) == 1:
        opdef.onnx_import = OnnxImport(opdef.onnx_ops, attrs={v: k for k, v in renames.items() if v})
    registry[opdef.name] = opdef
    return opdef


def incomplete_ops(registry: dict[str, OpDef] | None = None) -> list[str]:
    """`op: what is missing` for every op of `registry` (the global OPS by default) lacking a part."""
    registry = OPS if registry is None else registry
    return [f"{name}: {problem}" for name, d in sorted(registry.items()) for problem in d.missing_parts()]


def activations(registry: dict[str, OpDef] | None = None) -> tuple[str, ...]:
    """The names a layer's `activation:` takes: the ops marked `activation`, and `linear` (none)."""
    registry = OPS if registry is None else registry
    return tuple(name for name, d in registry.items() if d.activation) + ("linear",)


def get_op(name: str) -> OpDef:
    return OPS[name]


def as_list(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def evaluate(op: str, inputs: Sequence[np.ndarray], attrs: dict | None = None) -> list[np.ndarray]:
    """Run an op's numpy reference (attributes defaulted)."""
    opdef = OPS[op]
    return [np.asarray(r) for r in as_list(opdef.ref(list(inputs), opdef.full_attrs(attrs or {})))]
