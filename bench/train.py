"""Training: graphc's compiled train step on onnxruntime vs a PyTorch loop, same run, same data.

    python bench/train.py           # full run (a few minutes on 2 cores)
    python bench/train.py --quick   # smoke test: few steps, one seed, 2 epochs
    python bench/train.py --isolated 3   # also each side in its own process, alternated 3 times

(1) Train-step time at batch 64 (random data): MLP 784-64-64-10 (Adam, cross-entropy on logits),
    the Keras MNIST CNN on 28x28 (Adadelta, categorical cross-entropy on softmax outputs,
    dropout in training mode), and from specs/: an LSTM 32->64 over 20 steps with a classifier
    (train_lstm.yaml), a pre-norm Transformer encoder block d 128, seq 64, 4 heads, ff 512 with
    a classifier (train_transformer.yaml) and a VAE 784-400-20 (train_vae.yaml: BCE-with-logits
    + KL, reparameterize noise drawn inside the step), all with Adam. graphc: `StepRunner.run`
    (IO binding, parameters and optimizer state stay in onnxruntime buffers); PyTorch: zero_grad,
    forward, loss, backward, step. Blocks of steps of the two are interleaved (bench/common.py
    `compare`), at `--threads` threads each (default 1; `--threads 2` for the 2-thread numbers).
(2) sklearn digits, stratified 80/20 split with random_state=0, Adam 1e-3, batch 64, 30 epochs,
    seeds 0, 1, 2: test accuracy and the median epoch time, MLP 64-64-64-10 and the small CNN
    (conv 16 k3 pad 1, maxpool 2, linear), graphc `Trainer.fit` vs a PyTorch loop on the same
    arrays (same split, scaling and batch order rule; each framework its own initialization).
Every train-step row also gives the step's GFLOP/s (3 x the forward FLOPs of the batch from
graphc's summary) next to the machine's measured matmul peak (numpy sgemm 1024 at the same
thread count, same run). With --isolated, each side also runs in a process of its own (so no
thread pool steals the other's cores), the processes alternated ROUNDS times: the fastest block,
the median, and the spread of the per-round ratios (`straddles_1`: not yet a result).
Results: bench/results/train.json (ratios graphc / PyTorch: < 1 means graphc is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from typing import Callable  # noqa: E402

from common import compare, matmul_peak_gflops, print_table, write_json  # noqa: E402

import graphc  # noqa: E402
from graphc.training.compile import train_config  # noqa: E402
from graphc.training.data import epoch_batches  # noqa: E402
from graphc.training.loop import Trainer  # noqa: E402
from graphc.training.runner import StepRunner  # noqa: E402
from graphc.training.step import build_train_step  # noqa: E402

MLP784 = """graphc: 1
name: mlp784
inputs: {x: [N, 784], label: {shape: [N], dtype: int64}}
layers:
  - dense: {units: 64, activation: relu}
  - dense: {units: 64, activation: relu}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.001}}
"""

KERAS_CNN = """graphc: 1
name: keras_cnn
inputs: {image: [N, 1, 28, 28], label: {shape: [N], dtype: int64}}
layers:
  - conv2d: {filters: 32, kernel: 3, activation: relu}
  - conv2d: {filters: 64, kernel: 3, activation: relu}
  - maxpool2d: {size: 2}
  - dropout: {rate: 0.25}
  - flatten:
  - dense: {units: 128, activation: relu}
  - dropout: {rate: 0.5}
  - dense: {units: 10, activation: softmax, name: probs}
training:
  data: {dataset: digits}
  loss: {categorical_crossentropy: {probs: probs, target: label}}
  optimizer: {adadelta: {lr: 1.0, rho: 0.95, eps: 1.0e-7}}
"""

MLP_DIGITS = """graphc: 1
name: mlp_digits
inputs: {x: [N, 64], label: {shape: [N], dtype: int64}}
layers:
  - dense: {units: 64, activation: relu}
  - dense: {units: 64, activation: relu}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits, test_split: 0.2, split_seed: 0}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.001}}
  batch_size: 64
  epochs: EPOCHS
  metrics: [accuracy]
  seed: SEED
"""

THREADS = 1

CNN_DIGITS = MLP_DIGITS.replace("name: mlp_digits", "name: cnn_digits").replace(
    "inputs: {x: [N, 64],", "inputs: {x: [N, 1, 8, 8],").replace(
    """  - dense: {units: 64, activation: relu}
  - dense: {units: 64, activation: relu}
""", """  - conv2d: {filters: 16, kernel: 3, padding: 1, activation: relu}
  - maxpool2d: {size: 2}
  - flatten:
""")


def torch_mlp(inputs: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(inputs, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


def torch_keras_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Dropout(0.25), torch.nn.Flatten(),
                               torch.nn.Linear(9216, 128), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(128, 10), torch.nn.Softmax(dim=-1))


def torch_small_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(256, 10))


def keras_cce(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    p = (probs / probs.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
    return -(torch.nn.functional.one_hot(labels, 10).float() * p.log()).sum(-1).mean()


SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")


class TorchLSTM(torch.nn.Module):
    """specs/train_lstm.yaml: LSTM, then Linear on the final hidden state."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.lstm = torch.nn.LSTM(features, hidden, batch_first=True)
        self.logits = torch.nn.Linear(hidden, 10)

    def forward(self, x):
        return self.logits(self.lstm(x)[1][0][-1])


class TorchTransformer(torch.nn.Module):
    """specs/train_transformer.yaml: projection, pre-norm encoder block, flatten, Linear."""

    def __init__(self, features: int, seq: int, d: int = 128, heads: int = 4, ff: int = 512):
        super().__init__()
        self.embed = torch.nn.Linear(features, d)
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.att = torch.nn.MultiheadAttention(d, heads, batch_first=True)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d, ff), torch.nn.GELU(), torch.nn.Linear(ff, d))
        self.logits = torch.nn.Linear(seq * d, 10)

    def forward(self, x):
        x = self.embed(x)
        h = self.ln1(x)
        x = x + self.att(h, h, h, need_weights=False)[0]
        x = x + self.ff(self.ln2(x))
        return self.logits(x.flatten(1))


class TorchVAE(torch.nn.Module):
    """specs/train_vae.yaml: the PyTorch examples VAE with logits out."""

    def __init__(self, features: int = 784, hidden: int = 400, latent: int = 20):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = (torch.nn.Linear(features, hidden), torch.nn.Linear(hidden, latent),
                                          torch.nn.Linear(hidden, latent))
        self.fc3, self.fc4 = torch.nn.Linear(latent, hidden), torch.nn.Linear(hidden, features)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.fc4(torch.relu(self.fc3(z))), mu, logvar


def vae_loss(kl_weight: float):
    """bce_with_logits (mean over pixels) + kl_weight * kl_normal (summed over features, batch mean)."""
    def loss(out, x, _labels):
        recon, mu, logvar = out
        kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(-1).mean()
        return torch.nn.functional.binary_cross_entropy_with_logits(recon, x) + kl_weight * kl
    return loss


def on_logits(fn):
    """A loss of (output, labels) as a loss of (output, inputs, labels)."""
    return lambda out, _x, labels: fn(out, labels)


def _session(graph, threads: int):
    """An onnxruntime CPU session with `threads` intra-op threads that do not spin when idle (between
    interleaved blocks a spinning pool would steal the cores from PyTorch's threads)."""
    import onnxruntime as ort

    from graphc.export.onnx_export import to_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(to_onnx(graph).SerializeToString(), options, providers=["CPUExecutionProvider"])


def step_fns(model, net: torch.nn.Module, opt, loss_fn, shape) -> dict:
    """One train step of `model` (spec text or a loaded Model) and of its PyTorch twin `net`
    (`loss_fn(net output, inputs, labels)` is the twin's loss), as two functions, plus the step's
    node count and its FLOPs (3 x the forward FLOPs of the batch: the usual estimate for forward +
    backward)."""
    from graphc.summary import summary_data

    model = graphc.loads(model) if isinstance(model, str) else model
    step = build_train_step(model.graph, train_config(model))
    runner = StepRunner(step, session=_session(step.graph, THREADS))
    rng = np.random.default_rng(0)
    feature = step.batch_inputs[0]
    x = rng.random((64,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, 64)
    feed = {feature: x, "label": y}
    tx, ty = torch.tensor(x), torch.tensor(y)
    net.train()

    def graphc_step():
        runner.run(feed, runner.global_step)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(tx), tx, ty).backward()
        opt.step()

    flops = 3 * summary_data(model.graph)["flops"] * 64
    return {"graphc": graphc_step, "torch": torch_step, "nodes": len(step.graph.nodes), "flops": flops}


def step_time(name: str, model, net: torch.nn.Module, opt, loss_fn, shape, repeat: int, steps: int) -> dict:
    """Train-step time of graphc and PyTorch in this process, blocks interleaved."""
    fns = step_fns(model, net, opt, loss_fn, shape)
    result = compare({"graphc": fns["graphc"], "torch": fns["torch"]}, repeat=repeat, number=steps, warmup=3)
    g, t = result["graphc"]["median_s"], result["torch"]["median_s"]
    return {"model": name, "batch": 64, "graphc_ms": g * 1e3, "torch_ms": t * 1e3, "ratio": g / t,
            "train_step_nodes": fns["nodes"], "step_gflop": fns["flops"] / 1e9,
            "graphc_gflops": fns["flops"] / g / 1e9, "torch_gflops": fns["flops"] / t / 1e9}


def torch_fit(make, train_x, train_y, test_x, test_y, seed: int, epochs: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    net = make()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tx, ty = torch.tensor(train_x), torch.tensor(train_y)
    times = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        net.train()
        for idx in epoch_batches(len(tx), 64, seed, epoch):
            idx = torch.from_numpy(idx)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(tx[idx]), ty[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        acc = (net(torch.tensor(test_x)).argmax(-1).numpy() == test_y).mean()
    return float(acc), statistics.median(times)


def digits_runs(name: str, text: str, make, seeds: list[int], epochs: int) -> dict:
    rows = []
    for seed in seeds:
        model = graphc.loads(text.replace("EPOCHS", str(epochs)).replace("SEED", str(seed)), seed=seed)
        trainer = Trainer(model, train_config(model), "cpu", THREADS)
        result = trainer.fit(None, log=None)
        g_acc = result.final["accuracy"]
        g_epoch = statistics.median(r["seconds"] for r in result.history)
        s = trainer.splits
        feature = s.feature
        t_acc, t_epoch = torch_fit(make, s.train[feature], s.train["label"], s.test[feature], s.test["label"], seed,
                                   epochs)
        rows.append({"seed": seed, "graphc_acc": g_acc, "torch_acc": t_acc, "graphc_epoch_s": g_epoch,
                     "torch_epoch_s": t_epoch})
    mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    med = lambda k: float(np.median([r[k] for r in rows]))  # noqa: E731
    return {"model": name, "runs": rows, "graphc_mean_acc": mean("graphc_acc"), "torch_mean_acc": mean("torch_acc"),
            "graphc_epoch_ms": med("graphc_epoch_s") * 1e3, "torch_epoch_ms": med("torch_epoch_s") * 1e3,
            "epoch_ratio": med("graphc_epoch_s") / med("torch_epoch_s")}


def step_cases(steps: int) -> list[tuple[str, Callable[[], tuple]]]:
    """(name, factory) of every train-step model: factory() -> (model, net, opt, loss_fn, shape, number)."""
    torch.manual_seed(0)
    adam = lambda net: torch.optim.Adam(net.parameters(), lr=1e-3)  # noqa: E731
    ce = on_logits(torch.nn.functional.cross_entropy)
    spec = lambda name, **params: graphc.load(os.path.join(SPECS, name), params=params)  # noqa: E731

    def mlp():
        net = torch_mlp(784)
        return MLP784, net, adam(net), ce, (784,), steps

    def cnn():
        net = torch_keras_cnn()
        opt = torch.optim.Adadelta(net.parameters(), lr=1.0, rho=0.95, eps=1e-7)
        return KERAS_CNN, net, opt, on_logits(keras_cce), (1, 28, 28), max(2, steps // 4)

    def lstm():
        net = TorchLSTM(32, 64)
        return spec("train_lstm.yaml", steps=20, features=32), net, adam(net), ce, (20, 32), max(2, steps // 2)

    def transformer():
        net = TorchTransformer(128, 64)
        return (spec("train_transformer.yaml", seq=64, features=128), net, adam(net), ce, (64, 128),
                max(2, steps // 4))

    def vae():
        net = TorchVAE()
        return spec("train_vae.yaml", features=784, hidden=400), net, adam(net), vae_loss(1 / 64), (784,), steps

    return [("mlp_784_64_64_10 (adam)", mlp), ("keras_mnist_cnn (adadelta)", cnn), ("lstm_32_64_t20 (adam)", lstm),
            ("transformer_block_d128_s64 (adam)", transformer), ("vae_784_400_20 (adam)", vae)]


def _set_threads(threads: int) -> None:
    global THREADS
    THREADS = threads
    torch.set_num_threads(threads)


def train_step_rows(threads: int, repeat: int, steps: int, only: str | None = None) -> list[dict]:
    """Train-step time at batch 64 of every model (or those whose name contains `only`), graphc vs its
    PyTorch twin, `threads` each, in this process (blocks interleaved, no spinning on either side)."""
    _set_threads(threads)
    rows = []
    for name, case in step_cases(steps):
        if only is None or only in name:
            model, net, opt, loss_fn, shape, number = case()
            rows.append(step_time(name, model, net, opt, loss_fn, shape, repeat, number))
    for r in rows:
        r["threads"] = threads
    return rows


def child(side: str, index: int, threads: int, repeat: int, steps: int) -> None:
    """One side of one case, alone in this process: prints time_block's JSON."""
    import json

    from common import time_block

    _set_threads(threads)
    name, case = step_cases(steps)[index]
    model, net, opt, loss_fn, shape, number = case()
    fns = step_fns(model, net, opt, loss_fn, shape)
    result = time_block(fns[side], repeat=repeat, number=number, warmup=3)
    print(json.dumps(dict(result, nodes=fns["nodes"], flops=fns["flops"])))


def isolated_rows(threads: int, rounds: int, repeat: int, steps: int, only: str | None) -> list[dict]:
    """Each side in a process of its own (no thread pool can steal the other's cores), the two
    processes alternated `rounds` times: fastest block, median of the rounds' medians, and the
    spread of the rounds' ratios."""
    import json
    import subprocess

    rows = []
    for index, (name, _) in enumerate(step_cases(steps)):
        if only is not None and only not in name:
            continue
        runs: dict[str, list[dict]] = {"graphc": [], "torch": []}
        for r in range(rounds):
            for side in ("graphc", "torch") if r % 2 == 0 else ("torch", "graphc"):
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", side, str(index),
                                      str(threads), str(repeat), str(steps)], capture_output=True, text=True,
                                     check=True)
                runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
        g_med = [x["median_s"] for x in runs["graphc"]]
        t_med = [x["median_s"] for x in runs["torch"]]
        ratios = [g / t for g, t in zip(g_med, t_med)]
        g_best, t_best = min(x["min_s"] for x in runs["graphc"]), min(x["min_s"] for x in runs["torch"])
        flops = runs["graphc"][0]["flops"]
        rows.append({"model": name, "threads": threads, "rounds": rounds, "method": "isolated processes",
                     "graphc_best_ms": g_best * 1e3, "torch_best_ms": t_best * 1e3, "ratio_best": g_best / t_best,
                     "graphc_median_ms": statistics.median(g_med) * 1e3,
                     "torch_median_ms": statistics.median(t_med) * 1e3,
                     "ratio_median": statistics.median(g_med) / statistics.median(t_med),
                     "ratio_rounds": ratios, "ratio_spread": max(ratios) - min(ratios),
                     "straddles_1": min(ratios) < 1.0 < max(ratios),
                     "graphc_gflops": flops / g_best / 1e9, "torch_gflops": flops / t_best / 1e9,
                     "train_step_nodes": runs["graphc"][0]["nodes"]})
        print(f"{name} {threads}t: ratio best {rows[-1]['ratio_best']:.3f} median {rows[-1]['ratio_median']:.3f} "
              f"rounds {[round(x, 3) for x in ratios]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both runtimes (default 1: on a shared 2-core machine, spinning thread "
                             "pools of two runtimes fight each other)")
    parser.add_argument("--step-threads", default="1,2",
                        help="thread counts of the train-step timings, each for both runtimes (default 1,2)")
    parser.add_argument("--only", metavar="TEXT",
                        help="time only the train-step rows whose model name contains TEXT (e.g. lstm, cnn); "
                             "skips the digits runs and writes no JSON")
    parser.add_argument("--isolated", type=int, metavar="ROUNDS", default=0,
                        help="also time each side in a process of its own, alternated ROUNDS (>= 3) times")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, *nums = args.child
        child(side, *map(int, nums))
        return
    args.step_threads = [int(t) for t in args.step_threads.split(",")]
    repeat, steps = (2, 3) if args.quick else (7, 20)
    seeds, epochs = ([0], 2) if args.quick else ([0, 1, 2], 30)
    peaks = {str(t): matmul_peak_gflops(t) for t in args.step_threads}

    step_rows = {}
    isolated = {}
    for threads in args.step_threads:
        step_rows[threads] = train_step_rows(threads, repeat, steps, args.only)
        for r in step_rows[threads]:
            r["matmul_peak_gflops"] = peaks[str(threads)]
        print_table([[r["model"], r["graphc_ms"], r["torch_ms"], r["ratio"], r["graphc_gflops"],
                      r["train_step_nodes"]] for r in step_rows[threads]],
                    [f"train step, batch 64, {threads} thread(s)", "graphc ms", "torch ms", "ratio", "GFLOP/s",
                     "nodes"])
        print(f"numpy sgemm peak at {threads} thread(s): {peaks[str(threads)]:.1f} GFLOP/s")
        if args.isolated:
            isolated[str(threads)] = isolated_rows(threads, max(3, args.isolated), repeat, steps, args.only)
    if args.only is not None:
        return
    _set_threads(args.threads)
    digit_rows = [digits_runs("mlp_64_64_64_10", MLP_DIGITS, lambda: torch_mlp(64), seeds, epochs),
                  digits_runs("small_cnn", CNN_DIGITS, torch_small_cnn, seeds, epochs)]
    print_table([[r["model"], r["graphc_mean_acc"], r["torch_mean_acc"], r["graphc_epoch_ms"], r["torch_epoch_ms"],
                  r["epoch_ratio"]] for r in digit_rows],
                ["digits (seeds " + ",".join(map(str, seeds)) + ")", "graphc acc", "torch acc", "graphc epoch ms",
                 "torch epoch ms", "ratio"])
    first = args.step_threads[0]
    path = write_json("train", {"quick": args.quick, "threads": args.threads, "train_step_threads": first,
                                "train_step": step_rows[first],
                                "train_step_other_threads": {str(k): v for k, v in step_rows.items() if k != first},
                                "digits": digit_rows, "epochs": epochs, "seeds": seeds,
                                "matmul_peak_gflops": peaks, "isolated": isolated,
                                "note": "ratio = graphc / PyTorch (< 1: graphc faster); both runtimes get the same "
                                        "thread count; the digits runs use `threads`"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
