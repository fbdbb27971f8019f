"""Training: graphc's compiled train step on onnxruntime vs a PyTorch loop, same run, same data.

    python bench/train.py           # full run (a few minutes on 2 cores)
    python bench/train.py --quick   # smoke test: few steps, one seed, 2 epochs

(1) Train-step time at batch 64 (random data): MLP 784-64-64-10 (Adam, cross-entropy on logits)
    and the Keras MNIST CNN on 28x28 (Adadelta, categorical cross-entropy on softmax outputs,
    dropout in training mode). graphc: `StepRunner.run` (IO binding, parameters and optimizer
    state stay in onnxruntime buffers); PyTorch: zero_grad, forward, loss, backward, step.
    Blocks of steps of the two are interleaved (bench/common.py `compare`).
(2) sklearn digits, stratified 80/20 split with random_state=0, Adam 1e-3, batch 64, 30 epochs,
    seeds 0, 1, 2: test accuracy and the median epoch time, MLP 64-64-64-10 and the small CNN
    (conv 16 k3 pad 1, maxpool 2, linear), graphc `Trainer.fit` vs a PyTorch loop on the same
    arrays (same split, scaling and batch order rule; each framework its own initialization).
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
from common import compare, print_table, write_json  # noqa: E402

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


def step_time(name: str, text: str, net: torch.nn.Module, opt, loss_fn, shape, repeat: int, steps: int) -> dict:
    model = graphc.loads(text)
    step = build_train_step(model.graph, train_config(model))
    runner = StepRunner(step, "cpu", THREADS)
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
        loss_fn(net(tx), ty).backward()
        opt.step()

    result = compare({"graphc": graphc_step, "torch": torch_step}, repeat=repeat, number=steps, warmup=3)
    g, t = result["graphc"]["median_s"], result["torch"]["median_s"]
    return {"model": name, "batch": 64, "graphc_ms": g * 1e3, "torch_ms": t * 1e3, "ratio": g / t,
            "train_step_nodes": len(step.graph.nodes)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both runtimes (default 1: on a shared 2-core machine, spinning thread "
                             "pools of two runtimes fight each other)")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    torch.set_num_threads(args.threads)
    repeat, steps = (2, 3) if args.quick else (7, 20)
    seeds, epochs = ([0], 2) if args.quick else ([0, 1, 2], 30)

    torch.manual_seed(0)
    mlp = torch_mlp(784)
    cnn = torch_keras_cnn()
    step_rows = [
        step_time("mlp_784_64_64_10 (adam)", MLP784, mlp, torch.optim.Adam(mlp.parameters(), lr=1e-3),
                  torch.nn.functional.cross_entropy, (784,), repeat, steps),
        step_time("keras_mnist_cnn (adadelta)", KERAS_CNN, cnn,
                  torch.optim.Adadelta(cnn.parameters(), lr=1.0, rho=0.95, eps=1e-7), keras_cce, (1, 28, 28),
                  repeat, max(2, steps // 4)),
    ]
    print_table([[r["model"], r["graphc_ms"], r["torch_ms"], r["ratio"]] for r in step_rows],
                ["train step, batch 64", "graphc ms", "torch ms", "ratio"])
    digit_rows = [digits_runs("mlp_64_64_64_10", MLP_DIGITS, lambda: torch_mlp(64), seeds, epochs),
                  digits_runs("small_cnn", CNN_DIGITS, torch_small_cnn, seeds, epochs)]
    print_table([[r["model"], r["graphc_mean_acc"], r["torch_mean_acc"], r["graphc_epoch_ms"], r["torch_epoch_ms"],
                  r["epoch_ratio"]] for r in digit_rows],
                ["digits (seeds " + ",".join(map(str, seeds)) + ")", "graphc acc", "torch acc", "graphc epoch ms",
                 "torch epoch ms", "ratio"])
    path = write_json("train", {"quick": args.quick, "threads": args.threads, "train_step": step_rows, "digits": digit_rows,
                                "epochs": epochs, "seeds": seeds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
