"""`graphc train spec.yaml [--out DIR] [--epochs N] [--resume] [--set k=v] [--workers N]`."""

from __future__ import annotations

import os
import sys

from graphc.commands.load import load_model
from graphc.commands.distributed import train_distributed
from graphc.training import faults
from graphc.training.compile import train_config
from graphc.training.gan import GanTrainer
from graphc.training.loop import Trainer, format_report
from graphc.training.progress import wants_bar
from graphc.runtime.backends import require_onnxruntime_for
from graphc.errors import SpecError
from graphc.util.atomic import write_fix


def run_dir(spec_path: str, spec_name: str, out: str | None) -> str:
    return out or os.path.join("runs", spec_name)


def train_command(args) -> int:
    model = load_model(args)
    cfg = train_config(model)
    out = run_dir(args.spec, model.spec.name, args.out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise SpecError(f"cannot create the run folder {out}: {e.strerror or e}", hint=write_fix(e)) from None
    try:
        with faults.stop_on_signals():
            return _train(model, cfg, out, args)
    except faults.Stopped as e:
        print(faults.stopped_message(e, out), file=sys.stderr)
        return 128 + e.signum
    except faults.NonFiniteLoss as e:
        training = model.spec.training
        loc = training.value_loc("optimizer") if training is not None and "optimizer" in training else cfg.loc
        raise faults.non_finite_error(e, out, loc) from None


def _train(model, cfg, out: str, args) -> int:
    tty = wants_bar(args.quiet)
    runtime = getattr(args, "runtime", "onnxruntime")
    workers = getattr(args, "workers", None) is not None
    if cfg.gan is not None and not workers:
        require_onnxruntime_for(runtime, "GAN training (alternating steps)")
        GanTrainer(model.spec, cfg, args.provider).fit(out, args.epochs, args.resume, log=print, tty=tty)
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
