"""IR -> ONNX ModelProto, standard opsets only, byte-for-byte deterministic."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from graphc.export.fold import FOLD_ALL, Folder
from graphc.export.onnx_write import Pieces, Weight, write_model
from graphc.export.onnx_write import model_bytes as weights_model_bytes
from graphc.ir.graph import Graph, NameSet, Node, Value
from graphc.ir.types import DTYPES, TensorType, onnx_dtype
from graphc.ops import OPS
from graphc.version import __version__
from graphc.export.attention23 import fuse_attention
from graphc.errors import SpecError

OPSET = 21  # the default: Gelu (20) and LayerNormalization (17) are standard here
IR_VERSION = 10
CHUNK = 4096  # ONNX nodes (or value infos) serialized at a time when streaming
OPSETS = range(17, 24)  # what --opset accepts (docs/runtimes.md)
IR_VERSIONS = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11}  # the lowest IR version of each opset
TARGETS = ("portable", "onnxruntime")  # portable: runs on onnxruntime, OpenVINO and tract (the default)


def check_opset(opset: int, target: str = "portable") -> None:
    """A SpecError unless `opset` and `target` are ones graphc can write."""

    if opset not in OPSETS:
        raise SpecError(f"--opset {opset}: graphc writes ONNX opsets {OPSETS[0]} to {OPSETS[-1]}",
                        hint=f"the default is {OPSET}")
    if target not in TARGETS:
        raise SpecError(f"unknown target '{target}'", hint=f"one of {', '.join(TARGETS)}")


class LowerCtx:
    """What an op's `lower` function sees: names of values, and ways to add ONNX nodes and constants."""

    def __init__(self, graph: Graph, nodes=None, opset: int = OPSET, target: str = "portable"):
        self.graph = graph
        self.opset, self.target = opset, target  # lowerings pick what this opset has / what runs everywhere
        # The ONNX nodes, built in place in the model's graph (a list of standalone NodeProtos
        # would be copied into the graph: two copies of every node at once).
        self.nodes = nodes if nodes is not None else onnx.GraphProto().node
        self.initializers: list[TensorProto] = []
        self.current: Node | None = None
        self._aliases: dict[int, str] = {}
        self._shape_cache: dict[str, str] = {}
        self._used = NameSet(v.name for v in graph.values())
        self._output_ids = {id(v) for v in graph.outputs}
        self._emitted_in_node = 0
        self._node_names = NameSet()
        self._read: set[int] | None = None

    def _fresh(self, base: str) -> str:
        return self._used.fresh(base)

    # -- names --------------------------------------------------------------------------
    def name(self, value: Value) -> str:
        return self._aliases.get(id(value), value.name)

    def names(self, values: list[Value]) -> list[str]:
        return [self.name(v) for v in values]

    def used(self, value: Value) -> bool:
        """Whether a node or a graph output reads `value` (an op may then skip computing it)."""
        if self._read is None:
            self._read = {id(v) for n in self.graph.nodes for v in n.inputs} | self._output_ids
        return id(value) in self._read

    def tmp(self, node: Node, suffix: str) -> str:
        return self._fresh(f"{node.name}/{suffix}")

    def alias(self, out: Value, source: Value) -> None:
        """`out` is the same tensor as `source`: no node unless `out` is a graph output."""
        if id(out) in self._output_ids:
            self.emit("Identity", [self.name(source)], [out.name])
        else:
            self._aliases[id(out)] = self.name(source)

    # -- emission -----------------------------------------------------------------------
    def emit(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        node = self.current
        base = node.name if node is not None else op_type
        name = base if self._emitted_in_node == 0 else f"{base}/{op_type}"
        self._emitted_in_node += 1
        proto = self.nodes.add()
        proto.op_type = op_type
        proto.input.extend(inputs)
        proto.output.extend(outputs)
        proto.name = self._fresh_node(name)
        # as helper.make_node: attributes sorted by name, None values left out
        proto.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attrs.items()) if v is not None)

    def _fresh_node(self, base: str) -> str:
        return self._node_names.fresh(base)

    def tensor(self, array: np.ndarray, name: str) -> TensorProto:
        return numpy_helper.from_array(np.asarray(array, order="C"), name)  # (ascontiguousarray makes 0-d 1-d)

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self._fresh(hint)
        self.initializers.append(self.tensor(np.asarray(array), name))
        return name

    def shape_of(self, value: Value) -> str:
        """Name of a tensor holding value's runtime shape (one Shape node per value)."""
        key = self.name(value)
        if key not in self._shape_cache:
            out = self._fresh(f"{key}/shape")
            self.emit("Shape", [key], [out])
            self._shape_cache[key] = out
        return self._shape_cache[key]

    def lower(self, node: Node) -> None:
        self.current, self._emitted_in_node = node, 0
        OPS[node.op].lower(self, node)
        self.current = None


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_dtype(t.dtype), [d for d in t.shape])


_RAW_DTYPES = {np.dtype(np_type): code for np_type, code in DTYPES.values()}


def _weight(array: np.ndarray, name: str) -> Weight:
    """An initializer's header (dims, type, name) and its data, which stays in its numpy buffer."""
    array = np.asarray(array)
    code = _RAW_DTYPES.get(array.dtype)
    if code is None or array.dtype.byteorder == ">":
        return Weight(numpy_helper.from_array(np.asarray(array, order="C"), name), None)
    return Weight(None, array, name, code)  # the header is built when written


def to_onnx_parts(graph: Graph, with_value_info: bool = True, opset: int = OPSET, target: str = "portable",
                  pieces: Pieces | None = None, fold: str | None = None) -> tuple[onnx.ModelProto, list[Weight]]:
    """Lower every node: the ModelProto without the parameters and constants, and those (in
    initializer order, before the lowering's own constants), for graphc.export.onnx_write.
    `opset` 17..23; target "portable" (the default) writes forms every runtime runs, "onnxruntime"
    the faster forms only onnxruntime runs (the rnn op's Scan); docs/runtimes.md.

    With `pieces`, the nodes and value infos are serialized into it a chunk at a time instead of
    staying in the ModelProto (a NodeProto takes ~10x the memory of its bytes); not at opset 23,
    whose Attention fusion rewrites the whole node list. `fold` (-O2), "constants" or "all": ONNX
    nodes that compute on constants alone, or on constants and parameters, become initializers
    (export/fold.py)."""
    check_opset(opset, target)
    stream = pieces is not None and opset < 23
    model = onnx.ModelProto()  # filled in place (helper.make_graph/make_model copy every initializer)
    initializers = model.graph.initializer
    weights = [_weight(p.data, p.name) for p in graph.params.values()]
    weights += [_weight(c.data, c.name) for c in graph.consts()]
    scratch = onnx.GraphProto()  # streaming: the chunk of nodes (or value infos) not yet serialized
    ctx = LowerCtx(graph, scratch.node if stream else model.graph.node, opset, target)
    folder = _folder(graph, ctx, opset, fold == FOLD_ALL) if fold else None
    produced: set[str] = set()
    for node in graph.nodes:
        start = len(ctx.nodes)
        ctx.lower(node)
        if folder is not None:
            folder.add_constants(ctx.initializers)
            folder.fold_new(ctx.nodes, start)
        if stream and (len(scratch.node) >= CHUNK or node is graph.nodes[-1]):
            produced.update(o for n in scratch.node for o in n.output)
            pieces.nodes.append(scratch.SerializeToString(deterministic=True))  # the field's entries
            scratch = onnx.GraphProto()  # a fresh message: upb frees memory only with its message
            ctx.nodes = scratch.node
    if not stream:
        if opset >= 23:
            fuse_attention(ctx.nodes)
        produced = {o for n in ctx.nodes for o in n.output}
    inputs = [value_info(v.name, v.type) for v in graph.inputs]
    outputs = [value_info(ctx.name(v), v.type) for v in graph.outputs]
    onnx_graph = model.graph
    infos = scratch.value_info if stream else onnx_graph.value_info
    if with_value_info:
        io_names = {v.name for v in graph.inputs} | {ctx.name(v) for v in graph.outputs}
        for node in graph.nodes:
            for v in node.outputs:
                name = ctx.name(v)
                if name not in io_names and name in produced:
                    infos.add().CopyFrom(value_info(name, v.type))
                    io_names.add(name)
                    if stream and len(infos) >= CHUNK:
                        pieces.value_info.append(scratch.SerializeToString(deterministic=True))
                        scratch = onnx.GraphProto()
                        infos = scratch.value_info
    if stream and len(infos):
        pieces.value_info.append(scratch.SerializeToString(deterministic=True))
    del produced, scratch
    onnx_graph.name = graph.name
    onnx_graph.input.extend(inputs)
    onnx_graph.output.extend(outputs)
    if folder is not None:
        weights, constants = _after_folding(folder, weights, ctx.initializers)
    else:
        constants = ctx.initializers
    initializers.extend(constants)
    if graph.doc:
        onnx_graph.doc_string = graph.doc
    model.ir_version = IR_VERSIONS[opset]
    model.opset_import.append(helper.make_opsetid("", opset))
    model.producer_name, model.producer_version = "graphc", __version__
    for key in sorted(graph.metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, graph.metadata[key]
    return model, weights


def _folder(graph: Graph, ctx: LowerCtx, opset: int, params: bool) -> Folder:
    known = [*graph.params.values(), *graph.consts()] if params else graph.consts()
    arrays = {v.name: (lambda v=v: v.data) for v in known}
    return Folder(arrays, {ctx.name(v) for v in graph.outputs}, opset)


def _after_folding(folder: Folder, weights: list[Weight], constants: list) -> tuple[list[Weight], list]:
    """The weights and lowering constants without those only folded nodes read, and the folded
    tensors that a kept node reads (after the weights, in the order they were made)."""
    gone = folder.unread()
    kept = [w for w in weights if w.name not in gone]
    kept += [_weight(a, name) for name, a in folder.folded.items() if name in folder.read]
    return kept, [t for t in constants if t.name not in gone]


def to_onnx(graph: Graph, with_value_info: bool = True, opset: int = OPSET, target: str = "portable",
            fold: str | None = None) -> onnx.ModelProto:
    """The whole ModelProto, weights included (under protobuf's 2 GiB limit; files: `write_onnx`)."""
    model, weights = to_onnx_parts(graph, with_value_info, opset, target, fold=fold)
    return onnx.load_model_from_string(weights_model_bytes(model, weights))


def model_bytes(graph: Graph, opset: int = OPSET, target: str = "portable", fold: str | None = None) -> bytes:
    """The serialized model, as `to_onnx(graph).SerializeToString(deterministic=True)` gives it."""
    pieces = Pieces()
    return weights_model_bytes(*to_onnx_parts(graph, opset=opset, target=target, pieces=pieces, fold=fold), pieces)


def write_onnx(graph: Graph, path: str, external: bool | None = None, opset: int = OPSET,
               target: str = "portable", fold: str | None = None) -> list[str]:
    """Write the model to `path` as a stream (see onnx_write); external data beside it when asked
    (external=True) or needed (over 2 GiB). Returns the files written."""
    pieces = Pieces()
    return write_model(path, *to_onnx_parts(graph, opset=opset, target=target, pieces=pieces, fold=fold),
                       external=external, pieces=pieces)
