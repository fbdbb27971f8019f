"""`graphc weights convert IN OUT [--spec spec.yaml]`: weight files between .npz, .safetensors and
.pt/.pth, checked name by name and shape by shape against a spec's parameters when one is given."""

from __future__ import annotations

import argparse

from graphc.api import load
from graphc.runtime.weights import convert_weights
from graphc.spec.params import parse_overrides


def weights_command(args: argparse.Namespace) -> int:
    graph = None
    if args.spec:
        graph = load(args.spec, parse_overrides(args.set), model=args.model).graph
    count = convert_weights(args.input, args.output, graph)
    checked = f", every name and shape checked against {args.spec}" if graph is not None else ""
    print(f"wrote {args.output} ({count} arrays{checked})")
    return 0
