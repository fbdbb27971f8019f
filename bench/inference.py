"""onnxruntime latency of graphc's ONNX against torch.onnx.export's ONNX of the same model.

    python bench/inference.py             # every spec with a PyTorch twin, batch 1 and 64 (~4 minutes)
    python bench/inference.py --quick     # mlp_small, batch 1, short blocks (smoke test)

For each spec in specs/ that has a twin (tests/torch_models.py, else bench/extra_twins.py): the
twin gets non-default weights (`randomize`), graphc compiles the spec with those weights
(`--weights`), and torch exports the twin (default exporter, dynamo; `--exporter script` for
dynamo=False), both with a dynamic batch dim (other dims as exported: T = 16 for torch, while
graphc's file keeps the spec's symbolic dims, e.g. any sequence length). Both files run in
onnxruntime sessions with the same options (CPU, intra/inter-op threads set explicitly, the
same graph optimization level); their outputs are
checked to agree, then timed in interleaved blocks (`common.compare`). ratio = graphc / torch
of the median per-call CPU time (with one intra-op thread, a run is CPU time on the calling
thread, measured with time.thread_time; unlike wall time it does not count the time other
people's processes take on this shared machine); wall-time ratios (fastest and median block)
are kept beside it.
<= 1.0 means graphc's file runs at least as fast. Node counts and op types of
both files are kept to explain a difference. Results: bench/results/inference.json.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import sys
import tempfile
import time
import warnings

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from common import ROOT, calibrate, compare, print_table, write_json  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
QUICK_SPECS = ("mlp_small",)
NOISE = 0.03  # two sessions of the same file (A/A) differ by up to ~2% here; identical graphs land on either side


def session(model_bytes: bytes, threads: int, level: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                     "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                     "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                     "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def torch_onnx(module, inputs: dict, exporter: str) -> bytes:
    """torch.onnx.export of `module` with a dynamic batch dim, as bytes."""
    import torch

    names = list(inputs)
    example = tuple(_example(shape, dtype, 2, np.random.default_rng(1)) for shape, dtype in inputs.values())
    example = tuple(torch.from_numpy(a) for a in example)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("N", min=1)
            prog = torch.onnx.export(module, example, dynamo=True, input_names=names,
                                     dynamic_shapes=tuple({0: batch} for _ in names), verbose=False)
            return prog.model_proto.SerializeToString()
        torch.onnx.export(module, example, buf, dynamo=False, input_names=names,
                          dynamic_axes={n: {0: "N"} for n in names})
    return buf.getvalue()


def _example(shape: tuple, dtype: str, batch: int, rng: np.random.Generator) -> np.ndarray:
    if dtype.startswith("int"):
        return rng.integers(0, 10, size=(batch, *shape)).astype(dtype)
    return rng.standard_normal((batch, *shape)).astype(dtype)


def op_counts(model_bytes: bytes) -> dict:
    import onnx

    model = onnx.load_from_string(model_bytes)
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def all_twins() -> dict:
    """tests/torch_models.TWINS, and bench/extra_twins.py for the specs it lacks."""
    from extra_twins import EXTRA_TWINS
    from torch_models import TWINS

    return {**TWINS, **{k: v for k, v in EXTRA_TWINS.items() if k not in TWINS}}


def bench_spec(name: str, batches: list[int], args, tmp: str) -> list[dict]:
    import graphc
    import torch
    from extra_twins import graphc_state
    from torch_models import randomize

    factory, inputs = all_twins()[name]
    torch.manual_seed(0)
    twin = randomize(factory(), seed=0)
    weights = os.path.join(tmp, f"{name}.npz")
    np.savez(weights, **graphc_state(twin))
    ours = graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"), weights=weights).onnx_bytes()
    try:
        theirs = torch_onnx(twin, inputs, args.exporter)
    except Exception as e:  # noqa: BLE001 - an exporter failure is a result too
        return [{"spec": name, "torch_export_error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}]
    sessions = {"graphc": session(ours, args.threads, args.level), "torch": session(theirs, args.threads, args.level)}
    ops = {"graphc": op_counts(ours), "torch": op_counts(theirs)}
    rows = []
    for batch in batches:
        rng = np.random.default_rng(batch)
        arrays = {k: _example(shape, dtype, batch, rng) for k, (shape, dtype) in inputs.items()}
        feeds = {k: {i.name: arrays[i.name] for i in s.get_inputs()} for k, s in sessions.items()}
        outs = {k: s.run(None, feeds[k])[0] for k, s in sessions.items()}
        err = float(np.max(np.abs(outs["graphc"] - outs["torch"])) / (np.max(np.abs(outs["torch"])) + 1e-12))
        fns = {k: (lambda s=s, f=feeds[k]: s.run(None, f)) for k, s in sessions.items()}
        number = min(calibrate(fns["graphc"], args.block_s), calibrate(fns["torch"], args.block_s))
        # one intra-op thread: onnxruntime runs on this thread, whose CPU time other threads (torch's) do not add to
        clock = time.thread_time if args.threads == 1 else time.process_time
        timing = compare(fns, repeat=args.repeat, number=number, cpu_clock=clock)
        g, t = timing["graphc"]["cpu_median_s"], timing["torch"]["cpu_median_s"]
        rows.append({"spec": name, "batch": batch, "graphc_s": g, "torch_s": t, "ratio": g / t,
                     "ratio_wall_min": timing["graphc"]["min_s"] / timing["torch"]["min_s"],
                     "ratio_wall_median": timing["graphc"]["median_s"] / timing["torch"]["median_s"],
                     "outputs_match": err < 1e-4, "max_err_rel_to_max": err,
                     "graphc_nodes": sum(ops["graphc"].values()), "torch_nodes": sum(ops["torch"].values()),
                     "graphc_ops": ops["graphc"], "torch_ops": ops["torch"],
                     "timing": {k: {m: v for m, v in t.items() if m != "blocks_s"} for k, t in timing.items()}})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_SPECS)}, batch 1, short blocks")
    p.add_argument("--specs", help="comma-separated spec names (default: every spec with a PyTorch twin)")
    p.add_argument("--batches", default="1,64", help="comma-separated batch sizes (default 1,64)")
    p.add_argument("--exporter", choices=("dynamo", "script"), default="dynamo",
                   help="torch.onnx.export's default (dynamo) or dynamo=False (TorchScript)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--level", choices=("all", "extended", "basic", "none"), default="all",
                   help="onnxruntime graph optimization level, the same for both (default all)")
    p.add_argument("--repeat", type=int, default=101, help="timed blocks per model and batch (default 101)")
    p.add_argument("--block-s", type=float, default=0.002,
                   help="about how long one block runs (default 0.002: short blocks are rarely interrupted)")
    p.add_argument("--name", default="inference", help="results file name (bench/results/<name>.json)")
    args = p.parse_args(argv)
    twins = all_twins()
    batches = [int(b) for b in args.batches.split(",")]
    if args.quick:
        names, batches, args.repeat, args.block_s = list(QUICK_SPECS), batches[:1], 3, 0.005
    elif args.specs:
        names = args.specs.split(",")
    else:
        names = [n for n in twins if os.path.exists(os.path.join(ROOT, "specs", f"{n}.yaml"))]
    unknown = [n for n in names if n not in twins]
    if unknown:
        p.error(f"no PyTorch twin for {', '.join(unknown)} (known: {', '.join(twins)})")
    import logging

    import torch

    torch.set_num_threads(1)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphc_bench_") as tmp:
        for name in names:
            spec_rows = bench_spec(name, batches, args, tmp)
            rows += spec_rows
            for r in spec_rows:
                if "torch_export_error" in r:
                    print(f"{r['spec']}: torch.onnx.export failed: {r['torch_export_error']}", flush=True)
                    continue
                print(f"{r['spec']} batch {r['batch']}: graphc {r['graphc_s'] * 1e6:.1f} us, torch "
                      f"{r['torch_s'] * 1e6:.1f} us (CPU), ratio {r['ratio']:.3f} (wall {r['ratio_wall_min']:.3f}), "
                      f"nodes {r['graphc_nodes']} vs {r['torch_nodes']}"
                      + ("" if r["outputs_match"] else "  OUTPUTS DIFFER"), flush=True)
    failed = [r for r in rows if "torch_export_error" in r]
    rows = [r for r in rows if "ratio" in r]
    print_table([[r["spec"], r["batch"], r["graphc_s"] * 1e6, r["torch_s"] * 1e6, r["ratio"], r["ratio_wall_min"],
                  r["graphc_nodes"], r["torch_nodes"]] for r in rows],
                ["spec", "batch", "graphc_cpu_us", "torch_cpu_us", "ratio", "ratio_wall_min", "graphc_nodes",
                 "torch_nodes"])
    worst = max(rows, key=lambda r: r["ratio"])
    summary = {"max_ratio": worst["ratio"], "max_ratio_at": f"{worst['spec']} batch {worst['batch']}",
               "target_met": all(r["ratio"] <= 1.0 for r in rows),
               f"target_met_within_noise_{NOISE}": all(r["ratio"] <= 1.0 + NOISE for r in rows),
               "all_outputs_match": all(r["outputs_match"] for r in rows)}
    path = write_json(args.name, {
        "what": "onnxruntime latency per call, graphc's ONNX vs torch.onnx.export's ONNX, same weights; "
                "ratio = graphc / torch of the median per-call CPU time (<= 1.0: graphc at least as fast); "
                "ratio_wall_min / ratio_wall_median: the same with wall time",
        "settings": {"exporter": args.exporter, "intra_op_threads": args.threads, "inter_op_threads": 1,
                     "graph_optimization_level": args.level, "provider": "CPUExecutionProvider",
                     "repeat": args.repeat, "block_s": args.block_s, "batches": batches},
        "target": "ratio <= 1.0 on every spec", "quick": args.quick, "summary": summary,
        "specs_without_twin": sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "specs"))
                                     if f.endswith(".yaml") and f[:-5] not in twins),
        "torch_export_failed": failed, "rows": rows})
    print(summary)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
