"""`graphc compile`: a spec to an ONNX file (or, with --train, the whole training step)."""

from __future__ import annotations

from graphc.commands.load import load_model, out_path, warn_float64
from graphc.training.compile import export_train_step


def compile_command(args) -> int:
    model = load_model(args)
    warn_float64(model.graph)
    passes = args.passes.split(",") if args.passes else None
    explain: list | None = [] if args.explain else None
    if args.train:
        path = out_path(args, ".train.onnx")
        export_train_step(model, path, opt_level=args.opt_level, opset=args.opset, target=args.target)
    else:
        path = out_path(args, ".onnx")
        model.export(path, args.opt_level, passes, explain, external_data=args.external_data or None,
                     opset=args.opset, target=args.target, in_place=not args.save_weights)
    if explain is not None:
        for line in explain:
            print(line)
    if args.save_weights:
        model.save_weights(args.save_weights)
    print(f"wrote {path}")
    return 0
