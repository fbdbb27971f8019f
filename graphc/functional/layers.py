"""`gc.layers.<op>(...)`: one function per layer and public op, generated from the registries.

Inputs come first, positionally (`add(a, b)`, `dense(x, 64)`) or as one list (`concat([a, b],
axis=1)`); further positional arguments are the attributes in their registry order (`dense(x, 64)`
is units=64), the rest are keywords with YAML's names and defaults; `name=` names the layer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphc.errors import SpecError
from graphc.functional.trace import Tensor, apply, caller_loc
from graphc.ops.registry import REQUIRED
from graphc.ops import OPS
from graphc.layers.base import LAYERS


def _definition(op: str):

    if op in LAYERS:
        return LAYERS[op], True
    if op in OPS and OPS[op].public:
        return OPS[op], False
    return None, False


def public_names() -> list[str]:

    return sorted(set(LAYERS) | {k for k, v in OPS.items() if v.public})


def _split_args(op: str, args: tuple, slots: tuple[str, ...], is_layer: bool) -> tuple[list, list]:
    """(inputs, positional attribute values) from a call's positional arguments."""
    if args and isinstance(args[0], (list, tuple)) and all(isinstance(a, (Tensor, int, float)) for a in args[0]) \
            and any(isinstance(a, Tensor) for a in args[0]):
        return list(args[0]), list(args[1:])
    variadic = bool(slots) and slots[-1].endswith("*")
    inputs: list = []
    for a in args:
        if isinstance(a, Tensor):
            inputs.append(a)
        elif not is_layer and not variadic and len(inputs) < len(slots) and isinstance(a, (int, float)) \
                and not isinstance(a, bool) and len(slots) > 1:
            inputs.append(a)  # a constant operand: add(x, 1.0)
        else:
            break
        if not variadic and len(inputs) == len(slots):
            break
    return inputs, list(args[len(inputs):])


def layer_function(op: str) -> Callable[..., Any]:
    """The functional form of one layer or op."""
    definition, is_layer = _definition(op)
    if definition is None:
        raise AttributeError(op)

    attr_names = list(definition.attrs)

    def fn(*args: Any, name: str | None = None, **attrs: Any):
        loc = caller_loc()
        inputs, rest = _split_args(op, args, definition.inputs, is_layer)
        if len(rest) > len(attr_names):
            extra = rest[len(attr_names)]
            raise SpecError(f"{op}: too many positional arguments (after the inputs: "
                            f"{', '.join(attr_names) or 'none'}), got {extra!r}", loc,
                            "inputs are graphc tensors; pass attributes by name")
        positional = dict(zip(attr_names, rest))
        for key in positional:
            if key in attrs:
                raise SpecError(f"{op}: attribute '{key}' given twice", loc)
        attrs = {**positional, **attrs}
        attrs = {k: v for k, v in attrs.items() if not (v is None and definition.attrs.get(k, 0) is None)}
        return apply(op, inputs, attrs, name, loc)

    params = [inspect.Parameter(i.rstrip("*"), inspect.Parameter.VAR_POSITIONAL if i.endswith("*")
                                else inspect.Parameter.POSITIONAL_ONLY) for i in definition.inputs]
    for key, default in definition.attrs.items():
        params.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is REQUIRED else default))
    params.append(inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))
    try:
        fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    except ValueError:
        pass
    fn.__name__ = fn.__qualname__ = op
    fn.__module__ = "graphc.layers"
    doc = (definition.doc or f"The {op} {'layer' if is_layer else 'op'}.").strip()
    fn.__doc__ = doc + "\n\nAttributes (YAML names and defaults): " + (", ".join(
        f"{k}={'required' if v is REQUIRED else repr(v)}" for k, v in definition.attrs.items()) or "none") + "."
    return fn


def apply_model(model, inputs: tuple, name: str | None):
    """A Model used as a layer on tensors: `generator(z)` (weights shared by name)."""
    loc = caller_loc()
    tensors = list(inputs[0]) if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) else list(inputs)
    return apply(model.model_name, tensors, {}, name, loc, model=model)


def install(module) -> None:
    """Make `module.<op>` (graphc.layers) the functional form of every layer and public op."""
    def __getattr__(name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        fn = layer_function(name)
        setattr(module, name, fn)
        return fn

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(public_names()))

    module.__getattr__ = __getattr__
    module.__dir__ = __dir__
