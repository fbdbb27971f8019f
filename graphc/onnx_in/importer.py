"""ONNX model -> graphc IR: every node becomes graphc ops built through the Builder.

Each ONNX node is imported by the graphc op whose `OpDef.onnx_import` claims its op type (a
plain attribute renaming, or the op's `convert` hook), or by an exact decomposition into graphc
ops (`decompose.DECOMPOSITIONS`) when no graphc op covers it. Shapes come from graphc's own
rules (symbolic dims of the inputs kept); constant subgraphs fold as they are imported;
initializers become parameters under their own names; node-name scopes become layer scopes.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

from graphc.errors import GraphcError, Location, ShapeError, SpecError
from graphc.ir import dims
from graphc.ir.graph import Graph, Value
from graphc.ir.types import DTYPES, TensorType, format_shape, np_dtype
from graphc.export.onnx_load import load_model_file
from graphc.onnx_in import convert  # noqa: F401  (installs the OpDef.onnx_import hooks)
from graphc.onnx_in import resize  # noqa: F401  (Resize and Upsample)
from graphc.onnx_in import scopes
from graphc.onnx_in.context import NodeContext
from graphc.onnx_in.decompose import DECOMPOSITIONS, SEQUENCE_OPS, TensorSequence
from graphc.ops import OPS, Builder

MIN_OPSET = 13  # older models are upgraded to TARGET_OPSET first (model-zoo files are opset 3-9)
TARGET_OPSET = 21
ONNX_DTYPES = {code: name for name, (_, code) in DTYPES.items()}
# the exporters' own scalar and shape constants, not module weights
# exporter-made constants, not weights: torch (onnx::, _, val_, /), tf2onnx (a TF Const, const_fold_opt__N)
_CONST_INIT = re.compile(r"^(onnx::|_|val_|/|\d+$)|::|(^|/)Const(_\d+)?:0$|^(const_fold_opt|Const)__\d+$")
# ops whose reference folds symbolic shape vectors (numpy object arrays of dims)
_SHAPE_FOLDABLE = {"reshape", "concat", "gather", "unsqueeze", "squeeze", "slice", "cast", "identity", "flatten",
                   "where", "equal", "add", "sub", "mul", "div"}


def _symbolic_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a == b` on shape vectors with symbolic dims, where that is known at import time: a dim
    equals itself and differs from every negative number (the exporters test `shape == -1`).
    A symbolic dim against a size >= 0 or another dim is not known: ValueError (kept as a node)."""
    def eq(x, y) -> bool:
        if isinstance(x, str) and isinstance(y, str):
            if x != y:
                raise ValueError(f"{x} == {y} is not known at import time")
            return True
        if isinstance(x, str) or isinstance(y, str):
            if int(y if isinstance(x, str) else x) >= 0:
                raise ValueError("a symbolic dim against a size is not known at import time")
            return False
        return bool(x == y)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return np.asarray([eq(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1))], dtype=bool).reshape(a.shape)


def _sym_div(a, b):
    """Integer division of sizes (ONNX truncates; sizes are >= 0, so it floors)."""
    if isinstance(b, int):
        return dims.floordiv(a, b)
    q = dims.div(a, b)
    if q is None:
        raise ValueError(f"{a} / {b} is not an integer dim")
    return q


_ARITH = {"add": dims.add_dims, "sub": lambda a, b: dims.add_dims(a, dims.mul(b, -1)), "mul": dims.mul,
          "div": _sym_div}


def _symbolic_arith(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shape arithmetic (`N * heads`, `C / groups`) on shape vectors with symbolic dims: dim expressions."""
    fn = _ARITH[op]
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    out = [fn(x if isinstance(x, str) else int(x), y if isinstance(y, str) else int(y))
           for x, y in zip(a.reshape(-1), b.reshape(-1))]
    return np.asarray(out, dtype=object).reshape(a.shape)


class OnnxShapeWarning(UserWarning):
    """The file's value_info disagrees with the shape graphc's rules infer."""


def import_table() -> dict[tuple[str, str], object]:
    """(domain, op type) -> the OpDef importing it, or the decomposition function."""
    table: dict[tuple[str, str], object] = {}
    for opdef in OPS.values():
        spec = opdef.onnx_import
        for op_type in spec.op_types if spec else ():
            table.setdefault((spec.domain, op_type), opdef)
    for key, fn in DECOMPOSITIONS.items():
        table[("", key)] = fn
    return table


def _opset(model: onnx.ModelProto, domain: str = "") -> int:
    return next((o.version for o in model.opset_import if o.domain in (domain, "ai.onnx" if not domain else domain)),
                1)


def _read(path: str) -> onnx.ModelProto:
    """The model file, through the checked loader (external data inside its folder, sizes, protobuf)."""
    return load_model_file(path)


def upgrade(model: onnx.ModelProto) -> onnx.ModelProto:
    """Models below opset 13 converted with onnx.version_converter (kept as they are if it fails)."""
    if _opset(model) >= MIN_OPSET:
        return model
    for target in (TARGET_OPSET, 17, MIN_OPSET):
        try:
            return onnx.version_converter.convert_version(model, target)
        except Exception:  # noqa: BLE001 - try a nearer target, else import the original
            continue
    return model


def _dtype(code: int, what: str, file: str) -> str:
    if code not in ONNX_DTYPES:
        name = onnx.TensorProto.DataType.Name(code) if code in onnx.TensorProto.DataType.values() else str(code)
        raise SpecError(f"{what} has element type {name}, which graphc does not support "
                        f"(supported: {', '.join(DTYPES)})", Location(file, 1, 1))
    return ONNX_DTYPES[code]


def _dim_name(d, fallback: str):
    if d.HasField("dim_value"):
        return int(d.dim_value)
    name = re.sub(r"\W", "_", d.dim_param) if d.dim_param else fallback
    return name if re.match(r"^[A-Za-z_]", name) else "d" + name


def _input_type(vi: onnx.ValueInfoProto, file: str) -> TensorType:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise SpecError(f"input {vi.name} is not a tensor (sequences and maps are not supported)",
                        Location(file, 1, 1))
    base = re.sub(r"\W", "_", vi.name) or "x"
    shape = tuple(_dim_name(d, f"{base}_{i}") for i, d in enumerate(tt.shape.dim))
    return TensorType(_dtype(tt.elem_type, f"input {vi.name}", file), shape)


def check_supported(model: onnx.ModelProto, file: str, table=None) -> None:
    """One error listing every node graphc cannot import (name, op type, domain)."""
    table = table or import_table()
    opset = _opset(model)
    bad = []
    for i, node in enumerate(model.graph.node):
        entry = table.get((node.domain if node.domain != "ai.onnx" else "", node.op_type))
        why = ""
        if entry is None:
            why = "no graphc op imports it"
        elif hasattr(entry, "onnx_import"):
            lo, hi = entry.onnx_import.opsets
            if not lo <= opset <= hi:
                why = f"imported from opset {lo} to {hi}, the model has {opset}"
        if why:
            bad.append(f"  {node.name or f'#{i}'}: {node.op_type} (domain '{node.domain or 'ai.onnx'}'): {why}")
    if bad:
        raise SpecError(f"{len(bad)} node(s) cannot be imported:\n" + "\n".join(bad), Location(file, 1, 1))


def _generic(opdef, ctx: NodeContext):
    """Import by the op's attribute renaming: inputs positional, other attributes at their defaults."""
    spec = opdef.onnx_import
    ctx.only(*spec.attrs)
    ctx.max_outputs(len(opdef.outputs) if not opdef.outputs[-1].endswith("*") else ctx.n_outputs)
    inputs = list(ctx.inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    if any(v is None for v in inputs):
        raise ctx.unsupported("an omitted input before a given one is not supported")
    attrs = {graphc: ctx.attr(onnx_name) for onnx_name, graphc in spec.attrs.items()}
    return ctx.b.emit(opdef.name, *inputs, **{k: v for k, v in attrs.items() if v is not None})


class Importer:
    """Builds one Graph from one ONNX ModelProto (see `import_model`)."""

    def __init__(self, model: onnx.ModelProto, file: str, name: str):
        self.model, self.file = model, file
        self.opset = _opset(model)
        self.graph = Graph(model.graph.name or name)
        self.b = Builder(self.graph)
        self.values: dict[str, Value] = {}
        self.table = import_table()
        self.warnings: list[str] = []

    def run(self) -> Graph:
        og, graph = self.model.graph, self.graph
        check_supported(self.model, self.file, self.table)
        init_names = {t.name for t in og.initializer}
        consumers = scopes.consumers(og)
        for t in og.initializer:
            self._initializer(t, consumers)
        for vi in og.input:
            if vi.name not in init_names:
                self.values[vi.name] = graph.add_input(vi.name, _input_type(vi, self.file))
        namer = scopes.LayerNamer(og)
        for i, node in enumerate(og.node):
            layer = namer.layer_of(node, i)
            self._node(node, layer)
        self._outputs()
        graph.prune()
        scopes.build_layers(graph, namer)
        self._check_value_info()
        graph.doc = og.doc_string
        graph.metadata = {"imported_from": "onnx"}
        graph.source_opset = self.opset
        return graph

    # -- values -------------------------------------------------------------------------
    def _initializer(self, t: onnx.TensorProto, consumers: dict[str, list[str]]) -> None:
        _dtype(t.data_type, f"initializer {t.name}", self.file)
        data = numpy_helper.to_array(t)
        floating = np.issubdtype(data.dtype, np.floating)
        if floating and not _CONST_INIT.search(t.name) and data.size > 0:
            value = self.graph.add_param(t.name, np.ascontiguousarray(data))
            value.trainable = not t.name.endswith(("running_mean", "running_var"))
        else:
            value = self.graph.add_const(np.asarray(data), t.name)
        self.values[t.name] = value

    def _node(self, node: onnx.NodeProto, layer: str) -> None:
        graph = self.graph
        inputs = []
        for name in node.input:
            if not name:
                inputs.append(None)
            elif name in self.values:
                inputs.append(self.values[name])
            else:
                raise SpecError(f"node {node.name or node.op_type}: input '{name}' is not produced by any "
                                "earlier node (is the graph topologically sorted?)", Location(self.file, 1, 1))
        if node.op_type not in SEQUENCE_OPS and any(isinstance(v, TensorSequence) for v in inputs):
            raise SpecError(f"node {node.name or node.op_type} ({node.op_type}): reads a sequence, which graphc imports "
                            f"only into {', '.join(sorted(SEQUENCE_OPS))}", Location(self.file, 1, 1))
        entry = self.table[(node.domain if node.domain != "ai.onnx" else "", node.op_type)]
        start = len(graph.nodes)
        with self.b.scope(layer):
            ctx = NodeContext(node, inputs, self.b, self.opset)
            try:
                if hasattr(entry, "onnx_import"):
                    convert = entry.onnx_import.convert
                    outs = convert(ctx) if convert else _generic(entry, ctx)
                else:
                    outs = entry(ctx)
            except (ShapeError, GraphcError) as e:
                message = getattr(e, "message", str(e))
                hint = getattr(e, "hint", None)
                raise SpecError(f"node {node.name or '#' + str(len(graph.nodes))} ({node.op_type}): {message}",
                                Location(self.file, 1, 1), hint) from None
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        self._fold(start)
        for name, value in zip(node.output, outs):
            if name and value is not None:
                self.values[name] = value
        missing = [o for o, _ in zip(node.output[len(outs):], node.output[len(outs):]) if o]
        if missing:
            raise SpecError(f"node {node.name} ({node.op_type}): outputs {', '.join(missing)} are not supported",
                            Location(self.file, 1, 1))

    def _fold(self, start: int) -> None:
        """Evaluate the nodes just added whose inputs are all constants: they become constants."""
        kept = self.graph.nodes[:start]
        for node in self.graph.nodes[start:]:
            if all(v.kind == "const" for v in node.inputs) and node.op in OPS:
                symbolic = any(v.data.dtype == object for v in node.inputs)
                if not symbolic or node.op in _SHAPE_FOLDABLE:
                    results = self._evaluate(node, symbolic)
                    if results is not None:
                        for out, r in zip(node.outputs, results):
                            out.kind, out.data, out.producer = "const", r, None
                        continue
            kept.append(node)
        self.graph.nodes = kept

    @staticmethod
    def _evaluate(node, symbolic: bool):
        try:
            if node.op == "cast" and symbolic:
                results = [node.inputs[0].data]
            elif node.op == "equal" and symbolic:
                results = [_symbolic_equal(node.inputs[0].data, node.inputs[1].data)]
            elif node.op in _ARITH and symbolic:
                results = [_symbolic_arith(node.op, node.inputs[0].data, node.inputs[1].data)]
            else:
                results = OPS[node.op].ref([v.data for v in node.inputs], node.attrs)
        except Exception:  # noqa: BLE001 - not foldable here: kept as a node
            return None
        results = results if isinstance(results, (list, tuple)) else [results]
        out = []
        for value, r in zip(node.outputs, results):
            r = np.asarray(r)
            if r.dtype.kind in "US":  # one symbolic dim picked out of a shape
                r = r.astype(object)
            if r.dtype == object and not any(isinstance(d, str) for d in r.reshape(-1)):
                r = r.astype(np.int64)
            out.append(r if r.dtype == object else np.asarray(r, dtype=np_dtype(value.dtype)))
        return out

    def _outputs(self) -> None:
        graph = self.graph
        for vi in self.model.graph.output:
            value = self.values.get(vi.name)
            if value is None:
                raise SpecError(f"graph output {vi.name} is not produced by any node", Location(self.file, 1, 1))
            if isinstance(value, TensorSequence):
                raise SpecError(f"graph output {vi.name} is a sequence, which graphc does not import",
                                Location(self.file, 1, 1))
            if value.kind == "const" and value.data.dtype == object:
                raise SpecError(f"graph output {vi.name} is a shape computed at run time, which graphc does not "
                                "import", Location(self.file, 1, 1))
            if value.kind != "node" or any(value is o for o in graph.outputs):
                with self.b.scope(value.producer.layer if value.producer else "output"):
                    value = self.b.identity(value)
            if value.name != vi.name:
                graph.rename(value, vi.name)
            graph.outputs.append(value)
        for node in graph.nodes:
            for v in node.inputs:
                if v.kind == "const" and v.data.dtype == object:
                    raise SpecError(f"node {node.name}: reads a shape computed at run time ({v.name}), which graphc "
                                    "does not import (export with static shapes or constant folding)",
                                    Location(self.file, 1, 1))

    def _check_value_info(self) -> None:
        """Warn where the file's value_info has a fixed dim that graphc's rules infer differently:
        one line `FILE: warning: node 'NAME' (Op): file says [..], graphc infers [..]` each."""
        inferred = self.values
        producers = {out: (i, n) for i, n in enumerate(self.model.graph.node) for out in n.output if out}
        for vi in list(self.model.graph.value_info) + list(self.model.graph.output):
            v = inferred.get(vi.name)
            if v is None or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            ours = list(v.shape)
            if len(dims) != len(ours) or any(d is not None and isinstance(o, int) and d != o
                                             for d, o in zip(dims, ours)):
                said = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                        for d in vi.type.tensor_type.shape.dim]
                message = f"{self.file}: warning: {_node_label(producers, vi.name)}: file says {format_shape(said)}, " \
                          f"graphc infers {format_shape(ours)}"
                self.warnings.append(message)
                warnings.warn(OnnxShapeWarning(message), stacklevel=3)


def _node_label(producers: dict, value: str) -> str:
    """`node 'NAME' (Op)` of the ONNX node writing `value` (`output 'NAME'` of the node when it has
    several; `value 'NAME'` when no node writes it)."""
    if value not in producers:
        return f"value '{value}'"
    i, node = producers[value]
    label = f"node '{node.name or '#' + str(i)}' ({node.op_type})"
    return label + (f", output '{value}'" if len([o for o in node.output if o]) > 1 else "")


def import_model(source: str | onnx.ModelProto, name: str | None = None) -> Graph:
    """A checked graphc IR graph of an ONNX model (a path or a ModelProto)."""
    if isinstance(source, (str, os.PathLike)):
        file = os.fspath(source)
        model = _read(file)
        name = name or os.path.splitext(os.path.basename(file))[0]
    else:
        model, file, name = source, "<onnx>", name or "model"
    if model.graph.sparse_initializer:
        raise SpecError("sparse initializers are not supported", Location(file, 1, 1))
    model = upgrade(model)
    return Importer(model, file, name).run()
