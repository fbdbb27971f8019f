"""The CLI's entry points into graphc/distributed: `graphc train --workers N` and `graphc run --ray`."""

from __future__ import annotations

from graphc.commands.load import is_onnx, load_model
from graphc.distributed import cluster
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
    from graphc.distributed.training import DistributedTrainer

    with cluster.connected(address, "--workers"):
        trainer = DistributedTrainer(model, cfg, workers, provider)
        try:
            return trainer.fit(out, epochs, resume, log=log, tty=tty)
        finally:
            trainer.close()


def train_distributed(model, cfg, args, out: str, tty: bool):
    """`graphc train --workers N`."""
    return fit_on_ray(model, cfg, args.workers, out, args.epochs, args.resume, print, tty, args.provider,
                      args.ray_address)


def score(model, inputs: dict[str, str], out: str, workers: int | None = None, batch_size: int = 1024,
          address: str | None = None) -> int:
    """Score the rows of `inputs` (name -> .npy / folder of .npy / Parquet path) with `model` (an
    .onnx path, ONNX bytes, or a graphc.Model) on Ray into `out` (.npz or a folder); returns the
    row count. What `graphc run --ray` does."""
    check_workers(workers)
    if batch_size < 1:
        raise SpecError(f"--batch-size must be at least 1, got {batch_size}")
    cluster.require_ray("--ray")
    from graphc.distributed.scoring import model_bytes, score_rows

    data = model if isinstance(model, bytes) else model.onnx_bytes() if hasattr(model, "onnx_bytes") \
        else model_bytes(model)
    with cluster.connected(address, "--ray"):
        return score_rows(data, [f"{k}={v}" for k, v in inputs.items()], out, workers, batch_size)


def run_ray(args) -> int:
    """`graphc run MODEL --input NAME=DATA --output OUT --ray`."""
    if not args.output:
        raise SpecError("--ray needs --output OUT.npz or --output FOLDER/ (the rows are not printed)")
    model = args.spec if is_onnx(args) else load_model(args)
    pairs = {}
    for pair in args.input:
        name, sep, path = pair.partition("=")
        if not sep:
            raise SpecError(f"--input takes NAME=DATA with --ray (DATA: .npy, a folder of .npy, or Parquet), "
                            f"got '{pair}'")
        pairs[name] = path
    rows = score(model, pairs, args.output, args.workers, 1024 if args.batch_size is None else args.batch_size,
                 args.ray_address)
    print(f"wrote {args.output} ({rows} rows)")
    return 0
