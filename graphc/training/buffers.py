"""The carried state of a train step in two sets of numpy buffers, shared by the runtime runners.

A step reads set k and writes set 1-k (the runtime binds both sets once, in place); then the
roles swap. `StepRunner` (onnxruntime IO binding) and `OvStepRunner` (OpenVINO infer requests)
keep their state here, so the bookkeeping lives in one place.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.types import np_dtype
from graphc.limits import require as require_memory
from graphc.training.step import TrainStep


class CarriedBuffers:
    """Two sets of carried arrays (parameters, optimizer slots, step), the scalar outputs (loss,
    metrics) and the parity: which set the next step reads."""

    def __init__(self, step: TrainStep):
        types = {v.name: v for v in step.graph.inputs}
        require_memory(2 * sum(int(np.prod(types[i].shape, dtype=np.int64)) * np.dtype(np_dtype(types[i].dtype)).itemsize
                               for i, _ in step.carried),
                       "the training state (parameters and optimizer slots, two copies)")
        self.carried = step.carried
        self.buffers: list[dict[str, np.ndarray]] = [
            {i: np.zeros(types[i].shape, np_dtype(types[i].dtype)) for i, _ in self.carried} for _ in range(2)]
        self.outputs = {"loss": np.zeros((), np.float32)}
        for m in step.metrics:
            self.outputs[f"metric.{m}"] = np.zeros((), np.float32)
        self.parity = 0
        self.seed = np.zeros((), np.int64)

    def pairs(self, k: int):
        """(input name, output name, array read, array written) of every carried value, for set k."""
        src, dst = self.buffers[k], self.buffers[1 - k]
        return [(i, o, src[i], dst[i]) for i, o in self.carried]

    @property
    def current(self) -> dict[str, np.ndarray]:
        """The carried arrays the next step reads (views: copy before keeping them)."""
        return self.buffers[self.parity]

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        for name, buf in self.current.items():
            if name in arrays:
                buf[...] = arrays[name]

    def snapshot(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.current.items()}

    @property
    def global_step(self) -> int:
        return int(self.current["step"])

    def swap(self) -> None:
        """After a step: the set just written is the one the next step reads."""
        self.parity = 1 - self.parity
