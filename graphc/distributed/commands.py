"""The CLI's entry points into graphc/distributed: `graphc train --workers N` and `graphc run --ray`."""

from __future__ import annotations

from graphc.distributed import cluster
from graphc.errors import SpecError


def check_workers(workers: int | None, flag: str = "--workers") -> None:
    if workers is not None and workers < 1:
        raise SpecError(f"{flag} must be at least 1, got {workers}")


def train_distributed(model, cfg, args, out: str, tty: bool):
    """Train on `args.workers` Ray workers; returns the TrainResult (the run folder as one process)."""
    check_workers(args.workers)
    if cfg.gan is not None:
        raise SpecError("--workers: a gan: training section (alternating steps) trains in one process only",
                        cfg.loc, "drop --workers")
    cluster.require_ray("--workers")
    from graphc.distributed.training import DistributedTrainer

    with cluster.connected(getattr(args, "ray_address", None), "--workers"):
        trainer = DistributedTrainer(model, cfg, args.workers, args.provider)
        try:
            return trainer.fit(out, args.epochs, args.resume, log=print, tty=tty)
        finally:
            trainer.close()


def run_ray(args) -> int:
    """`graphc run MODEL --input NAME=DATA --output OUT --ray`."""
    check_workers(args.workers)
    if args.batch_size is not None and args.batch_size < 1:
        raise SpecError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.output:
        raise SpecError("--ray needs --output OUT.npz or --output FOLDER/ (the rows are not printed)")
    cluster.require_ray("--ray")
    from graphc.distributed.scoring import score

    with cluster.connected(args.ray_address, "--ray"):
        rows = score(args, args.output, args.workers, args.batch_size or 1024)
    print(f"wrote {args.output} ({rows} rows)")
    return 0
