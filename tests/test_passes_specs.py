"""Differential tests of the passes on every example spec in specs/ (every model of it), with
non-default weights (batch-norm statistics too):

- the -O2 graph gives the outputs of the -O0 graph on onnxruntime (float32 tolerance), and of the
  numpy reference interpreter run on the unoptimized graph;
- the graph stays valid after every pass (verified in debug mode) and the ONNX file passes the
  full checker and is byte-identical across two compilations;
- every pass is idempotent on it: a second run changes nothing.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc
from graphc.export.onnx_export import to_onnx
from graphc.ops import interpret
from graphc.passes import PASSES, verify_graph
from graphc.passes.log import PassLog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
CASES = [(path, model) for path in SPEC_FILES for model in graphc.load(path).spec.model_names()]
IDS = [f"{os.path.splitext(os.path.basename(p))[0]}:{m}" for p, m in CASES]
RTOL, ATOL = 2e-4, 2e-4  # float32, after reassociation (batch-norm folding, fused layernorm / gelu)


@pytest.fixture(autouse=True)
def _debug(monkeypatch):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")


def randomized(path: str, model: str) -> graphc.Model:
    """The model with every parameter redrawn (positive running variances)."""
    m = graphc.load(path, model=model)
    rng = np.random.default_rng(11)
    for name, p in m.graph.params.items():
        if not np.issubdtype(p.data.dtype, np.floating):
            continue
        data = rng.uniform(0.5, 1.5, p.data.shape) if name.endswith("running_var") else \
            rng.standard_normal(p.data.shape) * 0.3
        p.data = data.astype(p.data.dtype)
    return m


def feeds_for(graph, rng) -> dict[str, np.ndarray]:
    sizes = {}
    feeds = {}
    for v in graph.inputs:
        shape = [d if isinstance(d, int) else sizes.setdefault(d, 2 + len(sizes)) for d in v.shape]
        if v.dtype.startswith("float"):
            feeds[v.name] = rng.standard_normal(shape).astype(v.dtype)
        elif v.dtype == "bool":
            feeds[v.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[v.name] = rng.integers(0, 2, shape).astype(v.dtype)
    return feeds


def run(model_bytes: bytes, feeds: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return sess.run(None, {k: v for k, v in feeds.items() if k in names})


@pytest.mark.parametrize("path,model", CASES, ids=IDS)
def test_O2_matches_O0_and_the_numpy_references(path, model):
    m = randomized(path, model)
    g0 = m.inference_graph(0)
    feeds = feeds_for(g0, np.random.default_rng(0))
    b2 = m.onnx_bytes(2)
    onnx.checker.check_model(onnx.load_from_string(b2), full_check=True)
    assert b2 == m.onnx_bytes(2), "not deterministic"
    o0, o2 = run(m.onnx_bytes(0), feeds), run(b2, feeds)
    ref = interpret(m.graph, feeds, outputs=m.graph.outputs)
    for v, a, b in zip(m.graph.outputs, o0, o2):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"{v.name}: -O2 vs -O0")
        np.testing.assert_allclose(b, ref[v.name], rtol=RTOL, atol=ATOL, err_msg=f"{v.name}: -O2 vs numpy")
    assert len(m.inference_graph(2).nodes) <= len(g0.nodes)


@pytest.mark.parametrize("path,model", CASES, ids=IDS)
def test_every_pass_is_idempotent_and_leaves_a_valid_graph(path, model):
    m = randomized(path, model)
    for name, p in PASSES.items():
        g = m.inference_graph(0)
        p.run(g, PassLog(name))
        verify_graph(g, name)
        again = PassLog(name)
        assert not p.run(g, again), f"{name} changed {again.lines} on its second run"
        onnx.checker.check_model(to_onnx(g), full_check=True)
