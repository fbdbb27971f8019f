"""ONNX import: graphc against onnx.load + onnxsim.

    python bench/import.py           # ResNet-50 (random weights, legacy export) + every test model (~5 min)
    python bench/import.py --quick   # the small test models only
    python bench/import.py --models lstm   # only these test models (both exporters), no ResNet-50

- time: graphc import + -O2 + re-export of a ResNet-50-sized model (plain torch, random weights)
  against `onnx.load` + `onnxsim.simplify` of the same file (wall and CPU time, one process each
  after warm-up; the machine is shared, so timings are noisy);
- node count after `graphc compile -O2` against onnxsim's, on every imported model (target: no
  more nodes than onnxsim);
- onnxruntime latency of graphc's re-exported file against the original file (same session
  options, 1 intra-op thread and all cores; target ratio <= 1.0).
Results: bench/results/import.json (with the CPU model).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from common import calibrate, compare, print_table, write_json


def _session(data, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench_model(name: str, path: str, x: np.ndarray, repeat: int) -> dict:
    import onnx
    import onnxsim

    import graphc

    model, g_wall, g_cpu = _timed(lambda: graphc.load(path).onnx_bytes(opt_level=2))
    try:
        (sim, _), s_wall, s_cpu = _timed(lambda: onnxsim.simplify(onnx.load(path)))
    except RuntimeError as e:  # onnxsim 0.4.36 asserts on some dynamo exports (an LSTM's)
        sim, s_wall, s_cpu = None, None, None
        print(f"{name}: onnxsim failed: {str(e).splitlines()[0][-120:]}", file=sys.stderr)
    original = onnx.load(path)
    row = {"model": name, "nodes_original": len(original.graph.node), "nodes_graphc_O2": len(onnx.load_from_string(
        model).graph.node), "nodes_onnxsim": len(sim.graph.node) if sim is not None else None,
        "import_export_s": {"graphc_wall": g_wall, "graphc_cpu": g_cpu, "onnxsim_wall": s_wall, "onnxsim_cpu": s_cpu}}
    row["nodes_ratio_vs_onnxsim"] = row["nodes_graphc_O2"] / max(1, row["nodes_onnxsim"]) if sim is not None else None
    for threads in (1, os.cpu_count() or 1):
        ours, theirs = _session(model, threads), _session(path, threads)  # (a path: external data too)
        np.testing.assert_allclose(ours.run(None, {"x": x})[0], theirs.run(None, {"x": x})[0], rtol=1e-4, atol=1e-4)
        run_ours, run_theirs = (lambda s=ours: s.run(None, {"x": x})), (lambda s=theirs: s.run(None, {"x": x}))
        number = calibrate(run_theirs, 0.05)
        t = compare({"graphc": run_ours, "original": run_theirs}, repeat=repeat, number=number)
        row[f"latency_threads_{threads}"] = {
            "graphc_min_s": t["graphc"]["min_s"], "original_min_s": t["original"]["min_s"],
            "ratio": t["graphc"]["min_s"] / t["original"]["min_s"]}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description="graphc ONNX import against onnx.load + onnxsim")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="+", help="only these test models (tests/onnx_torch_models.py)")
    args = parser.parse_args()
    import torch
    from onnx_torch_models import MODELS, build, export, resnet50

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(n, MODELS[n][1]) for n in (args.models or (["mlp", "cnn"] if args.quick else MODELS))]
        for name, shape in cases:
            for dynamo in (False,) if args.quick else (False, True):
                torch.manual_seed(1)
                x = torch.randn(*shape)
                path = export(build(name), x, os.path.join(tmp, f"{name}-{dynamo}.onnx"), dynamo)
                rows.append(bench_model(f"{name}-{'dynamo' if dynamo else 'legacy'}", path, x.numpy(),
                                        2 if args.quick else 5))
        if not args.quick and not args.models:
            torch.manual_seed(0)
            x = torch.randn(1, 3, 224, 224)
            path = export(resnet50().eval(), x, os.path.join(tmp, "resnet50.onnx"), False)
            rows.append(bench_model("resnet50-legacy", path, x.numpy(), 3))
    print_table([[r["model"], r["nodes_original"], r["nodes_graphc_O2"], r["nodes_onnxsim"],
                  round(r["import_export_s"]["graphc_wall"], 3), round(r["import_export_s"]["onnxsim_wall"] or 0, 3),
                  round(r["latency_threads_1"]["ratio"], 3)] for r in rows],
                ["model", "nodes", "graphc -O2", "onnxsim", "graphc s", "onnxsim s", "latency ratio (1 thr)"])
    path = write_json("import" if not args.models else "import_" + "_".join(args.models),
                      {"quick": args.quick, "models": args.models, "rows": rows,
                                 "note": "shared machine: timings are noisy; ratios from interleaved blocks"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
