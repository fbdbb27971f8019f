"""Runs compiled train / eval steps on OpenVINO (CPU, float32), with the interface of
graphc.training.runner's StepRunner / EvalRunner.

As with onnxruntime's IO binding, carried arrays (parameters, optimizer state, step) stay where
the runtime reads and writes them: two sets of numpy buffers (graphc.training.buffers) shared with OpenVINO tensors and two
infer requests; request k reads set k and writes set 1-k, then the roles swap. Nothing is copied
through Python between steps; only the batch is set each step.
"""

from __future__ import annotations

import numpy as np

from graphc.training.buffers import CarriedBuffers
from graphc.training.step import EvalStep, TrainStep
from graphc.runtime.backends import ov_config, ov_core
from graphc.export.onnx_export import to_onnx
from graphc.errors import SpecError


SAMPLING_OPS = ("dropout_mask", "normal_from_seed", "random_normal_like")


def check_openvino_step(step: TrainStep) -> None:
    """A SpecError for a train step OpenVINO would run wrong: its CPU plugin computes the uint32
    BitShift of graphc's hash PRNG incorrectly, so dropout masks and noise would differ from
    every other runtime's (docs/runtimes.md)."""

    node = next((n for n in step.graph.nodes if n.op in SAMPLING_OPS), None)
    if node is not None:
        raise SpecError(f"--runtime openvino: layer '{node.layer}' draws random numbers ({node.op}), and OpenVINO "
                        f"computes the uint32 bit shifts of graphc's PRNG wrongly (docs/runtimes.md)",
                        hint="train this spec with --runtime onnxruntime")


def _compiled(graph, threads: int | None):

    core = ov_core()
    data = to_onnx(graph).SerializeToString(deterministic=True)
    return core.compile_model(core.read_model(data), "CPU", ov_config(threads))


def _port_index(compiled, ports) -> dict[str, int]:
    return {name: k for k, port in enumerate(ports) for name in port.get_names()}


class OvStepRunner(CarriedBuffers):
    """One train step on OpenVINO with double-buffered carried state (see the module doc)."""

    def __init__(self, step: TrainStep, threads: int | None = None):
        import openvino as ov

        self.step = step
        self.compiled = _compiled(step.graph, threads)
        super().__init__(step)
        outs = _port_index(self.compiled, self.compiled.outputs)
        self.requests = []
        for k in range(2):
            request = self.compiled.create_infer_request()
            for i, o, src, dst in self.pairs(k):
                request.set_tensor(i, ov.Tensor(src, shared_memory=True))
                request.set_output_tensor(outs[o], ov.Tensor(dst, shared_memory=True))
            self.requests.append(request)
        self._scalars = {name: outs[name] for name in self.outputs}
        self.load(step.initial)

    def run(self, batch: dict[str, np.ndarray], seed: int | None = None) -> dict[str, float]:
        import openvino as ov

        request = self.requests[self.parity]
        for name in self.step.batch_inputs:
            request.set_tensor(name, ov.Tensor(np.asarray(batch[name], order="C"), shared_memory=True))
        if self.step.has_seed:
            self.seed[...] = 0 if seed is None else seed
            request.set_tensor("seed", ov.Tensor(self.seed, shared_memory=True))
        request.infer()
        self.swap()
        return {name: float(request.get_output_tensor(k).data) for name, k in self._scalars.items()}


class OvEvalRunner:
    """Inference-mode loss and predictions over a data set on OpenVINO (as EvalRunner)."""

    def __init__(self, step: EvalStep, threads: int | None = None):
        self.step = step
        self.compiled = _compiled(step.graph, threads)
        self.request = self.compiled.create_infer_request()
        self.outputs = _port_index(self.compiled, self.compiled.outputs)

    def run(self, arrays: dict[str, np.ndarray], params: dict[str, np.ndarray], chunk: int = 2048):
        """(mean loss, predictions) over all rows of `arrays`."""
        n = len(next(iter(arrays.values())))
        total, preds = 0.0, []
        feeds = {f"param.{p}": np.asarray(params[f"param.{p}"], order="C") for p in self.step.params}
        for start in range(0, n, chunk):
            for name in self.step.batch_inputs:
                feeds[name] = np.asarray(arrays[name][start:start + chunk], order="C")
            rows = len(feeds[self.step.batch_inputs[0]]) if self.step.batch_inputs else n
            self.request.infer(feeds)
            total += float(self.request.get_output_tensor(self.outputs["loss"]).data) * rows
            if "pred" in self.outputs:
                preds.append(np.array(self.request.get_output_tensor(self.outputs["pred"]).data))
        return total / max(n, 1), (np.concatenate(preds) if preds else None)
