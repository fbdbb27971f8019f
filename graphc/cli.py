"""The `graphc` command line: argument parsing, messages and exit codes (0 ok, 2 user error, 1 bug).

The handlers live in graphc/commands/ (one module per command); this module only parses and dispatches.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from typing import Callable

from graphc.commands.check import check_command
from graphc.commands.compile import compile_command
from graphc.commands.grad import grad_command
from graphc.commands.lsp import lsp_command
from graphc.commands.run import run_command
from graphc.commands.schema import schema_command
from graphc.commands.serve import serve_command
from graphc.commands.summary import summary_command
from graphc.commands.train import train_command
from graphc.commands.viz import viz_command
from graphc.commands.weights import weights_command
from graphc.errors import GraphcError, ShapeError, SpecError
from graphc.version import __version__
from graphc.runtime.backends import RUNTIMES
from graphc.export.onnx_export import OPSET, OPSETS, TARGETS
from graphc.limits import set_max_memory

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage errors exit 2 as well, in our format
        self.print_usage(sys.stderr)
        print(f"graphc: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER)


def _spec_args(p: argparse.ArgumentParser, model: bool = True, onnx: bool = False) -> None:
    p.add_argument("spec", help="the spec file (.yaml, or .py defining `model`), or an .onnx model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec parameter (repeatable): --set dropout=0.3")
    p.add_argument("--seed", type=int, default=0, help="seed of the weight initialization (default 0)")
    if model:
        p.add_argument("--model", help="which model of a spec with several models (default: the first; "
                                       "for a .py spec: a model of its spec, or a variable)")
    p.add_argument("--weights", metavar="FILE", help="load parameters by name from a .npz, .safetensors or "
                   "PyTorch .pt/.pth state-dict file")
    p.add_argument("--max-memory", metavar="SIZE", help="memory the model may take, like 64GB (default: what is "
                   "available; a bigger model is refused before its weights are made)")


def _opt_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    for level in (0, 1, 2):
        group.add_argument(f"-O{level}", dest="opt_level", action="store_const", const=level,
                           help={0: "no optimization", 1: "cleanups only", 2: "all passes (default)"}[level])
    p.set_defaults(opt_level=2)
    p.add_argument("--passes", help="comma-separated passes to run instead of a level")
    p.add_argument("--explain", action="store_true", help="print what each pass changed")
    _target_args(p)


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--opset", type=int, choices=OPSETS, metavar="N",
                   help=f"ONNX opset to write, {OPSETS[0]} to {OPSETS[-1]} (default {OPSET}; an imported .onnx "
                        f"keeps its own, {OPSETS[0]} at least); see docs/runtimes.md")
    p.add_argument("--target", choices=TARGETS, default="portable",
                   help="portable: runs on onnxruntime, OpenVINO and tract (default); onnxruntime: faster forms "
                        "only onnxruntime runs (the rnn layer's Scan)")


def _runtime_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime",
                   help="onnxruntime (default) or openvino (pip install 'graphc[openvino]'); docs/runtimes.md")


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphc", description="graphc: compile, check, run, train and draw neural-network specs.",
                     epilog="exit status: 0 success, 2 user error (bad spec, arguments or input files: one "
                            "'file:line:col: error: ...' line on stderr), 1 internal error (a bug). "
                            "Run 'graphc COMMAND --help' for a command's options; docs/cli.md has them all.")
    parser.add_argument("--version", action="version", version=f"graphc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("compile", help="spec -> ONNX file", description="Compile a spec to a standard ONNX model.")
    _spec_args(p)
    p.add_argument("-o", "--output", metavar="OUT.onnx", help="output file (default: <spec name>.onnx)")
    p.add_argument("--save-weights", metavar="FILE", help="also write the parameters (.npz, .safetensors or .pt)")
    p.add_argument("--train", action="store_true", help="export the whole training step instead (see docs/training.md)")
    p.add_argument("--external-data", action="store_true",
                   help="keep tensors of 1 KiB and more in OUT.onnx.data beside the model (automatic past 2 GiB)")
    _opt_args(p)
    p.set_defaults(func=compile_command)

    p = sub.add_parser("check", help="check shapes, print each layer's output shape",
                       description="Parse and shape-check a spec; prints each layer's output shape.")
    _spec_args(p)
    p.set_defaults(func=check_command)

    p = sub.add_parser("summary", help="table of layers, shapes, parameters and FLOPs",
                       description="Print a summary of the model: per layer and totals.")
    _spec_args(p)
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="output format (default: table)")
    p.set_defaults(func=summary_command)

    p = sub.add_parser("run", help="run a spec or an ONNX file on onnxruntime",
                       description="Run a spec or .onnx model on onnxruntime with inputs from .npy/.npz files.")
    _spec_args(p, onnx=True)
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input array (repeatable); FILE.npz supplies every array it holds by name")
    p.add_argument("--output", "-o", metavar="OUT.npz", help="save the outputs here instead of printing them")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when onnxruntime-gpu and a GPU are there, else CPU")
    p.add_argument("--ray", action="store_true", help="batch scoring on Ray (docs/scale.md); DATA: .npy, a folder "
                   "of .npy shards, or Parquet; --output OUT.npz or a folder of shards")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --ray: onnxruntime sessions (default: the cluster's CPUs)")
    p.add_argument("--batch-size", type=int, metavar="B", help="with --ray: rows per batch (default 1024)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="join this Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    _runtime_arg(p)
    p.set_defaults(func=run_command)

    p = sub.add_parser("grad", help="gradient graph -> ONNX file",
                       description="Export an ONNX model computing the outputs and their gradients.")
    _spec_args(p)
    p.add_argument("-o", "--output", metavar="OUT.onnx", help="output file (default: <spec name>.grad.onnx)")
    p.add_argument("--wrt", default="params", help="params (default), inputs, or a comma-separated list of names")
    p.add_argument("--loss", help="a scalar output to differentiate (its cotangent is 1, not an input)")
    _opt_args(p)
    p.set_defaults(func=grad_command)

    p = sub.add_parser("train", help="train a spec with its training: section",
                       description="Train the model as its spec's training: section says.")
    _spec_args(p)
    p.add_argument("--training", metavar="TRAIN.yaml",
                   help="for an .onnx model: a file holding only a training: section")
    p.add_argument("--out", metavar="DIR", help="run folder (default: runs/<spec name>/)")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="onnxruntime execution provider (default: auto, as for run)")
    p.add_argument("--workers", type=int, metavar="N", help="data-parallel training on N Ray workers (docs/scale.md)")
    p.add_argument("--ray-address", metavar="ADDR", help="with --workers: join this Ray cluster (default: "
                   "$RAY_ADDRESS, else a local Ray)")
    _runtime_arg(p)
    p.set_defaults(func=train_command)

    p = sub.add_parser("viz", help="draw a spec or ONNX model with Graphviz",
                       description="Draw a spec or .onnx model (svg, png, pdf or dot).")
    _spec_args(p, onnx=True)
    p.add_argument("-o", "--output", metavar="OUT.svg",
                   help="svg, png, pdf, dot, or html (the interactive viewer) (default: <spec name>.svg)")
    p.add_argument("--run", metavar="DIR", help="with -o x.html: show this graphc train run folder's curves beside the model")
    p.add_argument("--level", choices=("layer", "op", "grad"), default="layer",
                   help="one box per layer (default), per primitive op, or the gradient graph")
    p.add_argument("--depth", type=int, help="collapse scopes deeper than this")
    p.add_argument("--expand", action="store_true", help="draw every copy of repeated blocks")
    p.add_argument("--passes", action="store_true", help="before and after optimization, side by side")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top-to-bottom or left-to-right")
    p.set_defaults(func=viz_command)

    p = sub.add_parser("serve", help="serve the interactive viewer, reloading when the spec changes",
                       description="Serve the viewer page of a spec on 127.0.0.1; it reloads when the spec changes.")
    _spec_args(p, onnx=True)
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--run", metavar="DIR", help="show this run folder's curves (default: runs/<spec name>/ if present)")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top-to-bottom or left-to-right")
    p.set_defaults(func=serve_command)

    p = sub.add_parser("weights", help="convert weight files (.npz, .safetensors, .pt)",
                       description="Work with weight files: .npz, .safetensors and PyTorch .pt/.pth state dicts.")
    inner = p.add_subparsers(dest="weights_command", metavar="SUBCOMMAND", parser_class=_Parser)
    inner.required = True
    p = inner.add_parser("convert", help="convert between .npz, .safetensors and .pt",
                         description="Copy every array of IN into OUT, formats by extension (.npz, .safetensors, "
                                     ".pt/.pth). With --spec, first check every name and shape against the "
                                     "spec's parameters; all mismatches are named, exit status 2.")
    p.add_argument("input", metavar="IN", help="weights to read (.npz, .safetensors, .pt, .pth)")
    p.add_argument("output", metavar="OUT", help="weights to write (.npz, .safetensors, .pt, .pth)")
    p.add_argument("--spec", help="check names and shapes against this spec's parameters")
    p.add_argument("--model", help="which model of a spec with several models (default: the first)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec parameter (repeatable), as for compile")
    p.set_defaults(func=weights_command)

    p = sub.add_parser("schema", help="write the JSON Schema of the spec language (for editors)",
                       description="Generate the spec language's JSON Schema from the registry (docs/editors.md).")
    p.add_argument("-o", "--output", metavar="FILE.json", help="write here (default: print it)")
    p.set_defaults(func=schema_command)

    p = sub.add_parser("lsp", help="language server over stdio (needs graphc[lsp])",
                       description="Run the graphc language server on stdin/stdout (docs/editors.md).")
    p.set_defaults(func=lsp_command)
    return parser


def main(argv: list[str] | None = None, handler: Callable | None = None) -> int:
    # A graph is many small long-lived objects: with the default gen-0 threshold (700) the cyclic
    # collector rescans them over and over (40% of compile time at 10,000 layers).
    gc.set_threshold(100_000, 20, 20)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER
    try:
        if hasattr(args, "max_memory"):
            set_max_memory(args.max_memory)  # None: the default (each call of main starts afresh)
        return (handler or args.func)(args)
    except MemoryError:
        print("error: out of memory (the model or its data is too big for this machine; see --max-memory)",
              file=sys.stderr)
        return EXIT_USER
    except SpecError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USER
    except ShapeError as e:
        print(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""), file=sys.stderr)
        return EXIT_USER
    except GraphcError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # noqa: BLE001 - a bug in graphc: say so, with the trace for the report
        print("graphc: internal error (a bug in graphc, please report it with this trace):", file=sys.stderr)
        traceback.print_exc()
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
