"""graphc on Ray (docs/scale.md): the split train step, batch scoring and data-parallel training
on one local Ray with 2 CPUs shared by the whole module (started and stopped here; no Ray process
of it may outlive the module)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import ROOT, SPECS

ray = pytest.importorskip("ray")

import graphc
from graphc.cli import main
from graphc.distributed.scoring import NpyRows

# digits MLP with dropout: masks must not depend on how the batch is split
DROPOUT_MLP = """graphc: 1
name: mlp_dropout
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 32, activation: relu}
  - dropout: {rate: 0.2}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits, test_split: 0.2}
  validation: {split: 0.1}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.002}}
  batch_size: 64
  epochs: 2
  seed: 3
"""


def _session_processes(session_dir: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "raylet|gcs_server"], check=False, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if session_dir in line]


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    session_dir = ray._private.worker._global_node.get_session_dir_path()
    yield ctx
    ray.shutdown()
    for _ in range(60):
        if not _session_processes(session_dir):
            break
        time.sleep(0.5)
    assert not _session_processes(session_dir), "ray processes left behind"


@pytest.fixture
def dropout_spec(tmp_path):
    path = tmp_path / "mlp_dropout.yaml"
    path.write_text(DROPOUT_MLP)
    return str(path)


def _weights(path):
    with np.load(path) as w:
        return {k: w[k] for k in w.files}


def _close(a, b, rtol=1e-4):
    assert a.keys() == b.keys()
    for k in a:
        scale = max(float(np.abs(a[k]).max()), 1e-6)
        assert float(np.abs(a[k] - b[k]).max()) <= rtol * scale, k


# -- the split step (no Ray) ----------------------------------------------------------------
def test_sharded_dropout_mask_is_the_global_draw_by_row():
    """Rows 5..12 of a 16-row draw, from onnxruntime, equal numpy's mask of all 16 rows, sliced."""
    from graphc.export.onnx_export import to_onnx
    from graphc.ops import Builder
    from graphc.ir.graph import Graph
    from graphc.ir.types import TensorType
    from graphc.ops.sampling import mask_bits, mask_threshold, normal_bits

    g = Graph("shard")
    x = g.add_input("x", TensorType("float32", ("N", 3, 5)))
    seed, row0, rows = (g.add_input(n, TensorType("int64", ())) for n in ("seed", "row0", "rows"))
    b = Builder(g)
    g.outputs = [b.dropout_mask(x, seed, row0, rows, rate=0.3, salt=4), b.normal_from_seed(x, seed, row0, rows, salt=2)]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString())
    i64 = lambda v: np.asarray(v, np.int64)
    mask, noise = sess.run(None, {"x": np.zeros((7, 3, 5), np.float32), "seed": i64(11), "row0": i64(5),
                                  "rows": i64(16)})
    bits = mask_bits(16 * 15, 11, 4).reshape(16, 3, 5)[5:12]
    np.testing.assert_array_equal(mask, np.where(bits >= mask_threshold(0.3), 1 / 0.7, 0).astype(np.float32))
    np.testing.assert_allclose(noise, normal_bits(16 * 15, 11, 2).reshape(16, 3, 5)[5:12], atol=2e-6)


def test_split_step_graphs_are_standard_onnx_and_match_the_fused_step(dropout_spec):
    """Two shards' gradients (weighted by rows) + the optimizer graph == one fused step."""
    from graphc.distributed.split_step import build_split_step, split_step_bytes
    from graphc.export.onnx_export import to_onnx
    from graphc.training.compile import train_config
    from graphc.training.step import build_train_step

    model = graphc.load(dropout_spec)
    cfg = train_config(model)
    split = build_split_step(model.graph, cfg)
    grad_bytes, opt_bytes = split_step_bytes(split)
    assert split_step_bytes(build_split_step(model.graph, cfg)) == (grad_bytes, opt_bytes)  # deterministic
    for data in (grad_bytes, opt_bytes):
        m = onnx.load_from_string(data)
        onnx.checker.check_model(m, full_check=True)
        assert all(op.domain in ("", "ai.onnx") for op in m.opset_import)
    fused = build_train_step(model.graph, cfg)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 64)).astype(np.float32)
    y = rng.integers(0, 10, 10).astype(np.int64)
    seed = np.asarray(5, np.int64)
    f = ort.InferenceSession(to_onnx(fused.graph).SerializeToString())
    out = dict(zip([o.name for o in f.get_outputs()], f.run(None, {"x": x, "label": y, "seed": seed, **fused.initial})))
    g, o = ort.InferenceSession(grad_bytes), ort.InferenceSession(opt_bytes)
    names = [n.name for n in g.get_outputs()]
    total = {}
    for lo, hi in ((0, 3), (3, 10)):
        feeds = {"x": x[lo:hi], "label": y[lo:hi], "seed": seed, "row0": np.asarray(lo, np.int64),
                 "rows": np.asarray(10, np.int64), **{f"param.{p}": split.initial[f"param.{p}"] for p in split.params}}
        r = dict(zip(names, g.run(None, feeds)))
        for k, v in r.items():
            total[k] = total.get(k, 0) + v * (hi - lo) / 10
    np.testing.assert_allclose(total["loss"], out["loss"], rtol=1e-5)
    feeds = {i.name: (total[i.name] if i.name.startswith("grad.") else split.initial[i.name]).astype(
        np.float32 if i.name != "step" else np.int64) for i in o.get_inputs()}
    new = dict(zip([n.name for n in o.get_outputs()], o.run(None, feeds)))
    for p in split.params:
        np.testing.assert_allclose(new[f"new.param.{p}"], out[f"new.param.{p}"], rtol=1e-4, atol=1e-6)


def test_without_ray_the_flags_say_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    spec = os.path.join(SPECS, "train_mlp_digits.yaml")
    assert main(["train", spec, "--workers", "2"]) == 2
    assert main(["run", spec, "--input", "x=x.npy", "--output", "o.npz", "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("pip install 'graphc[ray]'" in line for line in err)


def test_flag_errors_are_one_line(capsys, tmp_path):
    spec = os.path.join(SPECS, "train_mlp_digits.yaml")
    out = ["--out", str(tmp_path / "run")]
    cases = [(["train", os.path.join(SPECS, "train_gan.yaml"), "--workers", "2"] + out, "one process only"),
             (["train", spec, "--workers", "0"] + out, "at least 1"),
             (["run", spec, "--input", "x=x.npy", "--workers", "2"], "go with --ray")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


# -- batch scoring --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scoring_data(tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path_factory.mktemp("score")
    model = graphc.load(os.path.join(SPECS, "mlp_small.yaml"))
    model.export(str(d / "mlp.onnx"))
    x = np.random.default_rng(1).standard_normal((1300, 64)).astype(np.float32)
    np.save(d / "x.npy", x)
    (d / "shards").mkdir()
    for k, (a, b) in enumerate([(0, 400), (400, 401), (401, 1300)]):
        np.save(d / "shards" / f"part-{k}.npy", x[a:b])
    table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 64)})
    pq.write_table(table, d / "x.parquet", row_group_size=300)
    expected = ort.InferenceSession(str(d / "mlp.onnx")).run(["logits"], {"x": x})[0]  # one onnxruntime call
    return d, expected


def test_npy_rows_take_across_shards(tmp_path):
    """NpyRows.take (no Ray): a run of rows spanning shards, and ids that are no run, equal numpy's x[ids]."""
    x = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    files = []
    for k, (a, b) in enumerate([(0, 20), (20, 21), (21, 50)]):
        files.append(str(tmp_path / f"part-{k}.npy"))
        np.save(files[-1], x[a:b])
    rows = NpyRows(files)
    for ids in ([18, 19, 20, 21, 22], [0], [49], [7, 2, 20, 33, 33], [21, 20]):
        np.testing.assert_array_equal(rows.take(np.asarray(ids)), x[ids])


@pytest.mark.parametrize("data,out", [("x.npy", "out.npz"),
                                      pytest.param("shards", "out_dir", marks=pytest.mark.slow),
                                      pytest.param("x.parquet", "pq.npz", marks=pytest.mark.slow)])
def test_ray_scoring_equals_one_process_in_order(local_ray, scoring_data, data, out, capsys):
    d, expected = scoring_data
    assert main(["run", str(d / "mlp.onnx"), "--input", f"x={d / data}", "--output", str(d / out), "--ray",
                 "--workers", "2", "--batch-size", "128"]) == 0
    if out.endswith(".npz"):
        got = np.load(d / out)["logits"]
    else:
        parts = sorted(os.listdir(d / out / "logits"))
        assert len(parts) == 11  # ceil(1300 / 128) shards
        got = np.concatenate([np.load(d / out / "logits" / p) for p in parts])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert "rows/s" in capsys.readouterr().err


def test_ray_scoring_errors_are_one_line(local_ray, scoring_data, capsys):
    d, _ = scoring_data
    model = str(d / "mlp.onnx")
    cases = [(["--input", f"y={d / 'x.npy'}", "--output", str(d / "o.npz")], "no input 'y'"),
             (["--input", f"x={d / 'x.npy'}"], "needs --output"),
             (["--input", f"x={d / 'nothere.npy'}", "--output", str(d / "o.npz")], "no such file"),
             (["--input", f"x={d / 'x.npy'}", "--output", str(d / "o.npz"), "--workers", "5"], "has 2"),
             (["--input", f"x={d / 'x.npy'}", "--output", str(d / "o.npz"), "--batch-size", "0"], "at least 1")]
    for extra, message in cases:
        assert main(["run", model, "--ray"] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


# -- data-parallel training ------------------------------------------------------------------
@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    """The one-process run of DROPOUT_MLP, 2 epochs (the reference)."""
    d = tmp_path_factory.mktemp("single")
    spec = d / "mlp_dropout.yaml"
    spec.write_text(DROPOUT_MLP)
    assert main(["train", str(spec), "--out", str(d / "run"), "--quiet"]) == 0
    return str(spec), d / "run"


def test_workers_2_agree_with_one_process(local_ray, single_process, tmp_path):
    spec, ref = single_process
    assert main(["train", spec, "--workers", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    _close(_weights(ref / "weights.npz"), _weights(tmp_path / "run" / "weights.npz"))
    one = json.loads((ref / "history.json").read_text())
    two = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [r["epoch"] for r in two] == [1, 2]
    np.testing.assert_allclose([r["val_loss"] for r in two], [r["val_loss"] for r in one], rtol=1e-4)
    assert {"model.onnx", "weights.npz", "history.json", "checkpoint"} <= set(os.listdir(tmp_path / "run"))


@pytest.mark.slow
def test_python_api_fit_with_workers(local_ray, dropout_spec):
    one, two = graphc.load(dropout_spec), graphc.load(dropout_spec)
    h1 = one.fit(epochs=1, verbose=False)
    h2 = two.fit(epochs=1, verbose=False, workers=2)
    np.testing.assert_allclose(h2[0]["loss"], h1[0]["loss"], rtol=1e-4)
    _close({k: p.data for k, p in one.graph.params.items()}, {k: p.data for k, p in two.graph.params.items()})


@pytest.mark.slow
def test_python_api_score(local_ray, scoring_data):
    from graphc.distributed.api import score

    d, expected = scoring_data
    model = graphc.load(os.path.join(SPECS, "mlp_small.yaml"))
    assert score(model, {"x": str(d / "x.parquet")}, str(d / "api.npz"), workers=1, batch_size=500) == 1300
    np.testing.assert_allclose(np.load(d / "api.npz")["logits"], expected, rtol=1e-6, atol=1e-6)


def test_a_killed_worker_is_restarted_and_the_weights_are_the_same(local_ray, single_process, tmp_path):
    from graphc.distributed.training import DistributedTrainer
    from graphc.training.compile import train_config

    spec, ref = single_process
    model = graphc.load(spec)
    trainer = DistributedTrainer(model, train_config(model), 2)
    killed = []

    def kill(step):
        if step == 5:  # mid-epoch 1 (16 steps an epoch)
            pid = ray.get(trainer.runner.workers[1].ready.remote())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    trainer.runner.after_step = kill
    try:
        result = trainer.fit(str(tmp_path / "run"), log=None)
        restarted = ray.get(trainer.runner.workers[1].ready.remote())
    finally:
        trainer.close()
    assert killed and restarted != killed[0]
    _close(_weights(ref / "weights.npz"), result.weights)


def test_a_worker_that_cannot_start_is_one_clear_error(local_ray):
    from graphc.distributed.training import start_workers
    from graphc.errors import SpecError

    with pytest.raises(SpecError, match="a Ray worker failed"):
        start_workers(b"not an onnx model", 1)
    with pytest.raises(SpecError, match="the Ray cluster has 2"):
        start_workers(b"", 3)


def test_resume_after_the_driver_is_killed(local_ray, dropout_spec, tmp_path):
    """A driver joining this Ray (RAY_ADDRESS) is killed after its first checkpoint; --resume
    finishes the run with the weights of an uninterrupted one-process run."""
    from graphc.training import checkpoint

    assert main(["train", dropout_spec, "--epochs", "4", "--out", str(tmp_path / "ref"), "--quiet"]) == 0
    out = tmp_path / "run"
    env = dict(os.environ, RAY_ADDRESS=local_ray.address_info["address"], PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", "graphc", "train", dropout_spec, "--epochs", "4", "--workers", "2", "--out",
           str(out), "--quiet"]
    driver = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    ckpt = out / "checkpoint" / "checkpoint.npz"
    deadline = time.time() + 300
    while not ckpt.exists() and driver.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    _, meta = checkpoint.load(str(out / "checkpoint"))
    assert 1 <= meta["epoch"] < 4  # killed mid-run
    done = subprocess.run(cmd + ["--resume"], check=False, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    _close(_weights(tmp_path / "ref" / "weights.npz"), _weights(out / "weights.npz"))
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4]
