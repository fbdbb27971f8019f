"""`graphc run`: inputs from .npy/.npz, outputs printed or saved."""

from __future__ import annotations

import os

import numpy as np

from graphc.commands.load import is_onnx, load_model
from graphc.commands.distributed import run_ray
from graphc.errors import SpecError
from graphc.runtime.backends import load_session, require
from graphc.runtime.session import check_feeds, make_session, run
from graphc.runtime.weights import read_npz
from graphc.util.atomic import atomic_path
from graphc.export.onnx_load import load_model_file


def read_inputs(pairs: list[str]) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep:
            if pair.endswith(".npz"):
                feeds.update(read_npz(pair))
                continue
            raise SpecError(f"--input takes NAME=FILE.npy (or FILE.npz), got '{pair}'")
        if not os.path.exists(path):
            raise SpecError(f"--input {name}: no such file: {path}")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise SpecError(f"--input {name}: cannot read {path}: {e}") from None
    return feeds


def run_command(args) -> int:
    if getattr(args, "ray", False):
        return run_ray(args)
    if getattr(args, "workers", None) is not None or getattr(args, "batch_size", None) is not None:
        raise SpecError("--workers and --batch-size go with --ray (batch scoring on Ray)", hint="add --ray")
    runtime = getattr(args, "runtime", "onnxruntime")
    require(runtime)
    feeds = read_inputs(args.input)
    if is_onnx(args):
        load_model_file(args.spec, load_external=False)  # checked before onnxruntime reads it
        try:
            session = make_session(args.spec, args.provider) if runtime == "onnxruntime" else \
                load_session(args.spec, runtime)
        except SpecError:
            raise
        except Exception as e:  # noqa: BLE001 - the runtime's own load errors are user errors here
            raise SpecError(f"cannot load {args.spec}: {str(e).splitlines()[0]}") from None
    else:
        model = load_model(args)
        session = model.session(args.provider) if runtime == "onnxruntime" else \
            load_session(model.onnx_bytes(), runtime)
    outputs = session.run(check_feeds(session, feeds)) if runtime != "onnxruntime" else run(session, feeds)
    if args.output:
        with atomic_path(args.output, suffix=".npz") as tmp:
            np.savez(tmp, **outputs)
        print(f"wrote {args.output}")
    else:
        with np.printoptions(precision=5, suppress=True, threshold=200):
            for name, value in outputs.items():
                print(f"{name}: shape {list(value.shape)} {value.dtype}")
                print(value)
    return 0
