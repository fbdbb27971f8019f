"""`graphc weights convert IN OUT [--spec spec.yaml]`: weight files between .npz, .safetensors and
.pt/.pth, checked name by name and shape by shape against a spec's parameters when one is given."""

from __future__ import annotations

import argparse

from graphc.runtime.weights import convert_weights


def add_parser(sub) -> None:
    """The `weights` command and its `convert` subcommand (argparse only)."""
    p = sub.add_parser("weights", help="convert weight files (.npz, .safetensors, .pt)",
                       description="Work with weight files: .npz, .safetensors and PyTorch .pt/.pth state dicts.")
    inner = p.add_subparsers(dest="weights_command", metavar="SUBCOMMAND", parser_class=type(p))
    inner.required = True
    c = inner.add_parser("convert", help="convert between .npz, .safetensors and .pt",
                         description="Copy every array of IN into OUT, formats by extension (.npz, .safetensors, "
                                     ".pt/.pth). With --spec, first check every name and shape against the "
                                     "spec's parameters; all mismatches are named, exit status 2.")
    c.add_argument("input", metavar="IN", help="weights to read (.npz, .safetensors, .pt, .pth)")
    c.add_argument("output", metavar="OUT", help="weights to write (.npz, .safetensors, .pt, .pth)")
    c.add_argument("--spec", help="check names and shapes against this spec's parameters")
    c.add_argument("--model", help="which model of a spec with several models (default: the first)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec parameter (repeatable), as for compile")


def weights_command(args: argparse.Namespace) -> int:
    graph = None
    if args.spec:
        from graphc.api import load
        from graphc.spec.params import parse_overrides

        graph = load(args.spec, parse_overrides(args.set), model=args.model).graph
    count = convert_weights(args.input, args.output, graph)
    checked = f", every name and shape checked against {args.spec}" if graph is not None else ""
    print(f"wrote {args.output} ({count} arrays{checked})")
    return 0
