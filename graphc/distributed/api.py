"""graphc/distributed from Python: `fit_on_ray` (`Model.fit(workers=N)`, `graphc train --workers N`)
and `score` (`graphc run --ray`)."""

from __future__ import annotations

from graphc.distributed import cluster
from graphc.distributed.scoring import model_bytes, score_rows
from graphc.distributed.training import DistributedTrainer
from graphc.errors import SpecError


def check_workers(workers: int | None, flag: str = "--workers") -> None:
    if workers is not None and workers < 1:
        raise SpecError(f"{flag} must be at least 1, got {workers}")


def fit_on_ray(model, cfg, workers: int, out: str | None = None, epochs: int | None = None, resume: bool = False,
               log=print, tty: bool = False, provider: str = "auto", address: str | None = None):
    """Train `model` as `cfg` says on `workers` Ray workers; returns the TrainResult (the run
    folder, history and checkpoints as in one process)."""
    check_workers(workers)
    if cfg.gan is not None:
        raise SpecError("--workers: a gan: training section (alternating steps) trains in one process only",
                        cfg.loc, "drop --workers")
    cluster.require_ray("--workers")
    with cluster.connected(address, "--workers"):
        trainer = DistributedTrainer(model, cfg, workers, provider)
        try:
            return trainer.fit(out, epochs, resume, log=log, tty=tty)
        finally:
            trainer.close()


def score(model, inputs: dict[str, str], out: str, workers: int | None = None, batch_size: int = 1024,
          address: str | None = None) -> int:
    """Score the rows of `inputs` (name -> .npy / folder of .npy / Parquet path) with `model` (an
    .onnx path, ONNX bytes, or a graphc.Model) on Ray into `out` (.npz or a folder); returns the
    row count. What `graphc run --ray` does."""
    check_workers(workers)
    if batch_size < 1:
        raise SpecError(f"--batch-size must be at least 1, got {batch_size}")
    cluster.require_ray("--ray")
    data = model if isinstance(model, bytes) else model.onnx_bytes() if hasattr(model, "onnx_bytes") \
        else model_bytes(model)
    with cluster.connected(address, "--ray"):
        return score_rows(data, [f"{k}={v}" for k, v in inputs.items()], out, workers, batch_size)
