"""The CLI's entry points into graphc/distributed: `graphc train --workers N` and `graphc run --ray`."""

from __future__ import annotations

from graphc.commands.load import is_onnx, load_model
from graphc.distributed.api import fit_on_ray, score
from graphc.errors import SpecError


def train_distributed(model, cfg, args, out: str, tty: bool):
    """`graphc train --workers N`."""
    return fit_on_ray(model, cfg, args.workers, out, args.epochs, args.resume, print, tty, args.provider,
                      args.ray_address)


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
