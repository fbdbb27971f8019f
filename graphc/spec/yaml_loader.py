"""YAML to plain Python values that remember where each key and item came from.

Mappings become `LocMap` (a dict) and sequences `LocList` (a list); both know their own
location and the location of each key / value / item. Scalars stay plain Python values.
Duplicate keys and YAML syntax errors are SpecErrors with the offending location.
"""

from __future__ import annotations

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


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document; every error is a located SpecError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecError(f"YAML syntax: {e.problem or e.context}", loc) from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML syntax: {e}", Location(file, 1, 1)) from None
    if node is None:
        raise SpecError("the spec is empty", Location(file, 1, 1))
    try:
        return _convert(node, file, _Constructor())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise SpecError(f"YAML: {e.problem}", Location(file, mark.line + 1, mark.column + 1) if mark else None) from None
