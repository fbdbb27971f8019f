"""How every command reads its input: a spec with --set/--seed/--model/--weights, or an .onnx file."""

from __future__ import annotations

import os
import sys
import warnings

from graphc.api import Model, load
from graphc.ir.graph import Graph
from graphc.onnx_in.importer import OnnxShapeWarning
from graphc.ops.float64 import float64_runtime_warning
from graphc.spec.params import parse_overrides


def is_onnx(args) -> bool:
    """Whether the command's input file is an ONNX model rather than a spec."""
    return args.spec.lower().endswith(".onnx")


def load_model(args) -> Model:
    """The Model of `args.spec`, with the overrides, seed, model choice and weights the flags give.
    An imported model's shape warnings are one `FILE: warning: ...` line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OnnxShapeWarning)
        model = load(args.spec, parse_overrides(args.set), args.seed, getattr(args, "model", None),
                     getattr(args, "weights", None), getattr(args, "training", None))
    for w in caught:
        if issubclass(w.category, OnnxShapeWarning):
            print(str(w.message), file=sys.stderr)
        else:  # anything else as it would have been shown
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return model


def load_graph(args) -> Graph:
    """The graph of a spec or of an .onnx file (imported into graphc ops), as `load_model`."""
    return load_model(args).graph


def out_path(args, default_ext: str) -> str:
    """`-o/--output`, or the spec's base name with `default_ext` in the current folder."""
    if getattr(args, "output", None):
        return args.output
    base = os.path.splitext(os.path.basename(args.spec))[0]
    return base + default_ext


def warn_float64(graph: Graph) -> None:
    """One line on stderr when onnxruntime's CPU provider cannot run the graph's float64 conv/pooling."""
    line = float64_runtime_warning(graph)
    if line:
        print(line, file=sys.stderr)
