"""Generate docs/ops.md from the op registry: every op with its shape rule, ONNX lowering,
gradient rule (or the reason it has none), numpy reference and tests.

    python docs/gen_ops_table.py          # rewrite docs/ops.md
    python docs/gen_ops_table.py --check  # exit 1 when docs/ops.md is out of date
"""

from __future__ import annotations

import inspect
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "ops.md")


def _where(fn) -> str:
    """The source file of a function (lambdas included); no line numbers, so the table stays stable."""
    try:
        return os.path.relpath(inspect.getsourcefile(fn), ROOT)
    except (TypeError, OSError):
        return "?"


def _source(fn) -> str:
    try:
        return inspect.getsource(fn)
    except (TypeError, OSError):
        return ""


def onnx_ops(opdef) -> list[str]:
    """The ONNX op types an op's lowering emits (its `onnx_ops`), with its float64 handling."""
    ops = list(opdef.onnx_ops)
    if opdef.float64 == "decomposed" and ops:
        ops[0] += " (float64: decomposed, graphc/ops/float64.py)"
    return ops


def _lambda_body(src: str) -> str:
    m = re.search(r"lambda b, n, g:\s*", src)
    if not m:
        return ""
    depth, i = 0, m.end()
    for j in range(m.end(), len(src)):
        c = src[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return " ".join(src[i:j].split())
            depth -= 1
        elif c == "," and depth == 0:
            return " ".join(src[i:j].split())
    return " ".join(src[i:].split())


def gradient_rule(opdef) -> str:
    if opdef.vjp is None:
        return f"none: {opdef.no_grad}" if opdef.no_grad else "**MISSING**"
    fn = opdef.vjp
    if fn.__name__ == "<lambda>":
        body = _lambda_body(_source(fn))
        text = f"`{body}`" if body and len(body) < 110 else "rule"
    else:
        doc = (fn.__doc__ or "").strip().splitlines()
        text = doc[0] if doc else f"`{fn.__name__}`"
    return f"{text} ({_where(fn)})"


def _count_cases() -> tuple[dict, dict]:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import test_grad_ops as grad
        import test_ops_forward as fwd
    except Exception:  # noqa: BLE001 - the table still renders without test counts
        return {}, {}
    forward = {op: len(cases) for op, cases in fwd.CASES.items()}
    backward = {}
    for param in grad._differentiable_cases():
        backward[param.values[0]] = backward.get(param.values[0], 0) + 1
    return forward, backward


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render() -> str:
    from graphc.ops import OPS

    forward, backward = _count_cases()
    lines = [
        "# Ops",
        "",
        "Generated from the op registry (`graphc/ops/`) by `python docs/gen_ops_table.py`; do not edit by hand.",
        "Each op is defined once (`OpDef`): shape rule (`infer`), numpy reference (`ref`), ONNX lowering",
        "(`lower`, standard opset 21 only), and a gradient rule (`vjp`, written with graphc ops, so",
        "gradient graphs export, optimize and differentiate again) or the reason it has none (`no_grad`).",
        "Tests: `tests/test_ops_forward.py` (shape rule, reference and lowering against PyTorch/numpy",
        "oracles) and `tests/test_grad_ops.py` (gradient graph on onnxruntime against float64 finite",
        "differences and PyTorch autograd); the numbers are their sample cases.",
        "",
        "Gradients: `graphc grad spec.yaml -o grad.onnx [--wrt params|inputs|NAME,...] [--loss NAME]`,",
        "`model.grad(wrt=..., loss=...)` (a Model: `.export`, `.run`, `.grad` again for second order), or",
        "`graphc.autodiff.gradients(graph, ys, cotangents, wrt)` inside a graph. The gradient model takes",
        "a cotangent input `grad.<output>` per float output (none with `--loss`: a scalar output seeded",
        "with 1) and adds an output `grad.<name>` per parameter or input in `--wrt`; in a second-order",
        "graph the new outputs get a suffix (`grad.W_2`) since `grad.W` is taken. Backward nodes have",
        "`role == \"backward\"` and the layer and spec location of the forward node they differentiate.",
        "Not supported: gradients through conv/pool/upsample with symbolic spatial sizes, concat where an",
        "input other than the last has a symbolic size along the axis, and strided slices of symbolic axes",
        "(each a located error, not a wrong result).",
        "",
        "float64: onnxruntime's CPU provider has no float64 kernel for Erf, Gelu, Elu, Selu, Softplus and",
        "LeakyRelu; for float64 input those ops lower to float64 ops it has (graphc/ops/float64.py: a few",
        "ulps of error, gelu < 1e-13 relative; no float32 casts), and `global_avgpool` to ReduceMean.",
        "Conv, ConvTranspose and AveragePool stay: a float64 model with them exports but does not run on",
        "onnxruntime's CPU provider, and `graphc check`/`compile` warn about it (one line on stderr).",
        "",
        "Random numbers: one counter-based hash PRNG (graphc/ops/sampling.py) behind `dropout_mask`,",
        "`normal_from_seed` (seed: an int64 graph value; training feeds one per step) and",
        "`random_normal_like` (a constant `seed` attribute: `reparameterize: {sample: true}`). The same",
        "seed gives the same numbers in onnxruntime, onnx.reference and numpy.",
        "",
        "| op | kind | shape rule | ONNX | gradient | reference | tests (fwd / grad) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(OPS):
        d = OPS[name]
        kind = ("layer" if d.public else "internal") + f", {d.family}"
        ins = ", ".join(d.inputs)
        shape = f"`{name}({ins})`: {d.doc}" if d.doc else f"`{name}({ins})` **MISSING doc**"
        onnx = ", ".join(onnx_ops(d)) or "**MISSING**"
        ref = _where(d.ref)
        grad_cases = backward.get(name, 0) if d.vjp is not None else "-"
        tests = f"{forward.get(name, 0)} / {grad_cases}"
        lines.append("| " + " | ".join(_cell(c) for c in (f"`{name}`", kind, shape, onnx, gradient_rule(d), ref, tests))
                     + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, ROOT)
    text = render()
    if "--check" in argv:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                print("docs/ops.md is out of date: run python docs/gen_ops_table.py", file=sys.stderr)
                return 1
        return 0
    from graphc.util.atomic import write_bytes

    write_bytes(OUT, text.encode("utf-8"))
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
