"""`graphc train spec.yaml [--out DIR] [--epochs N] [--resume] [--set k=v]`."""

from __future__ import annotations

import os

from graphc.commands.load import load_model
from graphc.training.compile import train_config
from graphc.training.gan import GanTrainer
from graphc.training.loop import Trainer, format_report
from graphc.training.progress import wants_bar


def run_dir(spec_path: str, spec_name: str, out: str | None) -> str:
    return out or os.path.join("runs", spec_name)


def train_command(args) -> int:
    model = load_model(args)
    cfg = train_config(model)
    out = run_dir(args.spec, model.spec.name, args.out)
    os.makedirs(out, exist_ok=True)
    tty = wants_bar(args.quiet)
    if cfg.gan is not None:
        result = GanTrainer(model.spec, cfg, args.provider).fit(out, args.epochs, args.resume, log=print, tty=tty)
        print(f"wrote {out}/ (generator.onnx, weights.npz, history.json, curves.png, samples.png, checkpoint/)")
        return 0
    trainer = Trainer(model, cfg, args.provider)
    result = trainer.fit(out, args.epochs, args.resume, log=print, tty=tty)
    print(format_report(result))
    pictures = "curves.png, samples.png" if os.path.exists(os.path.join(out, "samples.png")) else "curves.png"
    print(f"wrote {out}/ (model.onnx, weights.npz, history.json, {pictures}, checkpoint/)")
    return 0
