"""`$param` substitution: `$name` takes a parameter's value, `$a * 4` is evaluated arithmetic."""

from __future__ import annotations

import ast
import operator
import re
from typing import Any, Mapping

import yaml

from graphc.errors import Location, SpecError, did_you_mean
from graphc.spec.yaml_loader import LocList, LocMap, load_scalar

_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


MAX_EXPONENT = 64


class _Fix(ValueError):
    """An evaluation error that knows its fix (the SpecError hint)."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def _eval(tree: ast.AST, names: Mapping[str, Any]):
    """Evaluate the arithmetic tree in post-order with an explicit stack (no recursion)."""
    stack: list[tuple[ast.AST, bool]] = [(tree.body if isinstance(tree, ast.Expression) else tree, False)]
    values: list = []
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            values.append(node.value)
        elif isinstance(node, ast.Name):
            value = names[node.id]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Fix(f"${node.id} is {value!r}, not a number", f"use a parameter with a number in place of ${node.id}")
            values.append(value)
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            if not ready:
                stack += [(node, True), (node.right, False), (node.left, False)]
                continue
            right = values.pop()
            left = values.pop()
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise _Fix(f"exponent {right} is too large", f"use an exponent of at most {MAX_EXPONENT}")
            value = _OPS[type(node.op)](left, right)
            if abs(value) > 2 ** 62:
                raise _Fix("the result is too large", "use smaller values: a result must be below 2^62")
            values.append(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            if not ready:
                stack += [(node, True), (node.operand, False)]
                continue
            value = values.pop()
            values.append(-value if isinstance(node.op, ast.USub) else value)
        else:
            raise ValueError("unsupported expression")
    return values[0]


MAX_EXPR_CHARS = 1000  # a `$` expression; Python's parser itself nests only so deep


def substitute_str(text: str, params: Mapping[str, Any], loc: Location | None) -> Any:
    """Resolve `$name` or an arithmetic expression over `$names`; other strings are unchanged."""
    if "$" not in text:
        return text
    for ref in _REF.findall(text):
        if ref not in params:
            raise SpecError(f"unknown parameter ${ref}", loc,
                            did_you_mean(ref, params) or (f"use one of the parameters here: {', '.join(sorted(params))}"
                                                          if params else "declare it under params:"))
    whole = _REF.fullmatch(text.strip())
    if whole:
        return params[whole.group(1)]
    expr = _REF.sub(lambda m: m.group(1), text)
    if len(expr) > MAX_EXPR_CHARS:
        raise SpecError(f"expression of {len(expr):,} characters, over the {MAX_EXPR_CHARS:,}-character limit", loc,
                        "split it into several params")
    hint = "write it with numbers, $params, + - * / // % ** and parentheses only"
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot evaluate '{text}': not a valid expression", loc, hint) from None
    try:
        value = _eval(tree, params)
    except ZeroDivisionError:
        raise SpecError(f"cannot evaluate '{text}': division by zero", loc, "use a divisor that is not 0") from None
    except (ValueError, KeyError, TypeError, OverflowError) as e:
        raise SpecError(f"cannot evaluate '{text}': {e}", loc, getattr(e, "hint", hint)) from None
    if isinstance(value, float) and value.is_integer() and "/" not in expr.replace("//", ""):
        value = int(value)
    return value


def substitute(value: Any, params: Mapping[str, Any], loc: Location | None) -> Any:
    """Substitute parameters inside a value (recursively through lists and mappings)."""
    if isinstance(value, str):
        return substitute_str(value, params, loc)
    if isinstance(value, LocList):
        out = LocList(substitute(v, params, value.item_loc(i)) for i, v in enumerate(value))
        out.loc, out.item_locs = value.loc, value.item_locs
        return out
    if isinstance(value, LocMap):
        out = LocMap((k, substitute(v, params, value.value_loc(k))) for k, v in value.items())
        out.loc, out.key_locs, out.value_locs = value.loc, value.key_locs, value.value_locs
        return out
    if isinstance(value, list):
        return [substitute(v, params, loc) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, params, loc) for k, v in value.items()}
    return value


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`--set k=v` pairs; values are read as YAML scalars (0.3, true, relu, [1, 2])."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set takes key=value, got '{pair}'", hint=f"write it like --set {pair or 'name'}=VALUE")
        try:
            result[key.strip()] = load_scalar(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise SpecError(f"--set {key}: cannot read the value '{raw}'",
                            hint="write a YAML scalar, like 0.3, true, relu or [1, 2], quoted for the shell") from None
    return result
