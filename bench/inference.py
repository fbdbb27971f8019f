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
both files are kept to explain a difference. Every row also gives GFLOP/s (graphc's summary FLOPs
of the call, sequence dims bound to the twin's) next to the machine's numpy sgemm peak at the
same thread count, measured in the same run (`matmul_peak_gflops` of bench/common.py).

    python bench/inference.py --eager 3 --threads 2     # vs PyTorch eager, isolated processes

--eager ROUNDS compares graphc's file (onnxruntime) with the PyTorch twin run eagerly
(`torch.inference_mode`) and with torch's exported file, for the transformer and LSTM specs
(or --specs): each side runs alone in a process of its own (spinning left on, as each runtime
ships), the processes alternated ROUNDS (>= 3) times; each row reports the fastest block, the
median of the rounds' medians, each round's ratio, the spread and whether the rounds straddle 1.0.
Results: bench/results/inference.json (--eager: inference_eager.json).
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
from common import ROOT, calibrate, compare, matmul_peak_gflops, print_table, time_block, write_json  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
QUICK_SPECS = ("mlp_small",)
EAGER_SPECS = ("transformer_encoder", "lstm_classifier")
SIDES = ("graphc", "graphc_opset23", "torch_onnx", "torch_eager")  # what --eager times, each in its own process
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


def flops_per_sample(name: str, inputs: dict) -> int:
    """graphc's summary FLOPs of one sample, the spec's symbolic dims past the batch bound to the
    twin's input shapes (summary counts a symbolic dim as 1)."""
    import yaml

    import graphc
    from graphc.summary import summary_data

    with open(os.path.join(ROOT, "specs", f"{name}.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for key, (shape, _) in inputs.items():
        entry = doc["inputs"][key]
        dims = [(entry["shape"] if isinstance(entry, dict) else entry)[0], *shape]
        if isinstance(entry, dict):
            entry["shape"] = dims
        else:
            doc["inputs"][key] = dims
    return int(summary_data(graphc.loads(yaml.safe_dump(doc, sort_keys=False)).graph)["flops"])


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
    flops = flops_per_sample(name, inputs)
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
                     "gflop": flops * batch / 1e9, "graphc_gflops": flops * batch / timing["graphc"]["min_s"] / 1e9,
                     "torch_gflops": flops * batch / timing["torch"]["min_s"] / 1e9,
                     "outputs_match": err < 1e-4, "max_err_rel_to_max": err,
                     "graphc_nodes": sum(ops["graphc"].values()), "torch_nodes": sum(ops["torch"].values()),
                     "graphc_ops": ops["graphc"], "torch_ops": ops["torch"],
                     "timing": {k: {m: v for m, v in t.items() if m != "blocks_s"} for k, t in timing.items()}})
    return rows


# -- --eager: each side alone in a process ----------------------------------------------------------
def _twin_and_feeds(name: str, batch: int):
    """The randomized twin (seed 0: every process gets the same weights), its inputs, and the arrays of a batch."""
    import torch
    from torch_models import randomize

    factory, inputs = all_twins()[name]
    torch.manual_seed(0)
    twin = randomize(factory(), seed=0).eval()
    rng = np.random.default_rng(batch)
    return twin, inputs, {k: _example(shape, dtype, batch, rng) for k, (shape, dtype) in inputs.items()}


def eager_child(side: str, name: str, batch: int, threads: int, model_path: str, out_path: str,
                repeat: int, block_s: float) -> None:
    """One side of one spec and batch, alone in this process: prints time_block's JSON and saves
    the output to `out_path` (.npy) for the parent to compare."""
    import json

    if side == "torch_eager":
        import torch

        torch.set_num_threads(threads)
        twin, _, arrays = _twin_and_feeds(name, batch)
        tensors = [torch.from_numpy(a) for a in arrays.values()]

        def fn():
            with torch.inference_mode():
                return twin(*tensors)

        out = fn().numpy()
    else:  # (the twin is built here too, for the same input arrays; torch stays idle)
        _, inputs, arrays = _twin_and_feeds(name, batch)
        with open(model_path, "rb") as f:
            sess = session(f.read(), threads, "all")  # spinning on: nothing else runs in this process
        feeds = {i.name: arrays[i.name] for i in sess.get_inputs()}

        def fn():
            return sess.run(None, feeds)

        out = fn()[0]
    np.save(out_path, out)
    result = time_block(fn, repeat=repeat, number=calibrate(fn, block_s), warmup=3)
    print(json.dumps(result))


def _ratio_row(ours: list[dict], ref: list[dict]) -> dict:
    """Ours against a reference over the rounds: fastest blocks, medians of the rounds' medians, per-round ratios."""
    import statistics

    rounds = [o["median_s"] / r["median_s"] for o, r in zip(ours, ref)]
    best = min(o["min_s"] for o in ours) / min(r["min_s"] for r in ref)
    median = statistics.median(o["median_s"] for o in ours) / statistics.median(r["median_s"] for r in ref)
    return {"ratio_best": best, "ratio_median": median, "ratio_rounds": rounds,
            "ratio_spread": max(rounds) - min(rounds), "straddles_1": min(rounds) < 1.0 < max(rounds)}


def eager_rows(names: list[str], batches: list[int], args, tmp: str) -> list[dict]:
    """graphc's file (opset 21 and 23) vs PyTorch eager and torch's file, each side in its own
    process, the processes alternated `args.eager` times."""
    import json
    import statistics
    import subprocess

    import graphc
    from extra_twins import graphc_state

    rows = []
    for name in names:
        twin, inputs, _ = _twin_and_feeds(name, 1)
        weights = os.path.join(tmp, f"{name}.npz")
        np.savez(weights, **graphc_state(twin))
        model = graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"), weights=weights)
        files = {"graphc": model.onnx_bytes(), "graphc_opset23": model.onnx_bytes(opset=23)}
        try:
            files["torch_onnx"] = torch_onnx(twin, inputs, args.exporter)
        except Exception as e:  # noqa: BLE001 - an exporter failure is a result too
            print(f"{name}: torch.onnx.export failed: {e}", flush=True)
        paths = {}
        for side, data in files.items():
            paths[side] = os.path.join(tmp, f"{name}.{side}.onnx")
            with open(paths[side], "wb") as f:
                f.write(data)
        flops = flops_per_sample(name, inputs)
        sides = [s for s in SIDES if s in paths or s == "torch_eager"]
        for batch in batches:
            runs: dict[str, list[dict]] = {s: [] for s in sides}
            errors: dict[str, str] = {}
            for r in range(args.eager):
                for side in sides if r % 2 == 0 else sides[::-1]:
                    if side in errors:
                        continue
                    out = os.path.join(tmp, f"{name}.{batch}.{side}.npy")
                    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--eager-child", side, name,
                                           str(batch), str(args.threads), paths.get(side, "-"), out,
                                           str(args.repeat), str(args.block_s)], capture_output=True, text=True)
                    if proc.returncode != 0:
                        errors[side] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]
                        continue
                    runs[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            ref_out = np.load(os.path.join(tmp, f"{name}.{batch}.torch_eager.npy"))
            row = {"spec": name, "batch": batch, "threads": args.threads, "rounds": args.eager,
                   "method": "isolated processes, alternated", "gflop": flops * batch / 1e9, "errors": errors}
            for side in sides:
                if side in errors:
                    continue
                out = np.load(os.path.join(tmp, f"{name}.{batch}.{side}.npy"))
                best = min(x["min_s"] for x in runs[side])
                row[side] = {"best_ms": best * 1e3, "median_ms": statistics.median(x["median_s"] for x in runs[side]) * 1e3,
                             "rounds_median_ms": [x["median_s"] * 1e3 for x in runs[side]],
                             "gflops": flops * batch / best / 1e9,
                             "max_err_vs_eager": float(np.max(np.abs(out - ref_out)) / (np.max(np.abs(ref_out)) + 1e-12))}
            for ours in ("graphc", "graphc_opset23"):
                for ref in ("torch_eager", "torch_onnx"):
                    if ours in row and ref in row:
                        row[f"{ours}_vs_{ref}"] = _ratio_row(runs[ours], runs[ref])
            rows.append(row)
            for key, value in row.items():
                if key.endswith(("_vs_torch_eager", "_vs_torch_onnx")):
                    print(f"{name} batch {batch} {args.threads}t {key}: best {value['ratio_best']:.3f} median "
                          f"{value['ratio_median']:.3f} rounds {[round(x, 3) for x in value['ratio_rounds']]}",
                          flush=True)
            if errors:
                print(f"{name} batch {batch}: failed sides {errors}", flush=True)
    return rows


def eager_main(args, names: list[str], batches: list[int]) -> int:
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    peak = matmul_peak_gflops(args.threads)
    with tempfile.TemporaryDirectory(prefix="graphc_bench_") as tmp:
        rows = eager_rows(names, batches, args, tmp)
    for r in rows:
        r["matmul_peak_gflops"] = peak
    print(f"numpy sgemm peak at {args.threads} thread(s): {peak:.1f} GFLOP/s")
    ratios = [v for r in rows for k, v in r.items() if k.startswith("graphc_vs_")]
    path = write_json(args.name if args.name != "inference" else "inference_eager", {
        "what": "inference latency per call: graphc's file on onnxruntime (opset 21, and 23 with the standard "
                "Attention op) vs the PyTorch twin eagerly (inference_mode) and torch.onnx.export's file; each side "
                "alone in a process, the processes alternated; ratio = graphc / reference (<= 1.0: graphc at "
                "least as fast); ratio_best from the fastest blocks, ratio_median from the rounds' medians",
        "settings": {"threads": args.threads, "rounds": args.eager, "exporter": args.exporter,
                     "repeat": args.repeat, "block_s": args.block_s, "batches": batches,
                     "onnxruntime": "intra-op threads = threads, inter-op 1, sequential, ORT_ENABLE_ALL, spinning on",
                     "torch": "torch.set_num_threads(threads), torch.inference_mode()"},
        "matmul_peak_gflops": peak, "target": "graphc_vs_torch_eager ratio <= 1.0 (rounds not straddling 1.0)",
        "summary": {"max_ratio_median": max((v["ratio_median"] for v in ratios), default=None),
                    "any_straddles_1": any(v["straddles_1"] for v in ratios)},
        "rows": rows})
    print(f"wrote {path}")
    return 0


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
    p.add_argument("--eager", type=int, metavar="ROUNDS", default=0,
                   help=f"vs PyTorch eager, each side in its own process, alternated ROUNDS (>= 3) times "
                        f"(default specs {', '.join(EAGER_SPECS)}, batch 64)")
    p.add_argument("--eager-child", nargs=8, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.eager_child:
        side, name, batch, threads, model_path, out_path, repeat, block_s = args.eager_child
        eager_child(side, name, int(batch), int(threads), model_path, out_path, int(repeat), float(block_s))
        return 0
    if args.eager:
        args.eager = max(3, args.eager)
        if args.repeat == 101 and args.block_s == 0.002:  # the in-process defaults: fewer, longer blocks here
            args.repeat, args.block_s = 21, 0.02
        return eager_main(args, args.specs.split(",") if args.specs else list(EAGER_SPECS),
                          [int(b) for b in args.batches.split(",")] if args.batches != "1,64" else [64])
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
    peak = matmul_peak_gflops(args.threads)
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
    for r in rows:
        r["matmul_peak_gflops"] = peak
    print(f"numpy sgemm peak at {args.threads} thread(s): {peak:.1f} GFLOP/s")
    print_table([[r["spec"], r["batch"], r["graphc_s"] * 1e6, r["torch_s"] * 1e6, r["ratio"], r["ratio_wall_min"],
                  r["graphc_gflops"], r["torch_gflops"], r["graphc_nodes"], r["torch_nodes"]] for r in rows],
                ["spec", "batch", "graphc_cpu_us", "torch_cpu_us", "ratio", "ratio_wall_min", "graphc_GFLOP/s",
                 "torch_GFLOP/s", "graphc_nodes", "torch_nodes"])
    worst = max(rows, key=lambda r: r["ratio"])
    summary = {"max_ratio": worst["ratio"], "max_ratio_at": f"{worst['spec']} batch {worst['batch']}",
               "target_met": all(r["ratio"] <= 1.0 for r in rows),
               f"target_met_within_noise_{NOISE}": all(r["ratio"] <= 1.0 + NOISE for r in rows),
               "all_outputs_match": all(r["outputs_match"] for r in rows)}
    path = write_json(args.name, {
        "what": "onnxruntime latency per call, graphc's ONNX vs torch.onnx.export's ONNX, same weights; "
                "ratio = graphc / torch of the median per-call CPU time (<= 1.0: graphc at least as fast); "
                "ratio_wall_min / ratio_wall_median: the same with wall time",
        "matmul_peak_gflops": peak,
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
