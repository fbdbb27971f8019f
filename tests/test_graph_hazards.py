"""Graph hazards: reference cycles (shown as a path), self-references, and very long specs that
must build with no recursion anywhere in graphc."""

from __future__ import annotations

import os

import pytest
from call_graph import recursive_functions
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
# tests/call_graph.py builds graphc's static call graph; a function on a cycle of it (calling
# itself, or through others, in one module or across modules, or through self/cls methods) can
# recurse. Nothing in graphc may: nested values, block nesting, layer trees and dim expressions
# are walked with explicit stacks (graphc/util/walk.py), so depth is bounded by memory alone.


def test_no_recursion_in_graphc():
    recursive = recursive_functions(os.path.join(ROOT, "graphc"), ROOT)
    assert recursive == set(), "recursive functions: " + ", ".join(sorted(recursive))


def _write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_recursion_finder_finds_recursion(tmp_path):
    """The audit can fail: it finds self-calls, mutual recursion in a module and across modules
    (through `from ... import`, a module alias and a re-export), methods through self and cls,
    `yield from`, and a function passed on to call itself; not lookalikes (a method and a module
    function of the same name, a local variable shadowing a function, a trampolined `yield g()`)."""
    _write(tmp_path / "pkg", {
        "__init__.py": "from pkg.b import ping\n",
        "a.py": ("from pkg import b\nfrom .b import pong\n\n\n"
                 "def f(n):\n    return f(n - 1) if n else 0\n\n\n"
                 "def even(n):\n    return True if n == 0 else odd(n - 1)\n\n\n"
                 "def odd(n):\n    return False if n == 0 else even(n - 1)\n\n\n"
                 "def to_b(n):\n    return b.from_a(n)\n\n\n"
                 "def to_pong(n):\n    return pong(n)\n\n\n"
                 "def mapped(xs):\n    return list(map(mapped, xs)) if isinstance(xs, list) else xs\n\n\n"
                 "def walk(t):\n    yield t\n    for c in t:\n        yield from walk(c)\n\n\n"
                 "def gen(n):\n    x = yield gen(n - 1)\n    return x\n\n\n"
                 "def shadow(f):\n    return f(1)\n\n\n"
                 "class A:\n    def g(self):\n        return self.h()\n\n    def h(self):\n        return self.g()\n\n"
                 "    @classmethod\n    def c(cls):\n        return cls.c()\n\n"
                 "    def f(self):\n        return f(1)\n\n\n"
                 "class B(A):\n    def h(self):\n        return super().h()\n"),
        "b.py": ("def from_a(n):\n    from_a_helper = None\n    return deep(n)\n\n\n"
                 "def deep(n):\n    import pkg.a as a\n    return a.to_b(n)\n\n\n"
                 "def pong(n):\n    return ping(n)\n\n\n"
                 "def ping(n):\n    from pkg.a import to_pong\n    return to_pong(n)\n"),
    })
    assert recursive_functions(str(tmp_path / "pkg"), str(tmp_path)) == {
        "pkg/a.py:f", "pkg/a.py:even", "pkg/a.py:odd", "pkg/a.py:mapped", "pkg/a.py:walk",
        "pkg/a.py:A.g", "pkg/a.py:A.h", "pkg/a.py:A.c", "pkg/a.py:B.h",
    } | {"pkg/a.py:to_b", "pkg/b.py:from_a", "pkg/b.py:deep"} | {"pkg/a.py:to_pong", "pkg/b.py:pong", "pkg/b.py:ping"}
