"""Layer scopes of imported nodes: PyTorch module paths from node names or node metadata.

The legacy exporter names nodes `/layer1/layer1.0/conv1/Conv`; the dynamo exporter keeps the
module path in the node metadata `pkg.torch.onnx.name_scopes` (`['', 'layer1.0',
'layer1.0.conv1', 'conv2d']`) and the classes in `pkg.torch.onnx.class_hierarchy`. Either gives
the module path `layer1.0.conv1`: the layer of the node. Modules that contain other modules
become blocks (`layer1`, `layer1.0`), so views, summaries and weight names group by module.
"""

from __future__ import annotations

import ast
import re

import onnx

from graphc.ir.graph import Graph, LayerInfo
from graphc.viz.structure import layer_tree

_PLUMBING = {"Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Cast", "Identity",
             "ConstantOfShape", "Slice", "Transpose", "Expand"}
_NAME_SCOPES, _CLASSES = "pkg.torch.onnx.name_scopes", "pkg.torch.onnx.class_hierarchy"


def consumers(og: onnx.GraphProto) -> dict[str, list[str]]:
    """value name -> op types of the nodes that read it."""
    result: dict[str, list[str]] = {}
    for node in og.node:
        for name in node.input:
            result.setdefault(name, []).append(node.op_type)
    return result


def _clean(part: str) -> str:
    return re.sub(r"[^\w.\-]", "_", part).strip(".") or "_"


def _meta(node: onnx.NodeProto, key: str) -> list[str] | None:
    for p in node.metadata_props:
        if p.key == key:
            try:
                value = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                return None
            return [str(v) for v in value] if isinstance(value, list) else None
    return None


def module_path(node: onnx.NodeProto) -> tuple[list[str], str, list[str]]:
    """(module paths outermost first, the node's own short name, classes) of one node."""
    scopes_ = _meta(node, _NAME_SCOPES)
    if scopes_:
        classes = _meta(node, _CLASSES) or []
        paths = [_clean(s) for s in scopes_[:-1] if s and not s.startswith("_empty_nn_module")]
        return paths, _clean(scopes_[-1]), [c.rsplit(".", 1)[-1] for c in classes[1:len(paths) + 1]]
    name = (node.name or "").strip("/")
    if "/" not in name:
        return [], _clean(name or node.op_type.lower()), []
    parts = [p for p in name.split("/") if p]
    paths: list[str] = []
    for part in parts[:-1]:
        part = _clean(part)
        if paths and not part.startswith(paths[-1] + "."):
            part = f"{paths[-1]}.{part}"
        paths.append(part)
    return paths, _clean(parts[-1]), []


_GENERATED = re.compile(r"^\w+__\d+$")  # tf2onnx's own nodes (LSTM__75, Transpose__36): no TF scope


def _inherit_generated(og: onnx.GraphProto, paths: list) -> None:
    """An unscoped node that tf2onnx made (a rewriter's LSTM, an NHWC Transpose) takes the module
    path of the node that produces its first scoped input, so it groups with its Keras layer."""
    producer = {out: i for i, n in enumerate(og.node) for out in n.output}
    for i, node in enumerate(og.node):
        if paths[i][0] or not _GENERATED.match(node.name or ""):
            continue
        for name in node.input:
            j = producer.get(name)
            if j is not None and paths[j][0]:
                paths[i] = (list(paths[j][0]), paths[i][1], list(paths[j][2]))
                break


class LayerNamer:
    """Assigns each node its layer: its module path, or `<module>.<node>` for nodes that sit
    directly in a module containing other modules (a residual Add in `layer1.0`)."""

    def __init__(self, og: onnx.GraphProto):
        self.paths = [module_path(n) for n in og.node]
        _inherit_generated(og, self.paths)
        self.blocks: set[str] = set()
        self.classes: dict[str, str] = {}
        for paths, _, classes in self.paths:
            self.blocks.update(paths[:-1])
            for p, c in zip(paths, classes):
                self.classes.setdefault(p, c)
        self.op_types: dict[str, list[str]] = {}
        self._own: dict[str, str] = {}

    def layer_of(self, node: onnx.NodeProto, index: int) -> str:
        paths, short, _ = self.paths[index]
        if paths and paths[-1] not in self.blocks:
            layer = paths[-1]
        else:
            base = re.sub(r"_+\d+$", "", short.split(".")[-1]).lower() or "node"  # /Add_3, LSTM__75 -> add, lstm
            layer = f"{paths[-1]}.{base}" if paths else base
            # dynamo: the nodes of one fx node share its name; legacy: each node is its own
            key = (layer, f"{'.'.join(paths)}/{short}" if _meta(node, _NAME_SCOPES) else node.name or str(index))
            if key[1] not in self._own:
                k = 1
                candidate = layer
                while candidate in self.op_types or candidate in self.blocks:
                    k += 1
                    candidate = f"{layer}_{k}"
                self._own[key[1]] = candidate
            layer = self._own[key[1]]
        self.op_types.setdefault(layer, []).append(node.op_type)
        return layer

    def main_op(self, layer: str) -> str:
        if layer in self.classes:
            return self.classes[layer]
        ops = self.op_types.get(layer, ["?"])
        shaped = [o for o in ops if o not in ("Constant", "ConstantOfShape", "Shape", "Cast")] or ops
        return next((o for o in ops if o not in _PLUMBING), shaped[-1])


def build_layers(graph: Graph, namer: LayerNamer) -> None:
    """graph.layers: one LayerInfo per layer that kept a node, blocks before their first layer."""
    order: dict[str, list] = {}
    for node in graph.nodes:
        order.setdefault(node.layer, []).append(node)
    produced_in = {id(v): n.layer for n in graph.nodes for v in n.outputs}
    out_ids = {id(v) for v in graph.outputs}
    read_by: dict[int, set[str]] = {}
    for n in graph.nodes:
        for v in n.inputs:
            read_by.setdefault(id(v), set()).add(n.layer)
    seen_blocks: set[str] = set()
    layers: list[LayerInfo] = []
    for layer, nodes in order.items():
        parts = layer.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in namer.blocks and prefix not in seen_blocks:
                seen_blocks.add(prefix)
                children = {n.split(".")[i] for n in order if n.startswith(prefix + ".") and len(n.split(".")) > i}
                kind = namer.classes.get(prefix) or ("Sequential" if all(c.isdigit() for c in children) else "module")
                layers.append(LayerInfo(prefix, kind, {}, [], [], block=kind))
        inputs, outputs, params = [], [], []
        for n in nodes:
            for v in n.inputs:
                if v.kind == "param" and v.name not in params:
                    params.append(v.name)
                elif v.kind in ("input", "node") and produced_in.get(id(v)) != layer and v.name not in inputs:
                    inputs.append(v.name)
            for v in n.outputs:
                if (id(v) in out_ids or read_by.get(id(v), set()) - {layer}) and v.name not in outputs:
                    outputs.append(v.name)
        if not outputs:
            outputs = [nodes[-1].outputs[0].name]
        layers.append(LayerInfo(layer, namer.main_op(layer), {}, inputs, outputs, params=params))
    graph.layers = layers


def view_depth(graph: Graph, max_boxes: int = 16) -> int | None:
    """The deepest block nesting whose layer view draws at most `max_boxes` boxes (None: all
    of it fits), so the view of an imported ResNet-50 is one screen of labelled module boxes."""
    tree = layer_tree(graph)

    def boxes(items, depth: int, limit: int | None) -> int:
        total, todo = 0, [(items, depth)]
        while todo:
            items, depth = todo.pop()
            for item in items:
                if item.kind == "layer" or (limit is not None and depth >= limit):
                    total += 1
                else:
                    todo.extend((copy, depth + 1) for copy in item.copies)
        return total

    if boxes(tree, 0, None) <= max_boxes:
        return None
    depth = 0
    while boxes(tree, 0, depth + 1) <= max_boxes and depth < 16:
        depth += 1
    return depth
