"""The train-step graph (vs PyTorch), its ONNX export, the training section's errors, the loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from prng_oracle import dropout_mask_oracle, hash_normal

import graphc
from graphc.errors import SpecError
from graphc.training.compile import train_config, train_step_bytes
from graphc.training.runner import StepRunner
from graphc.training.step import build_train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MLP = """graphc: 1
name: mlp
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 32, activation: relu, name: hidden}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits}
  loss: {cross_entropy: {logits: logits, target: label}}
  regularization: {l2: 0.001}
  optimizer: {adam: {lr: 0.01}}
  clip_grad_norm: 0.5
  batch_size: 16
"""


def _torch_mlp(model):
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    w = model.weights
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w["hidden.weight"]))
        net[0].bias.copy_(torch.tensor(w["hidden.bias"]))
        net[2].weight.copy_(torch.tensor(w["logits.weight"]))
        net[2].bias.copy_(torch.tensor(w["logits.bias"]))
    return net


def test_train_steps_match_pytorch():
    """Three steps of forward + loss + l2 + gradients + clipping + Adam, vs a PyTorch loop."""
    model = graphc.loads(MLP)
    step = build_train_step(model.graph, train_config(model))
    runner = StepRunner(step, "cpu")
    net = _torch_mlp(model)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    for k in range(3):
        x = rng.random((16, 64), dtype=np.float32)
        y = rng.integers(0, 10, 16)
        out = runner.run({"x": x, "label": y})
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        loss = loss + 0.001 * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    cur = runner.current
    np.testing.assert_allclose(cur["param.hidden.weight"], net[0].weight.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cur["param.logits.bias"], net[2].bias.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert int(cur["step"]) == 3


def test_train_step_onnx_passes_full_check_and_runs(tmp_path):
    """The Keras MNIST CNN (conv, maxpool, dropout) as one train-step ONNX model on plain onnxruntime."""
    spec = os.path.join(ROOT, "specs", "train_keras_cnn_digits.yaml")
    path = tmp_path / "step.onnx"
    assert subprocess.run([sys.executable, "-m", "graphc", "compile", spec, "--train", "-o", str(path)],
                          capture_output=True, text=True).returncode == 0
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert all(op.domain in ("", "ai.onnx") for op in m.opset_import)
    names_in = [i.name for i in m.graph.input]
    names_out = [o.name for o in m.graph.output]
    assert {"image", "label", "step", "seed", "param.conv2d_1.weight", "state.conv2d_1.weight.square_avg"} <= set(names_in)
    assert {"loss", "metric.accuracy", "new.param.conv2d_1.weight", "new.step"} <= set(names_out)
    sess = ort.InferenceSession(str(path))
    model = graphc.load(spec)
    step = build_train_step(model.graph, train_config(model))
    feeds = dict(step.initial)
    feeds.update({"image": np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32),
                  "label": np.arange(5, dtype=np.int64), "seed": np.asarray(7, np.int64)})
    out = dict(zip(names_out, sess.run(None, {k: feeds[k] for k in names_in})))
    assert np.isfinite(out["loss"]) and int(out["new.step"]) == 1
    assert not np.array_equal(out["new.param.conv2d_1.weight"], feeds["param.conv2d_1.weight"])
    # the same spec compiles to the same bytes
    assert train_step_bytes(model) == train_step_bytes(graphc.load(spec))


def test_dropout_masks_are_reproducible_and_match_numpy():
    text = MLP.replace("  - dense: {units: 10, name: logits}", "  - dropout: {rate: 0.5}\n  - dense: {units: 10, name: logits}")
    model = graphc.loads(text)
    step = build_train_step(model.graph, train_config(model))
    sess = ort.InferenceSession(train_step_bytes(model, opt_level=0))
    from graphc.export.onnx_export import to_onnx
    from graphc.ops import Builder
    from graphc.ir.graph import Graph
    from graphc.ir.types import TensorType

    g = Graph("mask")
    x = g.add_input("x", TensorType("float32", ("N", 7)))
    seed = g.add_input("seed", TensorType("int64", ()))
    g.outputs = [Builder(g).dropout_mask(x, seed, rate=0.3, salt=5)]
    mask_sess = ort.InferenceSession(to_onnx(g).SerializeToString())
    ones = np.ones((300, 7), np.float32)
    got = mask_sess.run(None, {"x": ones, "seed": np.asarray(42, np.int64)})[0]
    want = dropout_mask_oracle([ones, 42], {"rate": 0.3, "salt": 5})[0]  # tests/prng_oracle.py, by hand
    np.testing.assert_array_equal(got, want)
    assert abs((got == 0).mean() - 0.3) < 0.03
    other = mask_sess.run(None, {"x": ones, "seed": np.asarray(43, np.int64)})[0]
    assert not np.array_equal(got, other)
    feeds = dict(step.initial)
    feeds.update({"x": np.ones((4, 64), np.float32), "label": np.zeros(4, np.int64), "seed": np.asarray(1, np.int64)})
    names = [i.name for i in sess.get_inputs()]
    a = sess.run(None, {k: feeds[k] for k in names})
    b = sess.run(None, {k: feeds[k] for k in names})
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_batchnorm_trains_like_pytorch():
    text = """graphc: 1
name: bn
inputs:
  x: [N, 6]
  t: [N, 1]
layers:
  - batchnorm: {momentum: 0.2, name: bn, in: x}
  - dense: {units: 1, name: y}
training:
  data: {dataset: diabetes}
  loss: {mse: {pred: y, target: t}}
  optimizer: {sgd: {lr: 0.1}}
"""
    model = graphc.loads(text)
    runner = StepRunner(build_train_step(model.graph, train_config(model)), "cpu")
    bn, lin = torch.nn.BatchNorm1d(6, momentum=0.2), torch.nn.Linear(6, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(model.weights["y.weight"]))
        lin.bias.copy_(torch.tensor(model.weights["y.bias"]))
    opt = torch.optim.SGD(list(bn.parameters()) + list(lin.parameters()), lr=0.1)
    rng = np.random.default_rng(3)
    for _ in range(2):
        x = rng.standard_normal((8, 6)).astype(np.float32) * 2 + 1
        t = rng.standard_normal((8, 1)).astype(np.float32)
        out = runner.run({"x": x, "t": t})
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(lin(bn(torch.tensor(x))), torch.tensor(t))
        loss.backward()
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    cur = runner.current
    np.testing.assert_allclose(cur["param.bn.running_mean"], bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cur["param.bn.running_var"], bn.running_var.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cur["param.bn.weight"], bn.weight.detach().numpy(), rtol=1e-4, atol=1e-6)


# -- the training section's errors --------------------------------------------------------
BAD = [
    ("  optimizer: {adam: {lr: 0.01}}", "  optimizer: {adamm: {lr: 0.01}}", "unknown optimizer 'adamm'", "adam"),
    ("  optimizer: {adam: {lr: 0.01}}", "  optimizer: {adam: {lrr: 0.01}}", "unknown key 'lrr'", "lr"),
    ("  loss: {cross_entropy:", "  loss: {cross_entropyy:", "unknown loss 'cross_entropyy'", "cross_entropy"),
    ("  data: {dataset: digits}", "  data: {dataset: digit}", "unknown dataset 'digit'", "digits"),
    ("  batch_size: 16", "  batch_size: 16\n  metrics: [acuracy]", "unknown metric 'acuracy'", "accuracy"),
    ("  batch_size: 16", "  batch_sise: 16", "unknown key 'batch_sise'", "batch_size"),
    ("  batch_size: 16", "  batch_size: 0", "batch_size must be >= 1", None),
    ("target: label}", "target: lable}", "loss input 'lable'", "label"),
]


@pytest.mark.parametrize("old,new,message,suggestion", BAD, ids=[b[2] for b in BAD])
def test_training_errors_are_located(old, new, message, suggestion):
    text = MLP.replace(old, new)
    assert text != MLP
    line = next(i for i, l in enumerate(text.splitlines(), 1) if new.splitlines()[-1].strip() in l)
    with pytest.raises(SpecError) as info:
        model = graphc.loads(text, file="t.yaml")
        build_train_step(model.graph, train_config(model))
    err = info.value
    assert message in err.message
    assert err.loc is not None and err.loc.line == line, str(err)
    if suggestion:
        assert f"'{suggestion}'" in (err.hint or "")


def test_cli_errors_exit_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(MLP.replace("{adam:", "{adamm:"))
    r = subprocess.run([sys.executable, "-m", "graphc", "train", str(spec), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.yaml:" in r.stderr and "did you mean 'adam'?" in r.stderr
    nospec = tmp_path / "none.yaml"
    nospec.write_text(MLP.split("training:")[0])
    r = subprocess.run([sys.executable, "-m", "graphc", "compile", str(nospec), "--train", "-o", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no training: section" in r.stderr


# -- the loop -----------------------------------------------------------------------------
LINREG = """graphc: 1
name: linreg
inputs:
  x: [N, 1]
  y: [N, 1]
layers:
  - dense: {units: 1, name: out, in: x}
training:
  data: {npz: DATA}
  loss: {mse: {pred: out, target: y}}
  optimizer: {sgd: {lr: 0.08}}
  batch_size: 2
  epochs: 150
  metrics: [mse, r2]
  shuffle: false
"""


def test_linear_regression_learns_the_seed_data(tmp_path):
    """The seed's data: y = 2x. Training with SGD recovers weight 2, bias 0."""
    np.savez(tmp_path / "d.npz", x=np.array([[1.0], [2.0], [3.0], [4.0]], np.float32),
             y=np.array([[2.0], [4.0], [6.0], [8.0]], np.float32))
    model = graphc.loads(LINREG.replace("DATA", str(tmp_path / "d.npz")))
    history = model.fit(out=str(tmp_path / "run"), verbose=False)
    assert len(history) == 150 and history[-1]["loss"] < 1e-4
    assert abs(float(model.weights["out.weight"][0, 0]) - 2.0) < 0.01
    assert abs(float(model.weights["out.bias"][0])) < 0.03
    assert model.last_fit.final["r2"] > 0.999
    for name in ("model.onnx", "weights.npz", "history.json", "checkpoint/checkpoint.npz"):
        assert (tmp_path / "run" / name).exists()
    assert json.loads((tmp_path / "run" / "history.json").read_text())[0]["epoch"] == 1
    pred = model.run({"x": np.array([[5.0]], np.float32)})["out"]
    assert abs(float(pred[0, 0]) - 10.0) < 0.05


SMALL = """graphc: 1
name: small
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 16, activation: relu}
  - dropout: {rate: 0.2}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits, test_split: 0.2}
  validation: {split: 0.2}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.01}}
  batch_size: 50
  epochs: 6
  metrics: [accuracy, f1]
  early_stopping: {monitor: val_loss, patience: 10}
"""


def test_kill_and_resume_gives_identical_weights(tmp_path):
    """A run killed mid-training and resumed ends with byte-identical weights to an uninterrupted run."""
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    cmd = [sys.executable, "-m", "graphc", "train", str(spec), "--quiet"]
    r = subprocess.run(cmd + ["--out", str(tmp_path / "full")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch ") >= 6 and "final (test split)" in r.stdout
    # interrupted run: a watcher kills it as soon as the third epoch's checkpoint exists
    killer = ("import subprocess, sys, time, json, numpy as np, os\n"
              "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
              f"h = {str(tmp_path / 'cut' / 'history.json')!r}\n"
              "while p.poll() is None:\n"
              "    try:\n"
              "        if len(json.load(open(h))) >= 3: p.kill(); break\n"
              "    except Exception: pass\n"
              "    time.sleep(0.002)\n"
              "p.wait()\n")
    subprocess.run([sys.executable, "-c", killer] + cmd + ["--out", str(tmp_path / "cut")], check=True)
    assert not (tmp_path / "cut" / "weights.npz").exists()  # it never finished
    r = subprocess.run(cmd + ["--out", str(tmp_path / "cut"), "--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    full = np.load(tmp_path / "full" / "weights.npz")
    cut = np.load(tmp_path / "cut" / "weights.npz")
    assert sorted(full.files) == sorted(cut.files)
    for k in full.files:
        assert full[k].tobytes() == cut[k].tobytes(), k
    h_full = json.loads((tmp_path / "full" / "history.json").read_text())
    h_cut = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [r["val_loss"] for r in h_full] == [r["val_loss"] for r in h_cut]


def test_early_stopping_restores_best_weights():
    text = SMALL.replace("patience: 10", "patience: 1").replace("epochs: 6", "epochs: 40") \
        .replace("lr: 0.01", "lr: 0.2")
    model = graphc.loads(text)
    history = model.fit(verbose=False)
    assert len(history) < 40
    best = min(r["val_loss"] for r in history)
    trainer_val = model.last_fit
    assert trainer_val.stopped_early
    # the returned weights are the best epoch's: their validation loss is the best one
    from graphc.training.loop import Trainer

    again = Trainer(model, train_config(model))
    params = {f"param.{k}": v for k, v in model.weights.items()}
    assert abs(again.evaluate(again.splits.val, params)["loss"] - best) < 1e-5


def test_normal_noise_matches_numpy_and_vae_trains(tmp_path):
    from graphc.export.onnx_export import to_onnx
    from graphc.ops import Builder
    from graphc.ir.graph import Graph
    from graphc.ir.types import TensorType

    g = Graph("noise")
    x = g.add_input("x", TensorType("float32", ("N", 4)))
    seed = g.add_input("seed", TensorType("int64", ()))
    g.outputs = [Builder(g).normal_from_seed(x, seed, salt=3)]
    got = ort.InferenceSession(to_onnx(g).SerializeToString()).run(
        None, {"x": np.zeros((2500, 4), np.float32), "seed": np.asarray(9, np.int64)})[0]
    np.testing.assert_allclose(got, hash_normal(np.zeros((2500, 4), np.float32), 9, 3), rtol=1e-5, atol=1e-5)
    assert abs(got.mean()) < 0.05 and abs(got.std() - 1) < 0.05
    vae = """graphc: 1
name: vae
inputs: {x: [N, 64]}
layers:
  - dense: {units: 16, activation: relu, name: enc}
  - dense: {units: 4, in: enc, name: mu}
  - dense: {units: 4, in: enc, name: logvar}
  - reparameterize: {in: [mu, logvar], name: z}
  - dense: {units: 64, activation: sigmoid, name: recon}
outputs: [recon, mu, logvar]
training:
  data: {dataset: digits}
  loss:
    - bce: {probs: recon, target: x}
    - kl_normal: {in: [mu, logvar]}
      weight: 0.01
  optimizer: {adam: {lr: 0.01}}
  batch_size: 128
  epochs: 3
"""
    model = graphc.loads(vae)
    step = build_train_step(model.graph, train_config(model))
    assert step.has_seed and any(n.op == "normal_from_seed" for n in step.graph.nodes)
    history = model.fit(verbose=False)
    assert history[-1]["loss"] < history[0]["loss"]


def test_gan_alternates_and_freezes(tmp_path):
    """One discriminator and one generator step per batch; each updates only its own model."""
    from graphc.training.gan import GanTrainer

    spec_path = os.path.join(ROOT, "specs", "train_gan.yaml")
    model = graphc.load(spec_path)
    cfg = train_config(model)
    trainer = GanTrainer(model.spec, cfg, "cpu")
    before = trainer.weights()
    history = trainer.fit(str(tmp_path / "run"), epochs=1, log=None)
    after = trainer.weights()
    assert set(history[0]) == {"epoch", "d_loss", "g_loss", "d_acc_real", "d_acc_fake", "seconds"}
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    # the generator step saw the discriminator's current weights and left them unchanged
    for p in trainer.d_step.params:
        np.testing.assert_array_equal(trainer.g.current[f"param.discriminator.{p}"], trainer.d.current[f"param.{p}"])
    # the weights load into the combined model; the generator file runs
    combined = graphc.load(spec_path, model="gan", weights=str(tmp_path / "run" / "weights.npz"))
    score = combined.run({"z": np.zeros((3, 16), np.float32)})["score"]
    assert score.shape == (3, 1) and np.all((score > 0) & (score < 1))
    img = ort.InferenceSession(str(tmp_path / "run" / "generator.onnx")).run(None, {"z": np.zeros((2, 16), np.float32)})
    assert img[0].shape == (2, 64)


CONTRACT = """graphc: 1
name: contract
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 32, activation: relu}
  - dense: {units: 10, name: logits}
outputs: [logits]
training:
  data: {dataset: digits}           # bundled: digits, iris, breast_cancer, diabetes,
                                    #   or {npz: path.npz} with arrays named like the inputs
  validation: {split: 0.2}
  loss: {cross_entropy: {logits: logits, target: label}}   # or the name of a scalar output
  regularization: {l2: 0.0001}      # l1, l2 over weights (not biases)
  optimizer: {adam: {lr: 0.001}}    # sgd (momentum, nesterov), adam, adamw, adadelta,
                                    #   rmsprop, adagrad
  batch_size: 64
  epochs: 30
  metrics: [accuracy, precision, recall, f1]
  early_stopping: {monitor: val_loss, patience: 5}
  seed: 0
"""


def test_the_contract_training_section_works_as_written():
    """The training section of the spec-language contract, verbatim, on a digits model."""
    model = graphc.loads(CONTRACT)
    cfg = train_config(model)
    assert (cfg.dataset, cfg.validation_split, cfg.optimizer, cfg.batch_size, cfg.epochs) == \
        ("digits", 0.2, "adam", 64, 30)
    history = model.fit(epochs=2, verbose=False)
    assert set(history[-1]) >= {"epoch", "loss", "val_loss", "val_accuracy", "val_precision", "val_recall",
                                "val_f1", "seconds"}
    assert model.last_fit.final_split == "validation" and 0 <= model.last_fit.final["f1"] <= 1


def _spec_with_sgd(name: str, params: dict) -> "graphc.Model":
    """A bundled spec with SGD lr 0.1 instead of its optimizer: plain SGD shows gradient errors of
    any size in the updated weights (Adam's normalized steps would hide a wrong gradient scale)."""
    import re

    with open(os.path.join(ROOT, "specs", name), encoding="utf-8") as f:
        text = re.sub(r"optimizer: \{adam: \{lr: [0-9.]+\}\}", "optimizer: {sgd: {lr: 0.1}}", f.read())
    assert "sgd" in text
    return graphc.loads(text, params=params)


def test_gan_resume_continues_to_identical_weights(tmp_path):
    """A GAN run stopped after epoch 1 and resumed ends byte-identical to an uninterrupted one."""
    from graphc.training.gan import GanTrainer

    model = graphc.load(os.path.join(ROOT, "specs", "train_gan.yaml"))
    cfg = train_config(model)
    full = GanTrainer(model.spec, cfg, "cpu")
    h_full = full.fit(str(tmp_path / "full"), epochs=2, log=None)
    first = GanTrainer(model.spec, cfg, "cpu")
    first.fit(str(tmp_path / "cut"), epochs=1, log=None)
    resumed = GanTrainer(model.spec, cfg, "cpu")  # a fresh process would start from here
    h_cut = resumed.fit(str(tmp_path / "cut"), epochs=2, resume=True, log=None)
    assert [r["d_loss"] for r in h_cut] == [r["d_loss"] for r in h_full]
    want, got = full.weights(), resumed.weights()
    assert sorted(want) == sorted(got)
    for k in want:
        assert want[k].tobytes() == got[k].tobytes(), k
    saved = np.load(tmp_path / "cut" / "weights.npz")
    assert all(saved[k].tobytes() == want[k].tobytes() for k in want)
    with pytest.raises(SpecError, match="--resume: no checkpoint"):
        GanTrainer(model.spec, cfg, "cpu").fit(str(tmp_path / "empty"), epochs=1, resume=True, log=None)
    with pytest.raises(SpecError, match="run folder"):
        GanTrainer(model.spec, cfg, "cpu").fit(None, epochs=1, resume=True, log=None)


SHARED = """graphc: 1
name: shared
models:
  encoder:
    inputs: {x: [N, 64]}
    layers:
      - dense: {units: 16, activation: relu, name: hidden}
  classifier:
    inputs: {x: [N, 64], label: {shape: [N], dtype: int64}}
    layers:
      - encoder: {name: enc}
      - dense: {units: 10, name: logits}
    outputs: [logits]
training:
  model: classifier
  data: {dataset: digits}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.01}}
  epochs: 1
"""


def test_fit_of_another_model_shares_its_weights():
    """`training: model: X` trains X; the Model fit was called on gets the weights it shares with X."""
    classifier = graphc.loads(SHARED, model="classifier")
    classifier.fit(verbose=False)
    trained = classifier.last_fit.model
    assert trained.model_name == "classifier" and classifier.last_fit.weights
    for k, v in classifier.weights.items():  # the same model: every weight is the trained one
        assert v.tobytes() == classifier.last_fit.weights[k].tobytes(), k
    encoder = graphc.loads(SHARED)  # the first model: encoder, used by classifier as a layer
    assert encoder.model_name == "encoder"
    before = {k: v.copy() for k, v in encoder.weights.items()}
    encoder.fit(verbose=False)
    result = encoder.last_fit
    assert result.model is not encoder and result.model.model_name == "classifier"
    assert set(encoder.weights) == {"hidden.weight", "hidden.bias"}
    for k, v in encoder.weights.items():
        assert v.tobytes() == result.weights[f"encoder.{k}"].tobytes(), k
        assert not np.array_equal(v, before[k])
    # the encoder's inference output now uses the trained hidden layer
    x = np.ones((2, 64), np.float32)
    w, b = result.weights["encoder.hidden.weight"], result.weights["encoder.hidden.bias"]
    np.testing.assert_allclose(encoder.run({"x": x})["hidden"], np.maximum(x @ w.T + b, 0), rtol=1e-5, atol=1e-5)


CONV_POOL = """graphc: 1
name: conv_pool
inputs: {image: [N, 2, 10, 10], label: {shape: [N], dtype: int64}}
layers:
  - conv2d: {filters: 4, kernel: 3, activation: relu, name: conv}
  - maxpool2d: {size: 2, name: pool}
  - flatten:
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adadelta: {lr: 1.0, rho: 0.9, eps: 1.0e-6}}
"""


def test_conv_relu_maxpool_train_steps_match_pytorch():
    """Conv + relu + maxpool (pooled before the relu in the step graph) + Adadelta, vs PyTorch."""
    from graphc.passes import rewrite

    model = graphc.loads(CONV_POOL)
    g = model.graph.clone()
    assert rewrite(g, "pool_before_relu", verify=True) == 1
    pool = next(n for n in g.nodes if n.op == "maxpool")
    assert pool.inputs[0].producer.op == "conv"
    step = build_train_step(model.graph, train_config(model))
    runner = StepRunner(step, "cpu")
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(64, 10))
    w = model.weights
    with torch.no_grad():
        for i, name in ((0, "conv"), (4, "logits")):
            net[i].weight.copy_(torch.tensor(w[f"{name}.weight"]))
            net[i].bias.copy_(torch.tensor(w[f"{name}.bias"]))
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0, rho=0.9, eps=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((8, 2, 10, 10)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        out = runner.run({"image": x, "label": y})
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    cur = runner.current
    for i, name in ((0, "conv"), (4, "logits")):
        np.testing.assert_allclose(cur[f"param.{name}.weight"], net[i].weight.detach().numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(cur[f"param.{name}.bias"], net[i].bias.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_vae_spec_step_matches_pytorch_with_the_same_noise():
    """specs/train_vae.yaml: bce_with_logits + kl_normal, eps from the step's seed input (the hand-written
    reference of the hash PRNG), SGD: two steps match a PyTorch twin fed the same eps."""
    model = _spec_with_sgd("train_vae.yaml", {"hidden": 16, "latent": 4})
    cfg = train_config(model)
    step = build_train_step(model.graph, cfg)
    assert step.has_seed and step.batch_inputs == ["x"]
    runner = StepRunner(step, "cpu")
    w = {k: torch.tensor(v, requires_grad=True) for k, v in model.weights.items()}
    opt = torch.optim.SGD(list(w.values()), lr=0.1)
    lin = lambda v, name: v @ w[f"{name}.weight"].T + w[f"{name}.bias"]  # noqa: E731
    rng = np.random.default_rng(0)
    for seed in (11, 12):
        x = rng.random((8, 64), dtype=np.float32)
        out = runner.run({"x": x}, seed)
        xt = torch.tensor(x)
        h = torch.relu(lin(xt, "enc"))
        mu, logvar = lin(h, "mu"), lin(h, "logvar")
        eps = torch.tensor(hash_normal(np.zeros((8, 4), np.float32), seed, 1))
        recon = lin(torch.relu(lin(mu + torch.exp(0.5 * logvar) * eps, "dec")), "recon")
        kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(-1).mean()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(recon, xt) + kl / 64
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    for k, v in w.items():
        np.testing.assert_allclose(runner.current[f"param.{k}"], v.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_lstm_spec_train_steps_match_pytorch():
    """specs/train_lstm.yaml (one lstm node, its hand-written BPTT gradient): three SGD steps vs torch.nn.LSTM."""
    model = _spec_with_sgd("train_lstm.yaml", {"steps": 5, "features": 3, "hidden": 6})
    step = build_train_step(model.graph, train_config(model))
    assert sum(n.op == "lstm" for n in step.graph.nodes) == 1  # kept whole: its gradient recomputes the gates
    runner = StepRunner(step, "cpu")
    lstm, head = torch.nn.LSTM(3, 6, batch_first=True), torch.nn.Linear(6, 10)
    w = model.weights
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, f"{name}_l0").copy_(torch.tensor(w[f"lstm.{name}"]))
        head.weight.copy_(torch.tensor(w["logits.weight"]))
        head.bias.copy_(torch.tensor(w["logits.bias"]))
    opt = torch.optim.SGD(list(lstm.parameters()) + list(head.parameters()), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 5, 3)).astype(np.float32)
        y = rng.integers(0, 10, 4)
        out = runner.run({"x": x, "label": y})
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(lstm(torch.tensor(x))[1][0][-1]), torch.tensor(y))
        loss.backward()
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    cur = runner.current
    np.testing.assert_allclose(cur["param.lstm.weight_hh"], lstm.weight_hh_l0.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cur["param.lstm.bias_ih"], lstm.bias_ih_l0.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cur["param.logits.weight"], head.weight.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("layer", ["lstm: {hidden: 5, bidirectional: true, name: rec}", "gru: {hidden: 5, name: rec}",
                                   "rnn: {hidden: 5, name: rec}"])
def test_unrolled_recurrent_step_loss_matches_the_onnx_recurrent_op(layer):
    """The train step unrolls rnn/gru (lstm stays one node); its loss equals the eval graph's (onnxruntime's
    LSTM/GRU/RNN op)."""
    from graphc.training.runner import EvalRunner
    from graphc.training.step import build_eval_step

    text = f"""graphc: 1
name: rec
inputs: {{x: [N, 4, 3], label: {{shape: [N], dtype: int64}}}}
layers:
  - {layer}
  - dense: {{units: 3, in: rec.h, name: logits}}
training:
  data: {{dataset: iris}}
  loss: {{cross_entropy: {{logits: logits, target: label}}}}
  optimizer: {{sgd: {{lr: 0.1}}}}
"""
    model = graphc.loads(text)
    cfg = train_config(model)
    step = build_train_step(model.graph, cfg)
    assert not any(n.op in ("gru", "rnn") for n in step.graph.nodes)
    rng = np.random.default_rng(0)
    feed = {"x": rng.standard_normal((6, 4, 3)).astype(np.float32), "label": rng.integers(0, 3, 6)}
    want, _ = EvalRunner(build_eval_step(model.graph, cfg), "cpu").run(
        feed, {f"param.{k}": v for k, v in model.weights.items()})
    assert abs(StepRunner(step, "cpu").run(feed)["loss"] - want) < 1e-6


def test_transformer_spec_train_steps_match_pytorch():
    """specs/train_transformer.yaml (dense on sequences, attention, layernorm, GELU): two SGD steps
    vs the PyTorch twin (nn.MultiheadAttention with q/k/v/out weights copied in)."""
    sizes = {"seq": 5, "features": 3, "d_model": 8, "heads": 2, "ff": 16}
    model = _spec_with_sgd("train_transformer.yaml", sizes)
    runner = StepRunner(build_train_step(model.graph, train_config(model)), "cpu")
    w = {k: torch.tensor(v) for k, v in model.weights.items()}
    net = torch.nn.ModuleDict({"embed": torch.nn.Linear(3, 8), "ln1": torch.nn.LayerNorm(8), "ln2": torch.nn.LayerNorm(8),
                               "att": torch.nn.MultiheadAttention(8, 2, batch_first=True),
                               "ff_in": torch.nn.Linear(8, 16), "ff_out": torch.nn.Linear(16, 8),
                               "logits": torch.nn.Linear(40, 10)})
    with torch.no_grad():
        for name in ("embed", "ln1", "ln2", "ff_in", "ff_out", "logits"):
            net[name].weight.copy_(w[f"{name}.weight"])
            net[name].bias.copy_(w[f"{name}.bias"])
        att = net["att"]
        att.in_proj_weight.copy_(torch.cat([w[f"att.{p}.weight"] for p in "qkv"]))
        att.in_proj_bias.copy_(torch.cat([w[f"att.{p}.bias"] for p in "qkv"]))
        att.out_proj.weight.copy_(w["att.out.weight"])
        att.out_proj.bias.copy_(w["att.out.bias"])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def forward(x):
        x = net["embed"](x)
        h = net["ln1"](x)
        x = x + net["att"](h, h, h, need_weights=False)[0]
        x = x + net["ff_out"](torch.nn.functional.gelu(net["ff_in"](net["ln2"](x))))
        return net["logits"](x.flatten(1))

    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((4, 5, 3)).astype(np.float32)
        y = rng.integers(0, 10, 4)
        out = runner.run({"x": x, "label": y})
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        assert abs(out["loss"] - loss.item()) < 1e-5
    cur = runner.current
    for name in ("embed", "ff_in", "ff_out", "logits", "ln2"):
        np.testing.assert_allclose(cur[f"param.{name}.weight"], net[name].weight.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cur["param.att.q.weight"], att.in_proj_weight[:8].detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cur["param.att.out.bias"], att.out_proj.bias.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_every_training_key_has_one_parser():
    """parse_training is a table: each key of TRAINING_KEYS (the did-you-mean list) has its parser."""
    from graphc.training.config import REQUIRED, SECTION, TRAINING_KEYS

    assert sorted(SECTION) == sorted(TRAINING_KEYS) and set(REQUIRED) <= set(SECTION)
    assert list(SECTION).index("early_stopping") > max(list(SECTION).index("metrics"), list(SECTION).index("validation"))
