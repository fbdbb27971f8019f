"""YAML to plain Python values that remember where each key and item came from.

Mappings become `LocMap` (a dict) and sequences `LocList` (a list); both know their own
location and the location of each key / value / item. Scalars stay plain Python values.
Duplicate keys and YAML syntax errors are SpecErrors with the offending location.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
import yaml.constructor

from graphc.errors import Location, SpecError


class LocMap(dict):
    loc: Location
    key_locs: dict
    value_locs: dict

    def key_loc(self, key) -> Location:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key) -> Location:
        return self.value_locs.get(key, self.key_loc(key))


class LocList(list):
    loc: Location
    item_locs: list

    def item_loc(self, i: int) -> Location:
        return self.item_locs[i] if 0 <= i < len(self.item_locs) else self.loc


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Constructor(yaml.constructor.SafeConstructor):
    pass


# YAML 1.1 (PyYAML) reads `1e-5` as a string: it wants `1.0e-5`. Specs read it as a number, as
# YAML 1.2 and every other tool do.
_EXP_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")


def _with_exp_floats(loader: type) -> type:
    cls = type(f"Graphc{loader.__name__}", (loader,), {})
    cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789."))
    return cls


# libyaml's C parser composes ~5x faster than PyYAML's pure-Python one and keeps the same
# marks; on an error the pure-Python parser runs again so messages do not depend on libyaml.
_SAFE_LOADER = _with_exp_floats(yaml.SafeLoader)
_FAST_LOADER = _with_exp_floats(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else None


def _convert(node: yaml.Node, file: str, constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = LocMap()
        result.loc, result.key_locs, result.value_locs = _loc(file, node), {}, {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _convert(key_node, file, constructor)
            if isinstance(key, (LocMap, LocList)):
                raise SpecError("a mapping key must be a plain name", _loc(file, key_node))
            if key in result:
                first = result.key_locs[key]
                raise SpecError(f"duplicate key '{key}' (first defined at line {first.line})", _loc(file, key_node))
            result[key] = _convert(value_node, file, constructor)
            result.key_locs[key] = _loc(file, key_node)
            result.value_locs[key] = _loc(file, value_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LocList(_convert(n, file, constructor) for n in node.value)
        items.loc, items.item_locs = _loc(file, node), [_loc(file, n) for n in node.value]
        return items
    return constructor.construct_object(node, deep=True)


def _compose(text: str) -> yaml.Node | None:
    if _FAST_LOADER is not None and "\t" not in text:  # libyaml accepts some tabs PyYAML rejects
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass  # the pure-Python parser below gives the (same, documented) error message
    return yaml.compose(text, Loader=_SAFE_LOADER)


_TOKENS = {"<scalar>": "a value", "<block mapping start>": "a new indented mapping",
           "<block end>": "the end of the block", "<block sequence start>": "a list item",
           "<flow mapping end>": "'}'", "<flow sequence end>": "']'", "<stream end>": "the end of the file"}


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem text with its token names in words."""
    text = str(e.problem or e.context or "invalid YAML")
    for token, words in _TOKENS.items():
        text = text.replace(token, words).replace(f"'{words}'", words)
    return text


def _yaml_hint(e: yaml.MarkedYAMLError) -> str | None:
    """Where the construct that failed started, and the usual cause."""
    cm, pm = e.context_mark, e.problem_mark
    if e.context and cm is not None and (pm is None or cm.line != pm.line):
        what = str(e.context).removeprefix("while ")
        hint = f"{what} that starts at line {cm.line + 1}, column {cm.column + 1}"
        if "flow" in what:
            hint += ": a missing ',' or closing bracket?"
        return hint
    problem = str(e.problem or "")
    if "block end" in problem or "mapping values are not allowed" in problem:
        return "check the indentation"
    if "\\t" in problem:
        return "YAML indentation uses spaces, not tabs"
    return None


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document; every error is a located SpecError."""
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecError(f"YAML syntax: {_yaml_problem(e)}", loc, _yaml_hint(e)) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise SpecError(f"YAML syntax: unexpected control character "
                        f"{f'U+{e.character:04X}' if isinstance(e.character, int) else repr(e.character)} "
                        "(is this a text file?)",
                        Location(file, line, col)) from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML syntax: {str(e).splitlines()[0]}", Location(file, 1, 1)) from None
    if node is None:
        raise SpecError("the spec is empty", Location(file, 1, 1))
    try:
        return _convert(node, file, _Constructor())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise SpecError(f"YAML: {e.problem}", Location(file, mark.line + 1, mark.column + 1) if mark else None) from None


def load_scalar(text: str) -> Any:
    """One YAML value (a `--set` value), with the spec's number rules (`1e-5` is a float)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
