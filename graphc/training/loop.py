"""The training loop: epochs of seeded shuffled batches through the compiled train step,
validation metrics, early stopping, checkpoints each epoch, and the run folder's files."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from graphc.errors import SpecError
from graphc.runtime.weights import save_weights
from graphc.training import checkpoint
from graphc.training.config import CLASS_METRICS, TrainConfig
from graphc.training.data import Splits, epoch_batches, make_splits
from graphc.training.faults import check_loss
from graphc.training.metrics import compute
from graphc.training.pictures import write_pictures
from graphc.training.progress import EpochBar
from graphc.training.runner import make_runners
from graphc.training.step import build_eval_step, build_train_step
from graphc.util.atomic import write_bytes, write_text


def dropout_seed(seed: int, step: int) -> int:
    """The dropout seed of a global step: a pure function, so a resumed run draws the same masks."""
    return (seed * 1_000_003 + step) % 2**31


@dataclass
class TrainResult:
    history: list[dict]
    final: dict  # metrics on the test split (else validation, else training) with the final weights
    final_split: str
    out_dir: str | None
    stopped_early: bool = False
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    model: object = None  # the graphc.Model that was trained (the one `training: model:` names)


def share_weights(model, result: TrainResult) -> list[str]:
    """Put the weights of `result` (a model of `model`'s spec, maybe another one) on `model`:
    all of them when it is the trained model; else the parameters the two models share, i.e.
    `<trained>.<p>` of a model that uses the trained one as a layer, or `<p>` of a model the
    trained one uses as a layer (named `<model>.<p>` there). Returns the parameter names set."""
    trained = getattr(result.model, "model_name", None)
    done = []
    for name, p in model.graph.params.items():
        if trained is None or trained == model.model_name:
            key = name
        elif name.startswith(f"{trained}."):
            key = name[len(trained) + 1:]
        else:
            key = f"{model.model_name}.{name}"
        if key in result.weights and result.weights[key].shape == p.data.shape:
            p.data = result.weights[key]
            done.append(name)
    if done:
        model._session = None
    return done


def _better(value: float, best: float | None, mode: str, delta: float) -> bool:
    if best is None:
        return True
    return value < best - delta if mode == "min" else value > best + delta


def _mode(cfg: TrainConfig) -> str:
    if cfg.mode != "auto":
        return cfg.mode
    return "min" if cfg.monitor in ("loss", "val_loss") or cfg.monitor in ("val_mse", "val_mae") else "max"


def _format(record: dict, epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for key, value in record.items():
        if key in ("epoch", "seconds") or not isinstance(value, float):
            continue
        parts.append(f"{key} {value:.4f}")
    parts.append(f"{record['seconds']:.2f}s")
    return "  ".join(parts)


class Trainer:
    """Trains one model of a spec as its training section says; see `fit`."""

    def __init__(self, model, cfg: TrainConfig, provider: str = "auto", threads: int | None = None,
                 runtime: str = "onnxruntime"):
        model = model.sibling(cfg.model)  # the model the training section names
        self.model, self.cfg = model, cfg
        graph = self.graph = model.graph
        self.step = self._build_step(graph, cfg)
        self.eval_step = build_eval_step(graph, cfg)
        self.runtime = runtime
        self.runner, self.evaluator = self._make_runners(provider, threads)
        batch_values = [v for v in graph.inputs if v.name in set(self.step.batch_inputs) | set(self.eval_step.batch_inputs)]
        spec_dir = os.path.dirname(os.path.abspath(model.spec.file)) if os.path.exists(model.spec.file) else "."
        self.splits: Splits = make_splits(cfg, batch_values, spec_dir)

    def _build_step(self, graph, cfg: TrainConfig):
        """The step the runner drives (graphc/distributed/training.py builds a split one)."""
        return build_train_step(graph, cfg)

    def _make_runners(self, provider: str, threads: int | None):
        """(train-step runner, evaluator) on self.runtime (graphc/distributed/training.py: Ray workers)."""
        return make_runners(self.step, self.eval_step, self.runtime, provider, threads)

    # -- one epoch ------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, progress: Callable[..., None] | None) -> dict:
        train = self.splits.train
        n = len(next(iter(train.values())))
        batches = epoch_batches(n, self.cfg.batch_size, self.cfg.seed, epoch, self.cfg.shuffle)
        sums: dict[str, float] = {}
        for k, idx in enumerate(batches):
            feed = {name: train[name][idx] for name in self.step.batch_inputs}
            out = self.runner.run(feed, dropout_seed(self.cfg.seed, self.runner.global_step))
            check_loss(out["loss"], epoch + 1, self.runner.global_step, k + 1)
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + value * len(idx)
            if progress:
                progress(k + 1, len(batches), out.get("loss"))
        return {k.removeprefix("metric."): v / n for k, v in sums.items()}

    def _steps(self) -> int:
        n = len(next(iter(self.splits.train.values())))
        return -(-n // self.cfg.batch_size)

    def evaluate(self, arrays: dict[str, np.ndarray], params: dict[str, np.ndarray] | None = None) -> dict:
        """loss and the configured metrics on `arrays` with the current (or given) parameters."""
        params = params if params is not None else self.runner.current
        loss, pred = self.evaluator.run(arrays, params)
        result = {"loss": loss}
        target = self.splits.target
        names = [m for m in self.cfg.metrics if m != "confusion_matrix"] + \
            (["confusion_matrix"] if "confusion_matrix" in self.cfg.metrics else [])
        if pred is not None and target is not None and names:
            classification = self.cfg.classification
            wanted = [m for m in names if (m in CLASS_METRICS) == classification]
            result.update(compute(wanted, pred, arrays[target], classification))
        return result

    # -- the loop -------------------------------------------------------------------------
    def fit(self, out_dir: str | None = None, epochs: int | None = None, resume: bool = False,
            log: Callable[[str], None] | None = print, tty: bool = False) -> TrainResult:
        cfg = self.cfg
        epochs = epochs or cfg.epochs
        ckpt_dir = os.path.join(out_dir, "checkpoint") if out_dir else None
        history: list[dict] = []
        best, best_params, wait, start = None, None, 0, 0
        if resume:
            if ckpt_dir is None:
                raise SpecError("resume needs a run folder (--out)")
            arrays, meta = checkpoint.load(ckpt_dir)
            self.runner.load({k: v for k, v in arrays.items() if not k.startswith("best.")})
            best_params = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")} or None
            history, best, wait, start = meta["history"], meta["best"], meta["wait"], meta["epoch"]
            if meta.get("stopped"):
                start = epochs
        mode = _mode(cfg) if cfg.monitor else "min"
        stopped = False
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            bar = EpochBar(epoch + 1, epochs, self._steps()) if tty and log else None
            record = {"epoch": epoch + 1}
            record.update(self._train_epoch(epoch, bar))
            if self.splits.val is not None:
                for key, value in self.evaluate(self.splits.val).items():
                    if key != "confusion_matrix":
                        record[f"val_{key}"] = value
            record["seconds"] = round(time.perf_counter() - t0, 4)
            history.append(record)
            if cfg.monitor:
                value = record.get(cfg.monitor)
                if value is not None and _better(value, best, mode, cfg.min_delta):
                    best, wait = value, 0
                    best_params = {k: v.copy() for k, v in self.runner.current.items() if k.startswith("param.")}
                else:
                    wait += 1
                    stopped = wait > cfg.patience
            if bar:
                bar.close()
            if log:
                log(_format(record, epochs))
            if out_dir:
                arrays = self.runner.snapshot()
                if best_params:
                    arrays.update({f"best.{k}": v for k, v in best_params.items()})
                checkpoint.save(ckpt_dir, arrays, {"epoch": epoch + 1, "history": history, "best": best, "wait": wait,
                                                   "stopped": stopped, "seed": cfg.seed, "shuffle": "default_rng([seed, epoch])",
                                                   "step": self.runner.global_step})
                write_text(os.path.join(out_dir, "history.json"), json.dumps(history, indent=1) + "\n")
                write_pictures(self, out_dir, history)
            if stopped:
                if log:
                    log(f"early stopping: {cfg.monitor} did not improve for {cfg.patience + 1} epochs; "
                        f"restoring the best weights ({cfg.monitor} {best:.4f})")
                break
        params = dict(self.runner.current)
        if cfg.monitor and best_params:
            params.update(best_params)
        weights = {p: np.array(params[f"param.{p}"]) for p in self.step.params}
        for name, value in weights.items():
            self.graph.params[name].data = value
        split = "test" if self.splits.test is not None else "validation" if self.splits.val is not None else "train"
        final = self.evaluate({"test": self.splits.test, "validation": self.splits.val, "train": self.splits.train}[split],
                              params)
        if out_dir:
            self._write_run(out_dir, history)
        return TrainResult(history, final, split, out_dir, stopped, weights, self.model)

    def _write_run(self, out_dir: str, history: list[dict]) -> None:
        save_weights(self.graph, os.path.join(out_dir, "weights.npz"))
        write_bytes(os.path.join(out_dir, "model.onnx"), self.model.onnx_bytes())
        write_text(os.path.join(out_dir, "history.json"), json.dumps(history, indent=1) + "\n")


def format_report(result: TrainResult) -> str:
    lines = [f"final ({result.final_split} split):"]
    for key, value in result.final.items():
        if key == "confusion_matrix":
            lines.append("  confusion matrix (rows: true class):")
            lines += ["    " + " ".join(f"{c:4d}" for c in row) for row in value]
        else:
            lines.append(f"  {key:<10} {value:.4f}")
    return "\n".join(lines)
