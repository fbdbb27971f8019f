"""Positive behaviour of the spec front end: names, references, params, blocks, models, interface.

Oracles: the contract's names and shapes written out by hand, numpy, and PyTorch for the
numerical checks (same weights, loaded from the graph).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc.layers import LAYERS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "specs", "mnist_cnn.yaml")


def _write(tmp_path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _check_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", "check", *args], capture_output=True, text=True,
                          timeout=120)


def _layer_shapes(model: graphc.Model) -> dict[str, str]:
    return {name: shape for name, _, shape in model.check()}


# -- names and references -------------------------------------------------------------------
def test_default_names_count_explicitly_named_layers_too():
    m = graphc.loads("""graphc: 1
name: m
inputs: {x: [N, 4]}
layers:
  - dense: {units: 5}
  - dense: {units: 6, name: hidden}
  - relu:
  - dense: {units: 7}
""")
    assert [(l.name, l.op) for l in m.graph.layers] == [
        ("dense_1", "dense"), ("hidden", "dense"), ("relu_1", "relu"), ("dense_3", "dense")]
    assert sorted(m.weights) == sorted(["dense_1.weight", "dense_1.bias", "hidden.weight", "hidden.bias",
                                        "dense_3.weight", "dense_3.bias"])
    assert m.weights["dense_3.weight"].shape == (7, 6)  # [out, in], as PyTorch
    assert _layer_shapes(m)["dense_3"] == "[N, 7]"


def test_in_lists_and_output_suffixes(tmp_path):
    m = graphc.loads("""graphc: 1
name: m
blocks:
  halves:
    inputs: [x]
    layers:
      - relu: {name: pos}
      - neg: {in: x, name: negx}
    outputs: [pos, negx]
inputs: {x: [N, 6]}
layers:
  - split: {axis: 1, name: parts}
  - add: {in: [parts.1, parts.0], name: s}
  - halves: {in: x, name: h}
  - sub: {in: [h.pos, h.1], name: d}
  - concat: {in: [s, parts, d], axis: 1}
""")
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    out = m.run({"x": x})
    (y,) = out.values()
    a, b = x[:, :3], x[:, 3:]
    want = np.concatenate([b + a, a, np.maximum(x, 0) + x], axis=1)  # parts means parts.0; relu(x) - (-x)
    np.testing.assert_allclose(y, want, rtol=1e-6)
    assert list(out) == ["concat_1"]


def test_numbers_in_in_lists_are_constants():
    m = graphc.loads("""graphc: 1
name: m
inputs: {x: [N, 3]}
layers:
  - mul: {in: [x, 0.5], name: half}
  - sub: {in: [2, half]}
""")
    x = np.array([[1.0, 2.0, -4.0]], np.float32)
    (y,) = m.run({"x": x}).values()
    np.testing.assert_allclose(y, 2 - 0.5 * x)


def test_first_layer_reads_the_float_input_when_a_label_exists():
    m = graphc.load(MNIST)
    first = m.graph.layers[0]
    assert first.inputs == ["image"]


# -- params, --set and $expressions -----------------------------------------------------------
PARAM_SPEC = """graphc: 1
name: m
params: {width: 8, scale: 0.5, half: $width // 2}
inputs: {x: [N, 4]}
layers:
  - dense: {units: $width}
  - dense: {units: $width * 2 + 1}
  - dense: {units: $half, name: h}
  - mul: {in: [h, $scale]}
"""


def test_params_and_expressions(tmp_path):
    m = graphc.load(_write(tmp_path, PARAM_SPEC))
    shapes = _layer_shapes(m)
    assert (shapes["dense_1"], shapes["dense_2"], shapes["h"]) == ("[N, 8]", "[N, 17]", "[N, 4]")


def test_params_override_python_api(tmp_path):
    m = graphc.load(_write(tmp_path, PARAM_SPEC), params={"width": 10})
    shapes = _layer_shapes(m)
    assert (shapes["dense_1"], shapes["dense_2"], shapes["h"]) == ("[N, 10]", "[N, 21]", "[N, 5]")
    x = np.ones((2, 4), np.float32)
    m2 = graphc.load(_write(tmp_path, PARAM_SPEC), params={"scale": 0.0})
    (y,) = m2.run({"x": x}).values()
    assert np.all(y == 0)


def test_set_override_cli(tmp_path):
    path = _write(tmp_path, PARAM_SPEC)
    r = _check_cli(path, "--set", "width=6", "--set", "scale=0.25")
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line.split()[-2:] for line in r.stdout.splitlines() if line.startswith(("dense", "h "))}
    assert lines["dense_1"] == ["[N,", "6]"] and lines["dense_2"] == ["[N,", "13]"] and lines["h"] == ["[N,", "3]"]


def test_dropout_param_of_the_contract_example(tmp_path):
    r = _check_cli(MNIST, "--set", "dropout=0.3")
    assert r.returncode == 0, r.stderr
    m = graphc.load(MNIST, params={"dropout": 0.3})
    info = next(l for l in m.graph.layers if l.name == "dropout_1")
    assert info.attrs["rate"] == 0.3


# -- blocks -----------------------------------------------------------------------------------
BLOCK_SPEC = """graphc: 1
name: b
blocks:
  encoder_layer:
    params: {d_model: 8, ff: 16}
    inputs: [x]
    layers:
      - layernorm: {name: ln1}
      - dense: {units: $d_model, name: att}
      - add: {in: [x, att], name: res1}
      - layernorm: {name: ln2}
      - dense: {units: $ff, activation: gelu}
      - dense: {units: $d_model, name: ff_out}
      - add: {in: [res1, ff_out]}
inputs: {x: [N, T, 8]}
layers:
  - encoder_layer: {repeat: 2, ff: 12}
  - encoder_layer: {name: enc}
"""


def test_block_parameter_names():
    m = graphc.loads(BLOCK_SPEC)
    names = list(m.weights)
    for copy in ("encoder_layer_1.0", "encoder_layer_1.1", "enc"):
        for layer in ("ln1", "att", "ln2", "dense_2", "ff_out"):
            assert f"{copy}.{layer}.weight" in names and f"{copy}.{layer}.bias" in names
    assert len(names) == 30
    assert names[0] == "encoder_layer_1.0.ln1.weight" and names[-1] == "enc.ff_out.bias"
    assert m.weights["encoder_layer_1.1.dense_2.weight"].shape == (12, 8)  # ff: 12 given by the caller
    assert m.weights["enc.dense_2.weight"].shape == (16, 8)  # the block's default
    # layer scopes stay recognizable
    assert "encoder_layer_1.1.res1" in [l.name for l in m.graph.layers]


def test_block_numerics_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m = graphc.loads(BLOCK_SPEC)
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in m.weights.items()}
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)

    def block(h, p):
        ln = lambda t, n: F.layer_norm(t, (8,), w[f"{p}.{n}.weight"], w[f"{p}.{n}.bias"], 1e-5)
        lin = lambda t, n: F.linear(t, w[f"{p}.{n}.weight"], w[f"{p}.{n}.bias"])
        res1 = h + lin(ln(h, "ln1"), "att")
        return res1 + lin(F.gelu(lin(ln(res1, "ln2"), "dense_2")), "ff_out")

    h = torch.from_numpy(x.astype(np.float64))
    for p in ("encoder_layer_1.0", "encoder_layer_1.1", "enc"):
        h = block(h, p)
    (y,) = m.run({"x": x}).values()
    np.testing.assert_allclose(y, h.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif("attention" not in LAYERS, reason="attention layer not registered yet")
def test_contract_encoder_block_names():
    m = graphc.loads("""graphc: 1
name: enc
blocks:
  encoder_layer:
    params: {d_model: 128, heads: 4, ff: 512}
    inputs: [x]
    layers:
      - layernorm: {name: ln1}
      - attention: {heads: $heads, name: att}
      - add: {in: [x, att], name: res1}
      - layernorm: {name: ln2}
      - dense: {units: $ff, activation: gelu}
      - dense: {units: $d_model, name: ff_out}
      - add: {in: [res1, ff_out]}
inputs: {tokens: {shape: [N, T], dtype: int64}}
layers:
  - embedding: {vocab: 1000, dim: 128, in: tokens}
  - encoder_layer: {repeat: 6, heads: 4}
""")
    names = list(m.weights)
    assert "encoder_layer_1.0.ln1.weight" in names and "encoder_layer_1.5.ff_out.bias" in names
    assert "encoder_layer_1.0.att.q.weight" in names


# -- graph interface and ONNX -----------------------------------------------------------------
def test_symbolic_dims_become_dim_params_and_label_is_dropped():
    m = graphc.load(MNIST)
    g = m.to_onnx().graph
    assert [i.name for i in g.input] == ["image"]  # label is only for training
    dims = [d.dim_param or d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, 28, 28]
    assert [o.name for o in g.output] == ["logits"]
    assert [d.dim_param or d.dim_value for d in g.output[0].type.tensor_type.shape.dim] == ["N", 10]
    assert g.name == "mnist_cnn"


def test_symbolic_dims_several_names(tmp_path):
    m = graphc.loads("""graphc: 1
name: m
inputs: {x: [batch, seq, 4]}
layers:
  - dense: {units: 3}
""")
    g = m.to_onnx().graph
    assert [d.dim_param or d.dim_value for d in g.output[0].type.tensor_type.shape.dim] == ["batch", "seq", 3]


def test_mnist_cnn_contract_example_against_torch():
    torch = pytest.importorskip("torch")
    m = graphc.load(MNIST)
    assert m.graph.param_count() == 1_199_882  # Keras' summary of this model
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(9216, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10)).double().eval()
    keys = ["conv2d_1", None, "conv2d_2", None, None, None, "dense_1", None, "logits"]
    state = {f"{i}.{p}": torch.from_numpy(m.weights[f"{k}.{p}"].astype(np.float64))
             for i, k in enumerate(keys) if k for p in ("weight", "bias")}
    net.load_state_dict(state)
    for batch in (1, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)
        out = m.run({"image": x})
        assert list(out) == ["logits"]
        with torch.no_grad():
            want = net(torch.from_numpy(x.astype(np.float64))).numpy()
        np.testing.assert_allclose(out["logits"], want, rtol=1e-4, atol=1e-5)


# -- several models -----------------------------------------------------------------------------
GAN = """graphc: 1
name: gan
models:
  generator:
    inputs: {z: [N, 100]}
    layers:
      - dense: {units: 128, activation: relu}
      - dense: {units: 784, activation: tanh}
  discriminator:
    inputs: {x: [N, 784]}
    layers:
      - dense: {units: 128, activation: leaky_relu}
      - dense: {units: 1, activation: sigmoid}
  combined:
    inputs: {z: [N, 100], real: [N, 784]}
    layers:
      - generator: {in: z, name: fake}
      - discriminator: {in: fake, name: d_fake}
      - discriminator: {in: real, name: d_real}
    outputs: [d_fake, d_real]
"""


def test_models_each_build_on_their_own():
    gen = graphc.loads(GAN)  # the first model by default
    assert gen.name == "generator" and _layer_shapes(gen)["dense_2"] == "[N, 784]"
    disc = graphc.loads(GAN, model="discriminator")
    assert _layer_shapes(disc)["dense_2"] == "[N, 1]"


def test_model_used_as_layer_shares_its_weights():
    gen = graphc.loads(GAN, model="generator")
    disc = graphc.loads(GAN, model="discriminator")
    comb = graphc.loads(GAN, model="combined")
    # one set of discriminator weights although it is used twice, named <model>.<layer>.<param>
    assert sorted(comb.weights) == sorted([f"{m}.dense_{i}.{p}" for m in ("generator", "discriminator")
                                           for i in (1, 2) for p in ("weight", "bias")])
    for k, v in disc.weights.items():
        np.testing.assert_array_equal(comb.weights[f"discriminator.{k}"], v)
    for k, v in gen.weights.items():
        np.testing.assert_array_equal(comb.weights[f"generator.{k}"], v)
    # numerically: d_fake = D(G(z)), d_real = D(real), with numpy as the oracle
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 100)).astype(np.float32)
    real = rng.uniform(-1, 1, (3, 784)).astype(np.float32)
    out = comb.run({"z": z, "real": real})
    w = {k: v.astype(np.float64) for k, v in comb.weights.items()}

    def D(x):
        h = x @ w["discriminator.dense_1.weight"].T + w["discriminator.dense_1.bias"]
        h = np.where(h > 0, h, 0.01 * h)
        return 1 / (1 + np.exp(-(h @ w["discriminator.dense_2.weight"].T + w["discriminator.dense_2.bias"])))

    h = np.maximum(z @ w["generator.dense_1.weight"].T + w["generator.dense_1.bias"], 0)
    fake = np.tanh(h @ w["generator.dense_2.weight"].T + w["generator.dense_2.bias"])
    np.testing.assert_allclose(out["d_fake"], D(fake), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["d_real"], D(real), rtol=1e-4, atol=1e-6)


# -- YAML numbers and constants ---------------------------------------------------------------
def test_exponent_floats_are_numbers(tmp_path):
    m = graphc.loads("""graphc: 1
name: m
params: {rate: 1e-1}
inputs: {x: [N, 3, 4, 4]}
layers:
  - batchnorm: {eps: 1e-3}
  - dropout: {rate: $rate}
""")
    attrs = {l.name: l.attrs for l in m.graph.layers}
    assert attrs["batchnorm_1"]["eps"] == 1e-3 and attrs["dropout_1"]["rate"] == 0.1
    path = _write(tmp_path, "graphc: 1\nname: m\nparams: {r: 0.5}\ninputs: {x: [N, 3]}\nlayers:\n"
                            "  - dropout: {rate: $r}\n")
    r = _check_cli(path, "--set", "r=2.5e-1")
    assert r.returncode == 0, r.stderr
    assert graphc.load(path, params={"r": 2.5e-1}).graph.layers[0].attrs["rate"] == 0.25


def test_constant_layer_reads_no_input():
    m = graphc.loads("""graphc: 1
name: m
inputs: {x: [N, 2]}
layers:
  - constant: {value: [[1.0, -2.0]], name: c}
  - add: {in: [x, c]}
""")
    x = np.array([[0.5, 0.5], [1.0, 2.0]], np.float32)
    (y,) = m.run({"x": x}).values()
    np.testing.assert_allclose(y, x + np.array([[1.0, -2.0]]))


def test_where_constants_take_the_data_dtype():
    m = graphc.loads("""graphc: 1
name: m
inputs: {x: [N, 3]}
layers:
  - greater: {in: [x, 0], name: pos}
  - where: {in: [pos, x, 0.5]}
""")
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    (y,) = m.run({"x": x}).values()
    np.testing.assert_array_equal(y, np.where(x > 0, x, np.float32(0.5)))
