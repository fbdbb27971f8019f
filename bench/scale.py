"""Ray scale-out on this machine: batch scoring and data-parallel training with 1 and 2 Ray
workers against one process without Ray, plus the gradient all-reduce (docs/scale.md).

    python bench/scale.py           # full run (a few minutes on 2 cores)
    python bench/scale.py --quick   # smoke test: small sizes

(1) Scoring: the Keras MNIST MLP 784-64-64-10 (specs/mlp_keras.yaml) over random rows from a
    memory-mapped .npy, batch 4096: one onnxruntime session in this process (1 thread, and all
    threads), then `graphc run --ray` (scoring.score) with 1 and 2 workers on a local Ray with
    this machine's CPUs. Ray's time is reported with the actor start-up (what a user waits) and
    Ray's own start (`ray.init`) separately.
(2) Training, sklearn digits: the digits MLP 64-64-64-10 (specs/train_mlp_digits.yaml, batch 64)
    and a wide MLP 64-1024-1024-10 (batch 256): seconds per step of `Trainer.fit` (the fused step,
    one process, 1 thread) and `DistributedTrainer.fit` with 1 and 2 workers (worker start-up
    excluded, reported apart).
(3) Gradient averaging between 2 actors: `ray.util.collective` allreduce (gloo backend, CPU) vs
    a reduce through the object store (what graphc does: workers return gradients, the driver
    sums), at the two models' gradient sizes.
Results: bench/results/scale.json. This machine is 2 shared cores: Ray's workers compete with
its raylet, GCS and the driver, and with other people's processes; the numbers are noisy and
show Ray's overhead, not its scaling (docs/scale.md has the cost model for N machines).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, print_table, write_json

sys.path.insert(0, ROOT)
import graphc

WIDE = """graphc: 1
name: mlp_wide
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 1024, activation: relu}
  - dense: {units: 1024, activation: relu}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits, test_split: 0.2}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.001}}
  batch_size: 256
  epochs: 2
  seed: 0
"""


def bench_scoring(tmp: str, rows: int, batch: int, workers: list[int]) -> dict:
    import onnxruntime as ort

    from graphc.distributed.api import score

    model = graphc.load(os.path.join(ROOT, "specs", "mlp_keras.yaml"))
    onnx_path = os.path.join(tmp, "mlp_keras.onnx")
    model.export(onnx_path)
    x = np.random.default_rng(0).standard_normal((rows, 784)).astype(np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    data = np.load(os.path.join(tmp, "x.npy"), mmap_mode="r")
    result = {"model": "mlp_keras 784-64-64-10", "rows": rows, "batch_size": batch}
    for threads in (1, os.cpu_count()):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        start = time.perf_counter()
        for lo in range(0, rows, batch):
            sess.run(None, {"x": np.asarray(data[lo:lo + batch])})
        result[f"one_process_{threads}_threads_rows_per_s"] = rows / (time.perf_counter() - start)
    for n in workers:
        start = time.perf_counter()
        score(onnx_path, {"x": f"{tmp}/x.npy"}, os.path.join(tmp, f"out{n}.npz"), n, batch)
        result[f"ray_{n}_workers_rows_per_s"] = rows / (time.perf_counter() - start)
        result[f"ray_{n}_workers_wall_s"] = time.perf_counter() - start
    base = result["one_process_1_threads_rows_per_s"]
    result["ratios_vs_one_process_1_thread"] = {k: v / base for k, v in result.items() if k.endswith("rows_per_s")}
    return result


def bench_training(spec_path: str, name: str, epochs: int, workers: list[int]) -> dict:
    from graphc.distributed.training import DistributedTrainer
    from graphc.training.compile import train_config
    from graphc.training.loop import Trainer

    model = graphc.load(spec_path)
    cfg = train_config(model)
    out = {"model": name, "batch_size": cfg.batch_size, "epochs": epochs,
           "parameters": int(model.graph.param_count()), "gradient_bytes": 4 * int(model.graph.param_count())}
    trainer = Trainer(model, cfg, "cpu", threads=1)
    start = time.perf_counter()
    trainer.fit(None, epochs, log=None)
    steps = trainer.runner.global_step
    out["steps"] = steps
    out["one_process_s_per_step"] = (time.perf_counter() - start) / steps
    for n in workers:
        start = time.perf_counter()
        dist = DistributedTrainer(graphc.load(spec_path), cfg, n, "cpu")
        out[f"ray_{n}_workers_start_s"] = time.perf_counter() - start
        try:
            start = time.perf_counter()
            result = dist.fit(None, epochs, log=None)
            out[f"ray_{n}_workers_s_per_step"] = (time.perf_counter() - start) / steps
        finally:
            dist.close()
        ref = trainer.graph.params
        out[f"ray_{n}_workers_max_rel_weight_diff"] = max(
            float(np.abs(result.weights[k] - ref[k].data).max() / max(np.abs(ref[k].data).max(), 1e-12))
            for k in result.weights)
    base = out["one_process_s_per_step"]
    out["ratios_s_per_step_vs_one_process"] = {k: v / base for k, v in out.items() if k.endswith("s_per_step")}
    return out


def bench_allreduce(sizes: list[int], reps: int) -> dict:
    import ray

    @ray.remote(num_cpus=1)
    class Peer:
        def __init__(self):
            self.group = False

        def setup(self, world: int, rank: int) -> bool:
            import ray.util.collective as col

            col.init_collective_group(world, rank, backend="gloo", group_name="bench")
            self.group = True
            return True

        def allreduce(self, n: int, reps: int) -> float:
            import ray.util.collective as col
            import torch

            x = torch.ones(n, dtype=torch.float32)
            col.allreduce(x, group_name="bench")
            start = time.perf_counter()
            for _ in range(reps):
                col.allreduce(x, group_name="bench")
            return (time.perf_counter() - start) / reps

        def grad(self, n: int) -> np.ndarray:
            return np.ones(n, np.float32)

    peers = [Peer.remote() for _ in range(2)]
    out: dict = {"peers": 2}
    try:
        try:
            ray.get([p.setup.remote(2, k) for k, p in enumerate(peers)], timeout=120)
            collective = True
        except Exception as e:  # noqa: BLE001 - report what does not work here
            out["collective_error"] = str(e).splitlines()[0]
            collective = False
        for n in sizes:
            row = {"floats": n, "bytes": 4 * n}
            if collective:
                row["collective_gloo_s"] = max(ray.get([p.allreduce.remote(n, reps) for p in peers], timeout=300))
            start = time.perf_counter()
            for _ in range(reps):
                refs = [p.grad.remote(n) for p in peers]
                total = sum(ray.get(refs))
                ray.put(total)
            row["object_store_reduce_s"] = (time.perf_counter() - start) / reps
            out[str(n)] = row
    finally:
        for p in peers:
            ray.kill(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: small sizes")
    args = ap.parse_args()
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_init_s = time.perf_counter() - start
    workers = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scoring = bench_scoring(tmp, 20_000 if args.quick else 400_000, 4096, workers)
            wide = os.path.join(tmp, "mlp_wide.yaml")
            with open(wide, "w") as f:
                f.write(WIDE)
            training = [bench_training(os.path.join(ROOT, "specs", "train_mlp_digits.yaml"), "digits MLP 64-64-64-10",
                                       1 if args.quick else 3, workers),
                        bench_training(wide, "wide MLP 64-1024-1024-10", 1 if args.quick else 2, workers)]
            sizes = sorted({t["parameters"] for t in training})
            allreduce = bench_allreduce(sizes, 5 if args.quick else 20)
    finally:
        ray.shutdown()
    path = write_json("scale", {"quick": args.quick, "ray_init_s": ray_init_s, "scoring": scoring,
                                "training": training, "allreduce": allreduce})
    print_table([[k, f"{v:,.0f}"] for k, v in scoring.items() if k.endswith("rows_per_s")], ["scoring", "rows/s"])
    for t in training:
        print_table([[k, f"{v * 1000:.2f}"] for k, v in t.items() if k.endswith("s_per_step")],
                    [t["model"], "ms/step"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
