"""Tracing the functional API: tensors, and layers applied to them with shapes checked at once.

Each call (`gc.layers.dense(x, 64)`) is built right away by the YAML front end's own
`ModelBuilder._build_layer`, so shapes, names and error messages are exactly YAML's; the error
location is the caller's Python file and line. What was applied is kept as `LayerRecord`s, from
which `graphc.functional.model` writes the spec that a `gc.Model` is built from.
"""

from __future__ import annotations

import inspect
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphc.errors import Location, SpecError
from graphc.ir.graph import Value
from graphc.ir.types import TensorType
from graphc.spec.build import DOTTED, IDENT, ModelBuilder, Spec, _Entry, _Scope, ident_like
from graphc.spec.yaml_loader import LocList, LocMap
from graphc.util.walk import post_order, rebuild
from graphc.ops import OPS
from graphc.layers import LAYERS

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ORDER = itertools.count()  # creation order of layers, across components


def caller_loc() -> Location:
    """The first frame outside graphc: the user's file, line and column."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame = frame.f_back
    if frame is None:
        return Location("<python>", 1, 1)
    col = 1
    try:
        pos = inspect.getframeinfo(frame, context=0).positions
        col = (pos.col_offset or 0) + 1 if pos is not None else 1
    except (AttributeError, ValueError):
        pass
    return Location(frame.f_code.co_filename, frame.f_lineno, col)


def locmap(value: Any, loc: Location) -> Any:
    """Plain dicts/lists -> LocMap/LocList whose every location is `loc` (what the builder reads)."""
    def split(v: Any):
        if isinstance(v, dict):
            return list(v.values()), lambda done: _at_map(LocMap(zip(v, done)), loc)
        if isinstance(v, (list, tuple)):
            return list(v), lambda done: _at_list(LocList(done), loc)
        return None
    return rebuild(value, split)


def _at_map(out: LocMap, loc: Location) -> LocMap:
    out.loc, out.key_locs, out.value_locs = loc, {k: loc for k in out}, {k: loc for k in out}
    return out


def _at_list(items: LocList, loc: Location) -> LocList:
    items.loc, items.item_locs = loc, [loc] * len(items)
    return items


def plain(value: Any) -> Any:
    """Python/numpy values -> what YAML would have read (lists, ints, floats, strings, bools)."""
    def split(v: Any):
        if isinstance(v, dict):
            return list(v.values()), lambda done: {str(k): x for k, x in zip(v, done)}
        if isinstance(v, (list, tuple)):
            return list(v), list
        return None
    return rebuild(value, split, _plain_leaf)


def _plain_leaf(value: Any) -> Any:
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


@dataclass(eq=False)
class BlockDef:
    """A block traced from a Python function (for gc.repeat): its name and its YAML body."""

    name: str
    body: dict  # {inputs: [...], layers: [...], outputs?: [...]}, plain values
    locmap: LocMap  # the same body with the user's locations
    blocks: dict[str, BlockDef] = field(default_factory=dict)  # blocks its layers use


class Session:
    """Default layer names count per session and scope prefix, as YAML counts per layer list: a
    session is what was built since the last gc.Model, or since a gc.Input reused an input name
    of the session (one model cannot have both); a block function traced by gc.repeat has its own."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.inputs: set[str] = set()  # names of its gc.Inputs


_SESSIONS: list[Session] = [Session()]


def new_session() -> None:
    """Start counting default names afresh (gc.Model and running a Python spec file do this)."""
    _SESSIONS[0] = Session()


class Component:
    """Layers connected through their tensors: unique names, the blocks and models they use, and
    one graph for shape checks."""

    def __init__(self) -> None:
        self.parent: Component | None = None
        self.names: dict[str, Location] = {}
        self.blocks: dict[str, BlockDef] = {}
        self.models: dict[str, Any] = {}  # name -> graphc.Model used as a layer
        self.spec = Spec("<python>", "", "trace", "", {}, {}, {}, None, 0, True, Location("<python>", 1, 1))
        self.builder = ModelBuilder(self.spec, "__trace__")

    def root(self) -> Component:
        c = self
        while c.parent is not None:
            c = c.parent
        return c

    def merge(self, other: Component, loc: Location) -> Component:
        a, b = self.root(), other.root()
        if a is b:
            return a
        for name in b.names:
            if name in a.names:
                raise SpecError(f"duplicate name '{name}': first used at line {a.names[name].line}", loc,
                                "give each layer a unique name with name=")
        a.names.update(b.names)
        for name, block in b.blocks.items():
            a.add_block(block, loc)
        for name, model in b.models.items():
            a.add_model(model, loc)
        b.parent = a
        return a

    def add_block(self, block: BlockDef, loc: Location) -> None:
        for b in post_order(block, lambda b: list(b.blocks.values())):  # the blocks it uses first
            old = self.blocks.get(b.name)
            if old is not None and old.body != b.body:
                raise SpecError(f"two different blocks are named '{b.name}'", loc,
                                "name one with gc.repeat(fn, n, block='other_name')")
            self.blocks[b.name] = b
            self.spec.blocks[b.name] = b.locmap

    def add_model(self, model: Any, loc: Location) -> None:
        for name, body in model.spec.models.items():
            known = self.spec.models.get(name)
            if known is not None and known is not body:
                raise SpecError(f"two different models are named '{name}'", loc)
            self.spec.models[name] = body
        for name, body in model.spec.blocks.items():
            self.spec.blocks.setdefault(name, body)
        self.models[model.model_name] = model


@dataclass(eq=False)
class LayerRecord:
    """One layer applied in Python: what the spec writes for it."""

    op: str
    kind: str  # layer, op, block, model
    name: str  # full (dotted) name
    attrs: dict[str, Any]  # plain values, without name/in
    inputs: list  # Tensor or number
    loc: Location
    index: int
    outputs: list = field(default_factory=list)
    block: BlockDef | None = None
    model: Any = None  # the graphc.Model used as a layer


class Tensor:
    """A traced tensor: `.name` (how the spec refers to it), `.shape`, `.dtype`, known at once."""

    def __init__(self, ref: str, value: Value, component: Component, producer: LayerRecord | None = None,
                 input_decl: dict | None = None):
        self.name = ref
        self.value = value
        self.component = component
        self.producer = producer
        self.input_decl = input_decl  # {shape, dtype} for gc.Input tensors

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def shape(self) -> tuple:
        return self.value.type.shape

    @property
    def dtype(self) -> str:
        return self.value.type.dtype

    def __repr__(self) -> str:
        return f"<graphc.Tensor {self.name}: {self.type}>"

    # operators are the primitive ops, as layers with default names (add_1, ...)
    def __add__(self, other): return apply("add", [self, other], {}, None, caller_loc())
    def __radd__(self, other): return apply("add", [other, self], {}, None, caller_loc())
    def __sub__(self, other): return apply("sub", [self, other], {}, None, caller_loc())
    def __rsub__(self, other): return apply("sub", [other, self], {}, None, caller_loc())
    def __mul__(self, other): return apply("mul", [self, other], {}, None, caller_loc())
    def __rmul__(self, other): return apply("mul", [other, self], {}, None, caller_loc())
    def __truediv__(self, other): return apply("div", [self, other], {}, None, caller_loc())
    def __rtruediv__(self, other): return apply("div", [other, self], {}, None, caller_loc())
    def __matmul__(self, other): return apply("matmul", [self, other], {}, None, caller_loc())
    def __neg__(self): return apply("neg", [self], {}, None, caller_loc())


# -- scopes and block definitions ----------------------------------------------------------------
_PREFIX: list[str] = []  # gc.scope prefixes, innermost last
_BLOCK: list[Component] = []  # components of the block functions being traced (gc.repeat)


def _prefix() -> str:
    return "".join(_PREFIX)


@contextmanager
def scope(name: str, index: int | None = None) -> Iterator[None]:
    """Layers created inside get names `name.index.<layer>` (`name.<layer>` without index), as the
    copies of a YAML block: `with gc.scope("enc", i): ...` gives `enc.0.ln1.weight`."""
    loc = caller_loc()
    if not isinstance(name, str) or not IDENT.match(name):
        raise SpecError(f"a scope name must be an identifier (letters, digits, _), got {name!r}", loc,
                        f"rename it, like '{ident_like(name)}'")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise SpecError(f"a scope index must be a non-negative integer, got {index!r}", loc)
    _PREFIX.append(f"{name}.{index}." if index is not None else f"{name}.")
    try:
        yield
    finally:
        _PREFIX.pop()


def Input(name: str, shape: list, dtype: str = "float32") -> Tensor:
    """A model input: `gc.Input("x", ["N", 784])` (dims: positive ints or identifiers)."""
    loc = caller_loc()
    if not isinstance(name, str) or not IDENT.match(name):
        raise SpecError(f"an input name must be an identifier (letters, digits, _), got {name!r}", loc,
                        f"rename it, like '{ident_like(name)}'")
    if not _BLOCK and name in _SESSIONS[0].inputs:
        new_session()
    _SESSIONS[-1].inputs.add(name)
    comp = _BLOCK[-1] if _BLOCK else Component()
    decl = {"shape": plain(list(shape) if isinstance(shape, (list, tuple)) else shape), "dtype": dtype}
    parsed = comp.builder._parse_inputs(locmap({name: decl}, loc), loc, {})
    value = comp.builder.graph.add_input(name, parsed[name][0])
    return Tensor(name, value, comp, None, decl)


# -- applying a layer ----------------------------------------------------------------------------
def _component(inputs: list, loc: Location) -> Component:
    tensors = [t for t in inputs if isinstance(t, Tensor)]
    if _BLOCK:
        block = _BLOCK[-1].root()
        for t in tensors:
            if t.component.root() is not block:
                raise SpecError(f"a block function reads only its own inputs, but uses '{t.name}' from outside",
                                loc, "pass it as an input: gc.repeat(fn, n)(x, other)")
        return block
    if not tensors:
        return Component()
    comp = tensors[0].component.root()
    for t in tensors[1:]:
        comp = comp.merge(t.component, loc)
    return comp


def _check_inputs(op: str, inputs: list, loc: Location) -> None:
    for t in inputs:
        if not isinstance(t, Tensor) and (isinstance(t, bool) or not isinstance(t, (int, float))):
            raise SpecError(f"{op}: inputs are graphc tensors (from gc.Input or a layer) or numbers, got {t!r}",
                            loc)


def apply(op: str, inputs: list, attrs: dict[str, Any], name: str | None, loc: Location,
          repeat: int | None = None, block: BlockDef | None = None, model: Any = None):
    """Apply a layer, op, block or model to tensors; returns a Tensor (a tuple for several outputs)."""
    _check_inputs(op, inputs, loc)
    comp = _component(inputs, loc)
    if block is not None:
        comp.add_block(block, loc)
    if model is not None:
        comp.add_model(model, loc)
    prefix = _prefix()
    counts, key = _SESSIONS[-1].counts, (prefix, op)
    counts[key] = counts.get(key, 0) + 1  # as YAML: every layer of the op counts, named or not
    if name is None:
        while prefix + f"{op}_{counts[key]}" in comp.names:  # taken in an earlier session
            counts[key] += 1
        local = f"{op}_{counts[key]}"
    else:
        if not isinstance(name, str) or not DOTTED.match(name):
            raise SpecError(f"a layer name must be an identifier (letters, digits, _), got {name!r}", loc,
                            f"rename it, like '{ident_like(name, dotted=True)}'")
        local = name
    full = prefix + local
    if full in comp.names:
        raise SpecError(f"duplicate name '{full}': first used at line {comp.names[full].line}", loc,
                        "give each layer a unique name with name=")
    given = {k: plain(v) for k, v in attrs.items()}
    raw = dict(given)
    if inputs:
        raw["in"] = [t.name if isinstance(t, Tensor) else t for t in inputs]
    if repeat is not None:
        raw["repeat"] = repeat
    s = _Scope("", {})
    for t in inputs:
        if isinstance(t, Tensor):
            s.entries[t.name] = _Entry([t.value])
            s.visible.add(t.value.name)
    comp.builder._build_layer(op, locmap(raw, loc), loc, full, s)
    comp.names[full] = loc
    kind = "block" if block is not None else "model" if model is not None else \
        comp.builder._kind(op, loc)
    record = LayerRecord(op, kind, full, given, list(inputs), loc, next(_ORDER), block=block, model=model)
    if repeat is not None:
        record.attrs = {"repeat": repeat, **given}
    entry = s.entries[full]
    if len(entry.values) == 1:
        record.outputs = [Tensor(full, entry.values[0], comp, record)]
        return record.outputs[0]
    refs = [f"{full}.{entry.out_names[i] if i < len(entry.out_names) else i}" for i in range(len(entry.values))]
    record.outputs = [Tensor(r, v, comp, record) for r, v in zip(refs, entry.values)]
    return tuple(record.outputs)


# -- blocks: gc.repeat ---------------------------------------------------------------------------
def _arg_names(fn: Callable, n: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    if len(names) < n or not all(IDENT.match(x) for x in names):
        names = ["x"] + [f"x{i}" for i in range(1, n)]
    return names


def trace_block(fn: Callable, inputs: list[Tensor], block_name: str, loc: Location) -> BlockDef:
    """Run `fn` once on placeholders of the inputs' types and record its layers as a YAML block."""
    comp = Component()
    names = _arg_names(fn, len(inputs))
    placeholders = []
    for iname, t in zip(names, inputs):
        value = comp.builder.graph.add_input(iname, t.type if isinstance(t, Tensor) else TensorType("float32", ()))
        placeholders.append(Tensor(iname, value, comp, None, {"shape": list(value.shape), "dtype": value.dtype}))
    saved = list(_PREFIX)
    _PREFIX.clear()
    _BLOCK.append(comp)
    _SESSIONS.append(Session())
    try:
        result = fn(*placeholders)
    finally:
        _SESSIONS.pop()
        _BLOCK.pop()
        _PREFIX[:] = saved
    outs = list(result) if isinstance(result, (list, tuple)) else [result]
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise SpecError(f"block function {block_name} must return a tensor (or a tuple of tensors), got {result!r}",
                        loc)
    if any(o.producer is None for o in outs):
        raise SpecError(f"block function {block_name} returns one of its inputs; a block needs a layer", loc)
    body = body_of(placeholders, outs, None, block=True)
    body.pop("_records")
    root = comp.root()
    return BlockDef(block_name, body, locmap_body(body, loc), dict(root.blocks))


def locmap_body(body: dict, loc: Location) -> LocMap:
    """The body with each layer at the line that created it (`_locs` kept aside by body_of)."""
    locs = body.get("_locs", [])
    clean = {k: v for k, v in body.items() if k != "_locs"}
    out = locmap(clean, loc)
    layers = out.get("layers")
    if isinstance(layers, LocList):
        for i, item_loc in enumerate(locs):
            layers.item_locs[i] = item_loc
            item = layers[i]
            op = next(iter(item))
            item.loc = item_loc
            item.key_locs[op] = item.value_locs[op] = item_loc
            inner = item[op]
            if isinstance(inner, LocMap):
                inner.loc = item_loc
                inner.key_locs = {k: item_loc for k in inner}
                inner.value_locs = {k: item_loc for k in inner}
                for v in inner.values():
                    if isinstance(v, LocList):
                        v.loc, v.item_locs = item_loc, [item_loc] * len(v)
    return out


def repeat(fn: Callable, n: int, *inputs, name: str | None = None, block: str | None = None):
    """`gc.repeat(fn, n)(x)`: n chained copies of the block function `fn` (each with its own
    weights), like a YAML block used with `repeat: n`; parameters are `<name>.<i>.<layer>.<param>`,
    name defaulting to `<block>_<k>` and the block to `fn.__name__`. Extra inputs
    (`(x, memory)`) go to every copy. With inputs given (`gc.repeat(fn, n, x)`) it applies at once."""
    loc = caller_loc()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SpecError(f"gc.repeat: n must be a positive integer, got {n!r}", loc, "use a count of 1 or more, like gc.repeat(2)")
    bname = block or getattr(fn, "__name__", "block")
    if not IDENT.match(bname) or bname == "<lambda>":
        bname = "block"

    if bname in LAYERS or bname in OPS:
        raise SpecError(f"block name '{bname}' is already the name of an op", loc,
                        "rename the function or pass block='my_block'")

    def run(*args):
        call_loc = caller_loc() if not inputs else loc
        tensors = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
        if not tensors:
            raise SpecError("gc.repeat: give the block its input tensor(s)", call_loc)
        _check_inputs(bname, tensors, call_loc)
        definition = trace_block(fn, tensors, bname, call_loc)
        return apply(bname, tensors, {}, name, call_loc, repeat=n, block=definition)

    return run(*inputs) if inputs else run


def _layers_between(inputs: list[Tensor], outputs: list[Tensor], loc: Location) -> list[LayerRecord]:
    """The layers the outputs depend on, back to the inputs, in creation order."""
    allowed = {id(t) for t in inputs}
    seen: dict[int, LayerRecord] = {}
    stack = list(outputs)
    while stack:
        t = stack.pop()
        if not isinstance(t, Tensor) or id(t) in allowed:
            continue
        if t.producer is None:
            names = ", ".join(i.name for i in inputs) or "none"
            raise SpecError(f"the outputs depend on input '{t.name}', which is not in inputs=[{names}]", loc,
                            f"add it: inputs=[..., {t.name}]")
        record = t.producer
        if id(record) not in seen:
            seen[id(record)] = record
            stack.extend(record.inputs)
    return sorted(seen.values(), key=lambda r: r.index)


def body_of(inputs: list[Tensor], outputs: list[Tensor], doc: str | None, block: bool = False,
            loc: Location | None = None) -> dict:
    """The YAML body of a model (or block): inputs, layers, outputs; `_locs` holds each layer's place."""
    loc = loc or Location("<python>", 1, 1)
    layers = _layers_between(inputs, outputs, loc)
    body: dict[str, Any] = {}
    if doc:
        body["doc"] = doc
    if block:
        body["inputs"] = [t.name for t in inputs]
    else:
        body["inputs"] = {t.name: dict(t.input_decl) for t in inputs}
    items, locs, counts = [], [], {}
    previous: str | None = inputs[0].name if len(inputs) == 1 else None
    for record in layers:
        counts[record.op] = counts.get(record.op, 0) + 1
        attrs = dict(record.attrs)
        refs = [t.name if isinstance(t, Tensor) else t for t in record.inputs]
        if not (len(refs) == 1 and refs[0] == previous) and refs:
            attrs["in"] = refs[0] if len(refs) == 1 else refs
        if record.name != f"{record.op}_{counts[record.op]}":
            attrs["name"] = record.name
        items.append({record.op: attrs or None})
        locs.append(record.loc)
        previous = record.name
    body["layers"] = items
    out_refs = [t.name for t in outputs]
    if not (len(out_refs) == 1 and layers and out_refs[0] == layers[-1].name):
        body["outputs"] = out_refs
    body["_locs"] = locs
    body["_records"] = layers
    return body
