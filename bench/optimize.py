"""graphc's optimization passes against onnxsim / onnxslim and onnxruntime's own optimizer.

    python bench/optimize.py            # every spec with a PyTorch twin + a transformer block (~3 minutes)
    python bench/optimize.py --quick    # two small models, short blocks (smoke test)

For each model (every spec in specs/ with a twin in tests/torch_models.py, plus a transformer
encoder block written from primitives: layernorm as mean/sub/mul/sqrt/div, attention as
matmul/softmax, gelu as erf, so the fusions have work to do), with the same non-default weights:

- node counts: graphc -O0 and -O2; torch.onnx.export (dynamo), alone and then simplified by
  onnxsim and by onnxslim; onnxruntime's offline ORT_ENABLE_EXTENDED optimization of graphc's
  -O0 file (it may emit com.microsoft ops); and onnxsim / onnxslim run on graphc's -O2 file
  (whether they still find anything to remove);
- onnxruntime latency, same session options for every file (CPU, 1 intra-op thread by default):
  every file under ORT's default level (all), and the files as they are (optimization disabled),
  timed in interleaved blocks, plus PyTorch eager (and, for the transformer block, PyTorch's
  fused nn.TransformerEncoderLayer fast path with the same weights).

Ratios use the fastest block of each contender, timed on this thread's CPU clock (everything runs
on one thread; the CPU clock leaves out the time other people's processes take the cores on this
shared machine); wall-clock ratios are kept beside them. Results: bench/results/optimize.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from common import ROOT, calibrate, print_table, write_json  # noqa: E402
from inference import _example, op_counts, session, torch_onnx  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
QUICK = ("mlp_small", "transformer_block")

# -- the transformer encoder block, from primitives -----------------------------------------
D, HEADS, FF, SEQ = 128, 4, 512, 64


def _layernorm_prims(p: str, x: str) -> str:
    return f"""\
  - mean: {{in: {x}, axis: -1, keepdims: true, name: {p}_mu}}
  - sub: {{in: [{x}, {p}_mu], name: {p}_d}}
  - mul: {{in: [{p}_d, {p}_d], name: {p}_sq}}
  - mean: {{in: {p}_sq, axis: -1, keepdims: true, name: {p}_var}}
  - add: {{in: [{p}_var, eps], name: {p}_ve}}
  - sqrt: {{in: {p}_ve, name: {p}_sd}}
  - div: {{in: [{p}_d, {p}_sd], name: {p}}}
"""


TRANSFORMER_SPEC = f"""\
graphc: 1
name: transformer_block
doc: pre-norm transformer encoder block written from primitives (for bench/optimize.py)
inputs:
  x: [N, {SEQ}, {D}]
layers:
  - constant: {{value: 1.0e-5, in: [], name: eps}}
  - constant: {{value: {float(1 / np.sqrt(D // HEADS))!r}, in: [], name: scale}}
  - constant: {{value: 1.4142135623730951, in: [], name: sqrt2}}
  - constant: {{value: 1.0, in: [], name: one}}
  - constant: {{value: 0.5, in: [], name: half}}
{_layernorm_prims("ln1", "x")}\
  - dense: {{units: {D}, in: ln1, name: q}}
  - dense: {{units: {D}, in: ln1, name: k}}
  - dense: {{units: {D}, in: ln1, name: v}}
  - reshape: {{in: q, shape: [0, 0, {HEADS}, {D // HEADS}], name: qh}}
  - transpose: {{perm: [0, 2, 1, 3], name: qt}}
  - reshape: {{in: k, shape: [0, 0, {HEADS}, {D // HEADS}], name: kh}}
  - transpose: {{perm: [0, 2, 3, 1], name: kt}}
  - reshape: {{in: v, shape: [0, 0, {HEADS}, {D // HEADS}], name: vh}}
  - transpose: {{perm: [0, 2, 1, 3], name: vt}}
  - matmul: {{in: [qt, kt], name: scores}}
  - mul: {{in: [scores, scale], name: scaled}}
  - softmax: {{axis: -1, name: attn}}
  - matmul: {{in: [attn, vt], name: ctx}}
  - transpose: {{perm: [0, 2, 1, 3], name: ctx_t}}
  - reshape: {{shape: [0, 0, {D}], name: ctx_m}}
  - dense: {{units: {D}, name: o}}
  - add: {{in: [x, o], name: res1}}
{_layernorm_prims("ln2", "res1")}\
  - dense: {{units: {FF}, in: ln2, name: ff1}}
  - div: {{in: [ff1, sqrt2], name: g_u}}
  - erf: {{name: g_e}}
  - add: {{in: [g_e, one], name: g_t}}
  - mul: {{in: [ff1, half], name: g_h}}
  - mul: {{in: [g_h, g_t], name: gelu}}
  - dense: {{units: {D}, name: ff2}}
  - add: {{in: [res1, ff2], name: out}}
outputs: [out]
"""


def transformer_twin():
    """The same block in PyTorch (nn.Linear weights named as the spec's parameters)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            for name, (i, o) in {"q": (D, D), "k": (D, D), "v": (D, D), "o": (D, D), "ff1": (D, FF),
                                 "ff2": (FF, D)}.items():
                setattr(self, name, nn.Linear(i, o))

        def forward(self, x):
            n, t, _ = x.shape
            h = F.layer_norm(x, (D,), eps=1e-5)
            heads = [m(h).reshape(n, t, HEADS, D // HEADS).transpose(1, 2) for m in (self.q, self.k, self.v)]
            att = torch.softmax(heads[0] @ heads[1].transpose(-1, -2) * (D // HEADS) ** -0.5, dim=-1)
            x = x + self.o((att @ heads[2]).transpose(1, 2).reshape(n, t, D))
            return x + self.ff2(F.gelu(self.ff1(F.layer_norm(x, (D,), eps=1e-5))))

    return Block()


def fused_encoder_layer(twin):
    """nn.TransformerEncoderLayer (pre-norm, gelu) with the twin's weights: PyTorch's fused fast path."""
    import torch
    import torch.nn as nn

    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True, layer_norm_eps=1e-5)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([twin.q.weight, twin.k.weight, twin.v.weight]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([twin.q.bias, twin.k.bias, twin.v.bias]))
        layer.self_attn.out_proj.weight.copy_(twin.o.weight)
        layer.self_attn.out_proj.bias.copy_(twin.o.bias)
        for mine, theirs in ((layer.linear1, twin.ff1), (layer.linear2, twin.ff2)):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    return layer.eval()


# -- other tools ----------------------------------------------------------------------------
def run_onnxsim(model_bytes: bytes) -> tuple[bytes | None, str]:
    try:
        import onnx
        import onnxsim
    except ImportError as e:
        return None, f"onnxsim not installed ({e})"
    try:
        model, ok = onnxsim.simplify(onnx.load_from_string(model_bytes))
        return model.SerializeToString(), "ok" if ok else "simplified model failed onnxsim's check"
    except Exception as e:  # noqa: BLE001 - report, do not stop the benchmark
        return None, f"onnxsim failed: {e}"


def run_onnxslim(model_bytes: bytes) -> tuple[bytes | None, str]:
    try:
        import onnx
        import onnxslim
    except ImportError as e:
        return None, f"onnxslim not installed ({e})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return onnxslim.slim(onnx.load_from_string(model_bytes)).SerializeToString(), "ok"
    except Exception as e:  # noqa: BLE001
        return None, f"onnxslim failed: {e}"


def ort_extended(model_bytes: bytes, tmp: str, name: str) -> bytes:
    """onnxruntime's offline ORT_ENABLE_EXTENDED optimization, saved as a model file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = os.path.join(tmp, f"{name}.ort_extended.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    with open(opts.optimized_model_filepath, "rb") as f:
        return f.read()


def timed_blocks(fns: dict, repeat: int, number: int) -> dict:
    """Like common.compare (interleaved blocks, per-call times), measuring each block on two clocks:
    wall time, and the CPU time of this thread. Everything here runs on this one thread (onnxruntime
    and torch with 1 intra-op thread), so the thread's CPU time leaves out the time other people's
    processes hold the cores: on this shared machine it is the steadier number."""
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            w, c = time.perf_counter(), time.thread_time()
            for _ in range(number):
                fn()
            cpu[key].append((time.thread_time() - c) / number)
            wall[key].append((time.perf_counter() - w) / number)
    return {k: {"wall_min_s": min(wall[k]), "wall_median_s": statistics.median(wall[k]), "cpu_min_s": min(cpu[k]),
                "cpu_median_s": statistics.median(cpu[k]), "number": number, "repeat": repeat} for k in fns}


def nodes(model_bytes: bytes | None) -> int | None:
    return None if model_bytes is None else sum(op_counts(model_bytes).values())


def initializers(model_bytes: bytes) -> int:
    import onnx

    return len(onnx.load_from_string(model_bytes).graph.initializer)


# -- one model ------------------------------------------------------------------------------
def load_model(name: str, twin_factory, tmp: str):
    import graphc
    import torch
    from torch_models import randomize, save_state

    torch.manual_seed(0)
    twin = randomize(twin_factory(), seed=0)
    weights = save_state(twin, os.path.join(tmp, f"{name}.npz"))
    if name == "transformer_block":
        return graphc.loads(TRANSFORMER_SPEC, file="transformer_block.yaml").load_weights(weights), twin
    return graphc.load(os.path.join(ROOT, "specs", f"{name}.yaml"), weights=weights), twin


def bench_model(name: str, twin_factory, inputs: dict, batch: int, args, tmp: str) -> dict:
    import torch

    model, twin = load_model(name, twin_factory, tmp)
    explain: list[str] = []
    files = {"graphc_O0": model.onnx_bytes(0), "graphc_O2": model.onnx_bytes(2, explain=explain),
             "torch": torch_onnx(twin, inputs, "dynamo")}
    notes = {}
    files["torch_onnxsim"], notes["onnxsim"] = run_onnxsim(files["torch"])
    files["torch_onnxslim"], notes["onnxslim"] = run_onnxslim(files["torch"])
    files["ort_extended_O0"] = ort_extended(files["graphc_O0"], tmp, name)
    on_ours = {"onnxsim": run_onnxsim(files["graphc_O2"])[0], "onnxslim": run_onnxslim(files["graphc_O2"])[0]}
    counts = {k: nodes(v) for k, v in files.items()}
    counts.update({f"{tool}_on_graphc_O2": nodes(v) for tool, v in on_ours.items()})

    rng = np.random.default_rng(batch)
    arrays = {k: _example(shape, dtype, batch, rng) for k, (shape, dtype) in inputs.items()}
    contenders = {f"{k}[all]": session(files[k], args.threads, "all")
                  for k in ("graphc_O2", "graphc_O0", "torch", "torch_onnxsim", "torch_onnxslim") if files[k]}
    contenders.update({f"{k}[none]": session(files[k], args.threads, "none")
                       for k in ("graphc_O2", "torch_onnxsim", "ort_extended_O0") if files[k]})
    fns, outs = {}, {}
    for key, sess in contenders.items():
        feeds = {i.name: arrays[i.name] for i in sess.get_inputs()}
        outs[key] = sess.run(None, feeds)[0]
        fns[key] = (lambda s=sess, f=feeds: s.run(None, f))
    tensors = [torch.from_numpy(a) for a in arrays.values()]
    eager = {"torch_eager": twin}
    if name == "transformer_block":
        eager["torch_fused_encoder_layer"] = fused_encoder_layer(twin)
    for key, module in eager.items():
        with torch.inference_mode():
            outs[key] = module(*tensors).numpy()
        fns[key] = (lambda m=module: _eager(m, tensors))
    ref = outs["torch_eager"]
    errors = {k: float(np.max(np.abs(v - ref)) / (1e-6 + np.max(np.abs(ref)))) for k, v in outs.items()}
    number = calibrate(fns["graphc_O2[all]"], args.block_s)
    timing = timed_blocks(fns, args.repeat, number)
    best = {k: t["cpu_min_s"] for k, t in timing.items()}
    wall = {k: t["wall_min_s"] for k, t in timing.items()}

    def ratios_of(t: dict) -> dict:
        ours = t["graphc_O2[all]"]
        r = {f"graphc_O2[all] / {k}": ours / v for k, v in t.items() if k != "graphc_O2[all]"}
        r["graphc_O2[none] / ort_extended_O0[none]"] = t["graphc_O2[none]"] / t["ort_extended_O0[none]"]
        return r

    ratios, wall_ratios = ratios_of(best), ratios_of(wall)
    sim = counts["torch_onnxsim"]
    return {
        "model": name, "batch": batch, "nodes": counts,
        "ops": {k: op_counts(v) for k, v in files.items() if v is not None},
        "initializers": {"graphc_O2": initializers(files["graphc_O2"]),
                         "onnxsim_on_graphc_O2": initializers(on_ours["onnxsim"]) if on_ours["onnxsim"] else None},
        "onnxsim_removes_from_graphc_O2": None if counts["onnxsim_on_graphc_O2"] is None
        else counts["graphc_O2"] - counts["onnxsim_on_graphc_O2"],
        "onnxslim_removes_from_graphc_O2": None if counts["onnxslim_on_graphc_O2"] is None
        else counts["graphc_O2"] - counts["onnxslim_on_graphc_O2"],
        "nodes_le_torch_onnxsim": None if sim is None else counts["graphc_O2"] <= sim,
        "latency_cpu_s": best, "latency_wall_s": wall, "ratios": ratios, "wall_ratios": wall_ratios,
        "max_rel_err_vs_eager": errors,
        "outputs_match": all(e < 1e-3 for e in errors.values()), "tool_notes": notes, "explain": explain,
        "timing": timing,
    }


def _eager(module, tensors):
    import torch

    with torch.inference_mode():
        return module(*tensors)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, short blocks")
    p.add_argument("--models", help="comma-separated models (spec names with a twin, or transformer_block)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64; the transformer block uses 8)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime and torch intra-op threads (default 1)")
    p.add_argument("--repeat", type=int, default=15, help="timed blocks per contender")
    p.add_argument("--block-s", type=float, default=0.03, help="about how long one block runs")
    p.add_argument("--name", default="optimize", help="results file name (bench/results/<name>.json)")
    args = p.parse_args(argv)
    import torch
    from torch_models import TWINS

    torch.set_num_threads(args.threads)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    models = {n: TWINS[n] for n in TWINS if os.path.exists(os.path.join(ROOT, "specs", f"{n}.yaml"))}
    models["transformer_block"] = (transformer_twin, {"x": ((SEQ, D), "float32")})
    if args.quick:
        names, args.repeat, args.block_s = list(QUICK), 3, 0.01
    else:
        names = args.models.split(",") if args.models else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        p.error(f"unknown models {', '.join(unknown)} (known: {', '.join(models)})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphc_opt_") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            factory, inputs = models[name]
            batch = 8 if name == "transformer_block" else args.batch
            r = bench_model(name, factory, inputs, batch, args, tmp)
            rows.append(r)
            n = r["nodes"]
            print(f"{name}: nodes graphc -O0 {n['graphc_O0']} -O2 {n['graphc_O2']}, torch {n['torch']}, +onnxsim "
                  f"{n['torch_onnxsim']}, +onnxslim {n['torch_onnxslim']}, ORT extended {n['ort_extended_O0']}; "
                  f"onnxsim on ours removes {r['onnxsim_removes_from_graphc_O2']}; latency vs torch "
                  f"{r['ratios']['graphc_O2[all] / torch[all]']:.3f}, vs eager "
                  f"{r['ratios']['graphc_O2[all] / torch_eager']:.3f}"
                  + ("" if r["outputs_match"] else "  OUTPUTS DIFFER"), flush=True)
    print_table([[r["model"], r["batch"], r["nodes"]["graphc_O0"], r["nodes"]["graphc_O2"], r["nodes"]["torch"],
                  r["nodes"]["torch_onnxsim"], r["nodes"]["torch_onnxslim"], r["nodes"]["ort_extended_O0"],
                  r["onnxsim_removes_from_graphc_O2"], r["ratios"]["graphc_O2[all] / torch[all]"],
                  r["ratios"].get("graphc_O2[all] / torch_onnxsim[all]"), r["ratios"]["graphc_O2[all] / torch_eager"],
                  r["ratios"]["graphc_O2[all] / graphc_O0[all]"],
                  r["ratios"]["graphc_O2[none] / ort_extended_O0[none]"]] for r in rows],
                ["model", "batch", "O0", "O2", "torch", "+sim", "+slim", "ortX", "sim_rm", "r_torch", "r_sim",
                 "r_eager", "r_O0", "r_ortX"])
    summary = {
        "nodes_le_torch_onnxsim_everywhere": all(r["nodes_le_torch_onnxsim"] for r in rows
                                                 if r["nodes_le_torch_onnxsim"] is not None),
        "models_where_onnxsim_removes_from_graphc": [r["model"] for r in rows if r["onnxsim_removes_from_graphc_O2"]],
        "max_latency_ratio_vs_torch": max(r["ratios"]["graphc_O2[all] / torch[all]"] for r in rows),
        "all_outputs_match": all(r["outputs_match"] for r in rows),
    }
    tb = next((r for r in rows if r["model"] == "transformer_block"), None)
    if tb:
        summary["transformer_block_vs_eager"] = tb["ratios"]["graphc_O2[all] / torch_eager"]
        summary["transformer_block_vs_fused_encoder_layer"] = tb["ratios"]["graphc_O2[all] / torch_fused_encoder_layer"]
    path = write_json(args.name, {
        "what": "node counts and onnxruntime latency of graphc -O2 vs torch.onnx.export (+onnxsim, +onnxslim), "
                "onnxruntime's offline extended optimization, and PyTorch eager; same weights, same run. "
                "[all] = session at ORT_ENABLE_ALL (the default), [none] = the file as it is (ORT_DISABLE_ALL); "
                "ratios = graphc_O2[all] / other on the thread's CPU time per call, fastest block each (<= 1.0: "
                "graphc at least as fast); wall_ratios the same on wall time",
        "settings": {"intra_op_threads": args.threads, "inter_op_threads": 1, "torch_threads": args.threads,
                     "provider": "CPUExecutionProvider", "repeat": args.repeat, "block_s": args.block_s,
                     "batch": args.batch, "transformer_batch": 8, "exporter": "dynamo"},
        "targets": "nodes <= torch+onnxsim; onnxsim removes nothing from graphc -O2; latency ratio vs torch <= 1.0; "
                   "transformer block no slower than PyTorch eager",
        "quick": args.quick, "summary": summary, "rows": rows})
    print(summary)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
