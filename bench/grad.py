"""Forward + backward: graphc's gradient graph on onnxruntime vs PyTorch eager, same weights, batch 64.

    python bench/grad.py [--quick]     # -> bench/results/grad.json

Models: the MLP 784-64-64-10 (specs/mlp_keras.yaml), the Keras MNIST CNN (specs/mnist_cnn.yaml)
and a VAE-sized MLP 784-400-20. For each: graphc's `Model.grad(wrt="params")` exported (-O2)
and run on onnxruntime with a cotangent for the output, against `y = twin(x); y.backward(cot)`
with PyTorch, both on the same threads. Records ratio = graphc time / PyTorch time (< 1: graphc
faster), the node counts of the forward and gradient graphs (IR and ONNX), and the largest
relative difference between the two sets of gradients.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import graphc  # noqa: E402
from common import calibrate, compare, print_table, write_json  # noqa: E402
from torch_models import MLPKeras, MnistCNN, randomize, save_state  # noqa: E402

THREADS = 1  # one thread each: on a shared 2-core machine, 2 threads make both runtimes contend
VAE_MLP = """graphc: 1
name: vae_mlp
doc: the VAE encoder's shape, 784-400-20
inputs:
  x: [N, 784]
layers:
  - dense: {units: 400, activation: relu, name: enc}
  - dense: {units: 20, name: mu}
outputs: [mu]
"""


class VaeMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(784, 400)
        self.mu = nn.Linear(400, 20)

    def forward(self, x):
        return self.mu(torch.relu(self.enc(x)))


def _models():
    yield "mlp_784_64_64_10", lambda: graphc.load(os.path.join(ROOT, "specs", "mlp_keras.yaml")), MLPKeras, (784,)
    yield "keras_mnist_cnn", lambda: graphc.load(os.path.join(ROOT, "specs", "mnist_cnn.yaml")), MnistCNN, (1, 28, 28)
    yield "vae_mlp_784_400_20", lambda: graphc.loads(VAE_MLP), VaeMLP, (784,)


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle ORT threads must not steal CPU
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def bench_model(name, load, twin_cls, in_shape, batch: int, repeat: int) -> dict:
    twin = randomize(twin_cls(), seed=0)
    model = load()
    with tempfile.TemporaryDirectory() as tmp:
        model.load_weights(save_state(twin, os.path.join(tmp, "w.npz")))
    grad_model = model.grad(wrt="params")
    forward_onnx, grad_onnx = model.to_onnx(), grad_model.to_onnx()
    session = _session(grad_onnx.SerializeToString(deterministic=True))
    x_name = next(v.name for v in model.graph.inputs if v.dtype == "float32")
    out_name = next(o.name for o in forward_onnx.graph.output)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + in_shape).astype(np.float32)
    with torch.no_grad():
        out_shape = tuple(twin(torch.from_numpy(x)).shape)
    cot = rng.standard_normal(out_shape).astype(np.float32)
    feeds = {x_name: x, f"grad.{out_name}": cot}
    wanted = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in wanted}
    params = dict(twin.named_parameters())
    grad_names = [f"grad.{k}" for k in params]

    def run_graphc():
        return session.run(grad_names, feeds)

    xt, cott = torch.from_numpy(x), torch.from_numpy(cot)

    def run_torch():
        twin.zero_grad(set_to_none=True)
        twin(xt).backward(cott)
        return [p.grad for p in params.values()]

    got, want = run_graphc(), [g.numpy() for g in run_torch()]
    err = max(float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-12)) for g, w in zip(got, want))
    times = compare({"graphc_ort": run_graphc, "torch_eager": run_torch}, repeat=repeat,
                    number=calibrate(run_torch, target_s=0.2), warmup=3)
    g_t, t_t = times["graphc_ort"]["median_s"], times["torch_eager"]["median_s"]
    return {
        "model": name, "batch": batch, "params": model.graph.param_count(),
        "graphc_ort_ms": g_t * 1e3, "torch_eager_ms": t_t * 1e3, "ratio": g_t / t_t,
        "forward_nodes_ir": len(model.graph.nodes), "grad_nodes_ir": len(grad_model.graph.nodes),
        "forward_nodes_onnx": len(forward_onnx.graph.node), "grad_nodes_onnx": len(grad_onnx.graph.node),
        "max_rel_grad_diff_vs_torch": err, "timings": times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (batch 4, 2 blocks)")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    batch, repeat = (4, 2) if args.quick else (64, 7)
    rows = [bench_model(*m, batch=batch, repeat=repeat) for m in _models()]
    print_table([[r["model"], r["graphc_ort_ms"], r["torch_eager_ms"], r["ratio"], r["forward_nodes_onnx"],
                  r["grad_nodes_onnx"], r["max_rel_grad_diff_vs_torch"]] for r in rows],
                ["model", "graphc+ort ms", "torch ms", "ratio", "fwd nodes", "grad nodes", "max rel diff"])
    path = write_json("grad", {"quick": args.quick, "threads": THREADS, "rows": rows,
                               "note": "ratio = graphc gradient graph on onnxruntime / PyTorch eager forward+backward; "
                                       "< 1 means graphc is faster"})
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
