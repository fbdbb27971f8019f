"""graphc's files on onnxruntime, OpenVINO and tract, beside PyTorch eager, in the same run.

    python bench/runtimes.py            # every bench model, 1 thread and all cores (~10 minutes on 2 cores)
    python bench/runtimes.py --quick    # mlp_small and the MLP train step, 1 thread (smoke test)

(1) Inference latency of every spec with a PyTorch twin (bench/inference.py's models, the twin's
    weights loaded into graphc's file): graphc's portable file (the default) on onnxruntime,
    OpenVINO (CPU, f32 precision hint) and tract (inference only, one thread: it has no thread
    setting); for rnn also the `--target onnxruntime` form (Scan) on onnxruntime; and the twin in
    PyTorch eager (torch.no_grad). Batch 1 and 64.
(2) Train-step time at batch 64 of bench/train.py's models: the same compiled train step on
    onnxruntime (IO binding, graphc.training.runner) and OpenVINO (infer requests,
    graphc.training.ov_runner), beside the PyTorch loop (zero_grad, forward, backward, step).
Each at 1 thread and at all cores (`--threads`). Contenders run in interleaved blocks
(bench/common.py `compare`); times are medians of per-call wall time; ratios are
runtime / onnxruntime and runtime / PyTorch (< 1: faster). The machine may be shared: see load_avg.
Results: bench/results/runtimes.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from common import ROOT, calibrate, compare, print_table, write_json  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))

import graphc  # noqa: E402
from graphc.runtime.backends import load_session  # noqa: E402

QUICK_SPECS = ("mlp_small",)


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("openvino", "tract", "onnxruntime", "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _example(shape, dtype, batch: int, rng) -> np.ndarray:
    full = (batch,) + tuple(shape)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 2, size=full).astype(dtype)
    return rng.standard_normal(full).astype(dtype)


def inference_rows(name: str, batches: list[int], threads: int, block_s: float, repeat: int, tmp: str) -> list[dict]:
    import torch
    from extra_twins import graphc_state
    from inference import all_twins
    from torch_models import randomize

    factory, inputs = all_twins()[name]
    torch.manual_seed(0)
    twin = randomize(factory(), seed=0).eval()
    weights = os.path.join(tmp, f"{name}.npz")
    np.savez(weights, **graphc_state(twin))
    model = graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"), weights=weights)
    portable = model.onnx_bytes()
    fast = model.onnx_bytes(target="onnxruntime")
    sessions = {"onnxruntime": load_session(portable, "onnxruntime", threads),
                "openvino": load_session(portable, "openvino", threads)}
    if threads == 1:
        sessions["tract"] = load_session(portable, "tract")
    if fast != portable:
        sessions["onnxruntime_target_ort"] = load_session(fast, "onnxruntime", threads)
    torch.set_num_threads(threads)
    rows = []
    for batch in batches:
        rng = np.random.default_rng(batch)
        arrays = {k: _example(shape, dtype, batch, rng) for k, (shape, dtype) in inputs.items()}
        tensors = [torch.from_numpy(v) for v in arrays.values()]
        with torch.no_grad():
            want = twin(*tensors)
        want = (want[0] if isinstance(want, tuple) else want).numpy()
        errors = {}
        fns = {}
        for key, s in sessions.items():
            feed = {i.name: arrays[i.name] for i in s.inputs}
            got = s.run(feed)[s.output_names[0]]
            errors[key] = float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-12))
            fns[key] = (lambda s=s, f=feed: s.run(f))

        def eager():
            with torch.no_grad():
                twin(*tensors)
        fns["torch_eager"] = eager
        number = min(calibrate(f, block_s) for f in fns.values())
        timing = compare(fns, repeat=repeat, number=number)
        med = {k: v["median_s"] for k, v in timing.items()}
        rows.append({"spec": name, "batch": batch, "threads": threads,
                     "ms": {k: v * 1e3 for k, v in med.items()},
                     "cpu_ms": {k: v["cpu_median_s"] * 1e3 for k, v in timing.items()},
                     "vs_onnxruntime": {k: med[k] / med["onnxruntime"] for k in med},
                     "vs_torch_eager": {k: med[k] / med["torch_eager"] for k in med},
                     "max_err_rel_to_max": errors, "outputs_match": all(e < 1e-4 for e in errors.values())})
    return rows


def train_rows(threads: int, repeat: int, steps: int, only: str | None) -> list[dict]:
    import torch
    import train as tb

    from graphc.training.compile import train_config
    from graphc.errors import SpecError
    from graphc.training.ov_runner import OvStepRunner, check_openvino_step
    from graphc.training.runner import StepRunner
    from graphc.training.step import build_train_step

    tb.THREADS = threads
    torch.set_num_threads(threads)
    rows = []
    for name, case in tb.step_cases(steps):
        if only is not None and only not in name:
            continue
        spec, net, opt, loss_fn, shape, number = case()
        model = graphc.loads(spec) if isinstance(spec, str) else spec
        step = build_train_step(model.graph, train_config(model))
        runners = {"onnxruntime": StepRunner(step, session=tb._session(step.graph, threads))}
        skipped = {}
        try:
            check_openvino_step(step)  # dropout / noise: OpenVINO's uint32 shifts are wrong (docs/runtimes.md)
            runners["openvino"] = OvStepRunner(step, threads)
        except SpecError as e:
            skipped["openvino"] = e.message
        rng = np.random.default_rng(0)
        x = rng.random((64,) + shape, dtype=np.float32)
        y = rng.integers(0, 10, 64)
        feed = {step.batch_inputs[0]: x, "label": y}
        tx, ty = torch.tensor(x), torch.tensor(y)
        net.train()

        def torch_step():
            opt.zero_grad(set_to_none=True)
            loss_fn(net(tx), tx, ty).backward()
            opt.step()

        fns = {k: (lambda r=r: r.run(feed, r.global_step)) for k, r in runners.items()}
        fns["torch_eager"] = torch_step
        timing = compare(fns, repeat=repeat, number=number, warmup=3)
        med = {k: v["median_s"] for k, v in timing.items()}
        rows.append({"model": name, "batch": 64, "threads": threads, "skipped": skipped,
                     "ms": {k: v * 1e3 for k, v in med.items()},
                     "cpu_ms": {k: v["cpu_median_s"] * 1e3 for k, v in timing.items()},
                     "vs_onnxruntime": {k: med[k] / med["onnxruntime"] for k in med},
                     "vs_torch_eager": {k: med[k] / med["torch_eager"] for k in med}})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="mlp_small and the MLP train step, batch 1, 1 thread")
    p.add_argument("--specs", help="comma-separated spec names (default: every spec with a PyTorch twin)")
    p.add_argument("--threads", default=f"1,{os.cpu_count()}", help="comma-separated thread counts (default 1,all)")
    p.add_argument("--only", metavar="TEXT", help="only the train-step models whose name contains TEXT")
    args = p.parse_args(argv)
    from inference import all_twins

    if args.quick:
        names, batches, thread_counts, block_s, repeat, steps, only = list(QUICK_SPECS), [1], [1], 0.02, 2, 3, "mlp"
    else:
        names = args.specs.split(",") if args.specs else sorted(
            n for n in all_twins() if os.path.exists(os.path.join(ROOT, "specs", f"{n}.yaml")))
        batches, block_s, repeat, steps, only = [1, 64], 0.1, 5, 20, args.only
        thread_counts = sorted({int(t) for t in args.threads.split(",")})
    inference, training = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in thread_counts:
            for name in names:
                inference += inference_rows(name, batches, threads, block_s, repeat, tmp)
                print(f"inference {name}, {threads} thread(s): done", flush=True)
            training += train_rows(threads, repeat, steps, only)
            print(f"train steps, {threads} thread(s): done", flush=True)
    keys = ["onnxruntime", "onnxruntime_target_ort", "openvino", "tract", "torch_eager"]
    print_table([[r["spec"], r["batch"], r["threads"]] + [r["ms"].get(k) for k in keys]
                 + [r["vs_onnxruntime"].get("openvino"), r["vs_onnxruntime"].get("tract")] for r in inference],
                ["inference", "batch", "threads", "ort ms", "ort Scan ms", "openvino ms", "tract ms", "torch ms",
                 "ov/ort", "tract/ort"])
    print_table([[r["model"], r["threads"], r["ms"]["onnxruntime"], r["ms"].get("openvino"), r["ms"]["torch_eager"],
                  r["vs_onnxruntime"].get("openvino"), r["vs_torch_eager"].get("openvino")] for r in training],
                ["train step, batch 64", "threads", "ort ms", "openvino ms", "torch ms", "ov/ort", "ov/torch"])
    path = write_json("runtimes", {"quick": args.quick, "runtime_versions": _versions(), "inference": inference,
                                   "train_step": training,
                                   "note": "median per-call wall ms; vs_* = runtime / reference (< 1: faster); "
                                           "onnxruntime_target_ort = `graphc compile --target onnxruntime`'s "
                                           "form; tract runs one thread"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
