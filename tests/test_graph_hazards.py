"""Graph hazards: reference cycles (shown as a path), self-references, and very long specs that
must build with no recursion anywhere in graphc."""

from __future__ import annotations

import ast
import os

import pytest
from cli_harness import ROOT, assert_user_error, run_cli

HEAD = "graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n"

CYCLES = {
    "two": ("  - dense: {units: 4, name: a, in: b}\n  - dense: {units: 4, name: b, in: a}\n",
            "spec.yaml:5:36: error: cycle through in: a -> b -> a; 'b' is defined later (line 6) (change "),
    "three_with_default_input": ("  - dense: {units: 4, name: a, in: c}\n  - dense: {units: 4, name: b}\n"
                                 "  - add: {in: [x, b], name: c}\n",
                                 "spec.yaml:5:36: error: cycle through in: a -> c -> b -> a; 'c' is defined later"),
    "suffix": ("  - lstm: {hidden: 4, name: r, in: s.h}\n  - dense: {units: 4, name: s, in: r.y}\n",
               "spec.yaml:5:36: error: cycle through in: r -> s -> r"),
    "self": ("  - add: {in: [x, me], name: me}\n", "spec.yaml:5:19: error: cycle: layer 'me' reads its own output"),
    "forward_no_cycle": ("  - dense: {units: 4, name: a, in: b}\n  - relu: {name: b, in: x}\n",
                         "spec.yaml:5:36: error: 'b' is defined later (line 6)"),
}


@pytest.mark.parametrize("name", sorted(CYCLES))
def test_cycle_message(name, tmp_path):
    body, prefix = CYCLES[name]
    (tmp_path / "spec.yaml").write_text(HEAD + body)
    line = assert_user_error(run_cli(["check", "spec.yaml"], cwd=tmp_path))
    assert line.startswith(prefix), line


def test_cycle_inside_block(tmp_path):
    (tmp_path / "spec.yaml").write_text(
        "graphc: 1\nname: m\ninputs: {x: [N, 4]}\nblocks:\n  b:\n    inputs: [x]\n    layers:\n"
        "      - dense: {units: 4, name: p, in: q}\n      - dense: {units: 4, name: q, in: p}\n"
        "layers:\n  - b: {repeat: 2}\n")
    line = assert_user_error(run_cli(["check", "spec.yaml"], cwd=tmp_path))
    assert line.startswith("spec.yaml:8:40: error: cycle through in: p -> q -> p"), line


def _long_spec(n: int) -> str:
    return HEAD + "".join("  - dense: {units: 4}\n" if i % 2 == 0 else "  - relu:\n" for i in range(n))


def _long_case(tmp_path, n: int) -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort

    (tmp_path / "spec.yaml").write_text(_long_spec(n))
    r = run_cli(["compile", "spec.yaml", "-o", "m.onnx", "--save-weights", "w.npz"], cwd=tmp_path, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["summary", "spec.yaml", "--format", "json"], cwd=tmp_path, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model)
    # oracle: the same chain in numpy with the saved weights
    w = np.load(tmp_path / "w.npz")
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    want = x
    for k in range(1, n // 2 + 1):
        want = np.maximum(want @ w[f"dense_{k}.weight"].T + w[f"dense_{k}.bias"], 0)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_20k_layer_spec(tmp_path):
    _long_case(tmp_path, 20_000)


@pytest.mark.slow
def test_100k_layer_spec(tmp_path):
    _long_case(tmp_path, 100_000)


# -- no recursion in graphc ------------------------------------------------------------------
# Functions that call themselves walk YAML values, whose depth the loader caps at MAX_DEPTH (100):
# their recursion is bounded by it. Nothing else in graphc may recurse.
BOUNDED = {  # function -> why its recursion is bounded
    **dict.fromkeys(["graphc/spec/params.py:substitute", "graphc/spec/validate.py:_is_numbers",
                     "graphc/spec/validate.py:_depth_len", "graphc/training/config.py:walk",
                     "graphc/passes/cse.py:freeze", "graphc/viz/views.py:fmt_value"],
                    "walks a YAML value: the loader caps nesting at 100 levels"),
    **dict.fromkeys(["graphc/functional/trace.py:locmap", "graphc/functional/trace.py:plain",
                     "graphc/spec/writer.py:_plain", "graphc/ir/digest.py:_canon",
                     "graphc/viewer/page_data.py:_fmt"],
                    "walks an attribute or spec value: as deep as the YAML it could be written as (<= 100 levels)"),
    **dict.fromkeys(["graphc/functional/trace.py:add_block", "graphc/functional/model.py:_add_blocks"],
                    "one level per block used inside a block: bounded by the number of distinct blocks"),
    "graphc/onnx_in/scopes.py:boxes": "one level per module scope of a node name (`/a/b/c/Conv`)",
    "graphc/viewer/page_data.py:chunked": "chunks of 40: depth log40(layers), 4 levels at 100,000 layers",
    "graphc/distributed/scoring.py:take": "one level: a batch that is not one run of rows is taken row by row",
    "graphc/autodiff/graph.py:resolve_wrt": "one level: 'params' / 'inputs' inside a list of names",
    "graphc/ir/symbolic.py:primary": "parses a symbolic dim expression; spec dims are identifiers, derived "
                                     "expressions nest as deep as the ops that made them (to be made iterative)",
}


def _self_calls(package: str, root: str) -> set[str]:
    """`file:function` for every function that calls itself by name (a method: through self)."""
    found = set()
    for folder, _, files in os.walk(package):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            tree = ast.parse(open(path, encoding="utf-8").read())
            methods = {id(m) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for m in c.body}
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for sub in ast.walk(node):
                    fn = sub.func if isinstance(sub, ast.Call) else None
                    bare = isinstance(fn, ast.Name) and fn.id == node.name and id(node) not in methods
                    via_self = (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)
                                and fn.value.id in ("self", "cls") and fn.attr == node.name and id(node) in methods)
                    if bare or via_self:
                        found.add(f"{os.path.relpath(path, root)}:{node.name}")
    return found


def test_no_recursion_in_graphc():
    recursive = _self_calls(os.path.join(ROOT, "graphc"), ROOT)
    assert recursive - set(BOUNDED) == set(), "recursive functions: " + ", ".join(sorted(recursive - set(BOUNDED)))


def test_recursion_finder_finds_recursion(tmp_path):
    """The audit can fail: it finds a recursive function and a recursive method, not a lookalike."""
    (tmp_path / "m.py").write_text("def f(n):\n    return f(n - 1) if n else 0\n\n\nclass A:\n"
                                   "    def g(self):\n        return self.g()\n\n    def f(self):\n"
                                   "        return f(1)\n")
    assert _self_calls(str(tmp_path), str(tmp_path)) == {"m.py:f", "m.py:g"}
