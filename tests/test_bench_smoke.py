"""Smoke tests of bench/compile_scaling.py and bench/inference.py in --quick mode (no timing asserts).

The oracles are structural: the scripts exit 0, write their JSON (to a temporary folder, not
bench/results/) with the documented fields, graphc's ONNX file of the benchmark MLP passes the
full checker with the layer count the spec asks for, and onnxruntime gives the same outputs for
graphc's and PyTorch's files of the same model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def _run(script: str, tmp_path, *args: str) -> dict:
    env = dict(os.environ, GRAPHC_BENCH_RESULTS=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(BENCH, script), "--quick", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = script.removesuffix(".py")
    with open(tmp_path / f"{name}.json", encoding="utf-8") as f:
        data = json.load(f)
    assert data["benchmark"] == name and data["quick"] is True
    assert data["machine"]["versions"]["onnxruntime"]
    return data


def test_compile_scaling_quick(tmp_path):
    pytest.importorskip("torch")
    data = _run("compile_scaling.py", tmp_path)
    (row,) = data["rows"]
    assert row["n"] == 10
    assert row["graphc"]["wall_s"] > 0 and row["graphc"]["cpu_s"] > 0
    for exporter in ("torch_dynamo", "torch_script"):
        assert row[exporter].get("wall_s", 0) > 0, row[exporter]


def test_compile_scaling_spec_is_the_mlp(tmp_path):
    sys.path.insert(0, BENCH)
    try:
        from compile_scaling import mlp_spec
    finally:
        sys.path.remove(BENCH)
    spec = tmp_path / "mlp.yaml"
    spec.write_text(mlp_spec(3))
    out = tmp_path / "mlp.onnx"
    subprocess.run([sys.executable, "-m", "graphc", "compile", str(spec), "-o", str(out)], check=True, cwd=ROOT,
                   capture_output=True)
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    weights = sorted(i.name for i in model.graph.initializer if len(i.dims) == 2)
    assert weights == [f"dense_{k}.weight" for k in (1, 2, 3)]
    assert all(list(i.dims) == [64, 64] for i in model.graph.initializer if len(i.dims) == 2)
    assert sum(n.op_type == "Relu" for n in model.graph.node) == 3


def test_inference_quick(tmp_path):
    pytest.importorskip("torch")
    data = _run("inference.py", tmp_path)
    assert data["settings"]["intra_op_threads"] == 1
    (row,) = data["rows"]
    assert row["spec"] == "mlp_small" and row["batch"] == 1
    assert row["outputs_match"], row["max_err_rel_to_max"]
    assert row["graphc_s"] > 0 and row["torch_s"] > 0 and np.isfinite(row["ratio"])
    assert row["gflop"] == pytest.approx(2 * (64 * 32 + 32 * 10) * 1e-9, rel=0.05)  # 2 x MACs of its dense layers
    assert row["graphc_gflops"] > 0 and data["matmul_peak_gflops"] > 0


def test_time_block_and_write_json(tmp_path):
    sys.path.insert(0, BENCH)
    try:
        import common
    finally:
        sys.path.remove(BENCH)
    calls = []
    t = common.time_block(lambda: calls.append(1), repeat=3, number=4, warmup=2)
    assert len(calls) == 2 + 3 * 4
    assert len(t["blocks_s"]) == 3 and t["min_s"] <= t["median_s"] and t["number"] == 4
    path = common.write_json("unit", {"x": 1}, directory=str(tmp_path))
    data = json.loads(open(path, encoding="utf-8").read())
    assert data["x"] == 1 and data["benchmark"] == "unit" and "cpu" in data["machine"]
    assert os.listdir(tmp_path) == ["unit.json"]  # nothing left behind


def test_extra_twins_match_spec_parameters():
    """bench/extra_twins.py's weights carry exactly the spec's parameter names and shapes."""
    pytest.importorskip("torch")
    import graphc

    sys.path.insert(0, BENCH)
    try:
        from extra_twins import EXTRA_TWINS, graphc_state
    finally:
        sys.path.remove(BENCH)
    for name, (factory, _) in EXTRA_TWINS.items():
        spec = os.path.join(ROOT, "specs", f"{name}.yaml")
        if not os.path.exists(spec):
            continue
        expected = {k: v.shape for k, v in graphc.load(spec).weights.items()}
        got = {k: v.shape for k, v in graphc_state(factory()).items()}
        assert got == expected, name
