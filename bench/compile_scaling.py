"""Compile time of an n-layer MLP (Linear 64 + ReLU): `graphc compile` against `torch.onnx.export`.

    python bench/compile_scaling.py            # n = 10, 100, 1000, 10000 (a few minutes)
    python bench/compile_scaling.py --quick    # n = 10 only, one run each (smoke test)
    python bench/compile_scaling.py --sizes 10000,100000 --no-torch --big   # models of any size

Each graphc row also records the process's peak resident memory (wait4) against the target
1.5 x weight bytes + 300 MB; `--big` compiles two dense layers of 16,384 units (2.1 GB, written
with external data) and has onnxruntime load and run the result.

graphc is timed as a user runs it: a fresh process `python -m graphc compile spec.yaml -o out.onnx`,
end to end (interpreter start, imports, YAML, shape checks, weight init, ONNX, write). Each torch
exporter runs in a fresh child process too, but only the `torch.onnx.export` call is timed
(not `import torch` nor building the module), which favours torch. The default exporter
(dynamo) is skipped at n >= --dynamo-max (4 minutes at 10,000 layers); the TorchScript one
(`dynamo=False`) is capped by --timeout. Both exports use a dynamic batch dim, as the spec does.
Results: bench/results/compile_scaling.json: graphc's wall and CPU seconds are the fastest of
--repeat runs (other people's processes on this shared machine only ever add time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, time_process, write_json  # noqa: E402

WIDTH = 64
TARGET_SPEEDUP = 20.0  # graphc vs the default exporter at 1000 layers
TARGET_GROWTH = 12.0  # time(10n) / time(n), for n = 1000 and 10000
MEMORY_BASE = 300e6  # compile's peak may be at most 1.5x the weight bytes plus this


def weight_bytes(n: int) -> int:
    return n * (WIDTH * WIDTH + WIDTH) * 4


def memory_limit(weights: int) -> float:
    return 1.5 * weights + MEMORY_BASE


def mlp_spec(n: int) -> str:
    """The spec: n x (dense 64 + relu) on [N, 64]."""
    lines = ["graphc: 1", f"name: mlp_{n}", "inputs:", f"  x: [N, {WIDTH}]", "layers:"]
    lines += [f"  - dense: {{units: {WIDTH}, activation: relu}}"] * n
    return "\n".join(lines) + "\n"


# -- torch child process ----------------------------------------------------------------------
def torch_child(exporter: str, n: int, out: str) -> None:
    """Build the same MLP in PyTorch and time one torch.onnx.export; prints JSON."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    layers = []
    for _ in range(n):
        layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers).eval()
    x = torch.randn(2, WIDTH)
    start = time.perf_counter()
    cpu0 = time.process_time()
    if exporter == "dynamo":
        torch.onnx.export(model, (x,), out, dynamo=True, input_names=["x"],
                          dynamic_shapes={"input": {0: torch.export.Dim("N")}}, verbose=False)
    else:
        torch.onnx.export(model, (x,), out, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu0}))


def run_torch(exporter: str, n: int, tmp: str, timeout: float) -> dict:
    out = os.path.join(tmp, f"torch_{exporter}_{n}.onnx")
    res = time_process([sys.executable, os.path.abspath(__file__), "--torch-child", exporter, str(n), out],
                       timeout=timeout)
    if res.get("rc") is None:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if res["rc"] != 0:
        return {"error": res["stderr"].strip().splitlines()[-1:] or ["exit %d" % res["rc"]]}
    inner = json.loads(res["stdout"].strip().splitlines()[-1])
    return {"wall_s": inner["wall_s"], "cpu_s": inner["cpu_s"], "process_wall_s": res["wall_s"],
            "file_bytes": os.path.getsize(out)}


# -- graphc -------------------------------------------------------------------------------------
def run_graphc(n: int, tmp: str, repeat: int) -> dict:
    spec = os.path.join(tmp, f"mlp_{n}.yaml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write(mlp_spec(n))
    out = os.path.join(tmp, f"graphc_{n}.onnx")
    runs = []
    for _ in range(repeat):
        res = time_process([sys.executable, "-m", "graphc", "compile", spec, "-o", out], cwd=tmp)
        if res["rc"] != 0:
            raise SystemExit(f"graphc compile failed at n={n}:\n{res['stderr']}")
        runs.append(res)
    walls = [r["wall_s"] for r in runs]
    peak = max(r["peak_rss_bytes"] for r in runs)
    return {"wall_s": min(walls), "wall_median_s": statistics.median(walls), "runs_wall_s": walls,
            "cpu_s": min(r["cpu_s"] for r in runs), "file_bytes": os.path.getsize(out),
            "peak_rss_bytes": peak, "weight_bytes": weight_bytes(n),
            "memory_limit_bytes": memory_limit(weight_bytes(n)), "memory_target_met": peak <= memory_limit(weight_bytes(n)),
            "in_process_s": _in_process(spec, out) if n <= 10000 else None}


BIG_SPEC = """graphc: 1
name: big
inputs:
  x: [N, 16384]
layers:
  - dense: {units: 16384, activation: relu}
  - dense: {units: 16384}
"""


def run_big(tmp: str) -> dict:
    """Two dense layers of 16,384 units (2.1 GB of weights): past protobuf's limit, so compile
    streams them into external data; then onnxruntime loads and runs the file."""
    spec = os.path.join(tmp, "big.yaml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write(BIG_SPEC)
    out = os.path.join(tmp, "big.onnx")
    res = time_process([sys.executable, "-m", "graphc", "compile", spec, "-o", out], cwd=tmp)
    if res["rc"] != 0:
        return {"error": res["stderr"].strip().splitlines()[-1:]}
    weights = 2 * (16384 * 16384 + 16384) * 4
    load = time_process([sys.executable, "-c", "import sys, numpy as np, onnxruntime as ort; "
                         "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
                         "s.run(None, {'x': np.ones((1, 16384), np.float32)})", out])
    return {"wall_s": res["wall_s"], "cpu_s": res["cpu_s"], "peak_rss_bytes": res["peak_rss_bytes"],
            "weight_bytes": weights, "memory_limit_bytes": memory_limit(weights),
            "memory_target_met": res["peak_rss_bytes"] <= memory_limit(weights),
            "model_file_bytes": os.path.getsize(out), "data_file_bytes": os.path.getsize(out + ".data"),
            "onnxruntime_load_and_run_s": load.get("wall_s"), "onnxruntime_rc": load.get("rc")}


def _in_process(spec: str, out: str) -> float:
    """The same `graphc compile`, called in this process: no interpreter start or imports."""
    import contextlib
    import io

    from graphc.cli import main as graphc_main

    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        graphc_main(["compile", spec, "-o", out])
        return time.perf_counter() - start


def _fmt(res: dict) -> str:
    return f"{res['wall_s']:.3f} s" if "wall_s" in res else str(res.get("skipped") or res.get("error") or "-")


def _ratio(a: dict, b: dict, key: str = "wall_s") -> float | None:
    return b[key] / a[key] if key in a and key in b and a[key] > 0 else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="n = 10 only, one run each (smoke test)")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="comma-separated layer counts")
    p.add_argument("--repeat", type=int, help="graphc runs per size (the fastest counts); default 5, 3 at >= 10000")
    p.add_argument("--dynamo-max", type=int, default=1000, help="largest n for the default (dynamo) exporter")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds allowed for one torch export")
    p.add_argument("--no-torch", action="store_true", help="time graphc only")
    p.add_argument("--big", action="store_true", help="also compile and run a 2.1 GB model (external data)")
    p.add_argument("--name", default="compile_scaling", help="results file name (bench/results/<name>.json)")
    p.add_argument("--torch-child", nargs=3, metavar=("EXPORTER", "N", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.torch_child:
        torch_child(args.torch_child[0], int(args.torch_child[1]), args.torch_child[2])
        return 0
    sizes = args.sizes or ([10] if args.quick else [10, 100, 1000, 10000])
    rows: list[dict] = []
    table: list[list] = []
    with tempfile.TemporaryDirectory(prefix="graphc_bench_") as tmp:
        for n in sizes:
            repeat = args.repeat or (1 if args.quick else 3 if n >= 10000 else 5)
            row = {"n": n, "graphc": run_graphc(n, tmp, repeat)}
            if not args.no_torch:
                row["torch_dynamo"] = (run_torch("dynamo", n, tmp, args.timeout) if n <= args.dynamo_max else
                                       {"skipped": f"n > --dynamo-max {args.dynamo_max} (about 4 minutes at 10000)"})
                row["torch_script"] = run_torch("script", n, tmp, args.timeout)
                row["speedup_vs_dynamo"] = _ratio(row["graphc"], row["torch_dynamo"])
                row["speedup_vs_script"] = _ratio(row["graphc"], row["torch_script"])
            rows.append(row)
            g, d, s = row["graphc"], row.get("torch_dynamo", {}), row.get("torch_script", {})
            in_process = "-" if g["in_process_s"] is None else f"{g['in_process_s']:.3f} s"
            print(f"n={n}: graphc {g['wall_s']:.3f} s (cpu {g['cpu_s']:.3f} s, in-process "
                  f"{in_process}, peak {g['peak_rss_bytes'] / 1e9:.2f} GB of {g['memory_limit_bytes'] / 1e9:.2f}), "
                  f"dynamo {_fmt(d)}, "
                  f"torchscript {_fmt(s)}", flush=True)
            table.append([n, g["wall_s"], g["cpu_s"], d.get("wall_s"), s.get("wall_s"),
                          row.get("speedup_vs_dynamo"), row.get("speedup_vs_script")])
        big = run_big(tmp) if args.big else None
    print_table(table, ["n", "graphc_s", "graphc_cpu_s", "dynamo_s", "script_s", "x_dynamo", "x_script"])
    by_n = {r["n"]: r for r in rows}
    summary = {}
    for n, r in by_n.items():
        summary[f"peak_over_limit_{n}"] = r["graphc"]["peak_rss_bytes"] / r["graphc"]["memory_limit_bytes"]
    if 10000 in by_n and 100000 in by_n:
        summary["growth_100000_over_10000"] = by_n[100000]["graphc"]["wall_s"] / by_n[10000]["graphc"]["wall_s"]
        summary["growth_100000_over_10000_cpu"] = by_n[100000]["graphc"]["cpu_s"] / by_n[10000]["graphc"]["cpu_s"]
    if big:
        summary["big_2gb"] = big
    if 1000 in by_n and 10000 in by_n:
        g1, g10 = by_n[1000]["graphc"], by_n[10000]["graphc"]
        summary["growth_10000_over_1000"] = g10["wall_s"] / g1["wall_s"]
        summary["growth_10000_over_1000_cpu"] = g10["cpu_s"] / g1["cpu_s"]
        summary["growth_target_met"] = summary["growth_10000_over_1000"] <= TARGET_GROWTH
    if 1000 in by_n and by_n[1000].get("speedup_vs_dynamo"):
        summary["speedup_vs_dynamo_1000"] = by_n[1000]["speedup_vs_dynamo"]
        summary["speedup_target_met"] = summary["speedup_vs_dynamo_1000"] >= TARGET_SPEEDUP
    path = write_json(args.name, {
        "what": "compile time of n x (dense 64 + relu); graphc as a process end to end, torch: the export call "
                "only, in a fresh process; speedup = torch wall / graphc wall",
        "targets": {"speedup_vs_dynamo_1000": f">= {TARGET_SPEEDUP}", "growth_10000_over_1000": f"<= {TARGET_GROWTH}",
                    "growth_100000_over_10000": f"<= {TARGET_GROWTH}",
                    "peak_rss": "<= 1.5 x weight bytes + 300 MB (peak_over_limit <= 1)"},
        "quick": args.quick, "summary": summary, "rows": rows})
    print(json.dumps(summary))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
