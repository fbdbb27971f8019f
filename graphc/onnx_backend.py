"""graphc as an ONNX backend (`onnx.backend.base.Backend`), for ONNX's own conformance tests.

`prepare(model)` imports the model into graphc's IR (graphc's shape rules check every value),
exports it again, and runs the export on onnxruntime (`GraphcBackend`), or runs the IR with
graphc's numpy reference interpreter (`GraphcReferenceBackend`)::

    import graphc.onnx_backend as backend
    outputs = backend.run_model(model, [x])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from graphc.ops import interpret
from graphc.passes import optimize
from graphc.onnx_in import import_model
from graphc.export.onnx_export import to_onnx


class GraphcRep(BackendRep):
    """One imported model, ready to run with positional inputs (the model's graph inputs)."""

    def __init__(self, model: onnx.ModelProto, mode: str = "onnxruntime"):
        self.graph = import_model(model)
        self.mode = mode
        self.input_names = [v.name for v in self.graph.inputs]
        self._session = None
        if mode == "onnxruntime":
            import onnxruntime as ort


            graph = optimize(self.graph.clone(), level=1)
            self.exported = to_onnx(graph)
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self._session = ort.InferenceSession(self.exported.SerializeToString(deterministic=True), options,
                                                 providers=["CPUExecutionProvider"])
            self._feeds = {i.name for i in self._session.get_inputs()}

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = dict(zip(self.input_names, arrays))
        if self.mode == "reference":
            result = interpret(self.graph, feeds)
            return tuple(result[v.name] for v in self.graph.outputs)
        feeds = {k: np.asarray(v) for k, v in feeds.items() if k in self._feeds}
        return tuple(self._session.run(None, feeds))


class GraphcBackend(Backend):
    """Import into graphc's IR, export, run on onnxruntime (CPU)."""

    mode = "onnxruntime"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> GraphcRep:
        super().prepare(model, device, **kwargs)
        return GraphcRep(model, cls.mode)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


class GraphcReferenceBackend(GraphcBackend):
    """Import into graphc's IR and run it with the ops' numpy references."""

    mode = "reference"


prepare = GraphcBackend.prepare
run_model = GraphcBackend.run_model
supports_device = GraphcBackend.supports_device


def node_test_ops(model: onnx.ModelProto) -> list[str]:
    """The op types of a node test's model (its nodes, in order)."""
    return [n.op_type for n in model.graph.node]


__all__: Sequence[str] = ["GraphcBackend", "GraphcReferenceBackend", "GraphcRep", "prepare", "run_model",
                          "supports_device"]
