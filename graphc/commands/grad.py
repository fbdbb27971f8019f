"""`graphc grad`: write the gradient graph of a model as ONNX."""

from __future__ import annotations

from graphc.autodiff.export import export_grad
from graphc.commands.load import load_model, out_path


def grad_command(args) -> int:
    model = load_model(args)
    path = out_path(args, ".grad.onnx")
    export_grad(model, path, wrt=args.wrt, loss=args.loss, opt_level=args.opt_level)
    print(f"wrote {path}")
    return 0
