"""Fuzzing with hypothesis (a fixed, derandomized budget; bench/fuzz.py runs long campaigns):
random YAML documents and mutations of every bundled spec through check, summary, compile and viz,
and mutated / truncated bytes of real ONNX exports through summary and viz. The only error
allowed is graphc's own (exit 2, one line); an internal error (exit 1) fails."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_harness import assert_user_error, run_cli
from fuzz_cases import SPECS, check_onnx_bytes, check_spec_text, mutate, mutate_bytes

FUZZ = settings(max_examples=int(os.environ.get("GRAPHC_FUZZ_EXAMPLES", 60)), deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck), database=None)
OPS = st.lists(st.tuples(st.integers(0, 5), st.floats(0, 0.999), st.integers(0, 999)), min_size=1, max_size=4)
KEYS = st.sampled_from(["graphc", "name", "inputs", "layers", "outputs", "params", "blocks", "models", "training",
                        "dense", "units", "in", "x", "conv2d", "filters", "kernel", "repeat", "shape", "dtype",
                        "loss", "optimizer", "relu", "add", "N"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                    st.text(max_size=12), KEYS)
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=30)


@FUZZ
@given(doc=DOCS, header=st.booleans())
def test_random_yaml_documents(tmp_path_factory, doc, header):
    if header and isinstance(doc, dict):
        doc = {"graphc": 1, "name": "m", **doc}
    text = yaml.safe_dump(doc, allow_unicode=True)
    assert check_spec_text(text, str(tmp_path_factory.mktemp("doc"))) == []


@FUZZ
@given(index=st.integers(0, len(SPECS) - 1), ops=OPS)
def test_mutated_specs(tmp_path_factory, index, ops):
    with open(SPECS[index], encoding="utf-8") as f:
        text = mutate(f.read(), ops)
    assert check_spec_text(text, str(tmp_path_factory.mktemp("mut"))) == []


@pytest.mark.parametrize("spec", SPECS, ids=[os.path.basename(s)[:-5] for s in SPECS])
def test_every_spec_is_fuzzed(spec):
    """The mutation test draws from every bundled spec; each one also passes unmutated."""
    from fuzz_cases import run_main

    assert run_main(["check", spec], os.path.dirname(spec))[0] == 0


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from fuzz_cases import run_main

    folder = tmp_path_factory.mktemp("exports")
    blobs = []
    for name in ("mnist_cnn", "train_mlp_digits", "train_lstm"):
        path = os.path.join(os.path.dirname(SPECS[0]), f"{name}.yaml")
        assert run_main(["compile", path, "-o", str(folder / f"{name}.onnx")], str(folder))[0] == 0
        blobs.append((folder / f"{name}.onnx").read_bytes())
    return blobs


@FUZZ
@given(index=st.integers(0, 2), ops=OPS)
def test_mutated_onnx_files(tmp_path_factory, exports, index, ops):
    data = mutate_bytes(exports[index], ops)
    assert check_onnx_bytes(data, str(tmp_path_factory.mktemp("onnx"))) == []


@pytest.mark.parametrize("cut", [0, 1, 7, 100, 1000, -1])
def test_truncated_onnx_subprocess(tmp_path, exports, cut):
    """A few of the same as real subprocesses (memory and time limits, no stdin)."""
    data = exports[2]
    (tmp_path / "m.onnx").write_bytes(data[:cut] if cut >= 0 else data[:-1])
    for command in (["summary"], ["viz", "-o", "m.dot"]):
        r = run_cli([command[0], "m.onnx", *command[1:]], cwd=tmp_path)
        if r.returncode != 0:
            assert_user_error(r, located=False)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_spec_subprocess(tmp_path, seed):
    import random

    from fuzz_cases import random_ops

    rng = random.Random(seed)
    with open(SPECS[seed * 3 % len(SPECS)], encoding="utf-8") as f:
        text = mutate(f.read(), random_ops(rng))
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    r = run_cli(["check", "s.yaml"], cwd=tmp_path)
    if r.returncode != 0:
        assert_user_error(r, located=False)


def test_found_by_fuzzing(tmp_path):
    """Cases bench/fuzz.py found (seed 1): a bare `=` value, an ONNX tensor of unknown data type."""
    import onnx

    from fuzz_cases import check_onnx_bytes, check_spec_text

    assert check_spec_text("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n  - relu: {name: =}\n",
                           str(tmp_path)) == []
    model = onnx.helper.make_model(onnx.helper.make_graph(
        [], "g", [], [onnx.helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, [1], [1.0])]))
    model.graph.initializer[0].data_type = 72
    assert check_onnx_bytes(model.SerializeToString(), str(tmp_path)) == []
    from fuzz_cases import run_main

    status, err = run_main(["summary", "fuzz.onnx"], str(tmp_path))
    assert status == 2 and "unknown data type 72" in err
