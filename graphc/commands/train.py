"""`graphc train spec.yaml [--out DIR] [--epochs N] [--resume] [--set k=v] [--workers N]`."""

from __future__ import annotations

import os

from graphc.commands.load import load_model
from graphc.commands.distributed import train_distributed
from graphc.training.compile import train_config
from graphc.training.gan import GanTrainer
from graphc.training.loop import Trainer, format_report
from graphc.training.progress import wants_bar
from graphc.runtime.backends import require_onnxruntime_for
from graphc.errors import SpecError


def run_dir(spec_path: str, spec_name: str, out: str | None) -> str:
    return out or os.path.join("runs", spec_name)


def train_command(args) -> int:
    model = load_model(args)
    cfg = train_config(model)
    out = run_dir(args.spec, model.spec.name, args.out)
    os.makedirs(out, exist_ok=True)
    tty = wants_bar(args.quiet)
    runtime = getattr(args, "runtime", "onnxruntime")
    workers = getattr(args, "workers", None) is not None
    if cfg.gan is not None and not workers:
        require_onnxruntime_for(runtime, "GAN training (alternating steps)")
        result = GanTrainer(model.spec, cfg, args.provider).fit(out, args.epochs, args.resume, log=print, tty=tty)
        print(f"wrote {out}/ (generator.onnx, weights.npz, history.json, curves.png, samples.png, checkpoint/)")
        return 0
    if workers:
        if runtime != "onnxruntime":
            raise SpecError("--workers: Ray workers run onnxruntime", hint="drop --runtime")
        result = train_distributed(model, cfg, args, out, tty)
    else:
        result = Trainer(model, cfg, args.provider, runtime=runtime).fit(out, args.epochs, args.resume, log=print,
                                                                         tty=tty)
    print(format_report(result))
    pictures = "curves.png, samples.png" if os.path.exists(os.path.join(out, "samples.png")) else "curves.png"
    print(f"wrote {out}/ (model.onnx, weights.npz, history.json, {pictures}, checkpoint/)")
    return 0
