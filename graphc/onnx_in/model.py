"""An imported ONNX model as a `Spec`, so `graphc.Model` (check, export, grad, fit) takes it as is.

`graphc train model.onnx --training train.yaml`: the file holds only a `training:` section that
names the model's inputs and outputs; a loss target that is not an input of the model (the
labels) becomes one, typed from the loss (class indices: int64 `[N]`; otherwise the shape of the
prediction).
"""

from __future__ import annotations

import hashlib
import os

from graphc.errors import Location, SpecError, did_you_mean
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.spec.build import Spec
from graphc.spec.yaml_loader import LocMap, load_yaml
from graphc.training.config import parse_training
from graphc.onnx_in import import_model

_INDEX_TARGETS = ("cross_entropy", "nll")


class OnnxSpec(Spec):
    """A Spec whose one model is an imported ONNX graph."""

    graph: Graph

    def build(self, model: str | None = None) -> Graph:
        graph = self.graph.clone()
        if self.training is not None:
            _add_targets(graph, self)
        return graph


def read_training(path: str):
    """The `training:` mapping of a --training file (nothing else allowed in it)."""
    if not os.path.exists(path):
        raise SpecError(f"no such file: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    root = load_yaml(text, path)
    top = Location(path, 1, 1)
    if not isinstance(root, LocMap) or "training" not in root:
        raise SpecError("a --training file holds one 'training:' section", getattr(root, "loc", top),
                        "training: {data: {npz: data.npz}, loss: {mse: [y, target]}, optimizer: {adam: {lr: 0.001}}}")
    for key in root:
        if key != "training":
            raise SpecError(f"a --training file holds only 'training:', not '{key}'", root.key_loc(key),
                            did_you_mean(str(key), ["training"]))
    return root["training"], root.value_loc("training")


def _add_targets(graph: Graph, spec: OnnxSpec) -> None:
    cfg = parse_training(spec.training, {}, spec.loc)
    known = {v.name for v in graph.values()} | {info.name for info in graph.layers}
    for term in cfg.losses:
        if term.kind == "output" or not term.args:
            continue
        pred = next((v for v in graph.values() if v.name == term.args[0]), None)
        for name in term.args[1:]:
            if name in known or pred is None:
                continue
            if term.kind in _INDEX_TARGETS:
                graph.add_input(name, TensorType("int64", tuple(pred.shape[:-1])))
            else:
                graph.add_input(name, pred.type)
            known.add(name)


def onnx_spec(path: str, training: str | None = None, seed: int = 0) -> OnnxSpec:
    """Import `path` and wrap it; `training` is a --training file."""

    graph = import_model(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    raw, where = (read_training(training) if training else (None, Location(path, 1, 1)))
    file = training or path
    if graph.name in ("main_graph", "torch_jit", "tf2onnx", ""):  # exporters' default names: the file's
        graph.name = os.path.splitext(os.path.basename(path))[0]
    spec = OnnxSpec(file=file, text=digest, name=graph.name, doc=graph.doc, params={}, blocks={},
                    models={graph.name: None}, training=raw, seed=seed, multi=False, loc=where)
    spec.graph = graph
    return spec
