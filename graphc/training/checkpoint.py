"""Checkpoints: one .npz written atomically (temp file + rename), holding every carried array
(parameters, optimizer state, step), the best weights so far, and a JSON record of the rest
(epoch, history, early-stopping state, RNG seed, and a SHA-256 of every array).

The checkpoint before the latest is kept as `checkpoint.prev.npz`: a checkpoint that is
truncated or corrupted (its checksum does not match, or it cannot be read) is reported in one
line and `load` falls back to the previous one. A killed run leaves both intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import numpy as np

from graphc.errors import SpecError
from graphc.util.atomic import atomic_path, write_fix

FILE = "checkpoint.npz"
PREVIOUS = "checkpoint.prev.npz"
META = "__meta__"


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes() if a.size else b"")
    return h.hexdigest()


def save(directory: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise SpecError(f"cannot write {directory}: {e.strerror or e}", hint=write_fix(e)) from None
    path = os.path.join(directory, FILE)
    payload = dict(arrays)
    meta = dict(meta, sha256=checksum(arrays))
    payload[META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
        if os.path.exists(path):  # keep the one before: --resume falls back to it if this one is damaged
            os.replace(path, os.path.join(directory, PREVIOUS))
    return path


def _read(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and record of one checkpoint file; ValueError saying what is wrong with it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != META}
            meta = json.loads(bytes(data[META]).decode())
    except Exception as e:  # noqa: BLE001 - zip, npy and JSON errors all mean a damaged file
        raise ValueError(f"it cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if "sha256" in meta and meta["sha256"] != checksum(arrays):
        raise ValueError("its checksum does not match (corrupted)")
    return arrays, meta


def load(directory: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The latest good checkpoint; a damaged latest one is reported in one line on stderr and the
    previous one is used."""
    path, previous = os.path.join(directory, FILE), os.path.join(directory, PREVIOUS)
    if not os.path.exists(path) and not os.path.exists(previous):
        raise SpecError(f"--resume: no checkpoint in {directory}", hint="run without --resume first")
    problem = "it is missing"
    if os.path.exists(path):
        try:
            return _read(path)
        except ValueError as e:
            problem = str(e)
    if os.path.exists(previous):
        try:
            arrays, meta = _read(previous)
        except ValueError as e:
            raise SpecError(f"--resume: {path}: {problem}, and the previous checkpoint too: {e}",
                            hint="start again without --resume") from None
        print(f"warning: {path}: {problem}; resuming from the previous checkpoint (epoch {meta.get('epoch')})",
              file=sys.stderr)
        return arrays, meta
    raise SpecError(f"--resume: {path}: {problem}", hint="start again without --resume")


def last_epoch(directory: str) -> int | None:
    """The epoch of the latest readable checkpoint, or None."""
    for name in (FILE, PREVIOUS):
        try:
            return int(_read(os.path.join(directory, name))[1]["epoch"])
        except (ValueError, KeyError, OSError):
            continue
    return None
