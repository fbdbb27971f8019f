"""Spec -> typed graph: validates the spec, expands blocks and `$params`, builds and checks every layer.

Every error is a SpecError at the spec location it concerns (`spec.yaml:12:5: error: ...`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Generator

from graphc.errors import Location, ShapeError, SpecError, did_you_mean
from graphc.ir.digest import graph_digest
from graphc.ir.graph import Graph, LayerInfo, Value
from graphc.ir.types import DTYPES, TensorType, is_float
from graphc.layers import LAYERS, LayerCtx
from graphc.limits import check_params, check_shape
from graphc.ops import Builder
from graphc.ops import OPS
from graphc.ops.registry import REQUIRED as REQUIRED_ATTR, arity
from graphc.spec.params import substitute
from graphc.spec.refs import cycle_path, reads_of
from graphc.spec.validate import check_attr_types
from graphc.spec.yaml_loader import LocList, LocMap, load_yaml, read_spec_file
from graphc.util.walk import trampoline
from graphc.version import __version__

SPEC_VERSION = 1
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")  # layer names: `enc.0.ln1` (Python scopes)
TOP_KEYS = ("graphc", "name", "doc", "params", "inputs", "layers", "outputs", "blocks", "models", "training")
MODEL_KEYS = ("inputs", "layers", "outputs", "doc")
BLOCK_KEYS = ("params", "inputs", "layers", "outputs", "doc")
INPUT_KEYS = ("shape", "dtype")
RESERVED = ("name", "in", "repeat")


@dataclass
class _Site:
    """One layer being built: what it is (`kind`: layer or op), its attributes as given and as
    written (with locations), its inputs and their names, full name, location, record, scope."""

    kind: str
    op: str
    given: dict
    attrs: LocMap
    inputs: list
    input_names: list
    full: str
    loc: Location
    info: LayerInfo
    scope: "_Scope"

    @property
    def in_loc(self) -> Location:
        """Where the layer's inputs are written (its `in:`), else the layer."""
        return self.attrs.value_loc("in") if "in" in self.attrs else self.loc


def _check_keys(mapping: LocMap, allowed, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"unknown key '{key}' in {what}", mapping.key_loc(key),
                            did_you_mean(str(key), allowed) or f"use one of: {', '.join(allowed)}")


def _attr_loc(e: ShapeError, attrs: LocMap, loc: Location) -> Location:
    """Where a layer's shape/attribute error points: the attribute it names, else the layer."""
    named = getattr(e, "attr", None)
    if named is None:
        words = re.findall(r"[A-Za-z_]\w*", e.message)[:3]
        if e.message.startswith("unknown activation"):
            words = ["activation"]
        elif len(words) > 1 and re.match(r"^\w+: ", e.message):  # "conv: kernel ...": skip the op name
            words = words[1:2]
        else:
            words = words[:1]
        named = next((w for w in words if w in attrs and w not in RESERVED), None)
        if named is None and words == ["kernel"] and "size" in attrs:  # pools call their kernel size
            named = "size"
    return attrs.value_loc(named) if named is not None else loc


def _need_map(value: Any, loc: Location, what: str, example: str) -> LocMap:
    if not isinstance(value, LocMap):
        raise SpecError(f"{what} must be a mapping", getattr(value, "loc", loc), f"write it like {example}")
    return value


def _need_ident(value: Any, loc: Location, what: str, dotted: bool = False) -> str:
    if not isinstance(value, str) or not (DOTTED if dotted else IDENT).match(value):
        extra = " and dots, like enc.0.ln1" if dotted else ""
        raise SpecError(f"{what} must be an identifier (letters, digits, _{extra}), got {value!r}", loc,
                        f"rename it, like '{ident_like(value, dotted)}'")
    return value


def ident_like(value: Any, dotted: bool = False) -> str:
    """A valid identifier close to `value`, for the hint: `my model` -> `my_model`, `1gen` -> `gen1`."""
    text = re.sub(r"[^A-Za-z0-9_.]" if dotted else r"[^A-Za-z0-9_]", "_", str(value)).strip(".") or "x"
    digits = re.match(r"\d*", text).group(0)
    return text[len(digits):] + digits if text[len(digits):].strip("_") else "_" + text


@dataclass
class Spec:
    """A parsed, validated spec: header, parameters, blocks, and the raw models to build."""

    file: str
    text: str
    name: str
    doc: str
    params: dict[str, Any]
    blocks: dict[str, LocMap]
    models: dict[str, LocMap]
    training: LocMap | None
    seed: int
    multi: bool
    loc: Location
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def spec_hash(self) -> str:
        payload = json.dumps({"text": self.text, "set": self.overrides, "seed": self.seed}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def model_names(self) -> list[str]:
        return list(self.models)

    def default_model(self) -> str:
        return next(iter(self.models))

    def build(self, model: str | None = None) -> Graph:
        """Build and shape-check one model's graph (every input kept)."""
        model = model or self.default_model()
        if model not in self.models:
            raise SpecError(f"no model '{model}' in this spec", self.loc,
                            did_you_mean(model, self.models) or f"use one of: {', '.join(self.models)}")
        return ModelBuilder(self, model).build()


def parse_spec(text: str, file: str = "<spec>", overrides: dict[str, Any] | None = None, seed: int = 0) -> Spec:
    root = load_yaml(text, file)
    top = Location(file, 1, 1)
    if not isinstance(root, LocMap):
        raise SpecError("a spec is a YAML mapping starting with 'graphc: 1'", getattr(root, "loc", top),
                        "remove the leading '- ': a spec is key: value lines" if isinstance(root, LocList)
                        else "write key: value lines, starting with graphc: 1")
    _check_keys(root, TOP_KEYS, "the spec")
    if "graphc" not in root:
        raise SpecError("missing 'graphc: 1', the spec language version", root.loc,
                        "add the line graphc: 1 at the top of the spec")
    if root["graphc"] != SPEC_VERSION:
        raise SpecError(f"unsupported spec language version {root['graphc']!r}; this graphc reads version "
                        f"{SPEC_VERSION}", root.value_loc("graphc"),
                        f"write graphc: {SPEC_VERSION}, a number" if str(root["graphc"]) == str(SPEC_VERSION)
                        else f"write graphc: {SPEC_VERSION}")
    if "name" not in root:
        raise SpecError("missing 'name:', an identifier that becomes the ONNX graph name", root.loc,
                        "add a line like name: my_model")
    name = _need_ident(root["name"], root.value_loc("name"), "name")
    params = _spec_params(root, overrides or {})
    blocks = {}
    if "blocks" in root:
        raw = _need_map(root["blocks"], root.value_loc("blocks"), "blocks", "{my_block: {inputs: [x], layers: [...]}}")
        for bname, body in raw.items():
            _need_ident(bname, raw.key_loc(bname), "a block name")
            body = _need_map(body, raw.value_loc(bname), f"block {bname}", "{inputs: [x], layers: [...]}")
            _check_keys(body, BLOCK_KEYS, f"block {bname}")
            if bname in LAYERS or bname in OPS:
                raise SpecError(f"block name '{bname}' is already the name of an op", raw.key_loc(bname),
                                f"rename the block, like {bname}_block")
            blocks[bname] = body
    if "models" in root:
        if "layers" in root or "inputs" in root:
            key = "layers" if "layers" in root else "inputs"
            raise SpecError(f"a spec has either 'models:' or top-level '{key}:', not both", root.key_loc(key),
                            f"move the top-level '{key}:' into one of the models, or remove 'models:'")
        raw = _need_map(root["models"], root.value_loc("models"), "models", "{generator: {inputs: ..., layers: ...}}")
        models = {}
        for mname, body in raw.items():
            _need_ident(mname, raw.key_loc(mname), "a model name")
            body = _need_map(body, raw.value_loc(mname), f"model {mname}", "{inputs: {x: [N, 4]}, layers: [...]}")
            _check_keys(body, MODEL_KEYS, f"model {mname}")
            models[mname] = body
        if not models:
            raise SpecError("'models:' is empty", root.value_loc("models"),
                            "add a model, like gen: {inputs: {z: [N, 8]}, layers: [{dense: {units: 4}}]}")
        multi = True
    else:
        if "layers" not in root:
            raise SpecError("missing 'layers:', the list of layers", root.loc,
                            "add it, like layers: [{dense: {units: 10}}]")
        models = {name: root}
        multi = False
    training = root.get("training")
    if training is not None:
        training = _need_map(training, root.value_loc("training"), "training", "{loss: ..., optimizer: ...}")
    doc = root.get("doc") or ""
    return Spec(file, text, name, str(doc), params, blocks, models, training, seed, multi, root.loc,
                dict(overrides or {}))


def _spec_params(root: LocMap, overrides: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if "params" in root:
        raw = _need_map(root["params"], root.value_loc("params"), "params", "{dropout: 0.25}")
        for key, value in raw.items():
            _need_ident(key, raw.key_loc(key), "a parameter name")
            params[key] = value
    locs = raw.value_locs if "params" in root else {}
    for key, value in overrides.items():
        if key not in params:
            where = root.key_loc("params") if "params" in root else root.loc
            raise SpecError(f"--set {key}: the spec has no parameter '{key}'", where,
                            hint=did_you_mean(key, params) or (f"use one of: {', '.join(params)}" if params
                                                              else "declare it under params:"))
        params[key] = value
    resolved: dict[str, Any] = {}
    for key, value in params.items():  # a parameter may use the ones declared before it
        later = [r for r in re.findall(r"\$(\w+)", value) if r in params and r not in resolved] \
            if isinstance(value, str) and key not in overrides else []
        if later:
            raise SpecError(f"parameter {key} uses ${later[0]}, which is declared after it",
                            locs.get(key, root.loc),
                            f"move {later[0]} before {key} in params: a parameter can only use the ones declared "
                            "before it")
        resolved[key] = value if key in overrides else substitute(value, resolved, locs.get(key, root.loc))
    return resolved


# -- building graphs ------------------------------------------------------------------------
@dataclass
class _Entry:
    """A name visible in a scope: its output values and the names of those outputs."""

    values: list[Value]
    out_names: tuple[str, ...] = ()
    loc: Location | None = None


class _Scope:
    def __init__(self, prefix: str, params: dict[str, Any], param_prefix: str | None = None, share: bool = False):
        self.prefix = prefix  # "" or "enc.0." : dotted prefix of layer names
        self.param_prefix = prefix if param_prefix is None else param_prefix  # prefix of parameter names
        self.share = share  # a model used as a layer: reuse its parameters when they exist
        self.params = params
        self.reads: dict[str, list[str]] = {}  # layer -> the layer names its in: reads (for cycle paths)
        self.entries: dict[str, _Entry] = {}
        self.pending: dict[str, Location] = {}  # layers declared later in the same list
        self.counts: dict[str, int] = {}
        self.last: list[Value] | None = None
        self.input_names: list[str] = []
        self.referenced: set[str] = set()
        self.visible: set[str] = set()  # names of values already some layer's output (never renamed)  # names some layer of this list reads explicitly with in:


def _default_input(scope: _Scope) -> str | None:
    """The input the first layer reads without `in:`: the only one no layer reads explicitly
    (preferring the only float one, so a label input used for training does not count)."""
    free = [n for n in scope.input_names if n not in scope.referenced] or scope.input_names
    if len(free) == 1:
        return free[0]
    floats = [n for n in free if is_float(scope.entries[n].values[0].dtype)]
    return floats[0] if len(floats) == 1 else None


class ModelBuilder:
    def __init__(self, spec: Spec, model: str):
        self.spec = spec
        self.model = model
        self.graph = Graph(spec.name if not spec.multi else model)
        self.builder = Builder(self.graph)
        self.active: list[str] = [model]  # models/blocks being expanded (to catch recursion)
        self._info_by_output: dict[str, LayerInfo] = {}

    def build(self) -> Graph:
        body = self.spec.models[self.model]
        g = self.graph
        g.doc = str(body.get("doc") or self.spec.doc or "")
        scope = _Scope("", dict(self.spec.params))
        if "inputs" not in body:
            raise SpecError("missing 'inputs:'", body.loc,
                            "add it, with a name: shape for each input, like inputs: {x: [N, 784]}")
        for name, value in self._parse_inputs(body["inputs"], body.value_loc("inputs"), scope.params).items():
            scope.entries[name] = _Entry([g.add_input(name, value[0])], loc=value[1])
            scope.input_names.append(name)
        trampoline(self._build_layers(body, scope))
        check_params(g)
        g.outputs = self._outputs(body, scope)
        g.metadata = {"graphc_version": __version__, "spec_sha256": graph_digest(g, self.spec.seed),
                      "spec_name": self.spec.name}
        return g

    # -- inputs -------------------------------------------------------------------------
    def _parse_inputs(self, raw: Any, loc: Location, params: dict) -> dict[str, tuple[TensorType, Location]]:
        raw = _need_map(raw, loc, "inputs", "{image: [N, 1, 28, 28]}")
        result = {}
        for name, value in raw.items():
            _need_ident(name, raw.key_loc(name), "an input name")
            vloc = raw.value_loc(name)
            value = substitute(value, params, vloc)
            dtype = "float32"
            if isinstance(value, LocMap):
                _check_keys(value, INPUT_KEYS, f"input {name}")
                if "shape" not in value:
                    raise SpecError(f"input {name} needs a shape", value.loc,
                                    f"add shape:, like {name}: {{shape: [N, 4], dtype: float32}}")
                dtype = value.get("dtype", "float32")
                if dtype not in DTYPES:
                    raise SpecError(f"input {name}: unknown dtype '{dtype}'", value.value_loc("dtype"),
                                    did_you_mean(str(dtype), DTYPES) or f"use one of: {', '.join(DTYPES)}")
                shape, vloc = value["shape"], value.value_loc("shape")
            else:
                shape = value
            if not isinstance(shape, list):
                raise SpecError(f"input {name}: shape must be a list of dims", vloc,
                                f"write it like {name}: [N, 784]")
            for i, d in enumerate(shape):
                dloc = shape.item_loc(i) if isinstance(shape, LocList) else vloc
                if isinstance(d, bool) or not (isinstance(d, int) or (isinstance(d, str) and IDENT.match(d))):
                    raise SpecError(f"input {name}: dim {d!r} must be a positive integer or an identifier like N",
                                    dloc, "use a whole number like 4, or a name like N")
                if isinstance(d, int) and d < 1:
                    raise SpecError(f"input {name}: dim {d} must be positive", dloc,
                                    "use a size of 1 or more, or a name like N for a size known only at run time")
            try:
                check_shape(shape, f"input {name}")
            except ShapeError as e:
                raise SpecError(e.message, vloc, e.hint) from None
            result[name] = (TensorType(dtype, tuple(shape)), raw.key_loc(name))
        return result

    # -- layers -------------------------------------------------------------------------
    # Blocks and models used as layers nest: _build_layers -> _layer -> _expand_block -> _build_layers.
    # These are generators run by `trampoline` (`x = yield self._f(...)` is the call), so the
    # nesting lives on an explicit stack and is as deep as the spec is, not Python's recursion limit.
    def _build_layers(self, body: LocMap, scope: _Scope) -> Generator:
        layers = body.get("layers")
        if not isinstance(layers, LocList) or not layers:
            raise SpecError("'layers:' must be a non-empty list of layers",
                            getattr(layers, "loc", body.key_loc("layers") if "layers" in body else body.loc),
                            "write it like layers: [{dense: {units: 10}}]")
        items = [self._split_item(item, layers.item_loc(i)) for i, item in enumerate(layers)]
        for _, attrs, _, _ in items:
            refs = attrs.get("in") if attrs is not None else None
            for ref in (refs if isinstance(refs, list) else [refs]):
                if isinstance(ref, str):
                    scope.referenced.add(ref.partition(".")[0])
        counts: dict[str, int] = {}
        names = []
        for op, attrs, loc, _ in items:
            counts[op] = counts.get(op, 0) + 1
            explicit = attrs.get("name") if attrs is not None else None
            if explicit is not None:
                _need_ident(explicit, attrs.value_loc("name"), "a layer name", dotted=True)
            names.append(explicit if explicit is not None else f"{op}_{counts[op]}")
        for name, (op, attrs, loc, _) in zip(names, items):
            if name in scope.entries or name in scope.pending:
                first = scope.entries.get(name).loc if name in scope.entries else scope.pending[name]
                where = attrs.value_loc("name") if attrs is not None and "name" in attrs else loc
                default = "" if attrs is not None and "name" in attrs else f" (the default name of this {op} layer)"
                raise SpecError(f"duplicate name '{name}'{default}: first used at line "
                                f"{first.line if first else '?'}", where, "give each layer a unique name with name:")
            scope.pending[name] = loc
        scope.reads = reads_of(names, [attrs.get("in") if attrs is not None else None for _, attrs, _, _ in items])
        for name, (op, attrs, loc, item) in zip(names, items):
            yield self._layer(op, attrs, loc, name, scope)
            del scope.pending[name]

    def _split_item(self, item: Any, loc: Location):
        if not isinstance(item, LocMap) or len(item) != 1:
            what = "several keys" if isinstance(item, LocMap) else f"{type(item).__name__} {item!r}"
            if isinstance(item, LocMap) and item:
                hint = "put each op in its own list item: " + ", then ".join(f"'- {k}: ...'" for k in item)
            elif isinstance(item, str):
                hint = f"write '- {item}:' with a colon, or '- {item}: {{...}}' with its attributes"
            else:
                hint = "write it like '- dense: {units: 10}'"
            raise SpecError(f"a layer is a mapping with exactly one key, the op (like '- dense: {{units: 10}}'), "
                            f"got {what}", getattr(item, "loc", loc), hint)
        op = next(iter(item))
        attrs = item[op]
        if attrs is not None and not isinstance(attrs, LocMap):
            definition = LAYERS.get(op) or OPS.get(op)
            required = [k for k, v in definition.attrs.items() if v is REQUIRED_ATTR] if definition else []
            example = f"{required[0]}: {attrs!r}" if required and not isinstance(attrs, list) else "name: value, ..."
            raise SpecError(f"the attributes of {op} must be a mapping, got {attrs!r}", item.value_loc(op),
                            f"write them like '- {op}: {{{example}}}'")
        return str(op), attrs, item.key_loc(op), item

    def _kind(self, op: str, loc: Location) -> str:
        if op in self.spec.blocks:
            return "block"
        if self.spec.multi and op in self.spec.models:
            return "model"
        if op in LAYERS:
            return "layer"
        if op in OPS and OPS[op].public:
            return "op"
        known = list(self.spec.blocks) + list(LAYERS) + [k for k, v in OPS.items() if v.public]
        if self.spec.multi:
            known += list(self.spec.models)
        raise SpecError(f"unknown op '{op}'", loc, did_you_mean(op, known) or "use an op from docs/spec-language.md, or define a block of that name")

    def _build_layer(self, op: str, raw_attrs: LocMap | None, loc: Location, name: str, scope: _Scope) -> None:
        """Build one layer (a block or model used as a layer with everything inside it)."""
        trampoline(self._layer(op, raw_attrs, loc, name, scope))

    def _layer(self, op: str, raw_attrs: LocMap | None, loc: Location, name: str, scope: _Scope) -> Generator:
        kind = self._kind(op, loc)
        attrs = substitute(raw_attrs, scope.params, loc) if raw_attrs is not None else LocMap()
        if raw_attrs is None:
            attrs.loc, attrs.key_locs, attrs.value_locs = loc, {}, {}
        full = scope.prefix + name
        if kind == "op" and not OPS[op].inputs and "in" not in attrs:
            inputs, input_names = [], []  # constant: no default input
        else:
            inputs, input_names = self._resolve_inputs(attrs, loc, scope, name)
        repeat = attrs.get("repeat")
        if "repeat" in attrs and kind != "block":
            raise SpecError(f"{full}: 'repeat' is only for blocks, and {op} is not a block", attrs.key_loc("repeat"),
                            "remove repeat:, or put the layer in a block and repeat that")
        given = {k: v for k, v in attrs.items() if k not in RESERVED}
        info = LayerInfo(full, op, dict(given), input_names, [], loc)
        try:
            if kind == "block":
                outputs, out_names = yield self._expand_block(op, given, attrs, inputs, input_names, full, repeat,
                                                              scope)
                info.block, info.repeat = op, repeat
            elif kind == "model":
                outputs, out_names = yield self._expand_model(op, attrs, inputs, full, loc)
                info.block = op
            else:
                outputs, out_names = self._build_primitive(
                    _Site(kind, op, given, attrs, inputs, input_names, full, loc, info, scope))
        except ShapeError as e:
            message = e.message
            if kind == "op" and sum(isinstance(v, Value) for v in inputs) > 1:  # say which input is which
                message += "; in: " + ", ".join(f"{n} is {v.type}"
                                                for n, v in zip(input_names, inputs) if isinstance(v, Value))
            raise SpecError(f"{full}: {message}", _attr_loc(e, attrs, loc), e.hint) from None
        for i, value in enumerate(outputs):
            suffix = "" if len(outputs) == 1 else f".{out_names[i] if i < len(out_names) else i}"
            if value.kind == "node" and value.name not in scope.visible:
                old = value.name
                self.graph.rename(value, full + suffix)
                inner = self._info_by_output.pop(old, None)  # last layer of a block: keep its record true
                if inner is not None:
                    inner.outputs = [value.name if o == old else o for o in inner.outputs]
        info.outputs = [v.name for v in outputs]
        self.graph.layers.append(info)
        self._info_by_output.update((o, info) for o in info.outputs)
        scope.entries[name] = _Entry(outputs, out_names, loc)
        scope.visible.update(v.name for v in outputs)
        scope.last = outputs

    def _build_primitive(self, site: _Site) -> tuple[list[Value], tuple]:
        """A layer or a public op: attributes and arity checked by its definition, then built."""
        definition = LAYERS[site.op] if site.kind == "layer" else OPS[site.op]
        full, attrs = site.full, site.attrs
        missing = None
        try:
            complete = definition.full_attrs(site.given, also=RESERVED)
        except ShapeError as e:
            if e.attr in site.given:  # unknown: at the key
                raise SpecError(f"{full}: {e.message}", attrs.key_loc(e.attr), e.hint) from None
            missing = e  # a missing one is reported after the given ones' types
        check_attr_types(definition.attrs, site.given, attrs, full, site.op, site.kind == "layer")
        if missing is not None:
            raise SpecError(f"{full}: {missing.message}", site.loc, missing.hint)
        self._check_arity(definition, site)
        if site.kind == "layer":
            for value in site.inputs:
                if not isinstance(value, Value):
                    raise SpecError(f"{full}: {site.op} reads tensors, but in: gives it the number {value!r}",
                                    site.in_loc, "give it a layer or input name; numbers in in: are constants only "
                                    "for primitive ops like add and mul")
        with self.builder.scope(full, site.loc):
            if site.kind == "layer":
                scope = site.scope
                ctx = LayerCtx(self.builder, full, self.spec.seed, site.op, site.input_names,
                               param_name=scope.param_prefix + full[len(scope.prefix):], share=scope.share)
                outputs = definition.build(ctx, site.inputs, complete)
                site.info.params = ctx.params
                return outputs, definition.outputs if len(definition.outputs) > 1 else ()
            inputs = self._constants(site)
            node = self.builder.emit_node(site.op, *inputs, **site.given)
            return node.outputs, ()

    def _constants(self, site: _Site) -> list:
        """Numbers in in: become constants of the dtype of the op's (data) tensor input; they must fit it."""
        inputs = site.inputs
        if all(isinstance(v, Value) for v in inputs):
            return inputs
        data = inputs[OPS[site.op].data_from:]  # where: not the bool condition
        tensor = next((v for v in data if isinstance(v, Value)), None)
        dtype = tensor.dtype if tensor is not None else "float32"
        result = []
        for value in inputs:
            if not isinstance(value, Value):
                if not is_float(dtype) and (dtype == "bool" or float(value) != int(value)):
                    raise SpecError(f"{site.full}: the constant {value!r} does not fit the {dtype} input "
                                    f"{site.input_names[inputs.index(tensor)]}", site.in_loc,
                                    "add a cast layer: cast: {to: float32}")
                value = self.builder.const(value, dtype)
            result.append(value)
        return result

    def _check_arity(self, definition, site: _Site) -> None:
        try:
            definition.check_arity(len(site.inputs))
        except ShapeError as e:
            low, _ = arity(definition.inputs, getattr(definition, "min_inputs", None))
            shown = ", ".join(n.rstrip("*") for n in definition.inputs) or "none"
            raise SpecError(f"{site.full}: {e.message}", site.in_loc,
                            f"give them with in: [{shown}]" if len(site.inputs) < max(low, 1)
                            else f"remove the extra names: in: takes [{shown}]") from None

    # -- references ---------------------------------------------------------------------
    def _resolve_inputs(self, attrs: LocMap, loc: Location, scope: _Scope, name: str):
        if "in" not in attrs:
            if scope.last is not None:
                last = scope.last[0]
                return [last], [last.name]
            if not scope.input_names:
                return [], []
            choice = _default_input(scope)
            if choice is not None:
                return [scope.entries[choice].values[0]], [choice]
            raise SpecError(f"{scope.prefix}{name}: the first layer must say which input it reads, with in:", loc,
                            f"add in: naming one of the inputs: {', '.join(scope.input_names)}")
        refs = attrs["in"]
        in_loc = attrs.value_loc("in")
        items = list(refs) if isinstance(refs, list) else [refs]
        values, names = [], []
        for i, ref in enumerate(items):
            rloc = refs.item_loc(i) if isinstance(refs, LocList) else in_loc
            if isinstance(ref, (int, float)) and not isinstance(ref, bool):
                values.append(ref)
                names.append(repr(ref))
                continue
            values.append(self._lookup(ref, rloc, scope, name))
            names.append(str(ref))
        return values, names

    def _lookup(self, ref: Any, loc: Location, scope: _Scope, current: str, what: str = "in:") -> Value:
        if not isinstance(ref, str):
            raise SpecError(f"{what} expects layer or input names, got {ref!r}", loc,
                            "write a name or a list of names, like in: [a, b]" + (
                                "; quote a name that YAML reads as a boolean, like 'yes'" if isinstance(ref, bool)
                                else ""))
        base, suffix = _split_ref(ref, scope)
        if base == current:
            raise SpecError(f"cycle: layer '{current}' reads its own output", loc,
                            "read an input or an earlier layer instead: a layer can only read inputs and earlier "
                            "layers")
        if base not in scope.entries:
            if base in scope.pending:
                later = scope.pending[base]
                path = cycle_path(scope.reads, current, base)
                if path:
                    raise SpecError(f"cycle through in: {' -> '.join(path)}; '{base}' is defined later "
                                    f"(line {later.line})", loc,
                                    "change the in: of one of these layers: a layer can only read inputs and "
                                    "earlier layers")
                raise SpecError(f"'{base}' is defined later (line {later.line}); a layer can only read inputs and "
                                f"earlier layers", loc, f"move '{base}' above this layer, or read an earlier one")
            raise SpecError(f"unknown name '{ref}' in {what}", loc,
                            did_you_mean(base, scope.entries) or (f"use a name known here: {', '.join(scope.entries)}"
                                                                  if scope.entries else
                                                                  "declare it as an input or an earlier layer"))
        entry = scope.entries[base]
        if not suffix:
            return entry.values[0]
        if suffix.isdigit() and int(suffix) < len(entry.values):
            return entry.values[int(suffix)]
        if suffix in entry.out_names:
            return entry.values[entry.out_names.index(suffix)]
        options = [str(i) for i in range(len(entry.values))] + list(entry.out_names)
        raise SpecError(f"'{base}' has no output '{suffix}'", loc,
                        did_you_mean(suffix, options) or (f"use {base} itself: it has one output" if len(options) == 1
                                                          else "use one of its outputs: "
                                                          + ", ".join(f"{base}.{o}" for o in options)))

    # -- blocks and models --------------------------------------------------------------
    def _expand_block(self, bname, given, attrs, inputs, input_names, full, repeat, scope) -> Generator:
        body = self.spec.blocks[bname]
        if bname in self.active:
            chain = self.active[self.active.index(bname):] + [bname]
            raise SpecError(f"block {bname} uses itself: {' -> '.join(chain)}", attrs.loc,
                            "remove that layer; to stack copies of a block, use repeat: where it is used")
        defaults = {}
        if "params" in body:
            raw = _need_map(body["params"], body.value_loc("params"), f"block {bname} params", "{heads: 4}")
            defaults = dict(raw)
        for key in given:
            if key not in defaults:
                raise SpecError(f"{full}: block {bname} has no parameter '{key}'", attrs.key_loc(key),
                                did_you_mean(str(key), list(defaults) + list(RESERVED))
                                or (f"use one of its parameters: {', '.join(defaults)}" if defaults
                                    else "remove it: the block takes no parameters"))
        block_inputs = body.get("inputs", ["x"])
        if not isinstance(block_inputs, list) or not block_inputs:
            raise SpecError(f"block {bname}: inputs must be a list of names", body.loc, "write it like inputs: [x]")
        for i, iname in enumerate(block_inputs):
            _need_ident(iname, block_inputs.item_loc(i) if isinstance(block_inputs, LocList) else body.loc,
                        f"block {bname}: an input name")
        if len(inputs) != len(block_inputs):
            raise SpecError(f"{full}: block {bname} takes {len(block_inputs)} input(s) "
                            f"({', '.join(map(str, block_inputs))}), got {len(inputs)}",
                            attrs.value_loc("in") if "in" in attrs else attrs.loc,
                            f"give {len(block_inputs)} name(s) with in:, like in: [{', '.join(map(str, block_inputs))}]")
        if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1):
            raise SpecError(f"{full}: repeat must be a positive integer, got {repeat!r}", attrs.value_loc("repeat"),
                            "use a count of 1 or more, like repeat: 2")
        params = dict(self.spec.params)
        params.update(substitute(defaults, params, body.loc))
        params.update(given)
        current = list(inputs)
        self.active.append(bname)
        for copy in range(repeat or 1):
            prefix = f"{full}.{copy}." if repeat is not None else f"{full}."
            inner = _Scope(prefix, params, scope.param_prefix + prefix[len(scope.prefix):], scope.share)
            for iname, value in zip(block_inputs, current):
                if not isinstance(value, Value):
                    value = self.builder.const(value, "float32", f"{prefix}{iname}")
                inner.entries[str(iname)] = _Entry([value])
                inner.input_names.append(str(iname))
            yield self._build_layers(body, inner)
            outs = self._outputs(body, inner)
            current = [outs[0]] + list(inputs[1:])
        self.active.pop()
        out_names = tuple(body["outputs"]) if "outputs" in body and len(outs) > 1 else ()
        return outs, out_names

    def _expand_model(self, mname, attrs, inputs, full, loc) -> Generator:
        if mname in self.active:
            raise SpecError(f"model {mname} uses itself", loc,
                            "remove that layer: a model can use only the other models of the spec")
        body = self.spec.models[mname]
        declared = self._parse_inputs(body["inputs"], body.value_loc("inputs"), self.spec.params)
        if len(inputs) != len(declared):
            raise SpecError(f"{full}: model {mname} takes {len(declared)} input(s) ({', '.join(declared)}), "
                            f"got {len(inputs)}", attrs.value_loc("in") if "in" in attrs else loc,
                            f"give {len(declared)} name(s) with in:, like in: [{', '.join(declared)}]")
        extra = [k for k in attrs if k not in RESERVED]
        if extra:
            raise SpecError(f"{full}: a model used as a layer takes only name and in, got '{extra[0]}'",
                            attrs.key_loc(extra[0]), f"remove '{extra[0]}'; to change the model, edit models: {mname}")
        inner = _Scope(f"{full}.", dict(self.spec.params), f"{mname}.", share=True)
        for (iname, (itype, _)), value in zip(declared.items(), inputs):
            if isinstance(value, Value) and (value.type.rank != itype.rank or value.dtype != itype.dtype or any(
                    isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(value.shape, itype.shape))):
                raise ShapeError(f"model {mname} input {iname} is {itype}, got {value.type}",
                                 hint=f"give it a {itype} input, or change input {iname} of model {mname}")
            inner.entries[iname] = _Entry([value])
            inner.input_names.append(iname)
        self.active.append(mname)
        yield self._build_layers(body, inner)
        self.active.pop()
        return self._outputs(body, inner), ()

    # -- outputs ------------------------------------------------------------------------
    def _outputs(self, body: LocMap, scope: _Scope) -> list[Value]:
        if "outputs" not in body:
            if scope.last is None:
                raise SpecError("the model has no layers", body.loc, "add layers:, like layers: [{dense: {units: 10}}]")
            return [scope.last[0]]
        refs = body["outputs"]
        if isinstance(refs, str):
            refs_list, locs = [refs], [body.value_loc("outputs")]
        elif isinstance(refs, LocList) and refs:
            refs_list, locs = list(refs), refs.item_locs
        else:
            raise SpecError("outputs must be a list of layer names", body.value_loc("outputs"),
                            "write it like outputs: [logits]")
        values = []
        for ref, loc in zip(refs_list, locs):
            value = self._lookup(ref, loc, scope, current="", what="outputs:")
            if value.kind != "node":
                raise SpecError(f"output '{ref}' is an input, not a layer", loc,
                                f"list a layer; to output {ref} unchanged, add a layer - identity: {{in: {ref}}}")
            if any(value is v for v in values):
                raise SpecError(f"output '{ref}' is listed twice", loc, f"remove the second '{ref}'")
            values.append(value)
        return values


def _split_ref(ref: str, scope: _Scope) -> tuple[str, str]:
    """`layer.output` -> (layer, output); a dotted layer name (`enc.0.ln1`) is matched whole first."""
    parts = ref.split(".")
    for k in range(len(parts), 1, -1):
        base = ".".join(parts[:k])
        if base in scope.entries or base in scope.pending:
            return base, ".".join(parts[k:])
    return parts[0], ".".join(parts[1:])


def load_spec(path: str, overrides: dict[str, Any] | None = None, seed: int = 0) -> Spec:
    return parse_spec(read_spec_file(path), path, overrides, seed)
