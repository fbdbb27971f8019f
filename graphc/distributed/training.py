"""Data-parallel training on Ray: `graphc train spec.yaml --workers N [--ray-address ADDR]`.

Each step the driver cuts the global batch (the spec's batch_size) into N contiguous shards,
puts the parameters in Ray's object store once, and every worker (a Ray actor holding one
onnxruntime session of the gradient graph) returns its shard's gradients. The driver averages
them (weights: shard rows / global rows; a reduce through the object store) and runs the
optimizer-step graph, so there is one copy of the parameters and every worker reads the same
ones next step. Everything else (epochs, shuffling, validation, early stopping, checkpoints,
history, --resume) is graphc/training/loop.py's Trainer, unchanged.

A worker holds no state between steps: when one dies Ray restarts it (max_restarts) and retries
its shard (max_task_retries) with the same inputs, so the step's result is the same.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import numpy as np

from graphc.distributed import cluster
from graphc.distributed.split_step import SplitStep, build_split_step, split_step_bytes
from graphc.training.config import TrainConfig
from graphc.training.loop import Trainer
from graphc.training.runner import EvalRunner
from graphc.runtime.session import make_session

MAX_RESTARTS = 4


class GradWorker:
    """A Ray actor: one onnxruntime session of the gradient graph, created once."""

    def __init__(self, grad_bytes: bytes, threads: int = 1):
        self.session = make_session(grad_bytes, "cpu", quiet=True, threads=threads)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.extra = {i.name for i in self.session.get_inputs()} & {"seed", "row0", "rows"}

    def ready(self) -> int:
        return os.getpid()

    def grad(self, params: dict, shard: dict, seed: int, row0: int, rows: int) -> dict[str, np.ndarray]:
        feeds = dict(params)
        feeds.update(shard)
        if self.extra:
            feeds.update(seed=np.asarray(seed, np.int64), row0=np.asarray(row0, np.int64),
                         rows=np.asarray(rows, np.int64))
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))


def start_workers(grad_bytes: bytes, n: int) -> tuple[list, object]:
    """N gradient workers, each up and holding its session (or one SpecError line), and the
    object-store reference of the model they were built from: keep it while the workers live,
    a restarted worker reads it again."""
    import ray

    cluster.check_workers(n, "--workers")
    actor = ray.remote(GradWorker).options(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)
    grad_ref = ray.put(grad_bytes)
    workers = [actor.remote(grad_ref, 1) for _ in range(n)]
    try:
        cluster.get([w.ready.remote() for w in workers], f"starting {n} training worker(s)", cluster.START_TIMEOUT_S)
    except BaseException:
        cluster.stop(workers)
        raise
    return workers, grad_ref


def shard_bounds(rows: int, n: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) row ranges of `rows` rows over n workers (sizes differ by at most one)."""
    edges = np.linspace(0, rows, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


class RayStepRunner:
    """StepRunner's interface (current, load, snapshot, global_step, run) over Ray workers."""

    def __init__(self, split: SplitStep, workers: tuple[list, object], provider: str = "cpu",
                 threads: int | None = 1):
        self.split = split
        self.workers, self._model_ref = workers  # (actors, the model's object-store reference they restart from)
        _, opt_bytes = split_step_bytes(split)
        self.optimizer = make_session(opt_bytes, provider, quiet=True, threads=threads)
        self.opt_inputs = [i.name for i in self.optimizer.get_inputs()]
        self.opt_outputs = [o.name for o in self.optimizer.get_outputs()]
        self.state = {k: np.array(v, copy=True) for k, v in split.initial.items()}
        self.after_step: Callable[[int], None] | None = None  # called with the new global step

    @property
    def current(self) -> dict[str, np.ndarray]:
        return self.state

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        for name, buf in self.state.items():
            if name in arrays:
                buf[...] = arrays[name]

    def snapshot(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.state.items()}

    @property
    def global_step(self) -> int:
        return int(self.state["step"])

    def run(self, batch: dict[str, np.ndarray], seed: int | None = None) -> dict[str, float]:
        import ray

        grad = self.split.grad
        rows = len(next(iter(batch.values())))
        params = ray.put({f"param.{p}": self.state[f"param.{p}"] for p in grad.params})
        bounds = shard_bounds(rows, len(self.workers))
        futures = [w.grad.remote(params, {k: v[lo:hi] for k, v in batch.items()}, seed or 0, lo, rows)
                   for w, (lo, hi) in zip(self.workers, bounds)]
        results = cluster.get(futures, f"training step {self.global_step + 1}")
        weights = [(hi - lo) / rows for lo, hi in bounds]
        mean = lambda key: sum(w * r[key].astype(np.float64) for w, r in zip(weights, results))
        feeds = {name: self.state[name] for name in self.opt_inputs if not name.startswith("grad.")}
        feeds.update({f"grad.{p}": mean(f"grad.{p}").astype(self.state[f"param.{p}"].dtype) for p in grad.trainable})
        out = dict(zip(self.opt_outputs, self.optimizer.run(self.opt_outputs, feeds)))
        for name in self.state:
            if f"new.{name}" in out:
                self.state[name] = out[f"new.{name}"]
        for p in grad.running:  # batch-norm running statistics: the mean of the shards' updates
            self.state[f"param.{p}"] = mean(f"new.param.{p}").astype(self.state[f"param.{p}"].dtype)
        if self.after_step:
            self.after_step(self.global_step)
        return {"loss": float(mean("loss")), **{f"metric.{m}": float(mean(f"metric.{m}")) for m in grad.metrics}}


class DistributedTrainer(Trainer):
    """Trainer with the step split over N Ray workers; `fit` as for one process."""

    def __init__(self, model, cfg: TrainConfig, workers: int, provider: str = "auto", threads: int | None = 1):
        self.n_workers = workers
        super().__init__(model, cfg, provider, threads)

    def _build_step(self, graph, cfg: TrainConfig) -> SplitStep:
        return build_split_step(graph, cfg)

    def _make_runners(self, provider: str, threads: int | None) -> tuple[RayStepRunner, EvalRunner]:
        grad_bytes, _ = split_step_bytes(self.step)
        return (RayStepRunner(self.step, start_workers(grad_bytes, self.n_workers), provider, threads),
                EvalRunner(self.eval_step, provider, threads))

    def close(self) -> None:
        """Stop the workers (their CPUs go back to the cluster)."""
        cluster.stop(self.runner.workers)
