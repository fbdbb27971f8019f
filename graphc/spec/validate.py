"""Type checks of layer and op attributes before they reach the shape rules.

A wrong type (`axis: a`, `bias: maybe`, `eps: abc`) becomes a SpecError at the attribute's
value, instead of a Python exception deep inside an op's shape rule.
"""

from __future__ import annotations

from typing import Any

from graphc.errors import SpecError, did_you_mean
from graphc.ir.types import DTYPES
from graphc.spec.yaml_loader import LocMap

# attributes (whatever their default) that hold lists of integers; `axis` may also be a list
_INT_LISTS = {"perm", "sizes", "axes", "starts", "ends", "steps", "shape"}
_DTYPE_ATTRS = {"to", "dtype"}
_POSITIVE_INTS = {"depth", "num"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(x) for x in v)


def _is_numbers(v: Any) -> bool:
    """A number, or a (nested) rectangular list of numbers or bools."""
    todo = [v]
    while todo:  # every list under v must pass, in any order: a worklist, no recursion
        v = todo.pop()
        if isinstance(v, (int, float, bool)):
            continue
        if not isinstance(v, list) or not v:
            return False
        if all(isinstance(x, list) for x in v):
            if len({_depth_len(x) for x in v}) != 1:
                return False
            todo.extend(v)
        elif not all(isinstance(x, (int, float, bool)) for x in v):
            return False
    return True


def _depth_len(v: Any) -> tuple:
    """The lengths down the first elements: (len(v), len(v[0]), ...) while they are lists."""
    out = [len(v)]
    while v and isinstance(v[0], list):
        v = v[0]
        out.append(len(v))
    return tuple(out)


def expected_type(key: str, default: Any, is_layer: bool) -> tuple[str, Any] | None:
    """(description, predicate) for an attribute's values, or None when the op checks it itself."""
    if key in _DTYPE_ATTRS:
        return f"one of {', '.join(DTYPES)}", lambda v: isinstance(v, str) and v in DTYPES
    if key == "value":
        return "a number or a rectangular list of numbers", _is_numbers
    if key == "activation":
        return None
    if key in _POSITIVE_INTS and not is_layer:
        return "a positive integer", lambda v: _is_int(v) and v > 0
    if isinstance(default, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(default, float):
        return "a number", _is_number
    if key in _INT_LISTS and not is_layer:
        return "a list of integers, like [0, 1]", _is_int_list
    if key == "axis" and not is_layer:
        if default is None:
            return "an integer or a list of integers", lambda v: _is_int(v) or _is_int_list(v)
        return "an integer", _is_int
    if _is_int(default) and not is_layer:
        return "an integer", _is_int
    return None


def check_attr_types(defaults: dict[str, Any], given: dict[str, Any], attrs: LocMap, full: str, op: str,
                     is_layer: bool) -> None:
    """Raise a located SpecError for the first given attribute whose value has the wrong type."""
    for key, value in given.items():
        if value is None and defaults.get(key) is None:
            continue
        rule = expected_type(key, defaults.get(key), is_layer)
        if rule is not None and not rule[1](value):
            raise SpecError(f"{full}: {op} attribute '{key}' must be {rule[0]}, got {value!r}",
                            attrs.value_loc(key),
                            _fix(key, defaults.get(key), value, rule[0]))


def _fix(key: str, default: Any, value: Any, description: str) -> str:
    """The hint for a wrong-typed attribute: a did-you-mean, or the right form with an example."""
    if key in _DTYPE_ATTRS:
        return did_you_mean(str(value), DTYPES) or f"use one of: {', '.join(DTYPES)}"
    if description == "true or false":
        return f"write {key}: true or {key}: false"
    if key == "value":
        return "write a number or a list of numbers, like value: [[1, 2], [3, 4]]"
    example = {"a list of integers, like [0, 1]": "[0, 1]", "a positive integer": "2"}.get(
        description, default if default is not None else -1)
    return f"write {description.split(', like')[0]}, like {key}: {example}"
