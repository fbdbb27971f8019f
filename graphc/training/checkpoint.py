"""Checkpoints: one .npz written atomically (temp file + rename), holding every carried array
(parameters, optimizer state, step), the best weights so far, and a JSON record of the rest
(epoch, history, early-stopping state, RNG seed). A killed run leaves the previous checkpoint."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from graphc.errors import SpecError
from graphc.util.atomic import atomic_path

FILE = "checkpoint.npz"
META = "__meta__"


def save(directory: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, FILE)
    payload = dict(arrays)
    payload[META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
    return path


def load(directory: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = os.path.join(directory, FILE)
    if not os.path.exists(path):
        raise SpecError(f"--resume: no checkpoint in {directory}", hint="run without --resume first")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != META}
            meta = json.loads(bytes(data[META]).decode())
    except Exception as e:  # noqa: BLE001 - a damaged file is a user-facing error
        raise SpecError(f"--resume: cannot read {path}: {e}") from None
    return arrays, meta
