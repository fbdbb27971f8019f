"""Smoke test of bench/optimize.py --quick (no timing asserts): it exits 0 and writes its JSON (to a
temporary folder) with the documented fields; the structural oracles are onnxruntime agreeing with
PyTorch eager on every file, and graphc -O2 having no more nodes than -O0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_optimize_bench_quick(tmp_path):
    env = dict(os.environ, GRAPHC_BENCH_RESULTS=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "optimize.py"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "optimize.json").read_text())
    assert data["quick"] and data["summary"]["all_outputs_match"]
    rows = {r["model"]: r for r in data["rows"]}
    assert set(rows) == {"mlp_small", "transformer_block"}
    for r in rows.values():
        assert r["nodes"]["graphc_O2"] <= r["nodes"]["graphc_O0"]
        assert {"graphc_O2[all] / torch[all]", "graphc_O2[all] / torch_eager"} <= set(r["ratios"])
    ops = rows["transformer_block"]["ops"]["graphc_O2"]
    assert ops["LayerNormalization"] == 2 and ops["Gelu"] == 1  # the fusions fired on the primitives
