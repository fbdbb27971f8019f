"""`graphc train spec.yaml [--out DIR] [--epochs N] [--resume] [--set k=v] [--workers N]`."""

from __future__ import annotations

import os
import sys

from graphc.training.compile import train_config


def run_dir(spec_path: str, spec_name: str, out: str | None) -> str:
    return out or os.path.join("runs", spec_name)


def train_command(args) -> int:
    from graphc.api import load
    from graphc.spec.params import parse_overrides
    from graphc.training.loop import Trainer, format_report

    model = load(args.spec, parse_overrides(args.set), args.seed, args.model, args.weights)
    cfg = train_config(model)
    out = run_dir(args.spec, model.spec.name, args.out)
    os.makedirs(out, exist_ok=True)
    tty = sys.stderr.isatty() and not args.quiet
    workers = getattr(args, "workers", None) is not None
    if cfg.gan is not None and not workers:
        from graphc.training.gan import GanTrainer

        result = GanTrainer(model.spec, cfg, args.provider).fit(out, args.epochs, args.resume, log=print)
        print(f"wrote {out}/ (generator.onnx, weights.npz, history.json, checkpoint/)")
        return 0
    if workers:
        from graphc.distributed.commands import train_distributed

        result = train_distributed(model, cfg, args, out, tty)
    else:
        result = Trainer(model, cfg, args.provider).fit(out, args.epochs, args.resume, log=print, tty=tty)
    print(format_report(result))
    print(f"wrote {out}/ (model.onnx, weights.npz, history.json, checkpoint/)")
    return 0
