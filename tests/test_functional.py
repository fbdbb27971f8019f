"""The functional Python API (`gc.Input`, `gc.layers`, `gc.Model`, `gc.scope`, `gc.repeat`) and
Python files as specs.

Oracles: the YAML specs of specs/ (their twins must give the same ONNX bytes), the error YAML
gives for the same mistake, numpy for outputs computed from the model's own weights, hand-worked
shapes and parameter names, and the line numbers of the scripts written here.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.spec.build import load_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
TWINS = os.path.join(ROOT, "examples", "python")


def _models(path: str) -> list[str | None]:
    spec = load_spec(path)
    return list(spec.models) if spec.multi else [None]


def _cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


# -- the README example and shapes at once --------------------------------------------------------
def test_readme_example(tmp_path):
    x = gc.Input("x", ["N", 784])
    h = gc.layers.dense(x, 64, activation="relu")
    assert h.shape == ("N", 64)
    logits = gc.layers.dense(h, 10, name="logits")
    model = gc.Model("mlp", inputs=[x], outputs=[logits])
    path = model.export(str(tmp_path / "mlp.onnx"))
    text = model.to_yaml()
    assert "dense: {units: 10, name: logits}" in text
    yaml_model = gc.loads("graphc: 1\nname: mlp\ninputs: {x: [N, 784]}\nlayers:\n"
                          "  - dense: {units: 64, activation: relu}\n  - dense: {units: 10, name: logits}\n")
    with open(path, "rb") as f:
        assert f.read() == yaml_model.onnx_bytes()
    assert sorted(model.weights) == ["dense_1.bias", "dense_1.weight", "logits.bias", "logits.weight"]
    xs = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    w = model.weights
    want = np.maximum(xs @ w["dense_1.weight"].T + w["dense_1.bias"], 0) @ w["logits.weight"].T + w["logits.bias"]
    np.testing.assert_allclose(model.run({"x": xs})["logits"], want, rtol=1e-4, atol=1e-5)


def test_inputs_positionally_or_as_a_list_and_operators():
    a = gc.Input("a", ["N", 4])
    b = gc.Input("b", ["N", 4])
    s1 = gc.layers.add(a, b)
    s2 = gc.layers.concat([a, b], axis=1)
    s3 = (a * 2.0 - b) / 4.0
    assert (s1.shape, s2.shape, s3.shape) == (("N", 4), ("N", 8), ("N", 4))
    assert s1.name == "add_1" and s2.name == "concat_1"
    model = gc.Model("ops", inputs=[a, b], outputs=[s1, s2, s3])
    av, bv = np.ones((2, 4), np.float32), np.arange(8, dtype=np.float32).reshape(2, 4)
    out = model.run({"a": av, "b": bv})
    np.testing.assert_allclose(out["add_1"], av + bv)
    np.testing.assert_allclose(out["concat_1"], np.concatenate([av, bv], 1))
    np.testing.assert_allclose(out[s3.name], (av * 2 - bv) / 4)


def test_functions_have_yaml_attribute_names_and_defaults():
    import inspect

    sig = inspect.signature(gc.layers.conv2d)
    assert list(sig.parameters)[:3] == ["x", "filters", "kernel"]
    assert sig.parameters["stride"].default == 1 and sig.parameters["bias"].default is True
    assert inspect.signature(gc.layers.layernorm).parameters["eps"].default == 1e-5
    assert "dense" in dir(gc.layers) and "softmax" in dir(gc.layers)
    with pytest.raises(AttributeError):
        gc.layers.no_such_op  # noqa: B018


# -- errors at the user's line ----------------------------------------------------------------------
SCRIPT = """\
import graphc as gc

x = gc.Input("x", ["N", 784])
h = gc.layers.dense(x, 64, activation="relu")
y = gc.layers.conv2d(h, 8, 3)
model = gc.Model("m", inputs=[x], outputs=[y])
"""


def test_shape_mistake_is_located_at_the_script_line(tmp_path):
    path = tmp_path / "bad_model.py"
    path.write_text(SCRIPT)
    with pytest.raises(gc.SpecError) as info:
        gc.load(str(path))
    assert (info.value.loc.file, info.value.loc.line) == (str(path), 5)
    with pytest.raises(gc.SpecError) as yaml_error:  # the same mistake in YAML: the same message
        gc.loads("graphc: 1\nname: m\ninputs: {x: [N, 784]}\nlayers:\n  - dense: {units: 64, activation: relu}\n"
                 "  - conv2d: {filters: 8, kernel: 3}\n")
    assert info.value.message == yaml_error.value.message
    r = _cli("check", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"{path}:5:5: error: {yaml_error.value.message} ({yaml_error.value.hint})"]


@pytest.mark.parametrize("k", [3, 7, 12])
def test_mistake_on_line_k(tmp_path, k):
    lines = ["import graphc as gc", "h = x = gc.Input('x', ['N', 8])"]
    while len(lines) < k - 1:
        lines.append("h = gc.layers.relu(h)")
    lines.append("h = gc.layers.add(h, gc.Input('y', ['M', 8]))")  # line k: N vs M
    path = tmp_path / "k.py"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(gc.SpecError) as info:
        gc.load(str(path))
    assert info.value.loc.file == str(path) and info.value.loc.line == k
    assert "N" in str(info.value) and "M" in str(info.value)


def test_script_errors_are_one_line(tmp_path):
    (tmp_path / "noname.py").write_text("import graphc as gc\n\nx = undefined_thing\n")
    r = _cli("check", str(tmp_path / "noname.py"))
    assert r.returncode == 2 and r.stderr.strip() == \
        f"{tmp_path / 'noname.py'}:3:1: error: NameError: name 'undefined_thing' is not defined"
    (tmp_path / "nomodel.py").write_text("import graphc as gc\nx = gc.Input('x', [2])\n")
    r = _cli("compile", str(tmp_path / "nomodel.py"))
    assert r.returncode == 2 and "defines no 'model'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("check", os.path.join(TWINS, "gan.py"), "--model", "generatr")
    assert r.returncode == 2 and "did you mean 'generator'?" in r.stderr


def test_missing_input_is_reported_at_the_model_line():
    x = gc.Input("x", ["N", 4])
    y = gc.Input("y", ["N", 4])
    s = gc.layers.add(x, y)
    with pytest.raises(gc.SpecError) as info:
        gc.Model("m", inputs=[x], outputs=[s])
    assert info.value.loc.file == __file__ and "input 'y'" in info.value.message


# -- blocks, scopes, several models ---------------------------------------------------------------
def _encoder(x):
    h = gc.layers.layernorm(x, name="ln1")
    return gc.layers.add(x, gc.layers.dense(h, 8, name="ff"), name="res")


def test_scope_loop_gives_the_block_parameter_names():
    x = gc.Input("x", ["N", 5, 8])
    h = x
    for i in range(2):
        with gc.scope("enc", i):
            h = _encoder(h)
    assert h.name == "enc.1.res"
    model = gc.Model("m", inputs=[x], outputs=[h])
    assert "enc.0.ln1.weight" in model.weights and "enc.1.ff.bias" in model.weights
    again = gc.loads(model.to_yaml())  # dotted names written back as YAML layer names
    assert again.onnx_bytes() == model.onnx_bytes()


def test_repeat_is_a_yaml_block_with_repeat():
    x = gc.Input("x", ["N", 5, 8])
    y = gc.repeat(_encoder, 3, name="enc")(x)
    model = gc.Model("m", inputs=[x], outputs=[y])
    assert y.name == "enc"
    assert "enc.2.ln1.weight" in model.weights and "enc.0.ff.weight" in model.weights
    yaml_model = gc.loads("graphc: 1\nname: m\ninputs: {x: [N, 5, 8]}\nblocks:\n  _encoder:\n    inputs: [x]\n"
                          "    layers:\n      - layernorm: {name: ln1}\n      - dense: {units: 8, name: ff}\n"
                          "      - add: {in: [x, ff], name: res}\nlayers:\n  - _encoder: {repeat: 3, name: enc}\n")
    assert model.onnx_bytes() == yaml_model.onnx_bytes()
    assert "_encoder: {repeat: 3, name: enc}" in model.to_yaml()


def test_gan_shares_weights_by_calling_a_model():
    z = gc.Input("z", ["N", 4])
    g = gc.Model("g", inputs=[z], outputs=[gc.layers.dense(gc.layers.dense(z, 6, activation="relu"), 3)])
    x = gc.Input("x", ["N", 3])
    d = gc.Model("d", inputs=[x], outputs=[gc.layers.dense(x, 1, activation="sigmoid")])
    z2 = gc.Input("z", ["N", 4])
    score = d(g(z2, name="fake"), name="score")
    gan = gc.Model("gan", inputs=[z2], outputs=[score], spec_name="toy_gan")
    assert set(gan.spec.models) == {"gan", "g", "d"}
    w = gan.weights
    for name, value in g.weights.items():  # the same initial values, by name
        np.testing.assert_array_equal(w[f"g.{name}"], value)
    zs = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    h = np.maximum(zs @ w["g.dense_1.weight"].T + w["g.dense_1.bias"], 0) @ w["g.dense_2.weight"].T + w["g.dense_2.bias"]
    want = 1 / (1 + np.exp(-(h @ w["d.dense_1.weight"].T + w["d.dense_1.bias"])))
    np.testing.assert_allclose(gan.run({"z": zs})["score"], want, rtol=1e-4, atol=1e-6)
    again = gc.loads(gan.to_yaml())
    assert again.model_name == "gan" and again.onnx_bytes() == gan.onnx_bytes()


# -- training, summary, grad as on a loaded spec -----------------------------------------------------
def test_training_fit_summary_grad():
    x = gc.Input("x", ["N", 1])
    y = gc.Input("y", ["N", 1])
    out = gc.layers.dense(x, 1, name="out")
    model = gc.Model("lin", inputs=[x, y], outputs=[out]).training(
        data=os.path.join(ROOT, "specs", "train_linear_regression.npz"), loss={"mse": {"pred": "out", "target": "y"}},
        optimizer={"sgd": {"lr": 0.05}}, batch_size=4, epochs=300, shuffle=False)
    assert "training:\n  data: {npz: " in model.to_yaml()
    model.fit(verbose=False)
    np.testing.assert_allclose(model.weights["out.weight"], [[2.0]], atol=1e-2)  # y = 2x, worked by hand
    np.testing.assert_allclose(model.weights["out.bias"], [0.0], atol=2e-2)
    assert "Total params: 2" in model.summary()
    assert model.check() == [("out", "dense", "[N, 1]")]
    grad = model.grad()
    assert any(o.name.startswith("grad") or "out.weight" in o.name for o in grad.graph.outputs)


# -- twins and round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_python_twin_gives_byte_identical_onnx(path):
    twin = os.path.join(TWINS, os.path.basename(path)[:-5] + ".py")
    assert os.path.exists(twin), f"no Python twin for {path}"
    for name in _models(path):
        assert gc.load(twin, model=name).onnx_bytes() == gc.load(path, model=name).onnx_bytes(), name


@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_to_yaml_round_trips(path):
    for name in _models(path):
        model = gc.load(path, model=name)
        again = gc.loads(model.to_yaml(), file=path)
        assert again.model_name == model.model_name
        assert again.onnx_bytes() == model.onnx_bytes()
    twin = gc.load(os.path.join(TWINS, os.path.basename(path)[:-5] + ".py"))
    assert gc.loads(twin.to_yaml()).onnx_bytes() == twin.onnx_bytes()


UNARY = ["relu", "tanh", "sigmoid", "gelu", "layernorm", "dropout"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 6), steps=st.lists(st.tuples(st.sampled_from(UNARY + ["dense", "skip"]),
                                                         st.integers(1, 6), st.booleans()), min_size=1, max_size=6))
def test_to_yaml_round_trips_generated_graphs(width, steps):
    x = gc.Input("x", ["N", width])
    h, outs = x, []
    for i, (op, units, named) in enumerate(steps):
        name = f"l{i}" if named else None
        if op == "dense":
            h = gc.layers.dense(h, units, activation="relu" if units % 2 else None, name=name)
        elif op == "skip":
            h = gc.layers.add(h, gc.layers.mul(h, 0.5), name=name)
        elif op == "dropout":
            h = gc.layers.dropout(h, 0.25, name=name)
        else:
            h = getattr(gc.layers, op)(h, name=name)
        outs.append(h)
    model = gc.Model("gen", inputs=[x], outputs=[outs[-1]] if len(outs) < 3 else [outs[1], outs[-1]])
    again = gc.loads(model.to_yaml())
    assert again.onnx_bytes() == model.onnx_bytes()
    assert [r[2] for r in again.check()] == [r[2] for r in model.check()]


# -- every command takes a .py file -----------------------------------------------------------------
def test_every_command_accepts_a_python_file(tmp_path):
    twin = os.path.join(TWINS, "mlp_small.py")
    spec = os.path.join(ROOT, "specs", "mlp_small.yaml")
    out = tmp_path / "a.onnx"
    assert _cli("compile", twin, "-o", str(out)).returncode == 0
    assert out.read_bytes() == gc.load(spec).onnx_bytes()
    r = _cli("check", twin)
    assert r.returncode == 0 and r.stdout == _cli("check", spec).stdout
    assert _cli("summary", twin).stdout == _cli("summary", spec).stdout
    r = _cli("grad", twin, "-o", str(tmp_path / "g.onnx"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.onnx").read_bytes() == (_cli("grad", spec, "-o", str(tmp_path / "h.onnx")) and
                                                 (tmp_path / "h.onnx").read_bytes())
    first = gc.load(spec).graph.inputs[0]
    np.save(tmp_path / "x.npy", np.ones([2 if isinstance(d, str) else d for d in first.shape], np.float32))
    r = _cli("run", twin, "--input", f"{first.name}={tmp_path / 'x.npy'}")
    assert r.returncode == 0 and r.stdout == _cli("run", spec, "--input", f"{first.name}={tmp_path / 'x.npy'}").stdout
    r = _cli("viz", twin, "-o", str(tmp_path / "m.dot"))
    assert r.returncode == 0 and (tmp_path / "m.dot").exists()
    r = _cli("train", os.path.join(TWINS, "train_linear_regression.py"), "--epochs", "2", "--quiet",
             "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "weights.npz").exists()
    r = _cli("check", twin, "--set", "width=3")
    assert r.returncode == 2 and "a Python spec has no spec parameters" in r.stderr


def test_default_names_restart_for_a_new_model():
    x = gc.Input("x", ["N", 3])
    assert gc.layers.dense(x, 2).name == "dense_1"  # a model never made
    x = gc.Input("x", ["N", 3])  # the same input name again: another model, names start again
    a = gc.layers.dense(x, 2)
    y = gc.Input("y", ["N", 3])  # a second input of the same model: names go on
    b = gc.layers.dense(y, 2)
    assert (a.name, b.name) == ("dense_1", "dense_2")
    model = gc.Model("two", inputs=[x, y], outputs=[gc.layers.add(a, b)])
    z = gc.Input("z", ["N", 3])
    assert gc.layers.dense(z, 2).name == "dense_1"  # after gc.Model
    assert [r[0] for r in model.check()] == ["dense_1", "dense_2", "add_1"]
