"""`$param` substitution: `$name` takes a parameter's value, `$a * 4` is evaluated arithmetic."""

from __future__ import annotations

import ast
import operator
import re
from typing import Any, Mapping

import yaml

from graphc.errors import Location, SpecError, did_you_mean
from graphc.spec.yaml_loader import LocList, LocMap, load_scalar
from graphc.util.walk import rebuild

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
    """Substitute parameters inside a value (through lists and mappings, at any depth)."""

    def split(item: tuple[Any, Location | None]):
        v, at = item
        if isinstance(v, LocList):
            return [(x, v.item_loc(i)) for i, x in enumerate(v)], lambda done: _like_list(LocList(done), v)
        if isinstance(v, LocMap):
            return [(x, v.value_loc(k)) for k, x in v.items()], lambda done: _like_map(LocMap(zip(v, done)), v)
        if isinstance(v, list):
            return [(x, at) for x in v], list
        if isinstance(v, dict):
            return [(x, at) for x in v.values()], lambda done: dict(zip(v, done))
        return None

    def leaf(item: tuple[Any, Location | None]) -> Any:
        return substitute_str(item[0], params, item[1]) if isinstance(item[0], str) else item[0]

    return rebuild((value, loc), split, leaf)


def _like_list(out: LocList, like: LocList) -> LocList:
    out.loc, out.item_locs = like.loc, like.item_locs
    return out


def _like_map(out: LocMap, like: LocMap) -> LocMap:
    out.loc, out.key_locs, out.value_locs = like.loc, like.key_locs, like.value_locs
    return out


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
