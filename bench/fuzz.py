"""Long fuzzing runs: `python bench/fuzz.py [--cases N] [--seed S] [--onnx-cases M]`.

Mutations of every bundled spec (and random YAML documents) through check, summary, compile and
viz, and mutated bytes of real ONNX exports through summary and viz, in-process through
graphc.cli.main. Reports the cases tried and every failure (exit 1 or an escaping exception) in
bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.dirname(HERE))

from fuzz_cases import SPECS, check_onnx_bytes, check_spec_text, mutate, mutate_bytes, random_ops, run_main  # noqa: E402


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=2000, help="spec mutations to try")
    p.add_argument("--onnx-cases", type=int, default=500, help="ONNX byte mutations to try")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "results", "fuzz.json"))
    args = p.parse_args()
    rng = random.Random(args.seed)
    texts = [open(s, encoding="utf-8").read() for s in SPECS]
    failures, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for case in range(args.cases):
            k = rng.randrange(len(SPECS))
            ops = random_ops(rng)
            for f in check_spec_text(mutate(texts[k], ops), folder):
                failures.append({"kind": "spec", "spec": os.path.basename(SPECS[k]), "ops": ops, "failure": f})
            if case % 200 == 0:
                print(f"spec case {case}/{args.cases}, {len(failures)} failures", file=sys.stderr)
        blobs = []
        for name in ("mnist_cnn", "train_mlp_digits", "train_lstm"):
            out = os.path.join(folder, f"{name}.onnx")
            run_main(["compile", os.path.join(os.path.dirname(SPECS[0]), f"{name}.yaml"), "-o", out], folder)
            blobs.append(open(out, "rb").read())
        for case in range(args.onnx_cases):
            k = rng.randrange(len(blobs))
            ops = random_ops(rng)
            for f in check_onnx_bytes(mutate_bytes(blobs[k], ops), folder):
                failures.append({"kind": "onnx", "model": k, "ops": ops, "failure": f})
    result = {"spec_cases": args.cases, "onnx_cases": args.onnx_cases, "seed": args.seed,
              "failures": len(failures), "failure_cases": failures[:50], "seconds": round(time.perf_counter() - t0, 1),
              "cpu": _cpu(), "note": "in-process through graphc.cli.main; timings on a shared machine are noisy"}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "failure_cases"}))


if __name__ == "__main__":
    main()
