"""Runs compiled train / eval steps on onnxruntime with IO binding.

Carried arrays (parameters, optimizer state, step) live in two sets of numpy buffers
(graphc.training.buffers) that onnxruntime reads and writes in place (OrtValues over the same
memory): a step reads set k and writes set 1-k, then the roles swap. Nothing is copied through
Python between steps.
"""

from __future__ import annotations

import numpy as np

from graphc.export.onnx_export import model_bytes
from graphc.runtime.session import make_session
from graphc.training.buffers import CarriedBuffers
from graphc.training.step import EvalStep, TrainStep
from graphc.training.ov_runner import OvEvalRunner, OvStepRunner, check_openvino_step
from graphc.runtime.backends import require
from graphc.errors import SpecError


def _session(graph, provider: str, threads: int | None = None):
    return make_session(model_bytes(graph), provider, quiet=True, threads=threads)


class StepRunner(CarriedBuffers):
    """One train step session with double-buffered carried state (graphc.training.buffers)."""

    def __init__(self, step: TrainStep, provider: str = "auto", threads: int | None = None, session=None):
        import onnxruntime as ort

        self.step = step
        self.session = session or _session(step.graph, provider, threads)
        super().__init__(step)
        self.bindings = []
        for k in range(2):
            io = self.session.io_binding()
            for i, o, src, dst in self.pairs(k):
                io.bind_ortvalue_input(i, ort.OrtValue.ortvalue_from_numpy(src))
                io.bind_ortvalue_output(o, ort.OrtValue.ortvalue_from_numpy(dst))
            for name, arr in self.outputs.items():
                io.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(arr))
            self.bindings.append(io)
        self.load(step.initial)

    def run(self, batch: dict[str, np.ndarray], seed: int | None = None) -> dict[str, float]:
        io = self.bindings[self.parity]
        for name in self.step.batch_inputs:
            io.bind_cpu_input(name, batch[name])
        if self.step.has_seed:
            self.seed[...] = 0 if seed is None else seed
            io.bind_cpu_input("seed", self.seed)
        self.session.run_with_iobinding(io)
        self.swap()
        return {k: float(v) for k, v in self.outputs.items()}


class EvalRunner:
    """Inference-mode loss and predictions over a data set, with the trainer's current parameters."""

    def __init__(self, step: EvalStep, provider: str = "auto", threads: int | None = None):
        self.step = step
        self.session = _session(step.graph, provider, threads)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, arrays: dict[str, np.ndarray], params: dict[str, np.ndarray], chunk: int = 2048):
        """(mean loss, predictions) over all rows of `arrays`."""
        n = len(next(iter(arrays.values())))
        total, preds = 0.0, []
        feeds = {f"param.{p}": params[f"param.{p}"] for p in self.step.params}
        for start in range(0, n, chunk):
            for name in self.step.batch_inputs:
                feeds[name] = arrays[name][start:start + chunk]
            rows = len(feeds[self.step.batch_inputs[0]]) if self.step.batch_inputs else n
            result = dict(zip(self.outputs, self.session.run(self.outputs, feeds)))
            total += float(result["loss"]) * rows
            if "pred" in result:
                preds.append(result["pred"])
        return total / max(n, 1), (np.concatenate(preds) if preds else None)


def make_runners(step: TrainStep, eval_step: EvalStep, runtime: str = "onnxruntime", provider: str = "auto",
                 threads: int | None = None):
    """(train-step runner, evaluator) on `runtime`: onnxruntime (IO binding) or openvino (infer requests)."""

    require(runtime)
    if runtime == "openvino":
        check_openvino_step(step)

        return OvStepRunner(step, threads), OvEvalRunner(eval_step, threads)
    if runtime != "onnxruntime":
        raise SpecError(f"--runtime {runtime}: training runs on onnxruntime or openvino")
    return StepRunner(step, provider, threads), EvalRunner(eval_step, provider, threads)
