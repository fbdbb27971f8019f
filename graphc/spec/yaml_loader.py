"""YAML to plain Python values that remember where each key and item came from.

Mappings become `LocMap` (a dict) and sequences `LocList` (a list); both know their own
location and the location of each key / value / item. Scalars stay plain Python values.

The values are built from YAML's event stream with an explicit stack (no recursion), so
hostile files get located SpecErrors instead of hangs or tracebacks: nesting deeper than
`MAX_DEPTH`, aliases expanding to more than `MAX_ALIAS_NODES` values (a "billion laughs"
bomb), tags other than YAML's core ones (`!!python/object` is refused, never constructed),
duplicate keys, several documents. `read_spec_file` refuses files over `max_spec_bytes()`,
binary files, non-UTF-8 bytes and UTF-16/32 byte-order marks before parsing.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from typing import Any

import yaml
import yaml.constructor

from graphc.errors import Location, SpecError

MAX_DEPTH = 100  # nested mappings/lists; real specs use fewer than 10
MAX_ALIAS_NODES = 100_000  # values that aliases (*name) may expand to, in all
MAX_SPEC_BYTES = 8 * 2 ** 20  # default size limit of a spec file; GRAPHC_MAX_SPEC_BYTES overrides


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


def _mark_loc(file: str, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Constructor(yaml.constructor.SafeConstructor):
    pass


# YAML 1.1 (PyYAML) reads `1e-5` as a string: it wants `1.0e-5`. Specs read it as a number, as
# YAML 1.2 and every other tool do.
_EXP_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")


def _with_exp_floats(loader: type) -> type:
    cls = type(f"Graphc{loader.__name__}", (loader,), {})
    cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789."))
    return cls


# libyaml's C parser is ~5x faster than PyYAML's pure-Python one and gives the same marks; on
# an error the pure-Python parser runs again so messages do not depend on libyaml.
_SAFE_LOADER = _with_exp_floats(yaml.SafeLoader)
_FAST_LOADER = _with_exp_floats(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else None
_RESOLVER = _SAFE_LOADER("")  # resolves plain scalars' implicit tags (int, float, bool, null, ...)
_CORE = "tag:yaml.org,2002:"
_EXPLICIT_OK = {_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}
_MERGE = _CORE + "merge"


def max_spec_bytes() -> int:
    """The spec file size limit: GRAPHC_MAX_SPEC_BYTES when set, else MAX_SPEC_BYTES."""
    try:
        return int(os.environ.get("GRAPHC_MAX_SPEC_BYTES", MAX_SPEC_BYTES))
    except ValueError:
        return MAX_SPEC_BYTES


def _check_tag(tag: str | None, file: str, mark) -> None:
    if tag in (None, "!") or tag in _EXPLICIT_OK:
        return
    shown = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
    raise SpecError(f"YAML tag '{shown}' is not allowed in a spec (graphc never constructs objects from tags)",
                    _mark_loc(file, mark), "remove the tag; write the value itself")


class _Frame:
    __slots__ = ("anchor", "key", "key_loc", "merges", "size", "value")

    def __init__(self, value, anchor):
        self.value, self.size, self.anchor = value, 1, anchor
        self.key, self.key_loc, self.merges = _NO_KEY, None, []


_NO_KEY = object()


def _finish_map(frame: _Frame, file: str) -> None:
    """Apply `<<: *defaults` merges: explicit keys win, as in YAML's merge key."""
    result = frame.value
    for merged, loc in frame.merges:
        sources = merged if isinstance(merged, LocList) else [merged]
        for source in sources:
            if not isinstance(source, LocMap):
                raise SpecError("YAML: '<<' merges mappings only", loc, "merge an alias of a mapping, like <<: *defaults")
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    result.key_locs[key], result.value_locs[key] = source.key_loc(key), source.value_loc(key)


def _build(events: Iterable[yaml.Event], file: str) -> Any:
    """Events -> LocMap / LocList / scalars, iteratively, with the hazard limits."""
    constructor = _Constructor()
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    expanded = 0
    root, documents = None, 0
    for ev in events:
        value, size = _NO_KEY, 1
        if isinstance(ev, yaml.ScalarEvent):
            _check_tag(ev.tag, file, ev.start_mark)
            tag = ev.tag
            if tag in (None, "!"):
                tag = _RESOLVER.resolve(yaml.ScalarNode, ev.value, ev.implicit) if tag is None else _CORE + "str"
                if tag != _MERGE and tag not in _Constructor.yaml_constructors:  # YAML 1.1's `=` (a "value" tag): a plain string
                    tag = _CORE + "str"
            node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
            try:
                value = _MERGE if tag == _MERGE else constructor.yaml_constructors[tag](constructor, node)
            except (ValueError, TypeError, OverflowError):
                raise SpecError(f"YAML: cannot read '{ev.value}' as {'!!' + tag[len(_CORE):]}",
                                _mark_loc(file, ev.start_mark), "remove the tag, or fix the value") from None
            if ev.anchor is not None:
                anchors[ev.anchor] = (value, 1)
        elif isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            _check_tag(ev.tag, file, ev.start_mark)
            if len(stack) >= MAX_DEPTH:
                raise SpecError(f"YAML nesting deeper than {MAX_DEPTH} levels", _mark_loc(file, ev.start_mark),
                                "remove the extra nesting: a spec needs only a few levels")
            container = LocMap() if isinstance(ev, yaml.MappingStartEvent) else LocList()
            container.loc = _mark_loc(file, ev.start_mark)
            if isinstance(container, LocMap):
                container.key_locs, container.value_locs = {}, {}
            else:
                container.item_locs = []
            if stack and isinstance(stack[-1].value, LocMap) and stack[-1].key is _NO_KEY:
                raise SpecError("a mapping key must be a plain name", container.loc,
                                "write a plain name before the ':', like units:")
            stack.append(_Frame(container, ev.anchor))
            continue
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = stack.pop()
            if isinstance(frame.value, LocMap):
                _finish_map(frame, file)
            value, size = frame.value, frame.size
            if frame.anchor is not None:
                anchors[frame.anchor] = (value, size)
        elif isinstance(ev, yaml.AliasEvent):
            loc = _mark_loc(file, ev.start_mark)
            if ev.anchor not in anchors:
                raise SpecError(f"YAML: unknown alias '*{ev.anchor}'", loc, f"define it first with '&{ev.anchor}'")
            value, size = anchors[ev.anchor]
            expanded += size
            if expanded > MAX_ALIAS_NODES:
                raise SpecError(f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values (an alias bomb?)", loc,
                                "write the values out, or use fewer nested aliases")
        elif isinstance(ev, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise SpecError("a spec is one YAML document, this file has several", _mark_loc(file, ev.start_mark),
                                "remove the second '---'")
            continue
        else:  # stream start/end, document end
            continue
        loc = value.loc if isinstance(value, (LocMap, LocList)) else _mark_loc(file, ev.start_mark)
        if not stack:
            root = value
            continue
        parent = stack[-1]
        parent.size += size
        target = parent.value
        if isinstance(target, LocList):
            target.append(value)
            target.item_locs.append(loc)
        elif parent.key is _NO_KEY:
            if isinstance(value, (LocMap, LocList)):
                raise SpecError("a mapping key must be a plain name", loc, "write a plain name before the ':', like units:")
            if value is not _MERGE and value in target:
                first = target.key_locs[value]
                raise SpecError(f"duplicate key '{value}', first defined at line {first.line}", loc,
                                "remove one of them")
            parent.key, parent.key_loc = value, loc
        else:
            if parent.key is _MERGE:
                parent.merges.append((value, loc))
            else:
                target[parent.key] = value
                target.key_locs[parent.key], target.value_locs[parent.key] = parent.key_loc, loc
            parent.key = _NO_KEY
    return root


def _parse(text: str, file: str) -> Any:
    if _FAST_LOADER is not None and "\t" not in text:  # libyaml accepts some tabs PyYAML rejects
        try:
            return _build(yaml.parse(text, Loader=_FAST_LOADER), file)
        except yaml.YAMLError:
            pass  # the pure-Python parser below gives the (same, documented) error message
    return _build(yaml.parse(text, Loader=_SAFE_LOADER), file)


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
    """What would fix the syntax error, with where the construct that failed started."""
    cm, pm = e.context_mark, e.problem_mark
    problem = str(e.problem or "")
    if e.context and cm is not None and (pm is None or cm.line != pm.line):
        what = str(e.context).removeprefix("while ").removeprefix("parsing ").removeprefix("scanning ")
        at = f"that starts at line {cm.line + 1}, column {cm.column + 1}"
        where = f"the {what.removeprefix('a ')} {at}"
        if "flow" in what:
            return f"add the missing ',' or closing '{'}' if 'mapping' in what else ']'}' of {where}"
        if "quoted scalar" in what:
            return f"close the quote {at}"
        if "block" in what:
            return f"indent this line like the other entries of {where}"
        return f"change {where}"
    if "expected ',' or ']'" in problem:
        return "close the list with ']'"
    if "expected ',' or '}'" in problem:
        return "close the mapping with '}'"
    if "escape" in problem:
        return "write \\\\ for a backslash, or use single quotes"
    if "mapping values are not allowed" in problem:
        return "indent this key like the others, or quote a value that holds ': '"
    if "block end" in problem:
        return "indent this line like the lines around it"
    if "\\t" in problem:
        return "replace the tab with spaces: YAML indents with spaces, not tabs"
    return None


def _offset_loc(text: str, file: str, position: int) -> Location:
    line = text.count("\n", 0, position) + 1
    return Location(file, line, position - (text.rfind("\n", 0, position) + 1) + 1)


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document; every error is a located SpecError."""
    nul = text.find("\x00")
    if nul >= 0:
        raise SpecError("this is a binary file, not a YAML spec: it holds a NUL byte", _offset_loc(text, file, nul),
                        "give a spec, a UTF-8 text file")
    if len(text) > max_spec_bytes():
        raise SpecError(f"the spec is {len(text):,} characters, over the {max_spec_bytes():,}-byte limit",
                        Location(file, 1, 1), "give the right file, or raise the limit with GRAPHC_MAX_SPEC_BYTES")
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark
    try:
        root = _parse(text, file)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = _mark_loc(file, mark) if mark else Location(file, 1, 1)
        if isinstance(e, yaml.constructor.ConstructorError):
            raise SpecError(f"YAML: {e.problem}", loc, "write the value plainly, without a tag") from None
        raise SpecError(f"YAML syntax: {_yaml_problem(e)}", loc, _yaml_hint(e)) from None
    except yaml.reader.ReaderError as e:
        raise SpecError(f"YAML syntax: unexpected control character "
                        f"{f'U+{e.character:04X}' if isinstance(e.character, int) else repr(e.character)} "
                        "in the text", _offset_loc(text, file, e.position),
                        "remove the character: a spec is a text file") from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML syntax: {str(e).splitlines()[0]}", Location(file, 1, 1)) from None
    if root is None:
        raise SpecError("the spec is empty", Location(file, 1, 1),
                        "write a spec: graphc: 1, then name:, inputs: and layers:")
    return root


def read_spec_file(path: str) -> str:
    """A spec file's text: at most max_spec_bytes() read, UTF-8 (a UTF-8 BOM is fine), not binary."""
    limit = max_spec_bytes()
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise SpecError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a folder, not a spec file") from None
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror or e}") from None
    start = Location(path, 1, 1)
    if len(data) > limit:
        raise SpecError(f"the file is over the {limit:,}-byte limit for a spec", start,
                        "give the right file, or raise the limit with GRAPHC_MAX_SPEC_BYTES")
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise SpecError(f"the file is {name} text: it starts with a {name} byte-order mark", start,
                            "save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        text = data[:nul].decode("utf-8", "replace")
        raise SpecError("this is a binary file, not a YAML spec: it holds a NUL byte",
                        _offset_loc(text, path, len(text)), "give a spec, a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        text = data[:e.start].decode("utf-8")
        raise SpecError(f"the file is not UTF-8: byte 0x{data[e.start]:02x} cannot start a character",
                        _offset_loc(text, path, len(text)), "save it as UTF-8") from None


def load_scalar(text: str) -> Any:
    """One YAML value (a `--set` value), with the spec's number rules (`1e-5` is a float)."""
    return _build(yaml.parse(text, Loader=_SAFE_LOADER), "--set")
